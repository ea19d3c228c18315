import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentLabel, surfaceOwnerLabel } from '../src/lib/owner.js';
import { applySurfaceResult, syncSurfaces } from '../src/lib/surfaces.js';
import type { SurfaceView } from '../src/lib/types.js';

const roster = [
  { id: 'planner', name: 'Planner' },
  { id: 'gallery', name: 'gallery' },
];

test('the owner is the agent, with its roster name when it has one', () => {
  assert.equal(surfaceOwnerLabel({ agent_id: 'planner', client_id: null, a2a_owner: null }, undefined, roster), 'Planner (planner)');
  assert.equal(surfaceOwnerLabel({ agent_id: 'gallery', client_id: 'x', a2a_owner: null }, undefined, roster), 'gallery');
  assert.equal(surfaceOwnerLabel({ agent_id: 'scribe', client_id: 'notes-app', a2a_owner: null }, undefined, roster), 'scribe');
});

test('an A2A surface names its A2A owner and the connection it came through', () => {
  assert.equal(surfaceOwnerLabel({ agent_id: 'planner', client_id: null, a2a_owner: 'remote-planner' }, undefined, roster), 'remote-planner (via Planner (planner))');
  assert.equal(surfaceOwnerLabel({ agent_id: null, client_id: 'bridge', a2a_owner: 'remote' }, undefined, roster), 'remote (via bridge)');
  assert.equal(surfaceOwnerLabel({ agent_id: null, client_id: null, a2a_owner: 'remote' }, undefined, roster), 'remote (via a connection without a name)');
});

test('without an agent id the client id names it; with neither, it is said to have no name', () => {
  assert.equal(surfaceOwnerLabel({ agent_id: null, client_id: 'some-client', a2a_owner: null }, undefined, roster), 'some-client');
  assert.equal(surfaceOwnerLabel({ agent_id: '', client_id: '', a2a_owner: '' }, undefined, roster), 'an agent without a name');
  assert.equal(surfaceOwnerLabel({ agent_id: null, client_id: null, a2a_owner: null }, undefined, roster), 'an agent without a name');
});

test("the daemon's owner wins over what the host events suggested", () => {
  assert.equal(surfaceOwnerLabel({ agent_id: 'planner', client_id: null, a2a_owner: null }, { agentId: 'impostor' }, roster), 'Planner (planner)');
  // null: the daemon no longer knows (not a guess from old events).
  assert.equal(surfaceOwnerLabel(null, { agentId: 'planner' }, roster), 'an unknown agent');
});

test('an older daemon (no owner in its views): the host events decide, as before', () => {
  assert.equal(surfaceOwnerLabel(undefined, { agentId: 'planner' }, roster), 'Planner (planner)');
  assert.equal(surfaceOwnerLabel(undefined, { agentId: null }, roster), 'an agent without a name');
  assert.equal(surfaceOwnerLabel(undefined, undefined, roster), 'an unknown agent');
});

test('agent labels', () => {
  assert.equal(agentLabel('planner', roster), 'Planner (planner)');
  assert.equal(agentLabel('nobody', roster), 'nobody');
});

const CATALOG = 'https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json';
function view(id: string, revision: number, extra: Partial<SurfaceView> = {}): SurfaceView {
  return { surfaceId: id, catalogId: CATALOG, sendDataModel: false, components: [], dataModel: {}, pending: [], complete: true, createdAt: 1, updatedAt: 1, revision, ...extra };
}

test("an a2ui.event result's owner is kept with its view; a result without one keeps the known owner", () => {
  const owner = { agent_id: 'planner', client_id: null, a2a_owner: null };
  let step = applySurfaceResult({}, { surfaceId: 's', deleted: false, surface: view('s', 1), owner });
  assert.deepEqual(step.surfaces.s.owner, owner);
  step = applySurfaceResult(step.surfaces, { surfaceId: 's', deleted: false, surface: view('s', 2) });
  assert.deepEqual(step.surfaces.s.owner, owner);
  assert.deepEqual(step.messages, [], 'an owner is no change for the renderer');
  // Recreated under the same id by someone else: the old owner is not carried over.
  step = applySurfaceResult(step.surfaces, { surfaceId: 's', deleted: false, surface: view('s', 3, { createdAt: 9 }) });
  assert.equal(step.surfaces.s.owner, undefined);
  step = applySurfaceResult(step.surfaces, { surfaceId: 's', deleted: false, surface: view('s', 4, { createdAt: 9 }), owner: null });
  assert.equal(step.surfaces.s.owner, null);
});

test("a replay's views carry their owners", () => {
  const owner = { agent_id: null, client_id: 'some-client', a2a_owner: null };
  const step = syncSurfaces({}, [view('y', 1, { owner })]);
  assert.deepEqual(step.surfaces.y.owner, owner);
});
