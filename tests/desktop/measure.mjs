// The desktop app's start-up and idle cost, for BENCHMARKS.md (PRODUCT.md's targets: the app
// idle with its window closed < 120 MB). Run by scripts/bench-desktop.sh, under a display and a
// D-Bus session. For each run: a fresh data dir, the app launched directly (no WebDriver);
//   - start-up: spawn -> the daemon answering `server.info` on HARK_PORT (discovery file polled
//     every 5 ms, then a connection), and spawn -> the window mapped on the display (`x11.py
//     wait`, which checks every 5 ms from its start; mapped is just before the first paint);
//   - idle with the window open (after 5 s to settle), then closed (a window manager's close,
//     `x11.py close`; after its web process exited, or 10 s, and 5 s to settle): over
//     IDLE seconds, the resident memory of the app and every process under it (WebKit's web and
//     network processes), RSS and PSS (/proc/PID/smaps_rollup: shared pages split between the
//     processes sharing them), sampled every second, and the CPU they used (utime + stime);
//   - with AFTER_SECONDS (and HARK_TEST_MODEL, a real whisper model, given to the app as
//     HARK_MODEL): a meeting with the window still closed (a file source, jfk.wav as fast as it
//     reads, so the model is loaded and used), measured over IDLE seconds right after it stopped
//     (the model loaded) and again from AFTER_SECONDS after it stopped (by then the default
//     5-minute model keep-alive has released it);
//   - then SIGTERM (the app quits cleanly: it must exit 0).
// Prints one JSON object per run on stdout, then a summary.
//
//   node tests/desktop/measure.mjs BIN [RUNS] [IDLE_SECONDS] [AFTER_SECONDS]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TICK, daemonClient, descendants, discovery, eventually, freePort } from './lib.mjs';

const [bin, runsArg = '3', idleArg = '60', afterArg = '0'] = process.argv.slice(2);
const runs = Number(runsArg);
const idle = Number(idleArg);
const afterSeconds = Number(afterArg);
const here = dirname(fileURLToPath(import.meta.url));
const model = process.env.HARK_TEST_MODEL;
if (afterSeconds > 0 && !model) throw new Error('AFTER_SECONDS needs HARK_TEST_MODEL (a real whisper model)');
const jfk = join(here, '..', 'fixtures', 'audio', 'jfk.wav');
const PAGE = 4096;

function sample(root) {
  let rss = 0;
  let pss = 0;
  const cpu = new Map(); // pid -> ticks
  const names = [];
  for (const pid of descendants(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu.set(pid, Number(fields[11]) + Number(fields[12])); // utime + stime (ticks)
      rss += Number(fields[21]) * PAGE;
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
      names.push(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // gone
    }
  }
  return { rss, pss, cpu, names };
}

async function idleWindow(pid, seconds) {
  const first = sample(pid);
  const t0 = Date.now();
  const rss = [];
  const pss = [];
  let last = first;
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    last = sample(pid);
    rss.push(last.rss);
    pss.push(last.pss);
  }
  const elapsed = (Date.now() - t0) / 1000;
  // CPU of the processes alive at the end: what each used since the first sample (all of it for
  // one started since). A process that exited in between is not counted.
  let ticks = 0;
  for (const [p, t] of last.cpu) ticks += t - (first.cpu.get(p) ?? 0);
  const mib = (b) => Math.round((b / 1048576) * 10) / 10;
  return {
    processes: last.names,
    rss_mib: { min: mib(Math.min(...rss)), max: mib(Math.max(...rss)), last: mib(rss.at(-1)) },
    pss_mib: { min: mib(Math.min(...pss)), max: mib(Math.max(...pss)), last: mib(pss.at(-1)) },
    cpu_percent: Math.round((ticks / TICK / elapsed) * 100 * 1000) / 1000,
    cpu_ms: (ticks * 1000) / TICK,
  };
}

const results = [];
for (let run = 0; run < runs; run++) {
  const root = mkdtempSync(join(tmpdir(), 'hark-desktop-bench-'));
  const runtimeDir = join(root, 'run');
  const port = await freePort();
  const env = {
    ...process.env,
    HARK_DATA_DIR: join(root, 'data'),
    HARK_RUNTIME_DIR: runtimeDir,
    HARK_PORT: String(port),
    HARK_LOG: 'warn',
    HOME: join(root, 'home'),
    ...(afterSeconds > 0 ? { HARK_MODEL: model } : {}),
  };
  const t0 = process.hrtime.bigint();
  const app = spawn(bin, [], { env, stdio: 'ignore' });
  const mapped = new Promise((resolve, reject) => {
    const waiter = spawn('python3', [join(here, 'x11.py'), 'wait', 'Hark', '20'], { stdio: 'ignore' });
    waiter.once('exit', (code) =>
      code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`no window mapped (x11.py wait: ${code})`)),
    );
  });
  const exited = new Promise((resolve) => app.once('exit', (code, signal) => resolve({ code, signal })));
  await eventually('the discovery file', 20_000, () => discovery(runtimeDir));
  const discoveredMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = await eventually('server.info', 20_000, async () => {
    const client = await daemonClient(runtimeDir);
    await client.call('server.info');
    return client;
  });
  const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
  c.close();
  const mappedMs = await mapped;
  // Settle 5 s (the webview loads the UI, which connects), then measure the window open.
  await new Promise((r) => setTimeout(r, 5000));
  const open = await idleWindow(app.pid, idle);
  const closed = spawnSync('python3', [join(here, 'x11.py'), 'close', 'Hark'], { encoding: 'utf8' });
  if (closed.status !== 0) throw new Error(`x11.py close: ${closed.status} ${closed.stderr}`);
  // The webview's web process winds down with the window (at most 10 s are waited for).
  const webProcessGone = await eventually('the web process to exit', 10_000, () =>
    !sample(app.pid).names.some((n) => n.startsWith('WebKitWebProces')),
  ).then(() => true, () => false);
  await new Promise((r) => setTimeout(r, 5000)); // settle, as with the window open
  const shut = await idleWindow(app.pid, idle);
  // Still answering with the window closed.
  const after = await daemonClient(runtimeDir);
  const info = await after.call('server.info');
  after.close();
  let meeting = null;
  if (afterSeconds > 0) {
    const host = await daemonClient(runtimeDir, { host: true });
    await host.call('host.subscribe');
    const started = await host.call('meeting.start', {
      title: 'Bench',
      sources: [{ kind: 'file', path: jfk, realtime: false, name: 'call', role: 'them' }],
    });
    let segments = 0;
    for (;;) {
      const n = await host.next((m) => m.method === 'host.event', 300_000);
      if (n.params.kind === 'meeting.segment') segments++;
      if (n.params.kind === 'meeting.stopped' && n.params.payload.meeting_id === started.id) break;
    }
    const stoppedAt = Date.now();
    host.close();
    const loaded = await idleWindow(app.pid, idle);
    const wait = afterSeconds * 1000 - (Date.now() - stoppedAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const released = await idleWindow(app.pid, idle);
    meeting = { segments, after_seconds: afterSeconds, just_after: loaded, later: released };
  }
  app.kill('SIGTERM');
  const end = await exited;
  const result = {
    run,
    start_to_daemon_answering_ms: Math.round(startMs * 10) / 10,
    start_to_discovery_file_ms: Math.round(discoveredMs * 10) / 10,
    start_to_window_mapped_ms: Math.round(mappedMs * 10) / 10,
    window_open: open,
    window_closed: shut,
    web_process_exited_on_close: webProcessGone,
    sessions_after_idle: info.sessions,
    after_a_meeting: meeting,
    exit: end,
  };
  console.log(JSON.stringify(result));
  results.push(result);
  rmSync(root, { recursive: true, force: true });
}
const pick = (f) => results.map(f).sort((a, b) => a - b);
const median = (xs) => xs[Math.floor(xs.length / 2)];
console.log(
  JSON.stringify({
    summary: {
      runs,
      idle_seconds: idle,
      start_ms: pick((r) => r.start_to_daemon_answering_ms),
      window_mapped_ms: pick((r) => r.start_to_window_mapped_ms),
      open_rss_max_mib: pick((r) => r.window_open.rss_mib.max),
      open_pss_max_mib: pick((r) => r.window_open.pss_mib.max),
      closed_rss_max_mib: pick((r) => r.window_closed.rss_mib.max),
      closed_pss_max_mib: pick((r) => r.window_closed.pss_mib.max),
      open_cpu_percent: pick((r) => r.window_open.cpu_percent),
      closed_cpu_percent: pick((r) => r.window_closed.cpu_percent),
      median_start_ms: median(pick((r) => r.start_to_daemon_answering_ms)),
      ...(afterSeconds > 0
        ? {
            after_meeting_rss_max_mib: pick((r) => r.after_a_meeting.just_after.rss_mib.max),
            later_rss_max_mib: pick((r) => r.after_a_meeting.later.rss_mib.max),
            later_pss_max_mib: pick((r) => r.after_a_meeting.later.pss_mib.max),
            later_cpu_percent: pick((r) => r.after_a_meeting.later.cpu_percent),
          }
        : {}),
    },
  }),
);
