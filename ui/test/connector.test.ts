import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connector, OPEN_TIMEOUT_MS, type SocketLike } from '../src/lib/connector.js';
import { ErrorCode, type RpcClient } from '../src/lib/rpc.js';

class FakeSocket implements SocketLike {
  sent: any[] = [];
  closed: { code?: number; reason?: string } | null = null;
  onopen: ((ev?: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev?: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
    queueMicrotask(() => this.onclose?.({ code: code ?? 1000, reason: reason ?? '' }));
  }
  /** The daemon answers the last request sent. */
  reply(result: unknown) {
    const last = this.sent[this.sent.length - 1];
    this.onmessage?.({ data: JSON.stringify({ jsonrpc: '2.0', id: last.id, result }) });
  }
  drop(code = 1006) {
    this.onclose?.({ code, reason: '' });
  }
}

function harness(opts: { infoFails?: number } = {}) {
  let now = 1_000;
  const timers: Array<{ fn: () => void; at: number; id: number; cleared: boolean }> = [];
  let nextTimer = 1;
  const sockets: FakeSocket[] = [];
  const statuses: Array<[string, string | null, number | null]> = [];
  const ready: RpcClient[] = [];
  let lost = 0;
  let infoCalls = 0;
  let failures = opts.infoFails ?? 0;
  const connector = new Connector(
    {
      getInfo: async () => {
        infoCalls++;
        if (failures > 0) {
          failures--;
          throw new Error('no daemon yet');
        }
        return { url: `ws://127.0.0.1:${9000 + infoCalls}`, host_token: `token-${infoCalls}` };
      },
      createSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
      setTimer: (fn, ms) => {
        const t = { fn, at: now + ms, id: nextTimer++, cleared: false };
        timers.push(t);
        return t.id;
      },
      clearTimer: (id) => {
        const t = timers.find((x) => x.id === id);
        if (t) t.cleared = true;
      },
      now: () => now,
      random: () => 0,
    },
    {
      onStatus: (s, e, r) => statuses.push([s, e, r]),
      onReady: (client) => {
        ready.push(client);
      },
      onLost: () => lost++,
    },
  );
  const flush = () => new Promise((r) => setImmediate(r));
  /** Advances the fake clock, running due timers in order. */
  const advance = async (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = timers.filter((t) => !t.cleared && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      now = due.at;
      due.cleared = true;
      due.fn();
      await flush();
    }
    now = until;
  };
  return {
    connector,
    sockets,
    statuses,
    ready,
    flush,
    advance,
    get now() {
      return now;
    },
    get infoCalls() {
      return infoCalls;
    },
    get lost() {
      return lost;
    },
  };
}

test('connects, authenticates as the host with the token it was handed, and reports ready', async () => {
  const h = harness();
  h.connector.start();
  await h.flush();
  const s = h.sockets[0];
  assert.equal(s.url, 'ws://127.0.0.1:9001');
  s.onopen?.();
  assert.deepEqual(s.sent[0], { jsonrpc: '2.0', id: 1, method: 'session.auth', params: { host_token: 'token-1' } });
  s.reply({ ok: true, role: 'host', session_id: 'abc' });
  await h.flush();
  assert.equal(h.ready.length, 1);
  assert.equal(h.connector.connected, true);
  assert.deepEqual(h.statuses.map((x) => x[0]), ['connecting', 'connected']);
});

test('a dropped socket fails waiting calls, says why, and reconnects after the backoff with fresh details', async () => {
  const h = harness();
  h.connector.start();
  await h.flush();
  h.sockets[0].onopen?.();
  h.sockets[0].reply({ ok: true, role: 'host', session_id: 'a' });
  await h.flush();
  const pending = h.ready[0].request('meeting.list');
  h.sockets[0].drop(1001);
  await assert.rejects(pending, (e: any) => e.code === ErrorCode.Disconnected);
  assert.equal(h.lost, 1);
  const last = h.statuses[h.statuses.length - 1];
  assert.equal(last[0], 'disconnected');
  assert.match(last[1] ?? '', /shut down/);
  assert.equal(last[2], 1_000 + 500, 'first retry after 0.5 s');
  await h.advance(499);
  assert.equal(h.sockets.length, 1, 'not before the delay');
  await h.advance(1);
  assert.equal(h.sockets.length, 2);
  assert.equal(h.sockets[1].url, 'ws://127.0.0.1:9002', 'asked for the details again');
  h.sockets[1].onopen?.();
  assert.equal(h.sockets[1].sent[0].params.host_token, 'token-2');
});

test('failures back off 0.5 s, 1 s, 2 s; a success resets the backoff', async () => {
  const h = harness({ infoFails: 3 });
  h.connector.start();
  await h.flush();
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [status, error, retryAt] = h.statuses[h.statuses.length - 1];
    assert.equal(status, 'disconnected');
    assert.match(error ?? '', /cannot find the daemon: no daemon yet/);
    delays.push(retryAt! - h.now);
    await h.advance(retryAt! - h.now);
  }
  assert.deepEqual(delays, [500, 1000, 2000]);
  assert.equal(h.sockets.length, 1, 'the fourth attempt found the daemon');
  const s = h.sockets[0];
  s.onopen?.();
  s.reply({ ok: true, role: 'host', session_id: 'a' });
  await h.flush();
  s.drop();
  const [, , retryAt] = h.statuses[h.statuses.length - 1];
  assert.equal(retryAt! - h.now, 500, 'back to the first delay');
});

test('a connection that is not the host, or whose setup fails, is closed and retried', async () => {
  const h = harness();
  h.connector.start();
  await h.flush();
  h.sockets[0].onopen?.();
  h.sockets[0].reply({ ok: true, role: 'client', session_id: 'a' });
  await h.flush();
  await h.flush();
  assert.equal(h.sockets[0].closed?.code, 4001);
  const st = h.statuses[h.statuses.length - 1];
  assert.equal(st[0], 'disconnected');
  assert.match(st[1] ?? '', /not the host/);
  assert.equal(h.ready.length, 0);
});

test('a socket that never opens is given up on after the open timeout', async () => {
  const h = harness();
  h.connector.start();
  await h.flush();
  await h.advance(OPEN_TIMEOUT_MS);
  assert.equal(h.sockets[0].closed?.code, 4000);
  await h.flush();
  assert.match(h.statuses[h.statuses.length - 1][1] ?? '', /did not answer in time/);
});

test('stop closes the socket and no retry follows', async () => {
  const h = harness();
  h.connector.start();
  await h.flush();
  h.sockets[0].onopen?.();
  h.sockets[0].reply({ ok: true, role: 'host', session_id: 'a' });
  await h.flush();
  h.connector.stop();
  await h.flush();
  await h.advance(60_000);
  assert.equal(h.sockets.length, 1);
  assert.equal(h.sockets[0].closed?.code, 1000);
});

test('reconnect drops the connection in use and connects again at once, asking for new details', async () => {
  const h = harness();
  h.connector.start();
  await h.flush();
  h.sockets[0].onopen?.();
  h.sockets[0].reply({ ok: true, role: 'host', session_id: 'a' });
  await h.flush();
  const pending = h.ready[0].request('meeting.list');
  h.connector.reconnect();
  await assert.rejects(pending, (e: any) => e.code === ErrorCode.Disconnected);
  await h.flush();
  assert.equal(h.sockets[0].closed?.code, 1000);
  assert.equal(h.sockets.length, 2, 'no backoff wait');
  assert.equal(h.sockets[1].url, 'ws://127.0.0.1:9002');
  assert.equal(h.lost, 1);
  // The old socket's close comes late and changes nothing.
  assert.equal(h.statuses[h.statuses.length - 1][0], 'connecting');
});

test('without a token (--no-auth) it still asks for the host role', async () => {
  const sent: any[] = [];
  const connector = new Connector(
    {
      getInfo: async () => ({ url: 'ws://127.0.0.1:1', host_token: null }),
      createSocket: () => {
        const s = new FakeSocket('ws://127.0.0.1:1');
        s.send = (t: string) => void sent.push(JSON.parse(t));
        queueMicrotask(() => s.onopen?.());
        return s;
      },
      setTimer: () => 0,
      clearTimer: () => {},
      now: () => 0,
      random: () => 0,
    },
    { onStatus: () => {}, onReady: () => {} },
  );
  connector.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent[0].params, { host_token: '' });
});

test('retryNow skips the wait', async () => {
  const h = harness({ infoFails: 1 });
  h.connector.start();
  await h.flush();
  assert.equal(h.statuses[h.statuses.length - 1][0], 'disconnected');
  h.connector.retryNow();
  await h.flush();
  assert.equal(h.infoCalls, 2);
  assert.equal(h.sockets.length, 1);
});
