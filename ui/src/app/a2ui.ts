/**
 * The A2UI v0.9 renderer: one `MessageProcessor` over the basic catalog, fed with messages made
 * from the daemon's surface views (lib/surfaces.ts). Two changes to the stock catalog:
 *
 * - `openUrl` hands `https:` URLs to the external opener and does nothing with any other URL
 *   (the stock one calls `window.open` for `http:` too);
 * - actions go to the daemon as `a2ui.action` (the processor's action handler).
 *
 * Markdown is rendered by `@a2ui/markdown-it` (raw HTML off, then DOMPurify), provided through
 * Lit context by the app element.
 */
import { Catalog, MessageProcessor, type SurfaceModel } from '@a2ui/web_core/v0_9';
import { basicCatalog } from '@a2ui/lit/v0_9';
import { injectBasicCatalogStyles } from '@a2ui/web_core/v0_9/basic_catalog';
import { applySurfaceResult, syncSurfaces, type A2uiMessage, type SurfaceMap } from '../lib/surfaces.js';
import type { SurfaceResult, SurfaceView } from '../lib/types.js';

export type ActionSink = (action: {
  name: string;
  surfaceId: string;
  sourceComponentId: string;
  timestamp: string;
  context: Record<string, unknown>;
}) => void;

type AnyCatalog = typeof basicCatalog;

function safeCatalog(openUrl: (url: string) => void): AnyCatalog {
  const functions = [...basicCatalog.functions.values()].map((f) =>
    f.name === 'openUrl'
      ? {
          ...f,
          execute: (args: Record<string, unknown>) => {
            if (typeof args.url === 'string') openUrl(args.url);
            return undefined;
          },
        }
      : f,
  );
  return new Catalog(basicCatalog.id, [...basicCatalog.components.values()], functions as never) as AnyCatalog;
}

export class SurfaceRenderer {
  private processor: MessageProcessor<any>;
  private views: SurfaceMap = {};
  /** A surface the renderer could not apply, and why (shown instead of it). */
  readonly errors = new Map<string, string>();

  constructor(onAction: ActionSink, openUrl: (url: string) => void) {
    injectBasicCatalogStyles();
    this.processor = new MessageProcessor([safeCatalog(openUrl)], (action) => onAction(action as Parameters<ActionSink>[0]));
  }

  get surfaceViews(): SurfaceMap {
    return this.views;
  }

  model(id: string): SurfaceModel<any> | undefined {
    return this.processor.model.getSurface(id);
  }

  /** One `a2ui.event` result. */
  applyResult(result: SurfaceResult): void {
    const step = applySurfaceResult(this.views, result);
    this.views = step.surfaces;
    this.run(step.messages);
  }

  /** `a2ui/replay`'s views: the whole screen. */
  sync(views: SurfaceView[]): void {
    const step = syncSurfaces(this.views, views);
    this.views = step.surfaces;
    this.run(step.messages);
  }

  private run(messages: A2uiMessage[]): void {
    for (const m of messages) {
      const id = surfaceIdOf(m);
      try {
        if ('deleteSurface' in m) this.errors.delete(id);
        this.processor.processMessages([m as never]);
      } catch (e) {
        // The daemon validated the message already; the renderer refusing it is shown, not thrown.
        this.errors.set(id, e instanceof Error ? e.message : String(e));
        if ('createSurface' in m && !this.model(id)) {
          delete this.views[id];
        }
      }
    }
  }
}

function surfaceIdOf(m: A2uiMessage): string {
  if ('createSurface' in m) return m.createSurface.surfaceId;
  if ('updateComponents' in m) return m.updateComponents.surfaceId;
  if ('updateDataModel' in m) return m.updateDataModel.surfaceId;
  return m.deleteSurface.surfaceId;
}
