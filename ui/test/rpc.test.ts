import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, RpcClient, RpcError, describeError } from '../src/lib/rpc.js';

function harness() {
  const sent: any[] = [];
  const client = new RpcClient((text) => sent.push(JSON.parse(text)));
  return { client, sent };
}

test('requests get distinct ids and replies are matched by id, in any order', async () => {
  const { client, sent } = harness();
  const a = client.request('meeting.list', { limit: 5 });
  const b = client.request('models.list');
  assert.equal(sent.length, 2);
  assert.notEqual(sent[0].id, sent[1].id);
  assert.deepEqual(sent[0], { jsonrpc: '2.0', id: sent[0].id, method: 'meeting.list', params: { limit: 5 } });
  assert.equal('params' in sent[1], false, 'no params key when none given');
  client.handleText(JSON.stringify({ jsonrpc: '2.0', id: sent[1].id, result: { models: [] } }));
  client.handleText(JSON.stringify({ jsonrpc: '2.0', id: sent[0].id, result: { meetings: [1] } }));
  assert.deepEqual(await b, { models: [] });
  assert.deepEqual(await a, { meetings: [1] });
  assert.equal(client.inFlight, 0);
});

test('an error reply rejects with an RpcError carrying code, data and the named field', async () => {
  const { client, sent } = harness();
  const p = client.request('settings.update', { settings: { port: -1 } });
  client.handleText(
    JSON.stringify({
      jsonrpc: '2.0',
      id: sent[0].id,
      error: { code: -32602, message: 'invalid params: port: out of range', data: { field: 'port', reason: 'out of range' } },
    }),
  );
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, ErrorCode.InvalidParams);
    assert.equal(e.field, 'port');
    assert.equal(e.reason, 'out of range');
    assert.equal(describeError(e), 'invalid params: port: out of range');
    return true;
  });
});

test('notifications reach every handler, even when one throws', () => {
  const { client } = harness();
  const seen: string[] = [];
  const original = console.error;
  console.error = () => {};
  try {
    client.onNotification(() => {
      throw new Error('broken');
    });
    client.onNotification((method, params) => seen.push(`${method}:${JSON.stringify(params)}`));
    assert.equal(client.handleText('{"jsonrpc":"2.0","method":"host.event","params":{"kind":"x"}}'), true);
  } finally {
    console.error = original;
  }
  assert.deepEqual(seen, ['host.event:{"kind":"x"}']);
});

test('an unsubscribed handler gets nothing more', () => {
  const { client } = harness();
  let n = 0;
  const off = client.onNotification(() => n++);
  client.handleText('{"jsonrpc":"2.0","method":"voice.event","params":{}}');
  off();
  client.handleText('{"jsonrpc":"2.0","method":"voice.event","params":{}}');
  assert.equal(n, 1);
});

test('replies to unknown ids and non-JSON frames change nothing', async () => {
  const { client, sent } = harness();
  const p = client.request('server.info');
  assert.equal(client.handleText('{"jsonrpc":"2.0","id":999,"result":1}'), true);
  assert.equal(client.handleText('not json'), false);
  assert.equal(client.handleText('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}'), true);
  assert.equal(client.inFlight, 1);
  client.handleText(JSON.stringify({ jsonrpc: '2.0', id: sent[0].id, result: 'ok' }));
  assert.equal(await p, 'ok');
});

test('failAll rejects waiting requests and every later one with Disconnected', async () => {
  const { client, sent } = harness();
  const p = client.request('models.pull', { name: 'tiny' });
  client.failAll('the daemon went away');
  await assert.rejects(p, (e: any) => e.code === ErrorCode.Disconnected && e.message === 'the daemon went away');
  await assert.rejects(client.request('server.info'), (e: any) => e.code === ErrorCode.Disconnected);
  assert.equal(sent.length, 1, 'nothing sent after the close');
});

test('a request from the daemon is answered -32601 when nobody handles it, else with the handler result', async () => {
  const { client, sent } = harness();
  client.handleText('{"jsonrpc":"2.0","id":"cb-1","method":"tools.execute","params":{}}');
  assert.deepEqual(sent[0], { jsonrpc: '2.0', id: 'cb-1', error: { code: -32601, message: 'the window does not handle tools.execute' } });
  client.onRequest((method) => ({ handled: method }));
  client.handleText('{"jsonrpc":"2.0","id":7,"method":"ping","params":{}}');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent[1], { jsonrpc: '2.0', id: 7, result: { handled: 'ping' } });
});

test('a batch reply settles each member', async () => {
  const { client, sent } = harness();
  const a = client.request('a');
  const b = client.request('b');
  client.handleText(
    JSON.stringify([
      { jsonrpc: '2.0', id: sent[0].id, result: 1 },
      { jsonrpc: '2.0', id: sent[1].id, error: { code: -32010, message: 'not found' } },
    ]),
  );
  assert.equal(await a, 1);
  await assert.rejects(b, (e: any) => e.code === ErrorCode.NotFound);
});

test('a send that throws rejects that request and forgets it', async () => {
  const client = new RpcClient(() => {
    throw new Error('socket not open');
  });
  await assert.rejects(client.request('x'), (e: any) => e.code === ErrorCode.Disconnected && /socket not open/.test(e.message));
  assert.equal(client.inFlight, 0);
});
