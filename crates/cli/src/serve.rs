//! `hark serve`: flags and environment -> [`DaemonConfig`], logging, the ready line, and clean
//! shutdown on SIGINT/SIGTERM. [`default_config`] and [`init_logging`] are also what the desktop
//! app calls, so its in-process daemon runs with exactly this configuration.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hark_core::config::TranscriberChoice;
use hark_core::runtime_files::RuntimeFilesError;
use hark_core::{ApprovalPolicy, DaemonConfig, StartError};
use tokio_util::sync::CancellationToken;

use crate::Location;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    location: Location,
    /// Listen on this address instead of 127.0.0.1 (not recommended: Hark is a local service;
    /// the Host check still refuses upgrades whose Host is not local).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::IpAddr>,
    /// TCP port on 127.0.0.1 (0 picks a free port).
    #[arg(long, env = "HARK_PORT", default_value_t = hark_core::paths::DEFAULT_PORT)]
    port: u16,
    /// Also listen on <runtime_dir>/daemon.sock (the default on Unix).
    #[arg(long, overrides_with = "no_socket")]
    socket: bool,
    /// Do not listen on the Unix socket.
    #[arg(long)]
    no_socket: bool,
    /// Allow WebSocket upgrades from this browser Origin (exact match; repeatable).
    /// Also $HARK_ALLOWED_ORIGINS (comma-separated).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Let agent surfaces send the person's actions to this non-loopback A2A endpoint (an
    /// exact URL prefix; repeatable). Also $HARK_A2A_ENDPOINTS (comma-separated).
    #[arg(long = "allow-a2a-endpoint", value_name = "URL")]
    allow_a2a_endpoint: Vec<String>,
    /// Disable tokens (Host and Origin checks stay on). Anyone on this machine can connect.
    #[arg(long)]
    no_auth: bool,
    /// What to do with a permission request when no host (window) is connected.
    #[arg(long, value_name = "ask|allow|deny", default_value = "ask")]
    approvals: ApprovalPolicy,
    /// Speech to text: `whisper` (a local model) or `fake` (deterministic text, no model).
    #[arg(long, value_enum, env = "HARK_TRANSCRIBER", default_value = "whisper")]
    transcriber: TranscriberKind,
    /// The whisper model: a file, or a name whose file is `<data dir>/models/ggml-<name>.bin`
    /// [default: $HARK_MODEL, else the default set with `hark models default`, else tiny.en].
    /// Loaded on first use.
    #[arg(long)]
    model: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum TranscriberKind {
    Whisper,
    Fake,
}

fn transcriber(
    kind: TranscriberKind,
    model: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<TranscriberChoice> {
    match kind {
        TranscriberKind::Fake => Ok(TranscriberChoice::Fake),
        TranscriberKind::Whisper => {
            // A missing model is not fatal at start (it loads lazily): its first use says what is wrong.
            let path = crate::transcribe::resolve_model(model, data_dir).unwrap_or_else(|_| {
                crate::models::local_store(data_dir)
                    .path_of(&crate::transcribe::wanted_model(model, data_dir))
            });
            Ok(TranscriberChoice::Model { path, loader: whisper_loader()? })
        }
    }
}

#[cfg(feature = "whisper")]
fn whisper_loader() -> anyhow::Result<hark_core::config::ModelLoader> {
    Ok(std::sync::Arc::new(|path: &std::path::Path| {
        let t = hark_transcribe::whisper::WhisperTranscriber::load(path)?;
        Ok(std::sync::Arc::new(t) as std::sync::Arc<dyn hark_transcribe::Transcriber>)
    }))
}

#[cfg(not(feature = "whisper"))]
fn whisper_loader() -> anyhow::Result<hark_core::config::ModelLoader> {
    anyhow::bail!("this hark was built without whisper: use --transcriber fake")
}

fn env_parse<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}"))
        }
        _ => Ok(None),
    }
}

/// The configuration `hark serve` would run with on `location`'s data dir, with no flags (its
/// environment variables still apply): for commands that start the daemon in-process when none
/// runs (`hark record`) and for the desktop app.
pub fn default_config(location: &Location) -> anyhow::Result<DaemonConfig> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        serve: ServeArgs,
    }
    let mut args = vec!["hark-serve".to_string()];
    if let Some(dir) = &location.data_dir {
        args.extend(["--data-dir".to_string(), dir.display().to_string()]);
    }
    let defaults = <Defaults as clap::Parser>::try_parse_from(args)?;
    config_from(&defaults.serve)
}

fn config_from(args: &ServeArgs) -> anyhow::Result<DaemonConfig> {
    let data_dir = args.location.data_dir();
    let mut config = DaemonConfig::new(data_dir.clone(), args.location.runtime_dir());
    config.port = args.port;
    if let Some(addr) = args.listen {
        config.listen = addr;
    }
    config.socket = cfg!(unix) && !args.no_socket;
    config.allowed_origins = args.allow_origin.clone();
    if let Ok(list) = std::env::var("HARK_ALLOWED_ORIGINS") {
        config
            .allowed_origins
            .extend(list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from));
    }
    config.a2a_endpoints = args.allow_a2a_endpoint.clone();
    if let Ok(list) = std::env::var("HARK_A2A_ENDPOINTS") {
        config
            .a2a_endpoints
            .extend(list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from));
    }
    config.auth = !args.no_auth;
    config.transcriber = transcriber(args.transcriber, args.model.as_deref(), &data_dir)?;
    config.approvals = args.approvals;
    config.model_base_url = crate::models::base_url();
    config.model_catalog = crate::models::catalog()?;
    if let Some(secs) = env_parse::<f64>("HARK_TOOL_TIMEOUT")? {
        config.tool_timeout = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(7 * 24 * 3600))
            .ok_or_else(|| {
                anyhow::anyhow!("HARK_TOOL_TIMEOUT must be seconds between 0 and 604800, got {secs}")
            })?;
    }
    if let Some(n) = env_parse::<usize>("HARK_INFERENCE_MAX_CONCURRENT")? {
        anyhow::ensure!(n >= 1, "HARK_INFERENCE_MAX_CONCURRENT must be at least 1");
        config.inference_permits = n;
    }
    Ok(config)
}

/// Logs to stderr and to `<data_dir>/logs/hark.log` (rotated to `hark.log.1` past 10 MB). Sets
/// the process's global subscriber: call it once.
pub fn init_logging(data_dir: &std::path::Path) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("HARK_LOG")
        // cpal's PulseAudio client logs every connection it opens (a device list, a capture) at
        // INFO, and "Reactor error: Client disconnected" at ERROR each time one is closed, which
        // is normal: neither is shown unless HARK_LOG asks.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,pulseaudio=warn,pulseaudio::client::reactor=off")
        });
    // Whatever HARK_LOG asks: tungstenite traces every frame it receives (tokens in
    // `session.auth`, route auth in `a2ui.ingest`) and ureq logs request headers (the route auth
    // of a forwarded A2UI action) at debug. Secrets never reach a log line.
    let filter = ["tungstenite=debug", "tokio_tungstenite=debug", "ureq=info"]
        .into_iter()
        .fold(filter, |f, d| f.add_directive(d.parse().expect("a valid directive")));
    let logs = data_dir.join("logs");
    let file = std::fs::create_dir_all(&logs).ok().and_then(|()| {
        let path = logs.join("hark.log");
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > 10 << 20) {
            let _ = std::fs::rename(&path, logs.join("hark.log.1"));
        }
        std::fs::OpenOptions::new().create(true).append(true).open(path).ok()
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match file {
        Some(file) => {
            builder.with_writer(std::io::stderr.and(std::sync::Mutex::new(file))).with_ansi(false).init()
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = config_from(&args)?;
    init_logging(&config.data_dir);
    if !config.listen.is_loopback() {
        tracing::warn!(addr = %config.listen, "listening beyond loopback (--listen): other machines can reach this port");
    }
    if !config.auth {
        tracing::warn!(
            "AUTHENTICATION IS DISABLED (--no-auth): any program on this machine can use this daemon"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let running = match hark_core::start(config, shutdown.clone()).await {
            Ok(running) => running,
            Err(StartError::Files(e @ RuntimeFilesError::AlreadyRunning { .. })) => {
                eprintln!("hark: {e}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return Err(e.into()),
        };
        // Handlers go in before the ready line: a SIGTERM right after it must shut down cleanly.
        let signals = Signals::install().context("cannot install signal handlers")?;
        let mut ready = serde_json::to_value(&running.discovery).expect("discovery serializes");
        ready["ready"] = serde_json::Value::Bool(true);
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{ready}").and_then(|()| stdout.flush()).context("cannot write the ready line")?;
        }
        tracing::info!(url = %running.discovery.ws_url, socket = ?running.discovery.socket, "hark daemon ready");
        tokio::spawn(signals.wait_then_cancel(shutdown));
        running.run_until_shutdown(Duration::from_secs(3)).await;
        tracing::info!("hark daemon stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGINT and SIGTERM, registered when created (not on first poll): from then on they no
/// longer kill the process, they wake [`Signals::wait`]. The desktop app installs them too,
/// before its daemon writes the discovery file.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers; needs a tokio runtime context.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Returns at the first SIGINT or SIGTERM (Ctrl-C elsewhere).
    pub async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    async fn wait_then_cancel(self, shutdown: CancellationToken) {
        self.wait().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    }
}
