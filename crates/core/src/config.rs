//! The daemon's configuration: what `hark serve` flags and environment variables decide, with the
//! defaults of PROTOCOL.md. Built by the caller (the CLI or a test), never read from globals here.

use std::path::PathBuf;
use std::time::Duration;

use hark_protocol::session::Limits;

/// What the daemon does with a permission request when no host is subscribed (PROTOCOL §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalPolicy {
    /// Park the request; a host that subscribes later may answer it; otherwise it times out.
    #[default]
    Ask,
    Allow,
    Deny,
}

impl std::str::FromStr for ApprovalPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ask" => Ok(Self::Ask),
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            other => Err(format!("expected ask, allow or deny, got {other:?}")),
        }
    }
}

/// Transport and queue limits (PROTOCOL §2.5, §3).
#[derive(Debug, Clone)]
pub struct TransportLimits {
    pub max_message_bytes: usize,
    pub max_binary_frame_bytes: usize,
    pub max_connections: usize,
    /// Connections that have not authenticated yet: half the slots, so sockets that never
    /// authenticate cannot starve real agents (a burst of 64 agents connecting at once still fits).
    pub max_unauthenticated: usize,
    /// Messages an outbound queue holds before it counts as full (partials are coalesced then).
    pub outbound_queue: usize,
    /// Bytes an outbound queue holds before it counts as full.
    pub outbound_bytes: usize,
    /// A full queue that does not drain for this long disconnects its client ("slow consumer").
    pub slow_consumer: Duration,
    /// Requests one connection may have running at once; more get -32011.
    pub max_inflight_requests: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// How long the first frame (`session.auth`) may take after the upgrade.
    pub auth_timeout: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_message_bytes: 1 << 20,
            max_binary_frame_bytes: 256 << 10,
            max_connections: 256,
            max_unauthenticated: 128,
            outbound_queue: 1024,
            outbound_bytes: crate::connection::outbound::DEFAULT_MAX_BYTES,
            slow_consumer: Duration::from_secs(10),
            max_inflight_requests: 256,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            auth_timeout: Duration::from_secs(10),
        }
    }
}

impl TransportLimits {
    pub fn to_wire(&self) -> Limits {
        Limits {
            max_message_bytes: self.max_message_bytes,
            max_binary_frame_bytes: self.max_binary_frame_bytes,
            max_connections: self.max_connections,
            outbound_queue: self.outbound_queue,
            outbound_bytes: self.outbound_bytes,
            max_inflight_requests: self.max_inflight_requests,
            ping_interval_ms: self.ping_interval.as_millis() as u64,
            idle_timeout_ms: self.idle_timeout.as_millis() as u64,
            slow_consumer_ms: self.slow_consumer.as_millis() as u64,
        }
    }
}

/// Loads a model file into a transcriber (the CLI passes whisper's; core never links whisper).
pub type ModelLoader = std::sync::Arc<
    dyn Fn(
            &std::path::Path,
        )
            -> Result<std::sync::Arc<dyn hark_transcribe::Transcriber>, hark_transcribe::TranscribeError>
        + Send
        + Sync,
>;

/// Which transcriber the voice methods use (`hark serve --transcriber`).
#[derive(Clone, Default)]
pub enum TranscriberChoice {
    /// PROTOCOL §6.2's deterministic stand-in: `speech <n> (<seconds> s)`.
    #[default]
    Fake,
    /// A model file, loaded on first use by `loader` and shared by every session.
    Model { path: std::path::PathBuf, loader: ModelLoader },
}

impl std::fmt::Debug for TranscriberChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranscriberChoice::Fake => f.write_str("Fake"),
            TranscriberChoice::Model { path, .. } => {
                f.debug_struct("Model").field("path", path).finish_non_exhaustive()
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    /// The TCP address: loopback unless `--listen` says otherwise (PROTOCOL §1).
    pub listen: std::net::IpAddr,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// Listen on `<runtime_dir>/daemon.sock` too (Unix only).
    pub socket: bool,
    /// Origins allowed besides the desktop webview's (exact match).
    pub allowed_origins: Vec<String>,
    /// `false` with `--no-auth`: no tokens (Host and Origin checks stay).
    pub auth: bool,
    pub approvals: ApprovalPolicy,
    /// How long a parked permission request waits for the person (60 s).
    pub approval_timeout: Duration,
    /// The wait for a `tools.execute` reply when the action sets no timeout (`HARK_TOOL_TIMEOUT`).
    pub tool_timeout: Duration,
    /// A2A endpoints other than loopback that surfaces may route actions to (exact URL
    /// prefixes; `HARK_A2A_ENDPOINTS`). Empty: loopback only.
    pub a2a_endpoints: Vec<String>,
    /// A chat route with no event for this long is closed (PROTOCOL §13: 5 minutes).
    pub chat_idle: Duration,
    /// Admission permits (`HARK_INFERENCE_MAX_CONCURRENT`, else RAM / 8 GiB clamped to 1..=8).
    pub inference_permits: usize,
    /// How long a request may wait for an admission permit before -32011.
    pub admission_wait: Duration,
    /// Tests only: serves `debug.panic`, a handler that panics, to prove a panic is answered
    /// with -32603 and harms nothing else. Always off in `hark serve` (no flag sets it).
    #[doc(hidden)]
    pub test_faults: bool,
    pub limits: TransportLimits,
    pub transcriber: TranscriberChoice,
    /// Opens microphones and system audio (cpal; tests put a fake device here).
    pub capture: std::sync::Arc<dyn crate::voice::capture::CaptureBackend>,
    /// Where `models.pull` downloads `ggml-<name>.bin` from (`HARK_MODEL_BASE_URL`).
    pub model_base_url: String,
    /// The models `models.pull` may fetch, with their sizes and SHA-256s (tests use their own).
    pub model_catalog: Vec<crate::models::CatalogEntry>,
}

impl DaemonConfig {
    /// Defaults for a data dir and a runtime dir; everything else as PROTOCOL.md says.
    pub fn new(data_dir: PathBuf, runtime_dir: PathBuf) -> Self {
        DaemonConfig {
            data_dir,
            runtime_dir,
            listen: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: crate::paths::DEFAULT_PORT,
            socket: cfg!(unix),
            allowed_origins: Vec::new(),
            auth: true,
            approvals: ApprovalPolicy::Ask,
            approval_timeout: Duration::from_secs(60),
            tool_timeout: Duration::from_secs(300),
            chat_idle: Duration::from_secs(300),
            a2a_endpoints: Vec::new(),
            inference_permits: crate::admission::default_permits(),
            test_faults: false,
            admission_wait: Duration::from_secs(30),
            limits: TransportLimits::default(),
            transcriber: TranscriberChoice::Fake,
            capture: crate::voice::capture::default_backend(),
            model_base_url: crate::models::DEFAULT_BASE_URL.to_string(),
            model_catalog: crate::models::catalog::builtin(),
        }
    }
}
