/**
 * JSON-RPC 2.0 bookkeeping for one connection to the daemon: request ids, the table of
 * requests waiting for their reply, notifications, and requests the daemon sends us.
 *
 * It owns no socket: `send` is handed in, and whoever owns the socket feeds every text frame to
 * `handleText` and calls `failAll` when the socket closes. Replies may come back in any order
 * (docs/API.md §4): they are matched by id only.
 */

export interface RpcErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

/** An error the daemon answered (or one this side made up when the connection dropped). */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(body: RpcErrorBody) {
    super(body.message);
    this.name = 'RpcError';
    this.code = body.code;
    this.data = body.data;
  }
  /** The field a -32602 names (`data.field`), if any. */
  get field(): string | undefined {
    const d = this.data as { field?: unknown } | undefined;
    return d && typeof d.field === 'string' ? d.field : undefined;
  }
  /** The daemon's plain-English reason (`data.reason`) when it gave one, else the message. */
  get reason(): string {
    const d = this.data as { reason?: unknown } | undefined;
    return d && typeof d.reason === 'string' ? d.reason : this.message;
  }
}

/** Codes of docs/API.md §5 the window reacts to. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  AuthFailed: -32001,
  Forbidden: -32002,
  Denied: -32003,
  NotFound: -32010,
  Busy: -32011,
  Conflict: -32012,
  /** Not a daemon code: this side gave up because the connection closed. */
  Disconnected: -1,
} as const;

export type NotificationHandler = (method: string, params: unknown) => void;
/** Answers a request the daemon sent us; throwing an RpcError answers with that error. */
export type RequestHandler = (method: string, params: unknown) => unknown;

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: RpcError) => void;
}

export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private notificationHandlers: NotificationHandler[] = [];
  private requestHandler: RequestHandler | null = null;
  private closed = false;

  constructor(private readonly send: (text: string) => void) {}

  /** Sends a request; resolves with `result`, rejects with an RpcError. */
  request<T = unknown>(method: string, params?: unknown): Promise<T> {
    if (this.closed) {
      return Promise.reject(new RpcError({ code: ErrorCode.Disconnected, message: 'not connected to the daemon' }));
    }
    const id = this.nextId++;
    const frame: Record<string, unknown> = { jsonrpc: '2.0', id, method };
    if (params !== undefined) frame.params = params;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
      try {
        this.send(JSON.stringify(frame));
      } catch (e) {
        this.pending.delete(id);
        reject(new RpcError({ code: ErrorCode.Disconnected, message: `could not send ${method}: ${String(e)}` }));
      }
    });
  }

  /** Sends a notification (no reply expected). */
  notify(method: string, params?: unknown): void {
    if (this.closed) return;
    const frame: Record<string, unknown> = { jsonrpc: '2.0', method };
    if (params !== undefined) frame.params = params;
    this.send(JSON.stringify(frame));
  }

  onNotification(handler: NotificationHandler): () => void {
    this.notificationHandlers.push(handler);
    return () => {
      this.notificationHandlers = this.notificationHandlers.filter((h) => h !== handler);
    };
  }

  /** Who answers requests the daemon sends (none are expected for the host: they get -32601). */
  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  /** How many requests wait for a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Feeds one text frame from the socket. Returns false when it was not JSON-RPC at all. */
  handleText(text: string): boolean {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return false;
    }
    if (Array.isArray(message)) {
      // The window never sends batches, but a batch reply is still a list of replies.
      let ok = true;
      for (const m of message) ok = this.handleMessage(m) && ok;
      return ok;
    }
    return this.handleMessage(message);
  }

  private handleMessage(message: unknown): boolean {
    if (!message || typeof message !== 'object') return false;
    const m = message as Record<string, unknown>;
    if (typeof m.method === 'string') {
      if ('id' in m && m.id !== undefined && m.id !== null) {
        this.answerRequest(m.id, m.method, m.params);
      } else {
        for (const h of this.notificationHandlers) {
          try {
            h(m.method, m.params);
          } catch (e) {
            // One broken handler must not stop the others (or the socket's read loop).
            console.error(`notification handler for ${m.method} failed`, e);
          }
        }
      }
      return true;
    }
    if (!('id' in m)) return false;
    if (typeof m.id !== 'number') return true; // e.g. a -32700 with id null: nothing waits for it
    const pending = this.pending.get(m.id);
    if (!pending) return true; // a reply to nothing we wait for (late, or not ours): ignored
    this.pending.delete(m.id);
    if (m.error && typeof m.error === 'object') {
      const e = m.error as Partial<RpcErrorBody>;
      pending.reject(
        new RpcError({
          code: typeof e.code === 'number' ? e.code : ErrorCode.Internal,
          message: typeof e.message === 'string' ? e.message : `${pending.method} failed`,
          data: e.data,
        }),
      );
    } else {
      pending.resolve(m.result);
    }
    return true;
  }

  private answerRequest(id: unknown, method: string, params: unknown): void {
    const reply = (body: Record<string, unknown>) => {
      if (!this.closed) this.send(JSON.stringify({ jsonrpc: '2.0', id, ...body }));
    };
    if (!this.requestHandler) {
      reply({ error: { code: ErrorCode.MethodNotFound, message: `the window does not handle ${method}` } });
      return;
    }
    Promise.resolve()
      .then(() => this.requestHandler!(method, params))
      .then(
        (result) => reply({ result: result ?? null }),
        (e: unknown) => {
          const err = e instanceof RpcError ? e : new RpcError({ code: ErrorCode.Internal, message: String(e) });
          reply({ error: { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) } });
        },
      );
  }

  /** The socket closed: every waiting request fails, and later requests fail at once. */
  failAll(reason = 'the connection to the daemon closed'): void {
    this.closed = true;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(new RpcError({ code: ErrorCode.Disconnected, message: reason }));
  }
}

/** A message to show a person for any error a call can end with. */
export function describeError(e: unknown): string {
  // The daemon's messages are plain English and safe to show (docs/API.md §5); a -32602's
  // message already names the field.
  if (e instanceof RpcError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
