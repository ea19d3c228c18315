import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoute } from '../src/lib/route.js';

test('the shell\'s routes open a view or a meeting page', () => {
  assert.deepEqual(parseRoute('#/settings'), { view: 'settings', meetingId: null });
  assert.deepEqual(parseRoute('#/meetings'), { view: 'meetings', meetingId: null });
  assert.deepEqual(parseRoute('#/meetings/fcef6eec13ab'), { view: 'meetings', meetingId: 'fcef6eec13ab' });
  assert.deepEqual(parseRoute('#/meetings/standup%2Dweekly'), { view: 'meetings', meetingId: 'standup-weekly' });
  assert.deepEqual(parseRoute('#live'), { view: 'live', meetingId: null });
});

test('anything else is no route', () => {
  for (const hash of ['', '#', '#/', '#/nowhere', '#/settings/x', '#/meetings/a/b', '#/meetings/..', '#/meetings/%E0%A4%A', '#/meetings/a%2Fb']) {
    assert.equal(parseRoute(hash), null, hash);
  }
});
