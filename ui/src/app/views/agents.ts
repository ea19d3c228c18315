/**
 * Agents: the roster (`host.agents`, kept current by `agent.*` host events) with each agent's
 * status, their notifications, and a chat with one agent (`agents.chat`, streamed
 * `agents.chat.event`s, `agents.chat.history`, `agents.chat.cancel`).
 */
import { html, nothing, type TemplateResult } from 'lit';
import { live } from 'lit/directives/live.js';
import {
  applyChatEvent,
  cancelled,
  fromHistory,
  mintSessionId,
  newConversation,
  promptFailed,
  promptSent,
  type Conversation,
} from '../../lib/chat.js';
import { formatDateTime } from '../../lib/format.js';
import { describeError } from '../../lib/rpc.js';
import type { ChatEvent, ChatSession, ChatTurn, HostAgent } from '../../lib/types.js';
import { randomHex } from '../daemon.js';
import type { HarkApp } from '../hark-app.js';
import { jsonText } from './common.js';

const STATUS_TEXT: Record<string, string> = {
  idle: 'Idle',
  running: 'Working',
  waiting_for_approval: 'Waiting for your approval',
  paused: 'Paused',
  completed: 'Done',
  errored: 'Error',
  stopped: 'Stopped',
};

export class AgentsView {
  private chatAgent: string | null = null;
  private conversation: Conversation | null = null;
  private sessions: ChatSession[] = [];
  private historyError: string | null = null;
  private draft = '';

  constructor(private readonly app: HarkApp) {}

  async onConnected(): Promise<void> {
    try {
      const r = await this.app.call<{ agents: HostAgent[] }>('host.agents');
      // host.subscribe's snapshot had them too; events since keep the roster current either way.
      this.app.dispatch({ type: 'agentsLoaded', agents: r.agents });
    } catch {
      /* the snapshot's roster stays */
    }
    if (this.chatAgent) await this.loadHistory(this.chatAgent);
  }

  onChatEvent(e: ChatEvent): void {
    if (!this.conversation || e.session_id !== this.conversation.sessionId) return;
    this.conversation = applyChatEvent(this.conversation, e, new Date().toISOString());
    this.app.requestUpdate();
  }

  private async openChat(agentId: string): Promise<void> {
    this.chatAgent = agentId;
    this.conversation = newConversation(agentId, mintSessionId(randomHex()));
    this.draft = '';
    this.app.requestUpdate();
    await this.loadHistory(agentId);
    void this.app.updateComplete.then(() => this.app.querySelector<HTMLTextAreaElement>('#chat-prompt')?.focus());
  }

  private async loadHistory(agentId: string): Promise<void> {
    try {
      const r = await this.app.call<{ sessions: ChatSession[] }>('agents.chat.history', { agent_id: agentId, limit: 20 });
      if (this.chatAgent !== agentId) return;
      this.sessions = r.sessions;
      this.historyError = null;
    } catch (e) {
      this.historyError = describeError(e);
    }
    this.app.requestUpdate();
  }

  private continueSession(session: ChatSession): void {
    this.conversation = fromHistory(session);
    this.app.requestUpdate();
  }

  private async send(): Promise<void> {
    const prompt = this.draft.trim();
    const c = this.conversation;
    if (!prompt || !c || c.running) return;
    const at = new Date().toISOString();
    this.conversation = promptSent(c, prompt, at);
    this.draft = '';
    this.app.requestUpdate();
    try {
      await this.app.call('agents.chat', { agent_id: c.agentId, prompt, session_id: c.sessionId });
    } catch (e) {
      if (this.conversation?.sessionId === c.sessionId) {
        this.conversation = promptFailed(this.conversation, describeError(e), new Date().toISOString());
        this.app.requestUpdate();
      }
    }
  }

  private async cancel(): Promise<void> {
    const c = this.conversation;
    if (!c || !c.running) return;
    await this.app.attempt('Could not cancel the chat', () => this.app.call('agents.chat.cancel', { session_id: c.sessionId }));
    if (this.conversation?.sessionId === c.sessionId) {
      this.conversation = cancelled(this.conversation, new Date().toISOString());
      this.app.requestUpdate();
    }
  }

  render(): TemplateResult {
    const agents = this.app.state.agents;
    return html`
      <h2 tabindex="-1">Agents</h2>
      ${agents.length === 0
        ? html`<p class="empty">No agent is connected. Agents on this computer appear here when they register with Hark.</p>`
        : html`<ul class="agent-list" aria-label="Connected agents">
            ${agents.map(
              (a) => html`<li class="agent" data-agent-id=${a.id}>
                <div class="agent-head">
                  <strong class="agent-name">${a.name}</strong>
                  <span class="muted">${a.id}${a.kind ? ` · ${a.kind}` : ''}</span>
                  <span class="badge agent-status status-${a.status}">${STATUS_TEXT[a.status] ?? a.status}</span>
                </div>
                ${a.message ? html`<p class="agent-message">${a.message}</p>` : nothing}
                ${a.capabilities.length ? html`<p class="muted">Can: ${a.capabilities.join(', ')}</p>` : nothing}
                <p class="muted">Connected since <time datetime=${a.registered_at}>${formatDateTime(a.registered_at)}</time></p>
                <button type="button" class="small" @click=${() => void this.openChat(a.id)} aria-label="Chat with ${a.name}">Chat</button>
              </li>`,
            )}
          </ul>`}
      ${this.renderChat(agents)}
      ${this.renderNotices()}
    `;
  }

  private renderNotices(): TemplateResult | typeof nothing {
    const notices = this.app.state.notices;
    if (notices.length === 0) return nothing;
    return html`<section aria-labelledby="notices-title">
      <h3 id="notices-title">Messages from agents</h3>
      <ul class="notices">
        ${notices.map(
          (n) => html`<li><span class="muted"><time datetime=${n.timestamp}>${formatDateTime(n.timestamp)}</time>
            ${n.agent_id ?? 'an agent'}:</span> ${n.message}</li>`,
        )}
      </ul>
    </section>`;
  }

  private renderChat(agents: HostAgent[]): TemplateResult | typeof nothing {
    if (!this.chatAgent || !this.conversation) return nothing;
    const agent = agents.find((a) => a.id === this.chatAgent);
    const name = agent?.name ?? this.chatAgent;
    const c = this.conversation;
    const others = this.sessions.filter((s) => s.session_id !== c.sessionId);
    return html`<section class="chat" aria-labelledby="chat-title" data-agent-id=${this.chatAgent}>
      <div class="chat-head">
        <h3 id="chat-title">Chat with ${name}</h3>
        <button type="button" class="small" @click=${() => {
          this.chatAgent = null;
          this.conversation = null;
          this.app.requestUpdate();
        }}>Close chat</button>
      </div>
      ${agent ? nothing : html`<p class="error" role="status">${name} is not connected any more.</p>`}
      ${others.length
        ? html`<details class="chat-history">
            <summary>Earlier conversations (${others.length})</summary>
            <ul>
              ${others.map(
                (s) => html`<li><button type="button" class="link" @click=${() => this.continueSession(s)}>
                  ${formatDateTime(s.last_active_at)}: ${s.turns[0]?.text.slice(0, 80) ?? '(empty)'}
                </button></li>`,
              )}
            </ul>
          </details>`
        : nothing}
      ${this.historyError ? html`<p class="error">Could not load earlier conversations: ${this.historyError}</p>` : nothing}
      <ol class="chat-log" aria-label="Conversation" aria-live="polite">
        ${c.turns.map((t) => this.renderTurn(t))}
        ${c.streaming
          ? html`<li class="turn agent streaming">
              <span class="who">${name}</span>
              <span class="turn-text">${c.streaming.text || html`<span class="muted">…</span>`}</span>
              ${c.streaming.toolCalls.map((call) => html`<pre class="tool-call">${jsonText(call, 500)}</pre>`)}
            </li>`
          : nothing}
      </ol>
      <form class="chat-form" @submit=${(e: Event) => {
        e.preventDefault();
        void this.send();
      }}>
        <label for="chat-prompt">Message to ${name}</label>
        <textarea id="chat-prompt" rows="2" maxlength="65536" .value=${live(this.draft)}
          @input=${(e: Event) => (this.draft = (e.target as HTMLTextAreaElement).value)}
          @keydown=${(e: KeyboardEvent) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void this.send();
            }
          }}></textarea>
        <div class="chat-buttons">
          <button type="submit" class="primary" ?disabled=${c.running || !agent}>Send</button>
          ${c.running ? html`<button type="button" @click=${() => void this.cancel()}>Cancel reply</button>` : nothing}
          <button type="button" class="small" ?disabled=${c.running} @click=${() => {
            this.conversation = newConversation(c.agentId, mintSessionId(randomHex()));
            void this.loadHistory(c.agentId);
          }}>New conversation</button>
        </div>
      </form>
    </section>`;
  }

  private renderTurn(t: ChatTurn): TemplateResult {
    const who = t.role === 'user' ? 'You' : (this.app.state.agents.find((a) => a.id === this.chatAgent)?.name ?? this.chatAgent ?? 'Agent');
    return html`<li class="turn ${t.role}">
      <span class="who">${who}</span>
      ${t.text ? html`<span class="turn-text">${t.text}</span>` : nothing}
      ${(t.tool_calls ?? []).map((call) => html`<pre class="tool-call">${jsonText(call, 500)}</pre>`)}
      ${t.error ? html`<span class="error turn-error">${t.error}</span>` : nothing}
      ${t.ended && !t.error ? html`<span class="muted">(${t.ended.replace(/_/g, ' ')})</span>` : nothing}
      ${t.truncated ? html`<span class="muted">(shortened in the history)</span>` : nothing}
    </li>`;
  }
}
