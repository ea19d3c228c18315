//! Listeners and the accept path: TCP on loopback and the Unix socket go through ONE code path
//! (`accept_one`): connection slot, upgrade with the door checks and the size limits, then
//! [`connection::serve`](crate::connection::serve).

pub mod upgrade;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Transport};
use crate::daemon::Daemon;

/// The sockets the daemon serves; bound by the caller so tests can use port 0.
#[derive(Debug)]
pub struct Listeners {
    pub tcp: TcpListener,
    #[cfg(unix)]
    pub unix: Option<(tokio::net::UnixListener, PathBuf)>,
}

impl Listeners {
    /// Binds `listen:port` and, when `socket` is set, `socket` (0600, inside the 0700 runtime dir).
    pub async fn bind(listen: std::net::IpAddr, port: u16, socket: Option<PathBuf>) -> std::io::Result<Self> {
        let tcp = TcpListener::bind((listen, port)).await?;
        #[cfg(unix)]
        {
            let unix = match socket {
                Some(path) => {
                    let listener = tokio::net::UnixListener::bind(&path)?;
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                    Some((listener, path))
                }
                None => None,
            };
            Ok(Listeners { tcp, unix })
        }
        #[cfg(not(unix))]
        {
            let _ = socket;
            Ok(Listeners { tcp })
        }
    }

    pub fn local_port(&self) -> u16 {
        self.tcp.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

/// Accepts until `shutdown` fires; every connection task is tracked by `tracker`.
pub async fn accept_loop(
    daemon: Arc<Daemon>,
    listeners: Listeners,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let tcp = {
        let (daemon, tracker, shutdown) = (daemon.clone(), tracker.clone(), shutdown.clone());
        async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    accepted = listeners.tcp.accept() => match accepted {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            tracker.spawn(accept_one(daemon.clone(), stream, Transport::Tcp));
                        }
                        Err(e) => accept_error(e).await,
                    },
                }
            }
        }
    };
    #[cfg(unix)]
    let unix = async move {
        let Some((listener, _path)) = listeners.unix else { return };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tracker.spawn(accept_one(daemon.clone(), stream, Transport::Unix));
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        }
    };
    #[cfg(not(unix))]
    let unix = async move {
        let _ = (tracker, shutdown, daemon);
    };
    tokio::join!(tcp, unix);
}

/// The WebSocket settings of every connection. The read buffer is 16 KiB, not tungstenite's
/// 128 KiB default: tungstenite zero-fills its whole read buffer before every read poll, which
/// cost Hark ~5 µs per round trip (BENCHMARKS.md); a 256 KiB binary frame then takes 16 reads.
pub fn websocket_config(limits: &crate::config::TransportLimits) -> WebSocketConfig {
    let max = limits.max_message_bytes.max(limits.max_binary_frame_bytes);
    WebSocketConfig::default()
        .read_buffer_size(16 << 10)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Out of file descriptors and the like: log and back off instead of spinning.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Holds one connection slot for as long as the socket is open.
struct Slot(Arc<Daemon>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn accept_one<S>(daemon: Arc<Daemon>, stream: S, transport: Transport)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let open = daemon.open_connections.fetch_add(1, Ordering::AcqRel) + 1;
    let _slot = Slot(daemon.clone());
    // Until it authenticates, a connection also holds one of the few unauthenticated slots:
    // sockets that never authenticate cannot take every slot from real agents.
    let unauthenticated = daemon.unauthenticated.fetch_add(1, Ordering::AcqRel) + 1;
    let limits = &daemon.config.limits;
    let over_limit = open > limits.max_connections || unauthenticated > limits.max_unauthenticated;
    let config = websocket_config(limits);
    let allowed = daemon.config.allowed_origins.clone();
    #[allow(clippy::result_large_err)] // tungstenite's callback contract
    let callback = move |req: &upgrade::RequestRef, resp| upgrade::check(req, resp, &allowed, over_limit);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    match tokio::time::timeout(Duration::from_secs(10), handshake).await {
        // The connection gives the unauthenticated slot back when it authenticates or ends.
        Ok(Ok(ws)) => return connection::serve(daemon.clone(), ws, transport).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "upgrade failed"),
        Err(_) => tracing::debug!("upgrade timed out"),
    }
    daemon.unauthenticated.fetch_sub(1, Ordering::AcqRel);
}
