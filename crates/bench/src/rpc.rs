//! RPC round trips on loopback: Hark vs its floor, a bare tokio-tungstenite echo server.
//!
//! Both servers live in ONE multi-thread runtime (`bench-srv` threads); the load generator has its
//! own multi-thread runtime (`bench-cli` threads), and exactly the same client code talks to both:
//! one WebSocket per client over TCP with `TCP_NODELAY`, a hello (`session.auth`) and one checked
//! round trip, then sequential request/response round trips until the deadline. Every
//! configuration warms up, then measures a fixed window; floor and Hark alternate, so slow drift
//! of the machine hits both alike.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hark_test_support::TestDaemon;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::cpu;

const SERVER_THREADS: &str = "bench-srv";
const CLIENT_THREADS: &str = "bench-cli";

#[derive(clap::Args, Debug)]
pub struct RpcArgs {
    /// Seconds measured per configuration.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of warm-up per configuration (run, not measured).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrent clients, one configuration each (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 8, 64])]
    clients: Vec<usize>,
    /// Worker threads of the servers' runtime [default: half the cores, at least 1].
    #[arg(long)]
    server_threads: Option<usize>,
    /// Worker threads of the load generator's runtime [default: the other cores, at least 1].
    #[arg(long)]
    client_threads: Option<usize>,
    /// Runs of every configuration (floor and Hark alternate); the summary shows medians.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Read buffer of the load generator's WebSockets, bytes. Small on purpose: tungstenite
    /// zero-fills its whole read buffer (128 KiB by default) before every read, which would make
    /// the load generator, not the server, the bottleneck.
    #[arg(long, default_value_t = 16 << 10)]
    client_read_buffer: usize,
    /// Read buffer of the floor's WebSockets, bytes [default: Hark's, from
    /// `hark_core::transport::websocket_config`]. The floor otherwise uses Hark's settings.
    #[arg(long)]
    floor_read_buffer: Option<usize>,
    /// Measure only one server (for profiling one side).
    #[arg(long, value_enum, default_value_t = Only::Both)]
    only: Only,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Both,
    Floor,
    Hark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Floor,
    Hark,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Floor => "floor (tungstenite echo)",
            Server::Hark => "Hark",
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone)]
struct Sample {
    server: Server,
    clients: usize,
    run: usize,
    round_trips: usize,
    secs: f64,
    p50_us: f64,
    p99_us: f64,
    server_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
}

impl Sample {
    fn per_sec(&self) -> f64 {
        self.round_trips as f64 / self.secs
    }
    fn cpu_us_per_rt(&self, cpu: Option<Duration>) -> Option<f64> {
        cpu.filter(|_| self.round_trips > 0).map(|c| c.as_secs_f64() * 1e6 / self.round_trips as f64)
    }
}

type Ws = WebSocketStream<TcpStream>;

/// Checks one reply against its request (only outside the measured loop).
type Check = fn(&str, &str) -> Result<(), String>;

/// Where the clients connect and what they send first.
struct Target {
    server: Server,
    port: u16,
    hello: String,
    check: Check,
    client_config: WebSocketConfig,
}

fn request(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"admission.status","params":{{}}}}"#)
}

fn check_echo(request: &str, reply: &str) -> Result<(), String> {
    if request == reply { Ok(()) } else { Err(format!("echo server replied {reply:?} to {request:?}")) }
}

fn check_hark(request: &str, reply: &str) -> Result<(), String> {
    let parse = |s: &str| serde_json::from_str::<Value>(s).map_err(|e| format!("bad JSON {s:?}: {e}"));
    let (req, rep) = (parse(request)?, parse(reply)?);
    if rep["id"] != req["id"] || rep.get("result").is_none() {
        return Err(format!("Hark replied {reply} to {request}"));
    }
    Ok(())
}

/// The floor: accept, split, echo every text frame back.
async fn start_echo(config: WebSocketConfig) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(echo(stream, config));
        }
    });
    Ok(port)
}

async fn echo(stream: TcpStream, config: WebSocketConfig) {
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else { return };
    let (mut sink, mut stream) = ws.split();
    while let Some(Ok(message)) = stream.next().await {
        if message.is_close() {
            break;
        }
        if message.is_text() && sink.send(message).await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => return Err(format!("server closed: {frame:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("socket error: {e}")),
            None => return Err("server hung up".into()),
        }
    }
}

/// Connects, sends the hello, and does one checked round trip.
async fn setup(
    port: u16,
    hello: String,
    check: Check,
    config: WebSocketConfig,
) -> Result<(Ws, String), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    ws.send(Message::text(hello.clone())).await.map_err(|e| format!("send: {e}"))?;
    check(&hello, &next_text(&mut ws).await?)?;
    let probe = request(0);
    ws.send(Message::text(probe.clone())).await.map_err(|e| format!("send: {e}"))?;
    let reply = next_text(&mut ws).await?;
    check(&probe, &reply)?;
    Ok((ws, reply))
}

/// Sequential round trips until `end`; returns the latencies (ns) of those sent after `warm_end`.
async fn round_trips(mut ws: Ws, warm_end: Instant, end: Instant) -> Result<Vec<u64>, String> {
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut id: u64 = 1;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        ws.send(Message::text(request(id))).await.map_err(|e| format!("send: {e}"))?;
        next_text(&mut ws).await?;
        if sent >= warm_end {
            latencies.push(sent.elapsed().as_nanos() as u64);
        }
        id += 1;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    Ok(latencies)
}

/// Nearest-rank percentile of sorted values, in µs.
fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1e3
}

fn cpu_delta(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    Some(after?.saturating_sub(before?))
}

/// Runs one configuration on the client runtime.
fn measure(
    client_rt: &Runtime,
    target: &Target,
    clients: usize,
    run: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<(Sample, String), String> {
    client_rt.block_on(async {
        let setups = futures_util::future::join_all(
            (0..clients)
                .map(|_| setup(target.port, target.hello.clone(), target.check, target.client_config)),
        )
        .await;
        let mut conns = Vec::with_capacity(clients);
        let mut reply = String::new();
        for s in setups {
            let (ws, r) = s?;
            conns.push(ws);
            reply = r;
        }
        let warm_end = Instant::now() + warmup;
        let end = warm_end + duration;
        let tasks: Vec<_> =
            conns.into_iter().map(|ws| tokio::spawn(round_trips(ws, warm_end, end))).collect();
        tokio::time::sleep_until(warm_end.into()).await;
        let before = (cpu::threads_cpu(SERVER_THREADS), cpu::threads_cpu(CLIENT_THREADS));
        tokio::time::sleep_until(end.into()).await;
        let after = (cpu::threads_cpu(SERVER_THREADS), cpu::threads_cpu(CLIENT_THREADS));
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.map_err(|e| format!("client task: {e}"))??);
        }
        latencies.sort_unstable();
        let sample = Sample {
            server: target.server,
            clients,
            run,
            round_trips: latencies.len(),
            // Round trips are counted by when they were sent: exactly the window [warm_end, end).
            secs: duration.as_secs_f64(),
            p50_us: percentile_us(&latencies, 50.0),
            p99_us: percentile_us(&latencies, 99.0),
            server_cpu: cpu_delta(before.0, after.0),
            client_cpu: cpu_delta(before.1, after.1),
        };
        Ok((sample, reply))
    })
}

fn runtime(threads: usize, name: &str) -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the {name} runtime: {e}"))
}

pub fn run(args: RpcArgs) -> Result<(), String> {
    if !(args.duration > 0.0 && args.warmup >= 0.0) || args.repeat == 0 || args.clients.contains(&0) {
        return Err("--duration must be > 0, --warmup >= 0, --repeat and every --clients >= 1".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server_threads = args.server_threads.unwrap_or((cores / 2).max(1)).max(1);
    let client_threads = args.client_threads.unwrap_or(cores.saturating_sub(server_threads).max(1)).max(1);
    let (warmup, duration) = (Duration::from_secs_f64(args.warmup), Duration::from_secs_f64(args.duration));
    let load_before = cpu::loadavg();

    let server_rt = runtime(server_threads, SERVER_THREADS)?;
    let client_rt = runtime(client_threads, CLIENT_THREADS)?;
    let daemon = server_rt.block_on(TestDaemon::start_with(|config| config.socket = false));
    let token = daemon.token.clone().ok_or("the test daemon has no client token")?;
    let hello = serde_json::json!({
        "jsonrpc": "2.0", "id": "hello", "method": "session.auth", "params": { "token": token }
    })
    .to_string();
    // The floor uses exactly Hark's WebSocket settings (limits and read buffer).
    let mut floor_config = hark_core::transport::websocket_config(&daemon.daemon.config.limits);
    if let Some(n) = args.floor_read_buffer {
        floor_config = floor_config.read_buffer_size(n);
    }
    let client_config = WebSocketConfig::default().read_buffer_size(args.client_read_buffer);
    let echo_port = server_rt.block_on(start_echo(floor_config)).map_err(|e| format!("echo server: {e}"))?;
    let floor = Target {
        server: Server::Floor,
        port: echo_port,
        hello: hello.clone(),
        check: check_echo,
        client_config,
    };
    let hark = Target { server: Server::Hark, port: daemon.port, hello, check: check_hark, client_config };
    let targets: Vec<&Target> = match args.only {
        Only::Both => vec![&floor, &hark],
        Only::Floor => vec![&floor],
        Only::Hark => vec![&hark],
    };

    let mut samples = Vec::new();
    let mut hark_reply = None;
    for run in 1..=args.repeat {
        for &clients in &args.clients {
            for target in &targets {
                let (sample, reply) = measure(&client_rt, target, clients, run, warmup, duration)?;
                eprintln!(
                    "run {run}/{}: {:<24} {clients:>3} clients: {:>9.0} rt/s  p50 {:>7.1} µs  p99 {:>7.1} µs",
                    args.repeat,
                    target.server.name(),
                    sample.per_sec(),
                    sample.p50_us,
                    sample.p99_us
                );
                if target.server == Server::Hark {
                    hark_reply = Some(reply);
                    // Cleanup runs after the socket ends; start the next configuration clean.
                    server_rt.block_on(daemon.wait_sessions(0));
                }
                samples.push(sample);
            }
        }
    }
    let load_after = cpu::loadavg();
    server_rt.block_on(daemon.stop());
    drop(client_rt);
    drop(server_rt);

    let setup = Setup {
        cores,
        server_threads,
        client_threads,
        warmup: args.warmup,
        duration: args.duration,
        repeat: args.repeat,
        load_before,
        load_after,
        request: request(1),
        hark_reply,
        client_read_buffer: args.client_read_buffer,
        floor_read_buffer: floor_config.read_buffer_size,
        max_size: floor_config.max_message_size.unwrap_or(0),
    };
    println!("{}", report(&setup, &args.clients, &samples));
    Ok(())
}

struct Setup {
    cores: usize,
    server_threads: usize,
    client_threads: usize,
    warmup: f64,
    duration: f64,
    repeat: usize,
    load_before: Option<String>,
    load_after: Option<String>,
    request: String,
    hark_reply: Option<String>,
    client_read_buffer: usize,
    floor_read_buffer: usize,
    max_size: usize,
}

fn kib(bytes: usize) -> String {
    if bytes.is_multiple_of(1024) {
        (bytes / 1024).to_string()
    } else {
        format!("{:.1}", bytes as f64 / 1024.0)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn us(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown report: the setup, the summary (medians over runs), and every run when repeated.
fn report(setup: &Setup, clients: &[usize], samples: &[Sample]) -> String {
    let mut out = String::new();
    let na = || "n/a".to_string();
    let _ = writeln!(out, "## RPC round trips on loopback: Hark vs a bare tokio-tungstenite echo server\n");
    let _ = writeln!(
        out,
        "- Machine: {} cores; load average {} before, {} after.",
        setup.cores,
        setup.load_before.as_deref().unwrap_or("n/a"),
        setup.load_after.as_deref().unwrap_or("n/a")
    );
    let _ = writeln!(
        out,
        "- One process. Both servers run on ONE multi-thread tokio runtime with {} worker thread(s); the \
         load generator has its own multi-thread runtime with {} worker thread(s). Identical client code \
         for both servers: one tokio-tungstenite WebSocket per client over TCP (TCP_NODELAY), \
         sequential request/response round trips; its read buffer is {} KiB (tungstenite \
         zero-fills the whole read buffer before every read: at the 128 KiB default the load \
         generator, not the server, would be the bottleneck).",
        setup.server_threads,
        setup.client_threads,
        kib(setup.client_read_buffer)
    );
    let _ = writeln!(
        out,
        "- Floor: accept, split, echo every text frame, with Hark's transport settings (max \
         message and frame {} KiB, read buffer {} KiB). Hark: the real daemon in-process \
         (`hark_core::start` on port 0 in a temp dir, auth on), each client authenticated with \
         `session.auth` before measuring.",
        kib(setup.max_size),
        kib(setup.floor_read_buffer)
    );
    let _ = writeln!(
        out,
        "- Request ({} bytes): `{}`; the floor echoes it; Hark replies ({} bytes): `{}`.",
        setup.request.len(),
        setup.request,
        setup.hark_reply.as_ref().map_or(0, String::len),
        setup.hark_reply.as_deref().unwrap_or("n/a")
    );
    let _ = writeln!(
        out,
        "- Per configuration: {} s warm-up, {} s measured; {} run(s), floor and Hark alternating{}. \
         CPU columns: on-CPU time of that runtime's threads in the measured window / round trips.\n",
        setup.warmup,
        setup.duration,
        setup.repeat,
        if setup.repeat > 1 { "; medians over runs, min-max of round trips/s in brackets" } else { "" }
    );
    let _ = writeln!(
        out,
        "| clients | server | round trips/s | p50 µs | p99 µs | server CPU µs/rt | client CPU µs/rt | Hark/floor |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|");
    for &n in clients {
        let mut floor_rate = None;
        for server in [Server::Floor, Server::Hark] {
            let runs: Vec<&Sample> =
                samples.iter().filter(|s| s.server == server && s.clients == n).collect();
            if runs.is_empty() {
                continue;
            }
            let rates: Vec<f64> = runs.iter().map(|s| s.per_sec()).collect();
            let rate = median(rates.clone());
            let spread = if runs.len() > 1 {
                let (lo, hi) = rates.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
                format!(" [{}-{}]", thousands(lo), thousands(hi))
            } else {
                String::new()
            };
            let cpu = |f: fn(&Sample) -> Option<Duration>| {
                let v: Vec<f64> = runs.iter().filter_map(|s| s.cpu_us_per_rt(f(s))).collect();
                if v.is_empty() { na() } else { us(median(v)) }
            };
            let ratio = match (server, floor_rate) {
                (Server::Floor, _) => {
                    floor_rate = Some(rate);
                    "-".to_string()
                }
                (Server::Hark, Some(f)) => format!("**{:.2}x**", rate / f),
                (Server::Hark, None) => na(),
            };
            let _ = writeln!(
                out,
                "| {n} | {} | {}{spread} | {} | {} | {} | {} | {ratio} |",
                server.name(),
                thousands(rate),
                us(median(runs.iter().map(|s| s.p50_us).collect())),
                us(median(runs.iter().map(|s| s.p99_us).collect())),
                cpu(|s| s.server_cpu),
                cpu(|s| s.client_cpu),
            );
        }
    }
    if setup.repeat > 1 {
        let _ = writeln!(out, "\nEvery run:\n");
        let _ = writeln!(out, "| run | clients | server | round trips/s | p50 µs | p99 µs | Hark/floor |");
        let _ = writeln!(out, "|---:|---:|---|---:|---:|---:|---:|");
        for s in samples {
            let floor = samples
                .iter()
                .find(|f| f.server == Server::Floor && f.clients == s.clients && f.run == s.run)
                .map(Sample::per_sec);
            let ratio = match (s.server, floor) {
                (Server::Hark, Some(f)) => format!("{:.2}x", s.per_sec() / f),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {ratio} |",
                s.run,
                s.clients,
                s.server.name(),
                thousands(s.per_sec()),
                us(s.p50_us),
                us(s.p99_us),
            );
        }
    }
    out
}
