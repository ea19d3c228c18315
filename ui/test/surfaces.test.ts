import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySurfaceResult, messagesForView, orderedSurfaces, syncSurfaces } from '../src/lib/surfaces.js';
import type { SurfaceView } from '../src/lib/types.js';

const CATALOG = 'https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json';

function view(id: string, revision: number, components: SurfaceView['components'], dataModel: Record<string, unknown> = {}, createdAt = 1): SurfaceView {
  return { surfaceId: id, catalogId: CATALOG, sendDataModel: false, components, dataModel, pending: [], complete: true, createdAt, updatedAt: createdAt, revision };
}

test('a new surface is created, filled, and given its data model', () => {
  const v = view('s', 3, [{ id: 'root', component: 'Text', text: 'hi' }], { amount: 1 });
  assert.deepEqual(messagesForView(undefined, v), [
    { version: 'v0.9', createSurface: { surfaceId: 's', catalogId: CATALOG, sendDataModel: false } },
    { version: 'v0.9', updateComponents: { surfaceId: 's', components: v.components } },
    { version: 'v0.9', updateDataModel: { surfaceId: 's', path: '/', value: { amount: 1 } } },
  ]);
});

test('an empty new surface is only created (with its theme)', () => {
  const v = { ...view('s', 1, []), theme: { primaryColor: '#00f' } };
  assert.deepEqual(messagesForView(undefined, v), [
    { version: 'v0.9', createSurface: { surfaceId: 's', catalogId: CATALOG, sendDataModel: false, theme: { primaryColor: '#00f' } } },
  ]);
});

test('an update sends only the components that changed, and the model only when it changed', () => {
  const a = view('s', 2, [
    { id: 'root', component: 'Column', children: ['t'] },
    { id: 't', component: 'Text', text: 'one' },
  ]);
  const b = view('s', 3, [
    { id: 'root', component: 'Column', children: ['t', 'b'] },
    { id: 't', component: 'Text', text: 'one' },
    { id: 'b', component: 'Button', child: 't', action: { event: { name: 'go' } } },
  ]);
  assert.deepEqual(messagesForView(a, b), [
    { version: 'v0.9', updateComponents: { surfaceId: 's', components: [b.components[0], b.components[2]] } },
  ]);
  const c = { ...b, revision: 4, dataModel: { x: 1 } };
  assert.deepEqual(messagesForView(b, c), [{ version: 'v0.9', updateDataModel: { surfaceId: 's', path: '/', value: { x: 1 } } }]);
  assert.deepEqual(messagesForView(c, { ...c, revision: 5 }), []);
});

test('events: deletions delete once, stale revisions are ignored', () => {
  let step = applySurfaceResult({}, { surfaceId: 's', deleted: false, surface: view('s', 2, [{ id: 'root', component: 'Text', text: 'a' }]) });
  assert.equal(step.messages.length, 2);
  const stale = applySurfaceResult(step.surfaces, { surfaceId: 's', deleted: false, surface: view('s', 1, []) });
  assert.deepEqual(stale.messages, []);
  step = applySurfaceResult(step.surfaces, { surfaceId: 's', deleted: true });
  assert.deepEqual(step.messages, [{ version: 'v0.9', deleteSurface: { surfaceId: 's' } }]);
  assert.deepEqual(step.surfaces, {});
  assert.deepEqual(applySurfaceResult({}, { surfaceId: 'nope', deleted: true }).messages, []);
});

test('a replay deletes what is gone, recreates what was replaced, updates the rest', () => {
  const kept = view('kept', 1, [{ id: 'root', component: 'Text', text: 'old' }]);
  const gone = view('gone', 1, []);
  const reborn = view('reborn', 5, [], {}, 1);
  const step = syncSurfaces(
    { kept, gone, reborn },
    [view('kept', 2, [{ id: 'root', component: 'Text', text: 'new' }]), view('reborn', 1, [{ id: 'root', component: 'Text', text: 'x' }], {}, 9)],
  );
  assert.deepEqual(step.messages, [
    { version: 'v0.9', deleteSurface: { surfaceId: 'gone' } },
    { version: 'v0.9', updateComponents: { surfaceId: 'kept', components: [{ id: 'root', component: 'Text', text: 'new' }] } },
    { version: 'v0.9', deleteSurface: { surfaceId: 'reborn' } },
    { version: 'v0.9', createSurface: { surfaceId: 'reborn', catalogId: CATALOG, sendDataModel: false } },
    { version: 'v0.9', updateComponents: { surfaceId: 'reborn', components: [{ id: 'root', component: 'Text', text: 'x' }] } },
  ]);
  assert.deepEqual(Object.keys(step.surfaces).sort(), ['kept', 'reborn']);
});

test('surfaces are listed oldest first, then by id', () => {
  const list = orderedSurfaces({ b: view('b', 1, [], {}, 5), a: view('a', 1, [], {}, 5), c: view('c', 1, [], {}, 1) });
  assert.deepEqual(list.map((v) => v.surfaceId), ['c', 'a', 'b']);
});
