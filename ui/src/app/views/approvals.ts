/**
 * Approvals: the app's own prompt when an agent asks for the microphone or transcripts (or asks
 * the person to choose, `host.request_approval`), answered with `host.resolve_approval`. Never
 * drawn by an agent: the words and buttons are the window's.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { formatDateTime } from '../../lib/format.js';
import type { HostApprovalRequest } from '../../lib/types.js';
import type { HarkApp } from '../hark-app.js';
import { capabilityText, jsonText } from './common.js';

const GATE_OPTIONS: Array<{ resolution: string; label: string; cls: string }> = [
  { resolution: 'approve_once', label: 'Allow once', cls: '' },
  { resolution: 'approve_always', label: 'Always allow', cls: 'primary' },
  { resolution: 'deny', label: 'Deny', cls: 'danger' },
];

interface GateDetails {
  capability?: string;
  method?: string;
  params_preview?: unknown;
}

function gateOf(a: HostApprovalRequest): GateDetails | null {
  const d = (a.details ?? {}) as GateDetails;
  const isGate = typeof d.capability === 'string' && a.options.includes('approve_once') && a.options.includes('deny');
  return isGate ? d : null;
}

function who(a: HostApprovalRequest): string {
  return a.agent_id ?? a.client_id;
}

/** The question in the window's own words. */
export function approvalQuestion(a: HostApprovalRequest): string {
  const gate = gateOf(a);
  if (gate) return `${who(a)} wants to ${capabilityText(gate.capability!)}`;
  return `${who(a)} asks you to approve: ${a.action}`;
}

export class ApprovalsView {
  private recent: HostApprovalRequest[] = [];
  private busy = new Set<string>();

  constructor(private readonly app: HarkApp) {}

  onRequested(): void {
    this.app.requestUpdate();
  }

  async resolve(a: HostApprovalRequest, resolution: string): Promise<void> {
    if (this.busy.has(a.id)) return;
    this.busy.add(a.id);
    this.app.requestUpdate();
    const r = await this.app.attempt('Could not answer the request', () =>
      this.app.call<HostApprovalRequest>('host.resolve_approval', { approval_id: a.id, resolution }),
    );
    this.busy.delete(a.id);
    if (r) {
      this.app.dispatch({ type: 'approvalGone', approvalId: a.id });
      this.recent = [r, ...this.recent.filter((x) => x.id !== r.id)].slice(0, 100);
      if (resolution === 'approve_always') void this.app.settings.reloadGrants();
    }
    this.app.requestUpdate();
  }

  private async loadRecent(): Promise<void> {
    const r = await this.app.attempt('Could not load past requests', () =>
      this.app.call<{ approvals: HostApprovalRequest[] }>('host.approvals'),
    );
    if (r) {
      this.recent = r.approvals.filter((a) => a.status === 'resolved');
      this.app.requestUpdate();
    }
  }

  buttons(a: HostApprovalRequest): TemplateResult {
    const gate = gateOf(a);
    const busy = this.busy.has(a.id);
    const options = gate
      ? GATE_OPTIONS.filter((o) => a.options.includes(o.resolution))
      : a.options.map((o) => ({ resolution: o, label: o.replace(/_/g, ' '), cls: '' }));
    return html`<div class="approval-buttons">
      ${options.map(
        (o) => html`<button type="button" class=${o.cls} data-resolution=${o.resolution} ?disabled=${busy || !this.app.connected}
          @click=${() => void this.resolve(a, o.resolution)}>${o.label}</button>`,
      )}
    </div>`;
  }

  details(a: HostApprovalRequest): TemplateResult {
    const gate = gateOf(a);
    if (gate) {
      return html`<p class="muted">Asked by <code>${gate.method}</code>${a.agent_id ? nothing : html`; this client has no agent id, so “Always allow” counts once`}.</p>
        ${gate.params_preview !== undefined && gate.params_preview !== null
          ? html`<details><summary>What it asked for</summary><pre>${jsonText(gate.params_preview)}</pre></details>`
          : nothing}`;
    }
    return a.details !== undefined && a.details !== null && !(typeof a.details === 'object' && Object.keys(a.details as object).length === 0)
      ? html`<details open><summary>Details</summary><pre>${jsonText(a.details)}</pre></details>`
      : html``;
  }

  render(): TemplateResult {
    const pending = this.app.state.approvals;
    return html`
      <h2 tabindex="-1">Approvals</h2>
      <section aria-labelledby="pending-title">
        <h3 id="pending-title">Waiting for you</h3>
        ${pending.length === 0
          ? html`<p class="empty">No agent is waiting for an answer.</p>`
          : html`<ul class="approval-list">
              ${pending.map(
                (a) => html`<li class="approval" data-approval-id=${a.id}>
                  <p class="approval-question"><strong>${approvalQuestion(a)}</strong></p>
                  <p class="muted">Asked <time datetime=${a.created_at}>${formatDateTime(a.created_at)}</time></p>
                  ${this.details(a)} ${this.buttons(a)}
                </li>`,
              )}
            </ul>`}
      </section>
      <section aria-labelledby="recent-title">
        <h3 id="recent-title">Answered</h3>
        <button type="button" class="small" @click=${() => void this.loadRecent()}>Show answered requests</button>
        ${this.recent.length
          ? html`<ul class="approval-list recent">
              ${this.recent.map(
                (a) => html`<li><span>${approvalQuestion(a)}</span> → <strong>${(a.resolution ?? '').replace(/_/g, ' ')}</strong>
                  ${a.resolved_at ? html`<span class="muted">(<time datetime=${a.resolved_at}>${formatDateTime(a.resolved_at)}</time>)</span>` : nothing}</li>`,
              )}
            </ul>`
          : nothing}
        <p class="muted">Standing permissions (“Always allow”) are listed, and can be revoked, in
          <button type="button" class="link" @click=${() => this.app.go('settings')}>Settings</button>.</p>
      </section>
    `;
  }
}

/** The prompt over every view while something waits: the oldest request first. */
export function approvalPrompt(app: HarkApp): TemplateResult | typeof nothing {
  const pending = app.state.approvals;
  // The Approvals view lists them all with the same buttons.
  if (pending.length === 0 || app.view === 'approvals') return nothing;
  const a = pending[0];
  return html`<section class="approval-prompt" role="alertdialog" aria-labelledby="prompt-q" aria-describedby="prompt-d" data-approval-id=${a.id}>
    <p id="prompt-q" class="approval-question"><strong>${approvalQuestion(a)}</strong></p>
    <div id="prompt-d">${app.approvals.details(a)}</div>
    ${app.approvals.buttons(a)}
    ${pending.length > 1
      ? html`<p class="muted">${pending.length - 1} more waiting · <button type="button" class="link" @click=${() => app.go('approvals')}>See all</button></p>`
      : nothing}
  </section>`;
}
