/**
 * Surfaces: the A2UI surfaces agents put on the person's screen, each labelled with the agent
 * that owns it, rendered by `@a2ui/lit`; the person's actions go back with `a2ui.action`.
 *
 * Fed by `a2ui/subscribe` (`a2ui.event`s with whole surface views) after an `a2ui/replay` of the
 * screen. The owner comes with each view (`owner`); from a daemon too old to send it, from the
 * host events (`a2ui.surface_updated` names the agent), lib/owner.ts.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { formatDateTime } from '../../lib/format.js';
import { describeError } from '../../lib/rpc.js';
import { orderedSurfaces } from '../../lib/surfaces.js';
import { surfaceOwnerLabel } from '../../lib/owner.js';
import type { SurfaceResult, SurfaceView } from '../../lib/types.js';
import { SurfaceRenderer, type ActionSink } from '../a2ui.js';
import { openExternal } from '../daemon.js';
import type { HarkApp } from '../hark-app.js';

export class SurfacesView {
  private readonly renderer: SurfaceRenderer;
  private error: string | null = null;

  constructor(private readonly app: HarkApp) {
    this.renderer = new SurfaceRenderer(
      (action) => void this.sendAction(action),
      (url) => {
        void openExternal(url).catch((e) => this.app.flash(`Could not open the link: ${describeError(e)}`, 'error'));
      },
    );
  }

  get count(): number {
    return Object.keys(this.renderer.surfaceViews).length;
  }

  async onConnected(): Promise<void> {
    try {
      await this.app.call('a2ui/subscribe');
      const r = await this.app.call<{ surfaces: SurfaceView[] }>('a2ui/replay');
      this.renderer.sync(r.surfaces ?? []);
      this.error = null;
    } catch (e) {
      this.error = describeError(e);
    }
    this.app.requestUpdate();
  }

  onEvent(p: Record<string, unknown>): void {
    const kind = p.kind;
    const result = p.result as SurfaceResult | undefined;
    if ((kind === 'a2ui.surface_updated' || kind === 'a2ui.surface_deleted') && result && typeof result.surfaceId === 'string') {
      this.renderer.applyResult({ ...result, deleted: kind === 'a2ui.surface_deleted' || result.deleted === true });
      this.app.requestUpdate();
    }
  }

  private async sendAction(action: Parameters<ActionSink>[0]): Promise<void> {
    try {
      await this.app.call('a2ui.action', action);
    } catch (e) {
      this.app.flash(`The agent did not get “${action.name}”: ${describeError(e)}`, 'error');
    }
  }

  private ownerLabel(v: SurfaceView): string {
    const owners = this.app.state.surfaceOwners;
    const inferred = v.surfaceId in owners ? { agentId: owners[v.surfaceId] } : undefined;
    return surfaceOwnerLabel(v.owner, inferred, this.app.state.agents);
  }

  render(): TemplateResult {
    const surfaces = orderedSurfaces(this.renderer.surfaceViews);
    return html`
      <h2 tabindex="-1">Surfaces</h2>
      <p class="muted">What agents show you. Buttons and fields here send your answer to the agent that owns them.</p>
      ${this.error ? html`<p class="error" role="alert">Could not load the surfaces: ${this.error}</p>` : nothing}
      ${surfaces.length === 0 ? html`<p class="empty">No agent is showing anything.</p>` : nothing}
      <div class="surface-list">
        ${surfaces.map((v) => this.renderSurface(v))}
      </div>
    `;
  }

  private renderSurface(v: SurfaceView): TemplateResult {
    const model = this.renderer.model(v.surfaceId);
    const error = this.renderer.errors.get(v.surfaceId);
    const owner = this.ownerLabel(v);
    const headingId = `surface-${v.surfaceId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    return html`<section class="surface" data-surface-id=${v.surfaceId} aria-labelledby=${headingId}>
      <header class="surface-head">
        <h3 id=${headingId}><span class="muted">From</span> <span class="surface-owner">${owner}</span></h3>
        <span class="muted surface-meta">${v.surfaceId} · updated <time datetime=${new Date(v.updatedAt).toISOString()}>${formatDateTime(new Date(v.updatedAt).toISOString())}</time></span>
      </header>
      <div class="surface-body">
        ${error
          ? html`<p class="error">This surface could not be shown: ${error}</p>`
          : model
            ? html`<a2ui-surface .surface=${model}></a2ui-surface>`
            : nothing}
        ${!v.complete && !error ? html`<p class="muted">Still arriving…</p>` : nothing}
      </div>
    </section>`;
  }
}
