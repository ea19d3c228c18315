/**
 * `<hark-app>`: the window. It owns the one daemon connection (lib/connector.ts), the state
 * (lib/state.ts), and the views; it routes the daemon's notifications to them.
 *
 * Rendered in light DOM, like the A2UI basic catalog (0.11 renders there too), so one
 * stylesheet (styles.css) styles everything and the catalog's global styles reach surfaces.
 */
import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { ContextProvider } from '@lit/context';
import { Context } from '@a2ui/lit/v0_9';
import { renderMarkdown } from '@a2ui/markdown-it';
import { Connector } from '../lib/connector.js';
import { parseRoute } from '../lib/route.js';
import { formatOffset, elapsedSince } from '../lib/format.js';
import { ErrorCode, RpcClient, RpcError, describeError } from '../lib/rpc.js';
import { initialState, recordingMeetings, reduce, type Action, type AppState } from '../lib/state.js';
import type { ChatEvent, HostEvent, SubscribeResult, VoiceEvent } from '../lib/types.js';
import { externalUrl } from '../lib/links.js';
import { WINDOW_CLIENT_ID, connectionInfo, inTauri, onDaemonChanged, openExternal, openSocket, quitApp } from './daemon.js';
import { ApprovalsView, approvalPrompt } from './views/approvals.js';
import { AgentsView } from './views/agents.js';
import { LiveView } from './views/live.js';
import { MeetingPage } from './views/meeting-page.js';
import { MeetingsView } from './views/meetings.js';
import { SettingsView } from './views/settings.js';
import { SurfacesView } from './views/surfaces.js';

export type ViewName = 'meetings' | 'live' | 'agents' | 'surfaces' | 'approvals' | 'settings';

const VIEWS: Array<{ name: ViewName; label: string }> = [
  { name: 'meetings', label: 'Meetings' },
  { name: 'live', label: 'Live' },
  { name: 'agents', label: 'Agents' },
  { name: 'surfaces', label: 'Surfaces' },
  { name: 'approvals', label: 'Approvals' },
  { name: 'settings', label: 'Settings' },
];

export interface Flash {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

export class HarkApp extends LitElement {
  static properties = {
    state: { state: true },
    view: { state: true },
    flashes: { state: true },
    confirmQuit: { state: true },
  };

  declare state: AppState;
  declare view: ViewName;
  declare flashes: Flash[];
  /** The Quit button asked "stop the recording and quit?" (inside Tauri only). */
  declare confirmQuit: boolean;
  private unlistenDaemon: (() => void) | null = null;

  client: RpcClient | null = null;
  /** The meeting page open in the Meetings view (null: the list). */
  openMeetingId: string | null = null;

  readonly meetings: MeetingsView;
  readonly meetingPage: MeetingPage;
  readonly live: LiveView;
  readonly agents: AgentsView;
  readonly surfaces: SurfacesView;
  readonly approvals: ApprovalsView;
  readonly settings: SettingsView;

  private readonly connector: Connector;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private flashId = 0;
  private retryTicker: ReturnType<typeof setInterval> | null = null;

  constructor() {
    super();
    this.state = initialState;
    this.view = 'meetings';
    this.flashes = [];
    this.confirmQuit = false;
    // Markdown in A2UI Text components: markdown-it (raw HTML off) + DOMPurify.
    new ContextProvider(this, { context: Context.markdown, initialValue: renderMarkdown });
    this.meetings = new MeetingsView(this);
    this.meetingPage = new MeetingPage(this);
    this.live = new LiveView(this);
    this.agents = new AgentsView(this);
    this.surfaces = new SurfacesView(this);
    this.approvals = new ApprovalsView(this);
    this.settings = new SettingsView(this);
    this.connector = new Connector(
      {
        getInfo: connectionInfo,
        createSocket: openSocket,
        setTimer: (fn, ms) => setTimeout(fn, ms),
        clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
        now: () => Date.now(),
        random: Math.random,
      },
      {
        onStatus: (status, error, retryAt) => this.dispatch({ type: 'connection', status, error, retryAt }),
        onReady: (client) => this.onReady(client),
        onLost: () => {
          this.client = null;
          this.requestUpdate();
        },
      },
    );
  }

  createRenderRoot(): HTMLElement {
    return this;
  }

  connectedCallback(): void {
    super.connectedCallback();
    document.addEventListener('click', this.guardLinks, true);
    document.addEventListener('auxclick', this.guardLinks, true);
    document.addEventListener('submit', this.guardSubmit, true);
    window.addEventListener('hashchange', this.followRoute);
    this.followRoute();
    this.connector.start();
    void onDaemonChanged(() => this.connector.reconnect()).then((off) => {
      this.unlistenDaemon = off;
    });
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('click', this.guardLinks, true);
    document.removeEventListener('auxclick', this.guardLinks, true);
    document.removeEventListener('submit', this.guardSubmit, true);
    window.removeEventListener('hashchange', this.followRoute);
    this.connector.stop();
    this.stopTicker();
    this.meetingPage.releaseAudio();
    this.unlistenDaemon?.();
    this.unlistenDaemon = null;
  }

  /** Calls the daemon; fails at once with "not connected" while there is no connection. */
  call<T = unknown>(method: string, params?: unknown): Promise<T> {
    if (!this.client) {
      return Promise.reject(new RpcError({ code: ErrorCode.Disconnected, message: 'not connected to the daemon' }));
    }
    return this.client.request<T>(method, params);
  }

  get connected(): boolean {
    return this.client !== null && this.state.connection.status === 'connected';
  }

  dispatch(action: Action): void {
    this.state = reduce(this.state, action);
    this.syncTicker();
  }

  /** Opens what the URL's hash names (`#/settings`, `#/meetings/<id>`: the tray's items). */
  private readonly followRoute = (): void => {
    const route = parseRoute(window.location.hash);
    if (!route) return;
    if (route.meetingId) this.openMeeting(route.meetingId);
    else {
      if (route.view === 'meetings') this.openMeetingId = null;
      this.go(route.view);
    }
  };

  go(view: ViewName): void {
    this.view = view;
    this.requestUpdate();
    void this.updateComplete.then(() => {
      const heading = this.querySelector<HTMLElement>('main h2');
      heading?.focus({ preventScroll: true });
    });
  }

  openMeeting(id: string | null): void {
    this.openMeetingId = id;
    this.view = 'meetings';
    if (id) void this.meetingPage.load(id);
    this.requestUpdate();
    void this.updateComplete.then(() => this.querySelector<HTMLElement>('main h2')?.focus({ preventScroll: true }));
  }

  flash(text: string, kind: Flash['kind'] = 'info'): void {
    const f = { id: ++this.flashId, text, kind };
    this.flashes = [...this.flashes, f].slice(-3);
    setTimeout(() => this.dismissFlash(f.id), kind === 'error' ? 10_000 : 4_000);
  }

  dismissFlash(id: number): void {
    this.flashes = this.flashes.filter((x) => x.id !== id);
  }

  /** Runs a call for a button: shows its error as a flash; returns undefined on failure. */
  async attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      this.flash(`${what}: ${describeError(e)}`, 'error');
      return undefined;
    }
  }

  retryNow(): void {
    this.connector.retryNow();
  }

  // ---- connection setup and notifications ----

  private async onReady(client: RpcClient): Promise<void> {
    client.onNotification((method, params) => this.onNotification(method, params));
    // A name for this connection: meetings it starts say `started_by: "hark-desktop"`, and
    // agents it chats with see it as `host_client_id`.
    await client.request('session.init', { client_id: WINDOW_CLIENT_ID });
    const snap = await client.request<SubscribeResult>('host.subscribe');
    this.client = client;
    this.dispatch({ type: 'snapshot', result: snap });
    // The snapshot has the last 50 events; who owns which surface may be older.
    const past = await client.request<{ events: HostEvent[] }>('host.events', { limit: 500 });
    this.dispatch({ type: 'pastEvents', events: past.events ?? [] });
    await this.surfaces.onConnected();
    // Each view loads what it shows; a failure shows in that view, not as a failed connection.
    void this.meetings.reload();
    void this.settings.onConnected();
    void this.agents.onConnected();
    if (this.openMeetingId) void this.meetingPage.load(this.openMeetingId);
    this.requestUpdate();
  }

  private onNotification(method: string, params: unknown): void {
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'host.event': {
        const event = p as unknown as HostEvent;
        this.dispatch({ type: 'hostEvent', event });
        this.meetingPage.onHostEvent(event);
        this.meetings.onHostEvent(event);
        if (event.kind === 'approval.requested') this.approvals.onRequested();
        break;
      }
      case 'voice.event':
        if (typeof p.session_id === 'string' && p.event) {
          this.dispatch({ type: 'voiceEvent', sessionId: p.session_id, event: p.event as VoiceEvent });
        }
        break;
      case 'a2ui.event':
        this.surfaces.onEvent(p);
        break;
      case 'models.pull_progress':
        this.settings.onPullProgress(p);
        break;
      case 'meeting.retranscribe_progress':
        this.meetingPage.onRetranscribeProgress(p);
        break;
      case 'agents.chat.event':
        this.agents.onChatEvent(p as unknown as ChatEvent);
        break;
      default:
        break;
    }
  }

  // ---- never navigate the app's own page ----

  private guardLinks = (e: MouseEvent): void => {
    const anchor = e.composedPath().find((n): n is HTMLAnchorElement => n instanceof HTMLAnchorElement && n.hasAttribute('href'));
    if (!anchor) return;
    e.preventDefault();
    if (e.type === 'auxclick' && e.button !== 1) return;
    const url = externalUrl(anchor.getAttribute('href'));
    if (url) void openExternal(url).catch((err) => this.flash(`Could not open the link: ${describeError(err)}`, 'error'));
  };

  private guardSubmit = (e: Event): void => {
    // Forms are handled by their own listeners; none may submit (navigate) the page.
    e.preventDefault();
  };

  // ---- elapsed-time ticker while something records ----

  private syncTicker(): void {
    const recording = recordingMeetings(this.state).length > 0;
    if (recording && !this.ticker) {
      this.ticker = setInterval(() => this.requestUpdate(), 1000);
    } else if (!recording) {
      this.stopTicker();
    }
    const waiting = this.state.connection.status === 'disconnected' && this.state.connection.retryAt !== null;
    if (waiting && !this.retryTicker) {
      this.retryTicker = setInterval(() => this.requestUpdate(), 1000);
    } else if (!waiting && this.retryTicker) {
      clearInterval(this.retryTicker);
      this.retryTicker = null;
    }
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  // ---- rendering ----

  protected updated(): void {
    this.live.keepInView(this);
    // Left the meeting page (another view, the list): its players' Blob URLs go.
    if (this.view !== 'meetings' || !this.openMeetingId) this.meetingPage.releaseAudio();
  }

  render(): TemplateResult {
    const s = this.state;
    const pendingApprovals = s.approvals.length;
    const surfaceCount = this.surfaces.count;
    return html`
      <a class="skip" href="#main" @click=${this.skipToMain}>Skip to content</a>
      <header class="topbar">
        <h1 class="brand">Hark</h1>
        ${this.renderRecordingBadges()}
        ${this.renderConnection()}
        ${this.renderQuit()}
      </header>
      ${approvalPrompt(this)}
      <div class="frame">
        <nav class="views" aria-label="Views">
          <ul>
            ${VIEWS.map(
              (v) => html`<li>
                <button
                  type="button"
                  class="nav-item"
                  data-view=${v.name}
                  aria-current=${this.view === v.name ? 'page' : 'false'}
                  @click=${() => {
                    if (v.name === 'meetings') this.openMeetingId = null;
                    this.go(v.name);
                  }}
                >
                  ${v.label}${v.name === 'approvals' && pendingApprovals > 0
                    ? html` <span class="count" aria-label="${pendingApprovals} pending">${pendingApprovals}</span>`
                    : nothing}${v.name === 'surfaces' && surfaceCount > 0
                    ? html` <span class="count" aria-label="${surfaceCount} surfaces">${surfaceCount}</span>`
                    : nothing}${v.name === 'agents' && s.agents.length > 0
                    ? html` <span class="count" aria-label="${s.agents.length} connected">${s.agents.length}</span>`
                    : nothing}${v.name === 'live' && recordingMeetings(s).length > 0
                    ? html` <span class="dot" aria-label="recording"></span>`
                    : nothing}
                </button>
              </li>`,
            )}
          </ul>
        </nav>
        <main id="main" tabindex="-1" data-view=${this.view}>${this.renderView()}</main>
      </div>
      <div class="flashes" role="status" aria-live="polite">
        ${this.flashes.map(
          (f) => html`<p class="flash ${f.kind}">
            <span>${f.text}</span>
            <button type="button" class="flash-close" aria-label="Dismiss this message" @click=${() => this.dismissFlash(f.id)}>×</button>
          </p>`,
        )}
      </div>
    `;
  }

  private skipToMain = (e: Event): void => {
    e.preventDefault();
    this.querySelector<HTMLElement>('#main')?.focus();
  };

  private renderView(): TemplateResult {
    switch (this.view) {
      case 'meetings':
        return this.openMeetingId ? this.meetingPage.render(this.openMeetingId) : this.meetings.render();
      case 'live':
        return this.live.render();
      case 'agents':
        return this.agents.render();
      case 'surfaces':
        return this.surfaces.render();
      case 'approvals':
        return this.approvals.render();
      case 'settings':
        return this.settings.render();
    }
  }

  private renderRecordingBadges(): TemplateResult | typeof nothing {
    const recording = recordingMeetings(this.state);
    if (recording.length === 0) return nothing;
    const now = Date.now();
    // Without a connection the window cannot know whether it still records: it says so.
    const stale = !this.connected;
    return html`<div class="recording-badges">
      ${recording.map(
        (m) => html`<div class="recording-badge ${stale ? 'stale' : ''}" role="status" data-meeting-id=${m.meta.id}>
          <span class="rec-dot" aria-hidden="true"></span>
          <span class="rec-label">${stale ? 'Was recording' : 'Recording'}</span>
          ${stale ? nothing : html`<span class="rec-time" aria-label="elapsed">${formatOffset(elapsedSince(m.meta.started_at, now))}</span>`}
          <button type="button" class="link" @click=${() => this.go('live')} aria-label="Show the live transcript of ${m.meta.title}">
            ${m.meta.title}
          </button>
          <button type="button" class="danger small" @click=${() => this.live.stop(m.meta.id)} aria-label="Stop recording ${m.meta.title}">
            Stop
          </button>
        </div>`,
      )}
    </div>`;
  }

  /** Quit, in the window too: desktops without a tray host show no tray menu (DESKTOP-NOTES). */
  private renderQuit(): TemplateResult | typeof nothing {
    if (!inTauri()) return nothing;
    const quit = () => void quitApp().catch((e) => this.flash(`Could not quit: ${describeError(e)}`, 'error'));
    if (this.confirmQuit) {
      return html`<div class="quit-confirm" role="group" aria-label="Quit while recording">
        <span>A recording is running: it is stopped and saved first.</span>
        <button type="button" class="small danger" @click=${quit}>Stop and quit</button>
        <button type="button" class="small" @click=${() => (this.confirmQuit = false)}>Cancel</button>
      </div>`;
    }
    return html`<button type="button" class="small quit" @click=${() => {
      if (recordingMeetings(this.state).length > 0) this.confirmQuit = true;
      else quit();
    }}>Quit Hark</button>`;
  }

  private renderConnection(): TemplateResult {
    const c = this.state.connection;
    if (c.status === 'connected') {
      return html`<p class="conn ok" role="status" data-status="connected"><span class="conn-dot" aria-hidden="true"></span>Connected</p>`;
    }
    if (c.status === 'connecting') {
      return html`<p class="conn busy" role="status" data-status="connecting">Connecting to the daemon…</p>`;
    }
    const secs = c.retryAt ? Math.max(0, Math.ceil((c.retryAt - Date.now()) / 1000)) : null;
    return html`<div class="conn bad" role="alert" data-status="disconnected">
      <strong>Not connected</strong>
      <span class="conn-why">${c.error ?? 'the daemon is not reachable'}${secs !== null ? html`; retrying in ${secs} s` : nothing}</span>
      <button type="button" class="small" @click=${() => this.retryNow()}>Retry now</button>
    </div>`;
  }
}

customElements.define('hark-app', HarkApp);

declare global {
  interface HTMLElementTagNameMap {
    'hark-app': HarkApp;
  }
}
