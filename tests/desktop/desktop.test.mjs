// The desktop app end to end, under a virtual display, driven through tauri-driver +
// WebKitWebDriver with plain W3C WebDriver calls: the app starts with its own data and runtime
// dirs on a free port, its daemon answers, the window reaches the daemon (command, token,
// WebSocket from the webview's origin) under the strict CSP, closing the window ends its process
// and keeps the daemon, the tray menu works as a panel drives it (D-Bus), a second launch only
// brings the window back, and Quit (tray, window or SIGTERM, even during start-up) ends the app
// cleanly.
// With the real UI built (not the placeholder), it also records from the window.
//
// Run by scripts/test-desktop.sh (Xvfb, a D-Bus session, the virtual microphone, the build).
// Needs: DISPLAY, DBUS_SESSION_BUS_ADDRESS, tauri-driver and WebKitWebDriver on PATH,
// HARK_DESKTOP_BIN (default: $CARGO_TARGET_DIR/debug/hark-desktop).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  WebDriver,
  TrayMenu,
  alive,
  artifacts,
  connect,
  daemonClient,
  descendants,
  discovery,
  eventually,
  freePort,
  token,
} from './lib.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const app = process.env.HARK_DESKTOP_BIN || join(process.env.CARGO_TARGET_DIR || '/var/cache/hark-target', 'debug', 'hark-desktop');
const uiIndex = join(repo, 'ui', 'dist', 'index.html');
const realUi = existsSync(uiIndex) && !readFileSync(uiIndex, 'utf8').includes('hark-placeholder');
const jfk = join(repo, 'tests', 'fixtures', 'audio', 'jfk.wav');
const shots = artifacts();

const root = mkdtempSync(join(tmpdir(), 'hark-desktop-'));
const runtimeDir = join(root, 'run');
let port;
let env;
let driver;
let driverLog = '';
const wd = new WebDriver('');
let pid; // the app's (its daemon is in-process: the discovery file's pid)
// The notifications the app sends, as the session bus carries them (no notification server runs
// here, so they are seen on the bus rather than on screen).
let monitor;
let notifications = '';

function x11(...args) {
  return spawnSync('python3', [join(repo, 'tests', 'desktop', 'x11.py'), ...args], { encoding: 'utf8' });
}

function vmicReady() {
  const r = spawnSync('pactl', ['list', 'short', 'sources'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('vmic');
}

before(async () => {
  assert.ok(existsSync(app), `no app binary at ${app} (cargo build -p hark-desktop)`);
  port = await freePort();
  env = {
    ...process.env,
    HARK_DATA_DIR: join(root, 'data'),
    HARK_RUNTIME_DIR: runtimeDir,
    HARK_PORT: String(port),
    HARK_TRANSCRIBER: 'fake',
    // Start at login writes ~/.config/autostart/Hark.desktop (the autostart plugin reads HOME,
    // not XDG_CONFIG_HOME), and WebKit keeps its caches under HOME: not the real ones.
    HOME: join(root, 'home'),
    XDG_CONFIG_HOME: join(root, 'home', '.config'),
  };
  const [wdPort, nativePort] = [await freePort(), await freePort()];
  driver = spawn('tauri-driver', ['--port', String(wdPort), '--native-port', String(nativePort)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  driver.stdout.on('data', (d) => (driverLog += d));
  driver.stderr.on('data', (d) => (driverLog += d));
  wd.base = `http://127.0.0.1:${wdPort}`;
  monitor = spawn('dbus-monitor', ['--session', "interface='org.freedesktop.Notifications',member='Notify'"], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  monitor.stdout.on('data', (d) => (notifications += d));
  await eventually('tauri-driver to listen', 10_000, async () => (await fetch(`${wd.base}/status`)).ok);
});

after(async () => {
  await wd.end();
  if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  driver?.kill();
  monitor?.kill();
  rmSync(root, { recursive: true, force: true });
});

test('the app starts and its daemon answers on HARK_PORT', { timeout: 60_000 }, async () => {
  const launched = Date.now();
  await wd.start(app);
  const d = await eventually('the discovery file', 20_000, () => discovery(runtimeDir));
  assert.equal(d.ws_url, `ws://127.0.0.1:${port}/`);
  assert.equal(d.data_dir, env.HARK_DATA_DIR);
  pid = d.pid;
  const c = await daemonClient(runtimeDir);
  const info = await c.call('server.info');
  c.close();
  assert.equal(info.protocol_version, 3);
  assert.equal(info.model.name, 'fake', 'HARK_TRANSCRIBER reaches the app as it reaches hark serve');
  console.log(`# session created and daemon answering ${Date.now() - launched} ms after launch (WebDriver start included)`);
});

test('the window is the app, and the webview reaches the daemon with the host token', { timeout: 60_000 }, async () => {
  assert.equal(await eventually('the window title', 10_000, () => wd.title()), 'Hark');
  const d = discovery(runtimeDir);
  const conn = await wd.run(`return await window.__TAURI_INTERNALS__.invoke('daemon_connection');`);
  assert.deepEqual(conn, { url: `ws://127.0.0.1:${port}`, host_token: token(d.host_token_file) });
  // From the webview's own origin (tauri://localhost), through the CSP's connect-src.
  const seen = await wd.run(
    `const { url, host_token } = await window.__TAURI_INTERNALS__.invoke('daemon_connection');
     const ws = new WebSocket(url);
     const replies = [];
     await new Promise((resolve, reject) => {
       ws.onerror = () => reject(new Error('socket error'));
       ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'session.auth', params: { host_token } }));
       ws.onmessage = (m) => {
         const msg = JSON.parse(m.data);
         replies.push(msg);
         if (msg.id === 1) ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'server.info' }));
         if (msg.id === 2) resolve();
       };
     });
     ws.close();
     return { origin: location.origin, role: replies[0].result?.role, version: replies[1].result?.server_version };`,
  );
  assert.equal(seen.role, 'host', JSON.stringify(seen));
  assert.ok(seen.version, JSON.stringify(seen));
  console.log(`# the webview's origin: ${seen.origin}`);
  await wd.screenshot(join(shots, 'desktop-window.png'));
});

test('open_external opens only https links; the commands are the shell few', { timeout: 60_000 }, async () => {
  for (const url of ['file:///etc/passwd', 'http://example.com/', 'javascript:alert(1)', 'https://user@example.com/']) {
    const r = await wd.run(
      `try { await window.__TAURI_INTERNALS__.invoke('open_external', { url: arguments[0] }); return 'opened'; }
       catch (e) { return 'refused: ' + e; }`,
      url,
    );
    assert.match(r, /^refused: /, `${url}: ${r}`);
  }
  // A plugin's command the capability does not grant is refused (no opener from JavaScript).
  const r = await wd.run(
    `try { await window.__TAURI_INTERNALS__.invoke('plugin:opener|open_url', { url: 'https://example.com/' }); return 'opened'; }
     catch (e) { return 'refused: ' + e; }`,
  );
  assert.match(r, /^refused: /, r);
});

test('the CSP: inline styles apply; inline scripts, remote images and fetches are blocked', { timeout: 60_000 }, async () => {
  // A server the page must not reach: it counts every request it gets.
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*' });
    res.end(readFileSync(join(repo, 'icons', '32x32.png')));
  });
  await new Promise((r) => server.listen(0, r)); // every address: 127.0.0.1 and localhost (::1)
  const probePort = server.address().port;
  for (const host of ['127.0.0.1', 'localhost']) {
    assert.equal((await fetch(`http://${host}:${probePort}/`)).status, 200, `the probe answers as ${host}`);
  }
  requests = 0;
  const r = await wd.run(
    `const violations = [];
     document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective || e.violatedDirective));
     const style = document.createElement('style');
     style.textContent = '#csp-probe { color: rgb(1, 2, 3); }';
     document.head.append(style);
     const probe = document.createElement('p');
     probe.id = 'csp-probe';
     probe.setAttribute('style', 'margin-left: 7px');
     document.body.append(probe);
     const css = getComputedStyle(probe);
     const styled = css.color === 'rgb(1, 2, 3)' && css.marginLeft === '7px';
     window.__inlineRan = false;
     const script = document.createElement('script');
     script.textContent = 'window.__inlineRan = true';
     document.head.append(script);
     const img = new Image();
     const loaded = await new Promise((resolve) => {
       img.onload = () => resolve(true);
       img.onerror = () => resolve(false);
       img.src = 'http://127.0.0.1:' + arguments[0] + '/x.png';
     });
     // connect-src's ws://127.0.0.1:* also admits http(s)://127.0.0.1:* (CSP3 matches a ws source
     // against http and https too); any other host is refused.
     let fetched;
     try { await fetch('http://localhost:' + arguments[0] + '/'); fetched = true; } catch { fetched = false; }
     // The same daemon under another name is refused too.
     let otherSocket;
     try {
       const ws = new WebSocket('ws://localhost:' + arguments[1] + '/');
       otherSocket = await new Promise((resolve) => { ws.onopen = () => { ws.close(); resolve('open'); }; ws.onerror = () => resolve('error'); });
     } catch (e) { otherSocket = 'threw ' + e.name; }
     await new Promise((r) => setTimeout(r, 200)); // violation events are queued tasks
     probe.remove(); style.remove();
     return { styled, inlineRan: window.__inlineRan, loaded, fetched, otherSocket, violations };`,
    probePort,
    port,
  );
  server.close();
  assert.equal(r.styled, true, `inline styles must apply (A2UI needs them): ${JSON.stringify(r)}`);
  assert.equal(r.inlineRan, false, JSON.stringify(r));
  assert.equal(r.loaded, false, JSON.stringify(r));
  assert.equal(r.fetched, false, JSON.stringify(r));
  assert.equal(requests, 0, 'nothing reached the server');
  assert.notEqual(r.otherSocket, 'open', JSON.stringify(r));
  for (const directive of ['script-src', 'img-src', 'connect-src']) {
    assert.ok(r.violations.some((v) => v.startsWith(directive)), `${directive} violation: ${JSON.stringify(r)}`);
  }
});

test("the app's daemon records from the virtual microphone", { timeout: 60_000, skip: !vmicReady() && 'no virtual microphone (scripts/virtual-mic.sh start)' }, async () => {
  const host = await daemonClient(runtimeDir, { host: true });
  await host.call('host.subscribe');
  const started = await host.call('meeting.start', { title: 'From the mic', sources: ['mic'] });
  const feed = spawnSync('bash', [join(repo, 'scripts', 'virtual-mic.sh'), 'feed', jfk], { env, encoding: 'utf8' });
  assert.equal(feed.status, 0, feed.stderr);
  const seg = await host.next(
    (n) => n.method === 'host.event' && n.params.kind === 'meeting.segment' && n.params.payload.meeting_id === started.id,
    30_000,
  );
  assert.match(seg.params.payload.segment.text, /^speech \d+ \(/);
  const stopped = await host.call('meeting.stop', { meeting_id: started.id });
  assert.equal(stopped.status, 'stopped');
  assert.ok(stopped.segment_count >= 1, JSON.stringify(stopped));
  const list = await host.call('meeting.list', { limit: 5 });
  assert.ok(list.meetings.some((m) => m.id === started.id && m.status === 'stopped'));
  host.close();
  // The shell told the person, at the start and at the stop (the `notifications` setting is on).
  await eventually('the notifications on the session bus', 10_000, () =>
    notifications.includes('string "“From the mic” is being recorded."') &&
    notifications.includes('string "Recording stopped"') &&
    notifications.includes(`string "“From the mic”: 0:`),
  );
});

test(
  'from the window: Start recording hears the virtual microphone, the meeting shows its segments, Stop, it is listed',
  { timeout: 90_000, skip: (!realUi && 'ui/dist is the placeholder (npm run build:ui)') || (!vmicReady() && 'no virtual microphone') },
  async () => {
    const host = await daemonClient(runtimeDir, { host: true });
    await wd.click('button.nav-item[data-view="live"]');
    await eventually('the Start button', 10_000, () =>
      wd.run(`const b = document.querySelector('button.record'); return !!b && !b.disabled;`),
    );
    await wd.click('button.record');
    const id = await eventually('the live meeting', 10_000, () =>
      wd.run(`return document.querySelector('section.live-meeting.is-recording')?.dataset.meetingId ?? null;`),
    );
    const meeting = `section.live-meeting[data-meeting-id="${id}"]`;
    const feed = spawnSync('bash', [join(repo, 'scripts', 'virtual-mic.sh'), 'feed', jfk], { env, encoding: 'utf8' });
    assert.equal(feed.status, 0, feed.stderr);
    const first = await eventually('a segment in the window', 30_000, () => wd.text(`${meeting} li.seg.final .seg-text`));
    assert.match(first, /^speech \d+ \(/);
    await wd.screenshot(join(shots, 'desktop-live.png'));
    await wd.click(`${meeting} button.stop`);
    await eventually('the meeting to stop', 30_000, async () => {
      const got = await host.call('meeting.get', { meeting_id: id });
      return got.metadata.status === 'stopped' && got.segments.length >= 1;
    });
    await eventually('the window to show it stopped', 10_000, () =>
      wd.run(`return !document.querySelector('section.live-meeting.is-recording');`),
    );
    await wd.click('button.nav-item[data-view="meetings"]');
    const row = `button.meeting-row[data-meeting-id="${id}"]`;
    await eventually('the meeting in the list', 10_000, () => wd.text(row));
    await wd.screenshot(join(shots, 'desktop-meetings.png'));
    await wd.click(row);
    assert.match(await eventually('its transcript', 10_000, () => wd.text('li.seg.final .seg-text')), /^speech \d+ \(/);
    // The kept audio plays in WebKitGTK too: meeting.audio chunks into a Blob (CSP media-src
    // blob:), decoded by GStreamer; its duration is the meeting's.
    await wd.click('.audio-source[data-source="mic"] button');
    const media = await eventually('the audio player', 20_000, () =>
      wd.run(`const el = document.querySelector('.audio-source[data-source="mic"] audio.audio-player');
        if (!el) return null;
        if (el.error) return { error: el.error.code + ' ' + el.error.message, src: el.src };
        return el.readyState >= 1 ? { duration: el.duration, src: el.src } : null;`),
    );
    const stored = await host.call('meeting.get', { meeting_id: id });
    assert.equal(media.error, undefined, JSON.stringify(media));
    assert.match(media.src, /^blob:/);
    assert.ok(Math.abs(media.duration * 1000 - stored.metadata.duration_ms) < 500,
      `player ${media.duration} s vs the meeting's ${stored.metadata.duration_ms} ms`);
    await wd.screenshot(join(shots, 'desktop-meeting.png'));
    await wd.click('button.nav-item[data-view="settings"]');
    await eventually('the settings view', 10_000, () => wd.run(`return document.querySelector('main')?.dataset.view === 'settings';`));
    await wd.screenshot(join(shots, 'desktop-settings.png'));
    host.close();
  },
);

test('the settings reach the shell: start at login, and the global shortcut records and stops', { timeout: 60_000 }, async () => {
  const host = await daemonClient(runtimeDir, { host: true });
  await host.call('host.subscribe');
  const entry = join(env.HOME, '.config', 'autostart', 'Hark.desktop');
  const log = join(env.HARK_DATA_DIR, 'logs', 'hark.log');
  assert.ok(!existsSync(entry));
  await host.call('settings.update', { settings: { start_at_login: true, global_shortcut: 'CommandOrControl+Shift+R' } });
  await eventually('the autostart entry', 10_000, () => existsSync(entry));
  assert.match(readFileSync(entry, 'utf8'), /^Exec=.*hark-desktop/m);
  await eventually('the shortcut registered', 10_000, () => readFileSync(log, 'utf8').includes('global record/stop shortcut'));
  const isEvent = (kind) => (n) => n.method === 'host.event' && n.params.kind === kind;
  assert.equal(x11('keys', 'ctrl+shift+r').status, 0);
  const started = await host.next(isEvent('meeting.started'), 10_000);
  assert.equal(started.params.payload.meeting.started_by, 'hark-desktop');
  assert.equal(x11('keys', 'ctrl+shift+r').status, 0);
  const stopped = await host.next(isEvent('meeting.stopped'), 20_000);
  assert.equal(stopped.params.payload.meeting_id, started.params.payload.meeting_id);
  await host.call('settings.update', { settings: { start_at_login: false, global_shortcut: null } });
  await eventually('the autostart entry gone', 10_000, () => !existsSync(entry));
  host.close();
});

/** The app's window processes (`hark-desktop --window`, children of the app). */
function windowProcesses() {
  return descendants(pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('--window');
    } catch {
      return false;
    }
  });
}

/** The number of mapped windows titled Hark on the display. */
function shownWindows() {
  return Number(x11('shown', 'Hark').stdout.trim() || 0);
}

test('closing the window ends its process and keeps Hark and its daemon running', { timeout: 60_000 }, async () => {
  const [window] = windowProcesses();
  assert.ok(window, 'the window runs in a process of its own');
  // As a window manager's close button does (WebDriver's own "close window" would end the
  // session, and WebKitWebDriver would kill the app with it). The WebDriver session ends with
  // the window's process: WebKitWebDriver drove that process's webview.
  const close = x11('close', 'Hark');
  assert.equal(close.status, 0, `x11.py close: ${close.stderr}`);
  await eventually('the window process to exit', 10_000, () => !alive(window));
  assert.equal(shownWindows(), 0);
  const c = await daemonClient(runtimeDir);
  const info = await c.call('server.info');
  c.close();
  assert.ok(info.uptime_ms > 0);
  assert.ok(alive(pid), 'the app exited when its window closed');
  assert.equal(discovery(runtimeDir)?.pid, pid);
  // What is left is the tray process alone: no WebKit process of its own.
  const webkit = descendants(pid).filter((p) => {
    try {
      return /^WebKit/.test(readFileSync(`/proc/${p}/comm`, 'utf8'));
    } catch {
      return false;
    }
  });
  assert.deepEqual(webkit, [], 'no WebKit process is left with the window closed');
});

test('the tray menu, as a panel drives it over D-Bus: Open, Start and Stop recording, the recent meetings', { timeout: 60_000 }, async () => {
  const menu = new TrayMenu(pid);
  const labels = () => menu.items().map((i) => i.label);
  const host = await daemonClient(runtimeDir, { host: true });
  await host.call('host.subscribe');
  const isEvent = (kind) => (n) => n.method === 'host.event' && n.params.kind === kind;

  menu.click('Open Hark');
  await eventually('the window to open again', 20_000, () => windowProcesses().length === 1 && shownWindows() === 1);
  menu.click('Open Hark'); // the open window comes to the front: no second one
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(windowProcesses().length, 1);

  menu.click('Start recording');
  const started = await host.next(isEvent('meeting.started'), 10_000);
  assert.equal(started.params.payload.meeting.started_by, 'hark-desktop');
  const title = started.params.payload.meeting.title;
  await eventually('the menu to say it records', 10_000, () => labels().includes('Stop recording') && labels().includes(`Recording “${title}”`));
  menu.click('Stop recording');
  const stopped = await host.next(isEvent('meeting.stopped'), 20_000);
  assert.equal(stopped.params.payload.meeting_id, started.params.payload.meeting_id);
  await eventually('the menu to say it is idle, with the meeting among the recent ones', 10_000, () =>
    labels().includes('Start recording') && labels().includes('Idle') && labels().includes(title),
  );
  menu.click(title); // the window goes to the meeting: still one window
  menu.click('Settings…');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(windowProcesses().length, 1);
  host.close();
  assert.equal(x11('close', 'Hark').status, 0);
  await eventually('the window process to exit', 10_000, () => windowProcesses().length === 0);
});

test('a second launch shows the first one\'s window and exits, with no second daemon', { timeout: 60_000 }, async () => {
  assert.equal(windowProcesses().length, 0);
  const second = spawnSync(app, [], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(second.status, 0, `second launch: ${second.status} ${second.signal ?? ''} ${second.stderr}`);
  assert.equal(discovery(runtimeDir)?.pid, pid, 'the daemon is still the first launch\'s');
  await eventually('the first launch to open its window again', 20_000, () => windowProcesses().length === 1 && shownWindows() === 1);
  const c = await daemonClient(runtimeDir);
  const info = await c.call('server.info');
  c.close();
  assert.ok(info.uptime_ms > 0);
});

test('Quit in the tray menu ends the app cleanly (its window too, runtime files removed)', { timeout: 60_000 }, async () => {
  const [window] = windowProcesses();
  new TrayMenu(pid).click('Quit Hark');
  await eventually('the app to exit', 30_000, () => !alive(pid));
  await eventually('its window process to exit', 10_000, () => !alive(window));
  assert.equal(discovery(runtimeDir), null, 'a clean shutdown removes daemon.json');
  assert.ok(!existsSync(join(runtimeDir, 'host-token')), 'and the token files');
  await wd.end().catch(() => {}); // its window (and so its webview) went with the first close
});

test("the window's Quit (quit_app) ends the app cleanly", { timeout: 60_000 }, async () => {
  // A new WebDriver session: tauri-driver launches the app again on the same data dir.
  await wd.start(app);
  const d = await eventually('the discovery file', 20_000, () => discovery(runtimeDir));
  pid = d.pid;
  assert.equal(await eventually('the window title', 10_000, () => wd.title()), 'Hark');
  await wd.run(`window.__TAURI_INTERNALS__.invoke('quit_app'); return true;`).catch(() => {});
  await eventually('the app to exit', 30_000, () => !alive(pid));
  assert.equal(discovery(runtimeDir), null, 'a clean shutdown removes daemon.json');
  await wd.end().catch(() => {});
});

test('SIGTERM the moment the daemon is up (GTK and the tray still loading) stops the app cleanly', { timeout: 60_000 }, async () => {
  // The daemon writes its discovery file before GTK and the tray load (a few hundred ms): a
  // SIGTERM then must quit like the menu's Quit, not kill the process (it did: exit 143, the
  // discovery file left behind, caught by the bundle test).
  const started = spawn(app, [], { env, stdio: 'ignore' });
  const exited = new Promise((resolve) => started.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  while (discovery(runtimeDir)?.pid !== started.pid) {
    assert.ok(Date.now() < deadline, 'no discovery file from the new launch within 20 s');
    await new Promise((r) => setTimeout(r, 5));
  }
  started.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.equal(discovery(runtimeDir), null, 'a clean shutdown removes daemon.json');
});
