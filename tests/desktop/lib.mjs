// Helpers for the desktop test: plain W3C WebDriver over HTTP (tauri-driver in front of
// WebKitWebDriver), a small JSON-RPC client over the daemon's WebSocket (the `ws` package, a
// root devDependency), waiting on state, and the daemon's runtime files.

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';

/** A port nobody listens on now (the kernel's pick, released at once). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Waits until `check()` returns something truthy (checked every 50 ms); its value. */
export async function eventually(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `pid` runs (a zombie, exited but not yet reaped by its parent, does not). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** `daemon.json` in the runtime dir, or null. */
export function discovery(runtimeDir) {
  const path = join(runtimeDir, 'daemon.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null; // being replaced
  }
}

export function token(path) {
  return readFileSync(path, 'utf8').trim();
}

/** A JSON-RPC client over one WebSocket: `call(method, params)`, `next(method, timeoutMs)`. */
export async function connect(url, headers = {}) {
  const ws = new WebSocket(url, { headers });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map();
  const notifications = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(Object.assign(new Error(`${msg.error.message} (${msg.error.code})`), { code: msg.error.code }));
      else resolve(msg.result);
    } else if (msg.method) {
      notifications.push(msg);
      for (const w of waiters.splice(0)) w();
    }
  });
  ws.on('close', () => {
    for (const { reject } of pending.values()) reject(new Error('connection closed'));
    pending.clear();
  });
  return {
    call(method, params = {}) {
      const id = nextId++;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    /** The next notification matching `pred`, waiting up to `timeoutMs`. */
    async next(pred, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = notifications.findIndex(pred);
        if (i >= 0) return notifications.splice(i, 1)[0];
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching notification within ${timeoutMs} ms`);
        await new Promise((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    close() {
      ws.close();
    },
  };
}

/** An authenticated connection to the daemon of `runtimeDir`, as a client or the host. */
export async function daemonClient(runtimeDir, { host = false } = {}) {
  const d = discovery(runtimeDir);
  if (!d) throw new Error(`no daemon.json in ${runtimeDir}`);
  const c = await connect(d.ws_url);
  await c.call('session.auth', host ? { host_token: token(d.host_token_file) } : { token: token(d.token_file) });
  return c;
}

/** W3C WebDriver over HTTP. */
export class WebDriver {
  constructor(base) {
    this.base = base;
    this.session = null;
  }

  async request(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok || json?.value?.error) {
      throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(json?.value ?? json)}`);
    }
    return json.value;
  }

  s(path) {
    return `/session/${this.session}${path}`;
  }

  async start(application) {
    const value = await this.request('POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application } } },
    });
    this.session = value.sessionId;
    return value;
  }

  title() {
    return this.request('GET', this.s('/title'));
  }

  handles() {
    return this.request('GET', this.s('/window/handles'));
  }

  switchTo(handle) {
    return this.request('POST', this.s('/window'), { handle });
  }

  closeWindow() {
    return this.request('DELETE', this.s('/window'));
  }

  /** Runs `body` (a function body) in the page; `await` works in it; returns its value. */
  async run(body, ...args) {
    const script = `const done = arguments[arguments.length - 1];
      (async (...args) => { ${body} })(...Array.from(arguments).slice(0, -1))
        .then((value) => done({ ok: true, value }), (e) => done({ ok: false, error: String(e && e.message || e) }));`;
    const r = await this.request('POST', this.s('/execute/async'), { script, args });
    if (!r.ok) throw new Error(`in the page: ${r.error}`);
    return r.value;
  }

  async find(css) {
    const el = await this.request('POST', this.s('/element'), { using: 'css selector', value: css });
    return Object.values(el)[0];
  }

  /** Clicks the element `css` selects, as a person would (WebDriver's element click). */
  async click(css) {
    await this.request('POST', this.s(`/element/${await this.find(css)}/click`), {});
  }

  /** The text of the element `css` selects, or null when there is none. */
  text(css) {
    return this.run(`const el = document.querySelector(arguments[0]); return el ? el.textContent.trim() : null;`, css);
  }

  async screenshot(file) {
    const png = await this.request('GET', this.s('/screenshot'));
    writeFileSync(file, Buffer.from(png, 'base64'));
  }

  async end() {
    if (!this.session) return;
    const id = this.session;
    this.session = null;
    await this.request('DELETE', `/session/${id}`).catch(() => {});
  }
}

export function artifacts() {
  const dir = process.env.HARK_ARTIFACTS || '/tmp/hark-artifacts';
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Clock ticks per second of /proc's CPU times (getconf CLK_TCK on Linux x86-64). */
export const TICK = 100;

/** `root` and every process below it, from /proc (Linux). */
export function descendants(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // gone
    }
  }
  const all = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    all.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return all;
}

/**
 * The app's tray menu as the desktop sees it: libayatana-appindicator exports it on the session
 * bus (com.canonical.dbusmenu, under /org/ayatana/NotificationItem/), where a panel reads it and
 * sends it clicks. `items()` lists {id, label, enabled}; `click(label)` clicks an item as a panel
 * does. Through `gdbus` (libglib2.0-bin, with GTK).
 */
export class TrayMenu {
  constructor(pid) {
    this.pid = pid;
    this.dest = null;
    this.path = null;
  }

  static gdbus(...args) {
    const r = spawnSync('gdbus', ['call', '--session', ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`gdbus ${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  }

  /** Finds the app's connection that serves a dbusmenu (re-found after each call that fails). */
  locate() {
    if (this.dest) return;
    const bus = ['--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method'];
    const names = [...TrayMenu.gdbus(...bus, 'org.freedesktop.DBus.ListNames').matchAll(/'(:[^']+)'/g)].map((m) => m[1]);
    for (const name of names) {
      let owner;
      try {
        owner = Number(/uint32 (\d+)/.exec(TrayMenu.gdbus(...bus, 'org.freedesktop.DBus.GetConnectionUnixProcessID', name))?.[1]);
      } catch {
        continue;
      }
      if (owner !== this.pid) continue;
      const r = spawnSync('gdbus', ['introspect', '--session', '--dest', name, '--object-path', '/org/ayatana/NotificationItem', '--recurse'], { encoding: 'utf8' });
      const node = /node (\/org\/ayatana\/NotificationItem\/[^ ]+\/Menu) \{/.exec(r.stdout ?? '');
      if (r.status === 0 && node) {
        [this.dest, this.path] = [name, node[1]];
        return;
      }
    }
    throw new Error(`no tray menu on the session bus from pid ${this.pid}`);
  }

  call(method, ...args) {
    this.locate();
    try {
      return TrayMenu.gdbus('--dest', this.dest, '--object-path', this.path, '--method', `com.canonical.dbusmenu.${method}`, '--', ...args);
    } catch (e) {
      this.dest = null;
      throw e;
    }
  }

  /** The menu's items, top level, in order: {id, label, enabled} (separators left out). */
  items() {
    const layout = this.call('GetLayout', '0', '-1', '[]');
    const items = [];
    for (const m of layout.matchAll(/<\((\d+), \{([^}]*)\}, (?:@av )?\[\]\)>/g)) {
      const props = m[2];
      if (/'type': <'separator'>/.test(props)) continue;
      const label = /'label': <'((?:[^'\\]|\\.)*)'>/.exec(props)?.[1]?.replace(/\\(.)/g, '$1');
      if (label === undefined) continue;
      items.push({ id: Number(m[1]), label: label.replace(/_(.)/g, '$1'), enabled: !/'enabled': <false>/.test(props) });
    }
    return items;
  }

  /** Clicks the enabled item labelled `label`, as a panel does; throws when there is none. */
  click(label) {
    const item = this.items().find((i) => i.label === label);
    if (!item) throw new Error(`no item "${label}" in the tray menu: ${JSON.stringify(this.items())}`);
    if (!item.enabled) throw new Error(`the tray menu's "${label}" is disabled`);
    this.call('Event', String(item.id), 'clicked', '<0>', '0');
  }
}
