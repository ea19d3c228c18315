//! The daemon: shared state ([`Daemon`]), start-up ([`start`]: locks, tokens, listeners,
//! discovery) and shutdown ([`RunningDaemon::shutdown`]: close every connection with 1001, wait
//! for the tasks, remove the runtime files). The caller owns the shutdown token.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hark_protocol::RpcError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::Admission;
use crate::caller::OwnedBySession;
use crate::config::DaemonConfig;
use crate::connection::Connection;
use crate::host::HostState;
use crate::permissions::Permissions;
use crate::runtime_files::{Discovery, RuntimeFiles, RuntimeFilesError, Tokens};
use crate::transport::{self, Listeners};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Method families this build serves (`server.handshake` / `server.info` capabilities).
pub const CAPABILITIES: [&str; 12] = [
    "session",
    "tools",
    "proposals",
    "host",
    "admission",
    "voice",
    "meeting",
    "memory",
    "models",
    "a2ui",
    "agents",
    "runs",
];

/// State shared by every connection.
pub struct Daemon {
    pub config: DaemonConfig,
    pub tokens: Option<Tokens>,
    pub started: Instant,
    pub shutdown: CancellationToken,
    /// Open WebSocket connections (authenticated or not), for the connection limit.
    pub open_connections: AtomicUsize,
    /// Open connections that have not authenticated yet (see `TransportLimits::max_unauthenticated`).
    pub unauthenticated: AtomicUsize,
    /// `Connection` objects still alive: 0 once every connection's tasks (handlers included) are
    /// gone. Tests use it to prove the cleanup path leaves nothing behind.
    pub live_connection_objects: Arc<AtomicUsize>,
    sessions: Mutex<HashMap<String, Arc<Connection>>>,
    agent_claims: Mutex<HashMap<String, String>>,
    pub host: Arc<HostState>,
    pub permissions: Permissions,
    /// Writes journals and grants off the runtime, in order (`crate::disk`).
    pub disk: crate::disk::DiskWriter,
    pub admission: Admission,
    pub engine: crate::voice::engine::Engine,
    pub voice: Arc<crate::voice::VoiceStreams>,
    pub meetings: Arc<crate::meetings::Meetings>,
    pub chats: Arc<crate::chat::Chats>,
    pub surfaces: Arc<crate::a2ui::Surfaces>,
    pub runs: Arc<crate::runs::Runs>,
    /// Every domain that keeps things for a session: released by the one cleanup path.
    owned_by_session: Vec<Arc<dyn OwnedBySession>>,
    pub models: crate::models::ModelStore,
    /// The person's settings (`settings.json`).
    pub settings: crate::settings::SettingsStore,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").field("data_dir", &self.config.data_dir).finish_non_exhaustive()
    }
}

use crate::lock;

impl Daemon {
    /// The daemon's state over `config.data_dir`: grants loaded, meetings a crash left
    /// `recording` recovered, the meeting index opened (or rebuilt from the files).
    pub fn new(
        config: DaemonConfig,
        tokens: Option<Tokens>,
        shutdown: CancellationToken,
    ) -> Result<Self, StartError> {
        let disk = crate::disk::DiskWriter::start();
        let permissions = Permissions::load(crate::paths::grants_file(&config.data_dir), disk.clone());
        let settings = crate::settings::SettingsStore::load(&config.data_dir, disk.clone());
        let admission = Admission::new(config.inference_permits, config.admission_wait);
        let host = Arc::new(HostState::default());
        let voice: Arc<crate::voice::VoiceStreams> = Arc::default();
        let meetings =
            Arc::new(crate::meetings::Meetings::open(&config.data_dir, host.clone(), voice.clone())?);
        let chats =
            Arc::new(crate::chat::Chats::new(hark_store::ChatLog::new(&config.data_dir), config.chat_idle));
        let surfaces: Arc<crate::a2ui::Surfaces> = Arc::default();
        let (book, report) = hark_runs::RunBook::open(
            config.data_dir.join(hark_runs::RUNS_DIR),
            hark_protocol::time::now_millis(),
        )?;
        if report.adopted + report.removed + report.unverified + report.truncated > 0 {
            tracing::info!(?report, "run traces loaded");
        }
        let runs =
            Arc::new(crate::runs::Runs::new(book, Duration::from_millis(hark_runs::INCOMPLETE_GRACE_MS)));
        let owned_by_session: Vec<Arc<dyn OwnedBySession>> = vec![
            host.clone(),
            voice.clone(),
            meetings.clone(),
            chats.clone(),
            surfaces.clone(),
            runs.clone(),
        ];
        Ok(Daemon {
            tokens,
            started: Instant::now(),
            shutdown,
            open_connections: AtomicUsize::new(0),
            unauthenticated: AtomicUsize::new(0),
            live_connection_objects: Arc::default(),
            sessions: Mutex::new(HashMap::new()),
            agent_claims: Mutex::new(HashMap::new()),
            host,
            permissions,
            disk,
            admission,
            engine: crate::voice::engine::Engine::new(config.transcriber.clone()),
            voice,
            meetings,
            chats,
            surfaces,
            runs,
            owned_by_session,
            models: crate::models::ModelStore::new(
                &config.data_dir,
                config.model_catalog.clone(),
                config.model_base_url.clone(),
            ),
            settings,
            config,
        })
    }

    pub fn auth_enabled(&self) -> bool {
        self.tokens.is_some()
    }

    /// Authenticated sessions (connections that passed `session.auth`, or any under `--no-auth`).
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    pub(crate) fn connection_opened(&self, conn: &Arc<Connection>) {
        if conn.auth().is_some() {
            self.session_authenticated(conn); // --no-auth: a session from the start
        }
    }

    pub(crate) fn session_authenticated(&self, conn: &Arc<Connection>) {
        self.leave_unauthenticated(conn);
        lock(&self.sessions).insert(conn.session_id.clone(), conn.clone());
    }

    /// Gives back the connection's unauthenticated slot (taken at accept), once.
    pub(crate) fn leave_unauthenticated(&self, conn: &Connection) {
        if conn.take_unauthenticated_slot() {
            self.unauthenticated.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// Claims `agent_id` for `session_id`: one live connection per agent id (PROTOCOL §4).
    pub(crate) fn claim_agent(&self, agent_id: &str, session_id: &str) -> Result<(), RpcError> {
        let mut claims = lock(&self.agent_claims);
        match claims.get(agent_id) {
            Some(owner) if owner != session_id => {
                Err(RpcError::conflict(format!("agent_id {agent_id} is already connected")))
            }
            _ => {
                claims.insert(agent_id.to_string(), session_id.to_string());
                Ok(())
            }
        }
    }

    /// True when `agent_id` was claimed (`session.auth`) by a connection other than `session_id`.
    pub(crate) fn agent_claimed_by_other(&self, agent_id: &str, session_id: &str) -> bool {
        lock(&self.agent_claims).get(agent_id).is_some_and(|owner| owner != session_id)
    }

    /// The connection of the agent `agent_id`: the one that claimed it with `session.auth`,
    /// else the one that registered it on the host roster.
    pub fn agent_connection(&self, agent_id: &str) -> Option<Arc<Connection>> {
        let claimed = lock(&self.agent_claims).get(agent_id).cloned();
        let session = claimed.or_else(|| self.host.agent_session(agent_id))?;
        lock(&self.sessions).get(&session).cloned()
    }

    /// THE cleanup path: runs exactly once per connection, however it ended. Releases everything
    /// the connection owned; in-flight handlers are aborted by the read loop's task set.
    pub(crate) fn release_connection(&self, conn: &Connection) {
        conn.cancel.cancel();
        self.leave_unauthenticated(conn);
        conn.callbacks.close_all();
        lock(&self.sessions).remove(&conn.session_id);
        if let Some(agent_id) = conn.agent_id() {
            let mut claims = lock(&self.agent_claims);
            if claims.get(&agent_id) == Some(&conn.session_id) {
                claims.remove(&agent_id);
            }
        }
        for domain in &self.owned_by_session {
            domain.release_session(&conn.session_id);
        }
        tracing::debug!(session = %conn.session_id, "connection released");
    }
}

/// How long a running meeting may take to stop at shutdown (its last final is being decoded).
const MEETING_STOP_DEADLINE: Duration = Duration::from_secs(20);

/// A started daemon.
pub struct RunningDaemon {
    pub daemon: Arc<Daemon>,
    pub discovery: Discovery,
    files: RuntimeFiles,
    tracker: TaskTracker,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDaemon").field("discovery", &self.discovery).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Files(#[from] RuntimeFilesError),
    #[error("cannot open the meeting store: {0}")]
    Store(#[from] hark_store::StoreError),
    #[error("cannot open the run traces: {0}")]
    Runs(#[from] hark_runs::RunError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}

/// Takes the data-dir lock, writes the tokens, binds, starts accepting, and writes the
/// discovery file (only once connections are accepted). `shutdown` belongs to the caller.
pub async fn start(config: DaemonConfig, shutdown: CancellationToken) -> Result<RunningDaemon, StartError> {
    let files = RuntimeFiles::acquire(&config.data_dir, &config.runtime_dir, config.auth)?;
    let socket = config.socket.then(|| files.paths.socket());
    let addr = std::net::SocketAddr::new(config.listen, config.port);
    let listeners = Listeners::bind(config.listen, config.port, socket.clone())
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let port = listeners.local_port();
    let host = match config.listen {
        ip if ip.is_loopback() || ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let discovery = Discovery {
        pid: std::process::id(),
        version: VERSION.to_string(),
        ws_url: format!("ws://{host}:{port}/"),
        socket,
        token_file: config.auth.then(|| files.paths.token()),
        host_token_file: config.auth.then(|| files.paths.host_token()),
        data_dir: config.data_dir.clone(),
    };
    crate::journal::prune(&crate::paths::journals_dir(&config.data_dir));
    let daemon = Arc::new(Daemon::new(config, files.tokens.clone(), shutdown.clone())?);
    let tracker = TaskTracker::new();
    let accept = tokio::spawn(transport::accept_loop(daemon.clone(), listeners, tracker.clone(), shutdown));
    tokio::spawn(sweep_chats(daemon.clone()));
    tokio::spawn(release_idle_models(daemon.clone()));
    files.write_discovery(&discovery)?;
    Ok(RunningDaemon { daemon, discovery, files, tracker, accept })
}

/// Closes chat routes idle for `chat_idle`, checking ten times per idle period (at most every
/// 10 s), until shutdown.
async fn sweep_chats(daemon: Arc<Daemon>) {
    let every = (daemon.chats.idle() / 10).clamp(Duration::from_millis(10), Duration::from_secs(10));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return,
            _ = ticks.tick() => daemon.chats.sweep(Instant::now()),
        }
    }
}

/// Releases loaded models unused for the `model_keep_alive_minutes` setting, until shutdown:
/// wakes when the next one may be due, when a model is loaded, when the setting changes.
async fn release_idle_models(daemon: Arc<Daemon>) {
    let mut settings = daemon.settings.subscribe();
    loop {
        let keep_alive = settings.borrow_and_update().model_keep_alive();
        let next = daemon.engine.release_idle(keep_alive, Instant::now());
        // Nothing loaded: only a load or a change of the setting can make work.
        let wait = next.unwrap_or(Duration::from_secs(24 * 3600));
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = daemon.engine.loaded_signal.notified() => {}
            changed = settings.changed() => if changed.is_err() { return },
        }
    }
}

impl RunningDaemon {
    /// Waits for the shutdown token, then stops every running meeting cleanly (last segment
    /// stored, WAV headers final, status `stopped`; meeting streams do not depend on any
    /// connection, so closing the connections meanwhile does not cut them), closes every
    /// connection (1001), waits up to `grace` for their tasks, and removes the token files, the
    /// socket and the discovery file.
    pub async fn run_until_shutdown(self, grace: Duration) {
        self.daemon.shutdown.cancelled().await;
        self.daemon.meetings.stop_all(MEETING_STOP_DEADLINE).await;
        let _ = self.accept.await;
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        // The last chat turns (those the closing connections ended), journal lines and grants
        // reach their files.
        let flushed = async { tokio::join!(self.daemon.chats.flush(), self.daemon.disk.flush()) };
        if tokio::time::timeout(grace, flushed).await.is_err() {
            tracing::warn!("files still being written after the shutdown grace period");
        }
        drop(self.files); // removes the runtime files, then releases the locks
    }

    /// Cancels the token and shuts down (tests and the CLI's signal handler).
    pub async fn shutdown(self, grace: Duration) {
        self.daemon.shutdown.cancel();
        self.run_until_shutdown(grace).await;
    }
}
