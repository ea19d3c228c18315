import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChatEvent, cancelled, fromHistory, mintSessionId, newConversation, promptFailed, promptSent } from '../src/lib/chat.js';

const AT = '2026-12-02T14:00:00Z';

test('tokens stream into one agent turn that ends with done', () => {
  let c = promptSent(newConversation('bot', 'chat-1'), 'hello', AT);
  assert.equal(c.running, true);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 'chat-1', kind: 'token', delta: 'Hi ' }, AT);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 'chat-1', kind: 'token', delta: 'there' }, AT);
  assert.equal(c.streaming?.text, 'Hi there');
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 'chat-1', kind: 'done' }, AT);
  assert.equal(c.running, false);
  assert.deepEqual(c.turns.map((t) => [t.role, t.text]), [['user', 'hello'], ['agent', 'Hi there']]);
});

test("a done's text replaces the joined deltas; tool calls are kept without routing fields", () => {
  let c = promptSent(newConversation('bot', 's'), 'q', AT);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 's', kind: 'token', delta: 'draft' }, AT);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 's', kind: 'tool_call', name: 'search', arguments: { q: 'x' } }, AT);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 's', kind: 'done', text: 'Final answer' }, AT);
  const last = c.turns[c.turns.length - 1];
  assert.equal(last.text, 'Final answer');
  assert.deepEqual(last.tool_calls, [{ name: 'search', arguments: { q: 'x' } }]);
});

test('an error ends the turn with its message; other sessions are ignored', () => {
  let c = promptSent(newConversation('bot', 's'), 'q', AT);
  const before = c;
  assert.equal(applyChatEvent(c, { agent_id: 'bot', session_id: 'other', kind: 'token', delta: 'x' }, AT), before);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 's', kind: 'error', error: 'agent disconnected' }, AT);
  assert.equal(c.running, false);
  assert.equal(c.turns[1].error, 'agent disconnected');
});

test('cancel keeps what streamed; a refused prompt is shown as an error turn', () => {
  let c = promptSent(newConversation('bot', 's'), 'q', AT);
  c = applyChatEvent(c, { agent_id: 'bot', session_id: 's', kind: 'token', delta: 'part' }, AT);
  c = cancelled(c, AT);
  assert.deepEqual([c.turns[1].text, c.turns[1].ended, c.running], ['part', 'cancelled', false]);
  assert.equal(cancelled(c, AT), c, 'cancelling a finished chat changes nothing');
  const refused = promptFailed(promptSent(newConversation('bot', 't'), 'q', AT), 'the agent did not acknowledge', AT);
  assert.equal(refused.turns[1].error, 'the agent did not acknowledge');
  assert.equal(refused.running, false);
});

test('history resumes a session; minted ids fit the daemon pattern', () => {
  const c = fromHistory({ session_id: 'chat-9', agent_id: 'bot', started_at: AT, last_active_at: AT, active: false, turns: [{ role: 'user', text: 'x', at: AT }] });
  assert.equal(c.sessionId, 'chat-9');
  assert.equal(c.turns.length, 1);
  const id = mintSessionId('0123456789abcdef0123456789abcdefffff');
  assert.match(id, /^[A-Za-z0-9_-]{1,128}$/);
  assert.equal(id, 'chat-ui-0123456789abcdef0123456789abcdef');
});
