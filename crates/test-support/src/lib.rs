//! Dev-only helpers for Hark's tests: [`TestDaemon`] runs a real daemon in-process on port 0 in a
//! temp data dir (TCP and Unix socket), and [`Client`] is a concurrent JSON-RPC WebSocket client
//! that can answer the daemon's callbacks while its own calls are pending.

mod client;
mod http;
mod raw;

pub use client::{Client, ClientError, Closed};
pub use http::{HttpRecorder, Recorded};
pub use raw::RawPeer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hark_core::{Daemon, DaemonConfig, RunningDaemon};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Waits until `condition` holds, checking every 5 ms; panics naming `what` after `timeout`.
/// The way a test waits for state the daemon reaches on its own (a cleanup, a timer), instead
/// of sleeping and hoping.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A daemon on 127.0.0.1:0 with its own data and runtime dirs.
pub struct TestDaemon {
    running: Option<RunningDaemon>,
    _tmp: Option<tempfile::TempDir>,
    pub daemon: Arc<Daemon>,
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub url: String,
    pub port: u16,
    pub socket: Option<PathBuf>,
    pub token: Option<String>,
    pub host_token: Option<String>,
}

impl TestDaemon {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the config adjusted by `tweak` (limits, policies, timeouts).
    pub async fn start_with(tweak: impl FnOnce(&mut DaemonConfig)) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut daemon = Self::start_in(tmp.path(), tweak).await;
        daemon._tmp = Some(tmp);
        daemon
    }

    /// Starts on `root/data` and `root/run` (a restart on the same root sees the same data).
    pub async fn start_in(root: &Path, tweak: impl FnOnce(&mut DaemonConfig)) -> Self {
        let mut config = DaemonConfig::new(root.join("data"), root.join("run"));
        config.port = 0;
        config.inference_permits = 2;
        tweak(&mut config);
        let (data_dir, runtime_dir) = (config.data_dir.clone(), config.runtime_dir.clone());
        let running = hark_core::start(config, CancellationToken::new()).await.expect("daemon starts");
        let d = running.discovery.clone();
        let read = |p: &Option<PathBuf>| p.as_ref().map(|p| std::fs::read_to_string(p).expect("token file"));
        let port =
            d.ws_url.trim_start_matches("ws://127.0.0.1:").trim_end_matches('/').parse().expect("port");
        TestDaemon {
            daemon: running.daemon.clone(),
            token: read(&d.token_file),
            host_token: read(&d.host_token_file),
            url: d.ws_url.clone(),
            port,
            socket: d.socket.clone(),
            data_dir,
            runtime_dir,
            running: Some(running),
            _tmp: None,
        }
    }

    /// A TCP client that has not authenticated.
    pub async fn connect(&self) -> Client {
        Client::connect_tcp(&self.url).await.expect("connect")
    }

    /// A Unix-socket client that has not authenticated.
    pub async fn connect_unix(&self) -> Client {
        Client::connect_unix(self.socket.as_ref().expect("socket enabled")).await.expect("connect unix")
    }

    /// An authenticated client (role client).
    pub async fn client(&self) -> Client {
        let c = self.connect().await;
        c.call("session.auth", json!({ "token": self.token })).await.expect("auth");
        c
    }

    /// An authenticated client that claimed `agent_id`.
    pub async fn agent(&self, agent_id: &str) -> Client {
        let c = self.connect().await;
        c.call("session.auth", json!({ "token": self.token, "agent_id": agent_id })).await.expect("auth");
        c
    }

    /// An authenticated client with the host role.
    pub async fn host(&self) -> Client {
        let c = self.connect().await;
        c.call("session.auth", json!({ "host_token": self.host_token })).await.expect("host auth");
        c
    }

    /// Waits until the daemon holds exactly `n` sessions (cleanup runs after the socket ends);
    /// panics after 5 s.
    pub async fn wait_sessions(&self, n: usize) -> usize {
        let daemon = self.daemon.clone();
        eventually(&format!("{n} sessions"), Duration::from_secs(5), || {
            let daemon = daemon.clone();
            async move { daemon.session_count() == n }
        })
        .await;
        n
    }

    /// Clean shutdown (closes connections with 1001, removes runtime files).
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(3)).await;
        }
    }
}
