#!/usr/bin/env python3
"""A minimal Hark agent over a plain WebSocket (the `websockets` package, asyncio).

It finds the running daemon through its discovery file, authenticates, registers a
`word_count` tool, submits a proposal that calls it, and serves the daemon's
`tools.execute` callback while the `proposal.submit` request is still pending.

    python agent.py [--data-dir DIR] [--socket]

Exit status: 0 if the proposal succeeded with the expected output, 1 otherwise.
"""
import argparse
import asyncio
import itertools
import json
import os
import sys
from pathlib import Path

import websockets

TEXT = "the quick brown fox jumps over the lazy dog"


def word_count(text: str) -> dict:
    """The tool this agent offers: the daemon calls it back with the action's parameters."""
    return {"words": len(text.split())}


TOOLS = {"word_count": word_count}
TOOL_DEFINITIONS = [{
    "name": "word_count",
    "description": "Count the words in a text",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}},
                   "required": ["text"]},
}]


def runtime_dir(data_dir: Path) -> Path:
    """$HARK_RUNTIME_DIR, else $XDG_RUNTIME_DIR/hark, else <data_dir>/run (PROTOCOL §1)."""
    if os.environ.get("HARK_RUNTIME_DIR"):
        return Path(os.environ["HARK_RUNTIME_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "hark"
    return data_dir / "run"


class RpcError(Exception):
    def __init__(self, error: dict):
        super().__init__(f"{error.get('message')} (code {error.get('code')})")
        self.code = error.get("code")


class Connection:
    """JSON-RPC over one WebSocket. A single reader task receives every frame: responses
    resolve the matching pending call by id; `tools.execute` requests from the daemon are
    served in their own task, so the reader never blocks."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read_loop())

    async def call(self, method: str, params):
        request_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send(json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
        reply = await future
        if "error" in reply:
            raise RpcError(reply["error"])
        return reply["result"]

    async def _read_loop(self):
        try:
            async for frame in self.ws:
                msg = json.loads(frame)
                if msg.get("method") == "tools.execute" and "id" in msg:
                    asyncio.create_task(self._serve_callback(msg))
                elif "method" in msg:
                    print(f"notification {msg['method']}: {msg.get('params')}")
                elif (future := self.pending.pop(msg.get("id"), None)) is not None:
                    future.set_result(msg)
        except websockets.ConnectionClosedError:
            pass
        finally:  # the daemon closed the connection: fail whatever is still waiting
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed by the daemon"))

    async def _serve_callback(self, msg: dict):
        params = msg["params"]  # {action_id, tool, parameters, timeout_ms, attempt, ...}
        print(f"daemon -> tools.execute {params['tool']}({params.get('parameters')}) "
              f"attempt {params.get('attempt')}")
        try:
            reply = {"result": TOOLS[params["tool"]](**(params.get("parameters") or {}))}
        except Exception as e:  # an error reply becomes the action's error
            reply = {"error": {"code": -32000, "message": f"{type(e).__name__}: {e}"}}
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], **reply}))


async def run(args) -> int:
    data_dir = Path(args.data_dir or os.environ.get("HARK_DATA_DIR")
                    or Path.home() / ".local/share/hark")
    discovery = runtime_dir(data_dir) / "daemon.json"
    try:
        daemon = json.loads(discovery.read_text())
        token = Path(daemon["token_file"]).read_text().strip()
    except FileNotFoundError as e:
        print(f"error: Hark daemon not running ({e.filename} not found); "
              f"start it with `hark serve`", file=sys.stderr)
        return 1

    # Program clients send no Origin header, so the daemon's Origin check lets them in.
    # proxy=None: never route the loopback connection through an HTTP(S)_PROXY from the env.
    target = daemon["socket"] if args.socket else daemon["ws_url"]
    if args.socket:
        connect = websockets.unix_connect(target, uri="ws://localhost/")
    else:
        connect = websockets.connect(target, proxy=None)
    try:
        ws = await connect
    except (OSError, websockets.InvalidHandshake) as e:
        print(f"error: cannot connect to the Hark daemon at {target} (is it running?): {e}",
              file=sys.stderr)
        return 1

    async with ws:
        rpc = Connection(ws)
        # session.auth must be the first frame; anything else is refused with -32001.
        print("session.auth ->", await rpc.call(
            "session.auth", {"token": token, "agent_id": "example-agent"}))
        # Optional for Hark, but what CAR clients do: agree on wire protocol v3.
        print("server.handshake ->", await rpc.call("server.handshake", {"protocol_version": 3}))
        # tools.register takes the array of ToolDefinitions itself as params.
        print("tools.register ->", await rpc.call("tools.register", TOOL_DEFINITIONS))

        # Action "count" calls our tool; when it succeeds its expected_effects are applied to
        # the connection's state map, and action "check" (which depends on that key) reads it.
        proposal = {"id": "agent-demo", "source": "agent.py", "actions": [
            {"id": "count", "type": "tool_call", "tool": "word_count",
             "parameters": {"text": TEXT}, "expected_effects": {"counted": True},
             "timeout_ms": 10_000},
            {"id": "check", "type": "state_read", "parameters": {"key": "counted"},
             "state_dependencies": ["counted"]},
        ]}
        result = await rpc.call("proposal.submit", {"proposal": proposal})
        print("ProposalResult ->", json.dumps(result, indent=2))

    by_id = {r["action_id"]: r for r in result.get("results", [])}
    ok = (by_id.get("count", {}).get("status") == "succeeded"
          and by_id["count"].get("output") == {"words": 9}
          and by_id.get("check", {}).get("status") == "succeeded"
          and by_id["check"].get("output") is True)
    print("agent: OK" if ok else "agent: FAILED (unexpected ProposalResult)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the daemon's data dir (default: $HARK_DATA_DIR "
                        "or ~/.local/share/hark)")
    parser.add_argument("--socket", action="store_true",
                        help="connect over the Unix socket instead of TCP")
    args = parser.parse_args()
    try:
        return asyncio.run(run(args))
    except (RpcError, ConnectionError, websockets.ConnectionClosed) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
