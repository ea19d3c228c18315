#!/usr/bin/env python3
"""Hark driven by CAR's official Python client, `car-runtime` (wire protocol v3).

    eval "$(hark token)"        # sets CAR_DAEMON_URL and CAR_AUTH_TOKEN
    python car_agent.py

`CarRuntime()` reads CAR_DAEMON_URL and CAR_AUTH_TOKEN. On its first call it connects,
sends `session.auth {token}`, then `server.handshake {protocol_version: 3, ...}`, and
refuses a daemon that answers another version. This script checks that Hark serves that
client: plain calls, a registered tool whose `tools.execute` callbacks the client
answers, a proposal, and CAR's error codes. Exit status: 0 if every check passes,
1 if one fails, 2 if CAR_DAEMON_URL is not set.
"""
import json
import os
import sys
import threading

import car_runtime
from car_runtime import CarRuntime, DaemonRpcError

TEXT = "hark speaks the car protocol"
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def call(rt: CarRuntime, method: str, params=None):
    """daemon_call takes and returns JSON strings; errors raise DaemonRpcError."""
    return json.loads(rt.daemon_call(method, json.dumps(params if params is not None else {})))


# The tool handler runs on a thread of the binding. It gets one JSON string,
# {"tool", "params", "action_id", "request_id", "attempt", ...} (the wire's
# "parameters" arrive as "params"), and returns the tool's output as a JSON string;
# raising makes the client answer the callback with an error.
calls: list[dict] = []
calls_lock = threading.Lock()


def tool_handler(call_json: str) -> str:
    request = json.loads(call_json)
    with calls_lock:
        calls.append(request)
    if request.get("tool") != "word_count":
        raise ValueError(f"unknown tool {request.get('tool')!r}")
    return json.dumps({"words": len(request["params"]["text"].split())})


def run(rt: CarRuntime) -> None:
    # 1. Plain daemon calls (the first one also authenticates and handshakes).
    handshake = call(rt, "server.handshake", {"protocol_version": 3})
    print("server.handshake ->", handshake)
    check(handshake.get("protocol_version") == 3, "server.handshake answers protocol v3")

    admission = call(rt, "admission.status")
    print("admission.status ->", admission)
    check("permits_total" in admission, "admission.status reports permits_total")

    info = call(rt, "server.info")
    print("server.info ->", info)
    check(info.get("protocol_version") == 3 and "server_version" in info,
          "server.info reports protocol_version 3 and server_version")

    # 2. An unknown method is JSON-RPC's -32601, surfaced as DaemonRpcError.code.
    try:
        call(rt, "hark.no_such_method")
        check(False, "unknown method raises DaemonRpcError")
    except DaemonRpcError as e:
        print(f"hark.no_such_method -> DaemonRpcError({e.code}, {e.message!r})")
        check(e.code == -32601, "unknown method raises DaemonRpcError with code -32601")

    # 3. Register the tool (the client sends `tools.register [schema]`) and its handler.
    rt.register_tool_schema(json.dumps({
        "name": "word_count",
        "description": "Count the words in a text",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}},
                       "required": ["text"]},
    }))
    car_runtime.register_tool_handler(tool_handler)

    # 4. Submit a proposal: the tool call, then a read of the state key its success sets.
    proposal = {"id": "car-demo", "source": "car_agent.py", "actions": [
        {"id": "count", "type": "tool_call", "tool": "word_count",
         "parameters": {"text": TEXT}, "expected_effects": {"counted": True},
         "timeout_ms": 10_000},
        {"id": "check", "type": "state_read", "parameters": {"key": "counted"},
         "state_dependencies": ["counted"]},
    ]}
    result = json.loads(rt.submit_proposal(json.dumps(proposal)))
    print("ProposalResult ->", json.dumps(result, indent=2))

    by_id = {r.get("action_id"): r for r in result.get("results", [])}
    count, read = by_id.get("count", {}), by_id.get("check", {})
    check(result.get("proposal_id") == "car-demo", "proposal_id is the one submitted")
    check(len(calls) == 1 and calls[0].get("action_id") == "count"
          and calls[0].get("params") == {"text": TEXT},
          "tools.execute handler called once, with the action's parameters")
    check(count.get("status") == "succeeded" and count.get("output") == {"words": 5},
          "tool_call succeeded with the handler's output")
    check(read.get("status") == "succeeded" and read.get("output") is True,
          "state_read sees the tool call's expected effect")
    check(result.get("cost", {}).get("tool_calls") == 1, "cost.tool_calls == 1")


def main() -> int:
    url = os.environ.get("CAR_DAEMON_URL")
    if not url:
        print("CAR_DAEMON_URL is not set (run: eval \"$(hark token)\")", file=sys.stderr)
        return 2
    print(f"car-runtime {car_runtime.__version__} "
          f"(wire protocol v{car_runtime.protocol_version()}) -> {url}", flush=True)

    rt = CarRuntime()  # lazy: nothing is sent before the first call
    try:
        run(rt)
    except DaemonRpcError as e:  # an unexpected JSON-RPC error from the daemon
        check(False, f"DaemonRpcError code={e.code} message={e.message!r}")
    except RuntimeError as e:  # connection, auth, handshake or timeout failure
        check(False, f"RuntimeError: {e}")
    finally:
        car_runtime.unregister_tool_handler()
        rt.close()

    if failures:
        print(f"car_agent: FAILED ({len(failures)} check(s))", file=sys.stderr)
        return 1
    print("car_agent: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
