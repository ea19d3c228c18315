// Support for the browser tests of ui/: a real `hark serve` (fake transcriber) in temp dirs, a
// static server for ui/dist, a JSON-RPC WebSocket client for test agents and for checking the
// daemon's state, a slow model server, and Chromium through playwright-core.
//
// Everything waits on state (a line on stdout, a reply, an event, a locator), never on time.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DIST = join(ROOT, 'ui', 'dist');
export const JFK_WAV = join(ROOT, 'tests', 'fixtures', 'audio', 'jfk.wav');
export const ARTIFACTS = process.env.HARK_ARTIFACTS || '/tmp/hark-artifacts';
export const HARK_BIN =
  process.env.HARK_BIN || join(process.env.CARGO_TARGET_DIR || '/var/cache/hark-target', 'debug', 'hark');
export const CHROMIUM = process.env.HARK_CHROMIUM || '/usr/bin/chromium';

/** How long any single wait may take before the test fails (generous for a 2-core CI box). */
export const WAIT_MS = 20_000;

// The CSP the desktop shell applies (script-src 'self'), so a build that needs inline scripts
// or eval fails here too. Connections go to the daemon on loopback; kept audio plays from Blob
// URLs (media-src blob:).
export const CSP = process.env.HARK_UI_CSP || [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self' ws://127.0.0.1:*",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
// (HARK_UI_CSP replaces it, e.g. to try the shell's exact policy.)

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Serves ui/dist on 127.0.0.1 (a port of its own) with the shell's CSP. */
export async function startStatic(dir = DIST) {
  const root = resolve(dir);
  if (!existsSync(join(root, 'index.html'))) throw new Error(`no ${join(root, 'index.html')}: run \`npm run build:ui\` first`);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let path = normalize(decodeURIComponent(url.pathname));
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    let size;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'content-security-policy': CSP,
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * A model server: `GET /ggml-<name>.bin` for each of `files` (`{name: {size, bytes?, holdAt,
 * step?, paceMs?}}`) answers `bytes` (a Buffer), or `size` zero bytes (so the daemon's SHA-256
 * check fails at the end). It sends the first `holdAt` bytes, then the rest only after
 * `release(name)`: the test sees the download's progress in the window, then lets it finish.
 * `paceMs` sends `step`-byte pieces that far apart (the daemon reports progress at most every
 * 100 ms, so a small file sent at once would show no progress before the hold).
 */
export async function startModelServer(files) {
  const releases = new Map();
  const released = new Map();
  for (const name of Object.keys(files)) released.set(name, new Promise((r) => releases.set(name, r)));
  const requests = [];
  const server = createServer(async (req, res) => {
    requests.push({ url: req.url, range: req.headers.range ?? null });
    const name = Object.keys(files).find((n) => req.url === `/ggml-${n}.bin`);
    if (!name) {
      res.writeHead(404).end();
      return;
    }
    const { size: givenSize, bytes, holdAt, step = 1 << 20, paceMs = 0 } = files[name];
    const size = bytes ? bytes.length : givenSize;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    const zeros = Buffer.alloc(step);
    let sent = 0;
    const write = async (upTo) => {
      while (sent < upTo) {
        const n = Math.min(step, upTo - sent);
        const piece = bytes ? bytes.subarray(sent, sent + n) : n === step ? zeros : zeros.subarray(0, n);
        if (!res.write(piece)) await once(res, 'drain');
        sent += n;
        if (paceMs > 0 && sent < upTo) await new Promise((r) => setTimeout(r, paceMs));
      }
    };
    try {
      await write(holdAt);
      await released.get(name);
      await write(size);
      res.end();
    } catch {
      res.destroy();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    release: (name) => releases.get(name)(),
    close: () => {
      for (const r of releases.values()) r();
      server.closeAllConnections?.();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The 16 kHz mono s16 samples of a WAV file (its `data` chunk), as bytes. */
export function wavData(path) {
  const file = readFileSync(path);
  let at = 12;
  while (at + 8 <= file.length) {
    const id = file.toString('ascii', at, at + 4);
    const size = file.readUInt32LE(at + 4);
    if (id === 'data') return file.subarray(at + 8, at + 8 + size);
    at += 8 + size + (size % 2);
  }
  throw new Error(`${path} has no data chunk`);
}

/** Writes 16 kHz mono s16 samples as a WAV file (the 44-byte header). */
export function writeWav(path, pcm) {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(pcm.length, 40);
  writeFileSync(path, Buffer.concat([header, pcm]));
}

/** A temp dir that is removed at the end unless HARK_KEEP_TMP=1. */
export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir) {
  if (process.env.HARK_KEEP_TMP === '1') return;
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Starts `hark serve --transcriber fake --port 0` in the given dirs and waits for its ready line.
 * Returns {url, hostToken, token, proc, stop(signal)}.
 */
export async function startDaemon({ dataDir, runtimeDir, origin, env = {}, logName = 'daemon' }) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const args = [
    'serve',
    '--transcriber',
    'fake',
    '--port',
    '0',
    '--no-socket',
    '--data-dir',
    dataDir,
    '--allow-origin',
    origin,
  ];
  const proc = spawn(HARK_BIN, args, {
    env: { ...process.env, HARK_RUNTIME_DIR: runtimeDir, HARK_LOG: process.env.HARK_LOG ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(join(ARTIFACTS, `ui-${logName}.log`));
  proc.stderr.pipe(log);
  const lines = createInterface({ input: proc.stdout });
  const ready = await new Promise((resolvePromise, reject) => {
    const onExit = (code) => reject(new Error(`hark serve exited (${code}) before it was ready; see ${join(ARTIFACTS, `ui-${logName}.log`)}`));
    proc.once('exit', onExit);
    proc.once('error', reject);
    lines.on('line', (line) => {
      log.write(`[stdout] ${line}\n`);
      try {
        const j = JSON.parse(line);
        if (j.ready) {
          proc.off('exit', onExit);
          resolvePromise(j);
        }
      } catch {
        /* not the ready line */
      }
    });
  });
  const hostToken = readFileSync(ready.host_token_file, 'utf8').trim();
  const token = readFileSync(ready.token_file, 'utf8').trim();
  const url = ready.ws_url.replace(/\/$/, '');
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return {
    url,
    hostToken,
    token,
    proc,
    ready,
    exited,
    /** SIGTERM (a clean stop) or SIGKILL (a crash); resolves when the process is gone. */
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** A JSON-RPC 2.0 client over `ws`: an agent (client token) or a checker (host token). */
export class RpcPeer {
  static async connect(url, auth) {
    const ws = new WebSocket(url);
    await once(ws, 'open');
    const peer = new RpcPeer(ws);
    peer.auth = await peer.call('session.auth', auth);
    return peer;
  }

  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.notifications = [];
    this.waiters = [];
    this.requestHandlers = new Map();
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('connection closed'));
      this.pending.clear();
    });
  }

  call(method, params) {
    const id = this.nextId++;
    const frame = { jsonrpc: '2.0', id, method };
    if (params !== undefined) frame.params = params;
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject, method });
      this.ws.send(JSON.stringify(frame));
    });
  }

  notify(method, params) {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  /**
   * Answers requests the daemon sends (`agent.chat`, `tools.execute`): `fn(params)` returns the
   * result, or `fn(params, reply)` calls `reply(result)` itself and may go on after it (to send
   * events only once the acknowledgement is on the wire).
   */
  handle(method, fn) {
    this.requestHandlers.set(method, fn);
  }

  onMessage(text) {
    const m = JSON.parse(text);
    if (m.method && m.id !== undefined && m.id !== null) {
      const fn = this.requestHandlers.get(m.method);
      const reply = (result) => this.ws.send(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: result ?? null }));
      const fail = (e) =>
        this.ws.send(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: e.code ?? -32603, message: e.message } }));
      this.record({ method: m.method, params: m.params, request: true });
      if (!fn) fail({ code: -32601, message: `${m.method} not handled` });
      else if (fn.length >= 2) Promise.resolve().then(() => fn(m.params, reply)).catch(fail);
      else Promise.resolve().then(() => fn(m.params)).then(reply, fail);
      return;
    }
    if (m.method) {
      this.record({ method: m.method, params: m.params });
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error) p.reject(Object.assign(new Error(`${p.method}: ${m.error.message}`), { code: m.error.code, data: m.error.data }));
    else p.resolve(m.result);
  }

  record(n) {
    this.notifications.push(n);
    this.waiters = this.waiters.filter((w) => {
      if (w.method === n.method && w.predicate(n.params)) {
        w.resolve(n.params);
        return false;
      }
      return true;
    });
  }

  /** The first notification (or daemon request) `method` whose params pass `predicate`, past or future. */
  waitFor(method, predicate = () => true, timeoutMs = WAIT_MS) {
    const seen = this.notifications.find((n) => n.method === method && predicate(n.params));
    if (seen) return Promise.resolve(seen.params);
    return new Promise((resolvePromise, reject) => {
      const w = { method, predicate, resolve: resolvePromise };
      this.waiters.push(w);
      setTimeout(() => {
        if (this.waiters.includes(w)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new Error(`no ${method} within ${timeoutMs} ms`));
        }
      }, timeoutMs).unref();
    });
  }

  async close() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await once(this.ws, 'close');
  }
}

/** Chromium (Debian's) with the flags of shared/ci/README.md and a fresh profile. */
export async function launchBrowser({ viewport = { width: 800, height: 600 } } = {}) {
  const userDataDir = tempDir('hark-ui-chromium-');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    acceptDownloads: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      removeDir(userDataDir);
    },
  };
}

export function screenshotPath(view) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, `ui-${view}.png`);
}

/** Copies the meetings screenshot into docs/ when HARK_UPDATE_SCREENSHOT=1. */
export function maybeUpdateDocsScreenshot() {
  if (process.env.HARK_UPDATE_SCREENSHOT !== '1') return false;
  copyFileSync(screenshotPath('meetings'), join(ROOT, 'docs', 'screenshot-ui.png'));
  return true;
}
