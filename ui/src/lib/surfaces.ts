/**
 * Keeps a renderer's A2UI surfaces in step with the daemon's surface views.
 *
 * The daemon sends whole views (`a2ui.event` `a2ui.surface_updated` carries the surface after the
 * change; `a2ui/replay` lists them all), while the renderer (`MessageProcessor`) takes v0.9
 * messages. These functions turn "the view I applied last" and "the view now" into the messages
 * between them: a `createSurface` the first time, `updateComponents` with only the components
 * that changed (unchanged ones are not touched, so the person's input in them stays), and a
 * whole-model `updateDataModel` only when the agent's data model changed.
 */
import type { SurfaceResult, SurfaceView } from './types.js';

export const A2UI_VERSION = 'v0.9';

export type A2uiMessage =
  | { version: 'v0.9'; createSurface: { surfaceId: string; catalogId: string; theme?: unknown; sendDataModel?: boolean } }
  | { version: 'v0.9'; updateComponents: { surfaceId: string; components: SurfaceView['components'] } }
  | { version: 'v0.9'; updateDataModel: { surfaceId: string; path: string; value: unknown } }
  | { version: 'v0.9'; deleteSurface: { surfaceId: string } };

export type SurfaceMap = Record<string, SurfaceView>;

/** The messages that take a renderer from `prev` (none: not there yet) to `next`. */
export function messagesForView(prev: SurfaceView | undefined, next: SurfaceView): A2uiMessage[] {
  const id = next.surfaceId;
  const out: A2uiMessage[] = [];
  if (!prev) {
    const create: { surfaceId: string; catalogId: string; theme?: unknown; sendDataModel?: boolean } = {
      surfaceId: id,
      catalogId: next.catalogId,
      sendDataModel: next.sendDataModel ?? false,
    };
    if (next.theme !== undefined && next.theme !== null) create.theme = next.theme;
    out.push({ version: A2UI_VERSION, createSurface: create });
    if (next.components.length > 0) {
      out.push({ version: A2UI_VERSION, updateComponents: { surfaceId: id, components: next.components } });
    }
    if (Object.keys(next.dataModel ?? {}).length > 0) {
      out.push({ version: A2UI_VERSION, updateDataModel: { surfaceId: id, path: '/', value: next.dataModel } });
    }
    return out;
  }
  const before = new Map(prev.components.map((c) => [c.id, JSON.stringify(c)]));
  const changed = next.components.filter((c) => before.get(c.id) !== JSON.stringify(c));
  if (changed.length > 0) {
    out.push({ version: A2UI_VERSION, updateComponents: { surfaceId: id, components: changed } });
  }
  if (JSON.stringify(prev.dataModel ?? {}) !== JSON.stringify(next.dataModel ?? {})) {
    out.push({ version: A2UI_VERSION, updateDataModel: { surfaceId: id, path: '/', value: next.dataModel ?? {} } });
  }
  return out;
}

export interface SurfaceStep {
  messages: A2uiMessage[];
  surfaces: SurfaceMap;
}

/**
 * One `a2ui.event` result: `{surfaceId, deleted, surface?, owner?}`. The host's results name the
 * owner next to the view (`result.owner`); it is kept with the view (as `owner`, like the views of
 * `a2ui/replay`). A result without one keeps the owner already known.
 */
export function applySurfaceResult(surfaces: SurfaceMap, result: SurfaceResult): SurfaceStep {
  const prev = surfaces[result.surfaceId];
  if (result.deleted || !result.surface) {
    if (!prev) return { messages: [], surfaces };
    const rest = { ...surfaces };
    delete rest[result.surfaceId];
    return { messages: [{ version: A2UI_VERSION, deleteSurface: { surfaceId: result.surfaceId } }], surfaces: rest };
  }
  // Views come in the store's order; an older revision than the one shown is stale.
  if (prev && typeof prev.revision === 'number' && result.surface.revision < prev.revision) {
    return { messages: [], surfaces };
  }
  const view = withOwner(result.surface, result, prev);
  return {
    messages: messagesForView(prev, view),
    surfaces: { ...surfaces, [result.surfaceId]: view },
  };
}

/** The view with its owner: the result's, else the view's own, else the one known before. */
function withOwner(view: SurfaceView, result: SurfaceResult, prev: SurfaceView | undefined): SurfaceView {
  if (result.owner !== undefined) return { ...view, owner: result.owner };
  if (view.owner !== undefined) return view;
  if (prev && prev.owner !== undefined && prev.createdAt === view.createdAt) return { ...view, owner: prev.owner };
  return view;
}

/**
 * `a2ui/replay`'s views: the whole screen now. Surfaces it does not list are deleted; listed ones
 * are brought up to date (a view older than one already applied is kept as it is).
 */
export function syncSurfaces(surfaces: SurfaceMap, views: SurfaceView[]): SurfaceStep {
  const messages: A2uiMessage[] = [];
  const next: SurfaceMap = {};
  const listed = new Set(views.map((v) => v.surfaceId));
  for (const id of Object.keys(surfaces)) {
    if (!listed.has(id)) messages.push({ version: A2UI_VERSION, deleteSurface: { surfaceId: id } });
  }
  for (const view of views) {
    const prev = surfaces[view.surfaceId];
    if (prev && prev.revision > view.revision && prev.createdAt === view.createdAt) {
      next[view.surfaceId] = prev;
      continue;
    }
    if (prev && prev.createdAt !== view.createdAt) {
      // Deleted and created again under the same id while this window was away.
      messages.push({ version: A2UI_VERSION, deleteSurface: { surfaceId: view.surfaceId } });
      messages.push(...messagesForView(undefined, view));
    } else {
      messages.push(...messagesForView(prev, view));
    }
    next[view.surfaceId] = view;
  }
  return { messages, surfaces: next };
}

/** Surfaces in the order the daemon lists them: oldest first, then by id. */
export function orderedSurfaces(surfaces: SurfaceMap): SurfaceView[] {
  return Object.values(surfaces).sort((a, b) => a.createdAt - b.createdAt || a.surfaceId.localeCompare(b.surfaceId));
}
