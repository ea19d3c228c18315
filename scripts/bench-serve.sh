#!/usr/bin/env bash
# Start-up and idle cost of the headless daemon (`hark serve`, release build), against the
# targets of PRODUCT.md "Performance targets": ready < 200 ms, idle RSS < 40 MB, idle CPU ~0%.
#
#   scripts/bench-serve.sh [--runs N] [--idle SECONDS] [--idle-runs N] [--no-build] [--bin PATH]
#
#   --runs N        start-up runs (default 20): spawn -> the JSON ready line on stdout, each with a
#                   fresh temp data dir and HARK_RUNTIME_DIR, then SIGTERM (must exit 0)
#   --idle SECONDS  idle window (default 30): CPU from utime+stime in /proc/PID/stat, as % of one
#                   core, and wake-ups (context switches of all threads) per second
#   --idle-runs N   fresh daemons measured idle, one after the other (default 1)
#   --no-build      do not run `cargo build --release -p hark-cli` first
#   --bin PATH      the hark binary (default $CARGO_TARGET_DIR/release/hark)
#
# RSS is VmRSS from /proc/PID/status after 2 s idle, no client connected. The floor row is the
# same spawn -> first stdout line measurement of /bin/echo, i.e. what spawning costs by itself.
# Prints a Markdown table on stdout (progress on stderr). Linux only (/proc). Needs python3
# (stdlib only) for the timing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
BIN="$CARGO_TARGET_DIR/release/hark"
RUNS=20
IDLE=30
IDLE_RUNS=1
BUILD=1

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --idle) IDLE="$2"; shift 2 ;;
        --idle-runs) IDLE_RUNS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --bin) BIN="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-serve: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ -r /proc/self/stat ]] || { echo "bench-serve: needs Linux /proc" >&2; exit 1; }
if [[ "$BUILD" == 1 ]]; then
    (cd "$ROOT" && cargo build --release -p hark-cli >&2)
fi
[[ -x "$BIN" ]] || { echo "bench-serve: no hark binary at $BIN (build it or pass --bin)" >&2; exit 1; }

exec python3 - "$BIN" "$RUNS" "$IDLE" "$IDLE_RUNS" <<'PY'
import json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

BIN, RUNS, IDLE, IDLE_RUNS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
TICK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 10.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def env_for(root):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARK_")}
    env["HARK_RUNTIME_DIR"] = os.path.join(root, "run")
    env["HARK_LOG"] = "info"
    return env


def spawn(argv, env):
    """Spawns argv; returns (process, seconds from spawn to its first stdout line, the line)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    return proc, elapsed, line


def start_daemon():
    root = tempfile.mkdtemp(prefix="hark-bench-serve-")
    argv = [BIN, "serve", "--data-dir", os.path.join(root, "data"), "--port", "0"]
    proc, elapsed, line = spawn(argv, env_for(root))
    try:
        ready = json.loads(line)
        assert ready.get("ready") is True, ready
    except Exception:
        proc.kill()
        _, err = proc.communicate(timeout=READY_TIMEOUT)
        shutil.rmtree(root, ignore_errors=True)
        sys.exit(f"bench-serve: no ready line from hark serve: {line!r}\n{err.decode(errors='replace')}")
    return proc, elapsed, root


def stop_daemon(proc, root):
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        sys.exit("bench-serve: hark serve did not exit within 10 s of SIGTERM")
    shutil.rmtree(root, ignore_errors=True)
    if proc.returncode != 0:
        sys.exit(f"bench-serve: hark serve exited {proc.returncode} after SIGTERM\n"
                 f"{err.decode(errors='replace')}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (stat(5) fields 14 and 15)


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            s = status(f"{pid}/task/{tid}")
            total += int(s["voluntary_ctxt_switches"]) + int(s["nonvoluntary_ctxt_switches"])
        except (OSError, KeyError, ValueError):
            pass
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


load_before = loadavg()

# Start-up: spawn -> ready line, RUNS times, each in a fresh dir.
ready_ms = []
for i in range(RUNS):
    proc, elapsed, root = start_daemon()
    stop_daemon(proc, root)
    ready_ms.append(elapsed * 1e3)
    log(f"start-up run {i + 1}/{RUNS}: {elapsed * 1e3:.1f} ms")

# The floor: the same measurement of a program that prints a line at once.
echo_ms = []
for _ in range(RUNS):
    proc, elapsed, _ = spawn(["/bin/echo", "ready"], dict(os.environ))
    proc.communicate()
    echo_ms.append(elapsed * 1e3)

# Idle: a fresh daemon, no client.
idle = []
for i in range(IDLE_RUNS):
    proc, _, root = start_daemon()
    try:
        time.sleep(2.0)
        st = status(proc.pid)
        rss_kib = int(st["VmRSS"].split()[0])
        threads = int(st["Threads"])
        t0, c0, w0 = time.monotonic(), cpu_ticks(proc.pid), switches(proc.pid)
        log(f"idle run {i + 1}/{IDLE_RUNS}: RSS {rss_kib / 1024:.1f} MiB, {threads} threads; "
            f"measuring CPU for {IDLE:g} s")
        time.sleep(IDLE)
        t1, c1, w1 = time.monotonic(), cpu_ticks(proc.pid), switches(proc.pid)
        assert proc.poll() is None, "hark serve died while idle"
    finally:
        stop_daemon(proc, root)
    wall = t1 - t0
    idle.append({
        "rss_mib": rss_kib / 1024,
        "rss_mb": rss_kib * 1024 / 1e6,
        "threads": threads,
        "cpu_pct": (c1 - c0) / TICK / wall * 100,
        "cpu_ms": (c1 - c0) / TICK * 1e3,
        "wakeups": (w1 - w0) / wall,
        "wall": wall,
    })

load_after = loadavg()


def trio(values, fmt="{:.1f}"):
    return (fmt.format(statistics.median(values)), fmt.format(min(values)), fmt.format(max(values)))


def ok(good):
    return "yes" if good else "**NO**"


nproc = os.cpu_count()
print(f"## `hark serve` start-up and idle ({os.path.basename(BIN)}: {BIN})\n")
print(f"- Machine: {nproc} cores; load average {load_before} before, {load_after} after.")
print(f"- Start-up: {RUNS} runs, each `hark serve --data-dir <fresh temp> --port 0` with a fresh "
      "HARK_RUNTIME_DIR (Unix socket on, auth on, logging at info to stderr and the log file), "
      "timed from spawn (python3 `subprocess.Popen`) to the JSON ready line on stdout, then "
      "SIGTERM (exit 0 checked).")
print(f"- Idle: {IDLE_RUNS} fresh daemon(s), no client connected; RSS = VmRSS after 2 s; CPU = "
      f"utime+stime from /proc/PID/stat over {IDLE:g} s (resolution {1000 / TICK:.0f} ms, i.e. "
      f"{100 / TICK / IDLE:.3f}% of one core); wake-ups = context switches of all threads per s.\n")
print("| measurement | median | min | max | goal | met |")
print("|---|---:|---:|---:|---|---|")
med, lo, hi = trio(ready_ms)
print(f"| spawn -> ready line (ms, {RUNS} runs) | {med} | {lo} | {hi} | < 200 ms | "
      f"{ok(statistics.median(ready_ms) < 200)} |")
med, lo, hi = trio(echo_ms)
print(f"| floor: spawn -> first line of /bin/echo (ms) | {med} | {lo} | {hi} | - | - |")
med, lo, hi = trio([r["rss_mb"] for r in idle])
mib = statistics.median(r["rss_mib"] for r in idle)
print(f"| idle RSS after 2 s (MB; median {mib:.1f} MiB) | {med} | {lo} | {hi} | < 40 MB | "
      f"{ok(max(r['rss_mb'] for r in idle) < 40)} |")
med, lo, hi = trio([r["cpu_pct"] for r in idle], "{:.3f}")
cpu_ms = statistics.median(r["cpu_ms"] for r in idle)
print(f"| idle CPU over {IDLE:g} s (% of one core; median {cpu_ms:.0f} ms CPU) | {med} | {lo} | {hi} "
      f"| ~0% | {ok(max(r['cpu_pct'] for r in idle) < 0.1)} |")
med, lo, hi = trio([r["wakeups"] for r in idle], "{:.2f}")
print(f"| idle wake-ups (context switches/s, all threads) | {med} | {lo} | {hi} | - | - |")
med, lo, hi = trio([r["threads"] for r in idle], "{:.0f}")
print(f"| threads | {med} | {lo} | {hi} | - | - |")
PY
