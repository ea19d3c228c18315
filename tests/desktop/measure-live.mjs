// The window's cost while a meeting runs, for BENCHMARKS.md (issue: "CPU of the webview process
// per minute of live transcript"). Run by `scripts/bench-desktop.sh --live`, under a display and
// a D-Bus session, with tauri-driver on PATH. For each run: a fresh data dir; the app (BIN)
// started through tauri-driver + WebKitWebDriver with the fake transcriber (its finals and
// partials come at the live pipeline's own cadence, as fast as the pipeline makes them: an upper
// bound on what the window has to draw); the window put on the Live view; then
//   - the floor: FLOOR seconds of that view with nothing recording;
//   - live: a meeting from a file source played at real time (speech: jfk.wav N times, made
//     with sox), from meeting.start to meeting.stopped, the Live view drawing it;
// each measured as the CPU (utime + stime) of WebKit's web process (the page: layout, paint,
// script), of the window process (`hark-desktop --window`: the webview's UI side, its GTK main
// loop and the IPC to the page) and of the app process (the tray, the shell and the in-process
// daemon), per /proc.
// Prints one JSON object per run, then a summary.
//
//   node tests/desktop/measure-live.mjs BIN [RUNS] [REPEATS_OF_JFK] [FLOOR_SECONDS]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TICK, WebDriver, daemonClient, descendants, discovery, eventually, freePort } from './lib.mjs';

const [bin, runsArg = '3', repeatsArg = '6', floorArg = '30'] = process.argv.slice(2);
const runs = Number(runsArg);
const repeats = Number(repeatsArg);
const floorSeconds = Number(floorArg);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** CPU ticks of the app process, of its window process and of its web process(es). */
function ticks(appPid) {
  let app = 0;
  let window = 0;
  let web = 0;
  for (const pid of descendants(appPid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const t = Number(f[11]) + Number(f[12]);
      if (pid === appPid) app += t;
      else if (name.startsWith('WebKitWebProces')) web += t;
      else if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--window')) window += t;
    } catch {
      // gone
    }
  }
  return { app, window, web };
}

function percent(before, after, seconds) {
  const p = (t) => Math.round(((t / TICK) / seconds) * 100 * 100) / 100;
  return {
    web: p(after.web - before.web),
    window: p(after.window - before.window),
    app: p(after.app - before.app),
  };
}

const root0 = mkdtempSync(join(tmpdir(), 'hark-live-bench-'));
const speech = join(root0, 'speech.wav');
const jfk = join(repo, 'tests', 'fixtures', 'audio', 'jfk.wav');
const made = spawnSync('sox', [...Array(repeats).fill(jfk), speech], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(`sox: ${made.stderr}`);

const results = [];
for (let run = 0; run < runs; run++) {
  const root = mkdtempSync(join(tmpdir(), 'hark-live-bench-'));
  const runtimeDir = join(root, 'run');
  const env = {
    ...process.env,
    HARK_DATA_DIR: join(root, 'data'),
    HARK_RUNTIME_DIR: runtimeDir,
    HARK_PORT: String(await freePort()),
    HARK_TRANSCRIBER: 'fake',
    HARK_LOG: 'warn',
    HOME: join(root, 'home'),
    XDG_CONFIG_HOME: join(root, 'home', '.config'),
  };
  const [wdPort, nativePort] = [await freePort(), await freePort()];
  const driver = spawn('tauri-driver', ['--port', String(wdPort), '--native-port', String(nativePort)], {
    env,
    stdio: 'ignore',
  });
  const wd = new WebDriver(`http://127.0.0.1:${wdPort}`);
  try {
    await eventually('tauri-driver to listen', 10_000, async () => (await fetch(`${wd.base}/status`)).ok);
    await wd.start(bin);
    const { pid } = await eventually('the discovery file', 20_000, () => discovery(runtimeDir));
    const host = await daemonClient(runtimeDir, { host: true });
    await host.call('host.subscribe');
    await eventually('the window to connect', 20_000, () =>
      wd.run(`return !!document.querySelector('button.nav-item[data-view="live"]');`),
    );
    await wd.click('button.nav-item[data-view="live"]');
    await new Promise((r) => setTimeout(r, 3000)); // settle
    let t = ticks(pid);
    let t0 = Date.now();
    await new Promise((r) => setTimeout(r, floorSeconds * 1000));
    const floor = percent(t, ticks(pid), (Date.now() - t0) / 1000);

    let finals = 0;
    let partials = 0;
    t = ticks(pid);
    t0 = Date.now();
    const started = await host.call('meeting.start', {
      title: 'Live bench',
      sources: [{ kind: 'file', path: speech, realtime: true, name: 'call', role: 'them' }],
    });
    for (;;) {
      const n = await host.next(() => true, 120_000);
      if (n.method === 'voice.event' && n.params?.event?.type === 'partial') partials++;
      if (n.method === 'host.event' && n.params.kind === 'meeting.segment') finals++;
      if (n.method === 'host.event' && n.params.kind === 'meeting.stopped' && n.params.payload.meeting_id === started.id) break;
    }
    const seconds = (Date.now() - t0) / 1000;
    const live = percent(t, ticks(pid), seconds);
    const shown = await wd.run(`return document.querySelectorAll('li.seg.final').length;`);
    host.close();
    const perMinute = (pct) => Math.round(((pct / 100) * 60) * 1000) / 1000; // CPU-seconds a minute
    const result = {
      run,
      floor_seconds: floorSeconds,
      floor_cpu_percent: floor,
      live_seconds: Math.round(seconds * 10) / 10,
      live_cpu_percent: live,
      web_cpu_s_per_minute_live: perMinute(live.web),
      web_cpu_s_per_minute_floor: perMinute(floor.web),
      finals,
      partials_seen_by_the_host: partials,
      finals_on_screen: shown,
    };
    console.log(JSON.stringify(result));
    results.push(result);
    await wd.run(`window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.invoke('quit_app'); return true;`).catch(() => {});
  } finally {
    await wd.end();
    driver.kill();
    rmSync(root, { recursive: true, force: true });
  }
}
rmSync(root0, { recursive: true, force: true });
const pick = (f) => results.map(f).sort((a, b) => a - b);
console.log(
  JSON.stringify({
    summary: {
      runs,
      live_web_cpu_percent: pick((r) => r.live_cpu_percent.web),
      floor_web_cpu_percent: pick((r) => r.floor_cpu_percent.web),
      live_app_cpu_percent: pick((r) => r.live_cpu_percent.app),
      floor_app_cpu_percent: pick((r) => r.floor_cpu_percent.app),
      live_window_cpu_percent: pick((r) => r.live_cpu_percent.window),
      floor_window_cpu_percent: pick((r) => r.floor_cpu_percent.window),
      web_cpu_s_per_minute_live: pick((r) => r.web_cpu_s_per_minute_live),
    },
  }),
);
