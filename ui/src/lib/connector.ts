/**
 * The window's one connection to the daemon, kept up: ask for `{url, host_token}`, open the
 * WebSocket, `session.auth` as the host, hand the ready client over; when the socket drops (the
 * daemon restarted, the machine slept), fail what was waiting and try again with backoff, asking
 * for the URL and token again each time (a restarted daemon has a new token, maybe a new port).
 *
 * Sockets, timers and the source of the connection details are handed in, so the loop is
 * unit-tested with fakes.
 */
import { backoffDelay } from './backoff.js';
import { RpcClient, describeError } from './rpc.js';
import type { ConnectionInfo } from './types.js';
import type { ConnectionStatus } from './state.js';

export interface SocketLike {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev?: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev?: unknown) => void) | null;
}

export interface ConnectorDeps {
  getInfo(): Promise<ConnectionInfo>;
  createSocket(url: string): SocketLike;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  now(): number;
  random(): number;
}

export interface AuthResult {
  ok: boolean;
  role: string;
  session_id: string;
  [field: string]: unknown;
}

export interface ConnectorCallbacks {
  onStatus(status: ConnectionStatus, error: string | null, retryAt: number | null): void;
  /** The client is authenticated as the host; a rejection closes the socket and retries. */
  onReady(client: RpcClient, auth: AuthResult): Promise<void> | void;
  /** The authenticated connection ended (before the status goes to disconnected). */
  onLost?(): void;
}

/** A socket that has not opened within this long is given up on (and retried). */
export const OPEN_TIMEOUT_MS = 10_000;

export class Connector {
  private attempt = 0;
  private generation = 0;
  private socket: SocketLike | null = null;
  private retryTimer: unknown = null;
  private openTimer: unknown = null;
  private stopped = true;
  private ready = false;
  client: RpcClient | null = null;

  constructor(
    private readonly deps: ConnectorDeps,
    private readonly callbacks: ConnectorCallbacks,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    this.dropClient();
    this.pendingClient?.failAll('the window closed its connection');
    this.pendingClient = null;
    if (s) s.close(1000, 'window closed');
  }

  /** The client of the socket being set up or in use (ready or not). */
  private pendingClient: RpcClient | null = null;

  /**
   * Drops the connection in use (if any) and connects again at once: the daemon changed (the
   * shell linked to another one, with another token).
   */
  reconnect(why = 'the app switched to another daemon'): void {
    if (this.stopped) return;
    this.generation++;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    this.dropClient();
    this.pendingClient?.failAll(why);
    this.pendingClient = null;
    s?.close(1000, 'reconnecting');
    this.attempt = 0;
    void this.connect();
  }

  /** Skips the wait before the next attempt. */
  retryNow(): void {
    if (this.stopped || this.socket) return;
    this.clearTimers();
    void this.connect();
  }

  get connected(): boolean {
    return this.ready;
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.callbacks.onStatus('connecting', null, null);
    let info: ConnectionInfo;
    try {
      info = await this.deps.getInfo();
      if (!info || typeof info.url !== 'string' || !(typeof info.host_token === 'string' || info.host_token === null)) {
        throw new Error('the connection details are incomplete');
      }
    } catch (e) {
      if (gen === this.generation) this.scheduleRetry(`cannot find the daemon: ${describeError(e)}`);
      return;
    }
    if (gen !== this.generation || this.stopped) return;
    let socket: SocketLike;
    try {
      socket = this.deps.createSocket(info.url);
    } catch (e) {
      this.scheduleRetry(`cannot open ${info.url}: ${describeError(e)}`);
      return;
    }
    this.socket = socket;
    let closed = false;
    const client = new RpcClient((text) => socket.send(text));
    this.pendingClient = client;
    this.openTimer = this.deps.setTimer(() => {
      if (gen === this.generation && !closed) socket.close(4000, 'open timeout');
    }, OPEN_TIMEOUT_MS);
    socket.onmessage = (ev) => {
      if (typeof ev.data === 'string') client.handleText(ev.data);
    };
    socket.onerror = () => {
      /* onclose follows and says the rest */
    };
    socket.onclose = (ev) => {
      closed = true;
      if (gen !== this.generation) return;
      this.socket = null;
      if (this.pendingClient === client) this.pendingClient = null;
      const why = closeReason(ev.code, ev.reason);
      this.dropClient();
      client.failAll(why);
      if (!this.stopped) this.scheduleRetry(why);
    };
    socket.onopen = async () => {
      if (gen !== this.generation) return;
      this.clearOpenTimer();
      try {
        // Under --no-auth there is no token: any host_token value asks for the host role.
        const auth = await client.request<AuthResult>('session.auth', { host_token: info.host_token ?? '' });
        if (gen !== this.generation) return;
        if (auth?.role !== 'host') throw new Error(`the daemon took this window as "${auth?.role}", not the host`);
        this.client = client;
        this.ready = true;
        this.attempt = 0;
        this.callbacks.onStatus('connected', null, null);
        await this.callbacks.onReady(client, auth);
      } catch (e) {
        if (gen !== this.generation || closed) return;
        // Not usable: close, and onclose schedules the retry with this reason.
        this.lastError = describeError(e);
        socket.close(4001, 'setup failed');
      }
    };
  }

  /** Why a setup failed, kept for the retry message. */
  private lastError: string | null = null;

  private dropClient(): void {
    if (this.ready) {
      this.ready = false;
      this.client = null;
      this.callbacks.onLost?.();
    }
    this.client = null;
  }

  private scheduleRetry(why: string): void {
    this.clearTimers();
    const reason = this.lastError ?? why;
    this.lastError = null;
    const delay = backoffDelay(this.attempt++, this.deps.random);
    const retryAt = this.deps.now() + delay;
    this.callbacks.onStatus('disconnected', reason, retryAt);
    const gen = this.generation;
    this.retryTimer = this.deps.setTimer(() => {
      this.retryTimer = null;
      if (gen === this.generation && !this.stopped) void this.connect();
    }, delay);
  }

  private clearOpenTimer(): void {
    if (this.openTimer !== null) this.deps.clearTimer(this.openTimer);
    this.openTimer = null;
  }

  private clearTimers(): void {
    this.clearOpenTimer();
    if (this.retryTimer !== null) this.deps.clearTimer(this.retryTimer);
    this.retryTimer = null;
  }
}

/** A close code in words (docs/API.md §1, "How the daemon closes"). */
export function closeReason(code: number, reason: string): string {
  const said = reason ? `: ${reason}` : '';
  switch (code) {
    case 1000:
      return `the connection closed${said}`;
    case 1001:
      return `the daemon shut down or went away${said}`;
    case 1006:
      return 'the daemon is not reachable';
    case 1008:
      return `the daemon refused the connection${said}`;
    case 1009:
      return `a message was too big${said}`;
    case 4000:
      return 'the daemon did not answer in time';
    case 4001:
      return `the connection could not be set up${said}`;
    default:
      return `the connection closed (code ${code})${said}`;
  }
}
