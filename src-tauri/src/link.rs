//! Which daemon the app talks to. At launch the app starts its own, in this process, with the
//! configuration `hark serve` would use on the same data dir (`hark_cli::serve::default_config`).
//! One daemon per data dir still holds: when one already runs there (`hark serve`, `hark record`,
//! another copy of the app on a desktop without D-Bus), starting fails on the data-dir lock, and
//! the app uses that daemon instead, found through its discovery file and host token file, as
//! `hark status` finds it. GUI-free: the controller calls this, tests call it directly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hark_core::paths::RuntimePaths;
use hark_core::runtime_files::{Discovery, RuntimeFilesError, read_discovery};
use hark_core::{DaemonConfig, RunningDaemon, StartError};
use tokio_util::sync::CancellationToken;

/// Where a daemon answers, and the token that makes a connection the person's (the host role).
/// Serialized only to the app's own window process (`window::ToWindow`), over a pipe.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// `ws://127.0.0.1:<port>/`: the discovery file's `ws_url`.
    pub ws_url: String,
    /// `None` when the daemon runs without authentication (`hark serve --no-auth`).
    pub host_token: Option<String>,
    /// The daemon's process: this one for the app's own daemon.
    pub pid: u32,
    /// Whether this app started it (false: another process's daemon that the app uses).
    pub own: bool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("ws_url", &self.ws_url)
            .field("pid", &self.pid)
            .field("own", &self.own)
            .finish_non_exhaustive() // never the token
    }
}

impl Link {
    /// `ws://127.0.0.1:<port>`: what the window connects to (the `daemon_connection` command).
    pub fn url(&self) -> &str {
        self.ws_url.trim_end_matches('/')
    }
}

/// A daemon the app can talk to; `own` holds it when this process runs it.
#[derive(Debug)]
pub struct Linked {
    pub link: Link,
    pub own: Option<RunningDaemon>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the Hark daemon could not start: {0}")]
    Start(#[source] StartError),
    #[error(
        "a Hark daemon holds {what} {} but wrote no discovery file at {} within {} s",
        dir.display(), path.display(), waited.as_secs()
    )]
    NoDiscovery { what: &'static str, dir: PathBuf, path: PathBuf, waited: Duration },
    #[error(
        "the Hark daemon running on {} serves another data dir ({}): give the app its own HARK_RUNTIME_DIR",
        runtime_dir.display(), theirs.display()
    )]
    OtherDataDir { runtime_dir: PathBuf, theirs: PathBuf },
    #[error("cannot read the daemon's host token {}: {source}", path.display())]
    Token { path: PathBuf, source: std::io::Error },
    #[error("the daemon's start ended abruptly: {0}")]
    Task(String),
}

/// Starts the daemon `config` describes in this process, or, when the data dir (or runtime dir)
/// already has one, links to that one: waits up to `wait` for its discovery file (it writes the
/// file once it accepts connections) and reads its host token.
pub async fn start_or_adopt(config: DaemonConfig, wait: Duration) -> Result<Linked, LinkError> {
    let paths = RuntimePaths::new(config.runtime_dir.clone());
    let data_dir = config.data_dir.clone();
    match hark_core::start(config, CancellationToken::new()).await {
        Ok(running) => {
            let link = Link {
                ws_url: running.discovery.ws_url.clone(),
                host_token: running.daemon.tokens.as_ref().map(|t| t.host.clone()),
                pid: running.discovery.pid,
                own: true,
            };
            Ok(Linked { link, own: Some(running) })
        }
        Err(StartError::Files(RuntimeFilesError::AlreadyRunning { what, path: dir, .. })) => {
            let discovery = wait_for_discovery(&paths.discovery(), wait)
                .await
                .ok_or_else(|| LinkError::NoDiscovery { what, dir, path: paths.discovery(), waited: wait })?;
            if !same_dir(&discovery.data_dir, &data_dir) {
                return Err(LinkError::OtherDataDir {
                    runtime_dir: paths.dir.clone(),
                    theirs: discovery.data_dir,
                });
            }
            let host_token = match &discovery.host_token_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|source| LinkError::Token { path: path.clone(), source })?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            let link = Link { ws_url: discovery.ws_url, host_token, pid: discovery.pid, own: false };
            Ok(Linked { link, own: None })
        }
        Err(e) => Err(LinkError::Start(e)),
    }
}

/// The discovery file, once it exists and parses (re-read every 50 ms until `wait` is over).
async fn wait_for_discovery(path: &Path, wait: Duration) -> Option<Discovery> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(d) = read_discovery(path) {
            return Some(d);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}
