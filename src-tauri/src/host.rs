//! The shell's one connection to the daemon: a host client over loopback WebSocket, the role the
//! window and the CLI have (`session.auth` with the host token). One reader task routes replies
//! to their calls by id and hands every notification to the controller, in the order the daemon
//! sent them; one writer task sends. When the connection ends, pending calls fail with
//! [`CallError::Closed`] and the notification stream ends (`None`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::link::Link;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The daemon answered with a JSON-RPC error.
    #[error("{message} ({code})")]
    Rpc { code: i64, message: String },
    #[error("cannot connect to the daemon at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the connection to the daemon closed")]
    Closed,
    #[error("the daemon did not answer {method} within {} s", after.as_secs())]
    Timeout { method: String, after: Duration },
}

impl CallError {
    /// JSON-RPC "method not found": a daemon older than the method.
    pub fn is_method_not_found(&self) -> bool {
        matches!(self, CallError::Rpc { code: -32601, .. })
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, CallError>>>>>;

/// A connected, authenticated host client. Dropping it closes the connection.
pub struct HostClient {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    tasks: [tokio::task::AbortHandle; 2],
}

impl std::fmt::Debug for HostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostClient").finish_non_exhaustive()
    }
}

impl Drop for HostClient {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// How long a call may wait for its reply by default; `meeting.stop` waits for the last
/// segment's transcription and gets [`HostClient::call_with`]'s longer wait.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl HostClient {
    /// Connects to `link`, authenticates as the host and names the connection `client_id` (the
    /// daemon shows it as who started a meeting). Returns the client and its notifications.
    pub async fn connect(
        link: &Link,
        client_id: &str,
    ) -> Result<(HostClient, mpsc::UnboundedReceiver<Value>), CallError> {
        let connect_error = |reason: String| CallError::Connect { url: link.ws_url.clone(), reason };
        let authority = link
            .ws_url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| connect_error("not a ws:// URL".into()))?;
        let tcp =
            tokio::net::TcpStream::connect(authority).await.map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let (ws, _) = tokio_tungstenite::client_async(link.ws_url.as_str(), tcp)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let (notify, notifications) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let routes = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                match frame {
                    Message::Text(text) => {
                        let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                        route(&routes, &notify, value);
                    }
                    Message::Close(_) => break,
                    _ => {} // pings are answered by tungstenite as it reads
                }
            }
            crate::lock(&routes).clear(); // pending calls see Closed; `notify` drops: the stream ends
        });
        let client = HostClient {
            out,
            pending,
            next_id: AtomicU64::new(1),
            tasks: [writer.abort_handle(), reader.abort_handle()],
        };
        // Under `--no-auth` any host_token value gives the host role (docs/API.md §2).
        let token = link.host_token.as_deref().unwrap_or("no-auth");
        client.call("session.auth", json!({ "host_token": token })).await?;
        client.call("session.init", json!({ "client_id": client_id })).await?;
        Ok((client, notifications))
    }

    pub async fn call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        self.call_with(method, params, CALL_TIMEOUT).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        crate::lock(&self.pending).insert(id, tx);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        if self.out.send(Message::text(request.to_string())).is_err() {
            crate::lock(&self.pending).remove(&id);
            return Err(CallError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError::Closed),
            Err(_) => {
                crate::lock(&self.pending).remove(&id);
                Err(CallError::Timeout { method: method.to_string(), after: timeout })
            }
        }
    }
}

/// A reply goes to its call; a notification (a `method` without an `id`) to the controller.
fn route(pending: &Pending, notify: &mpsc::UnboundedSender<Value>, value: Value) {
    match (value.get("id").and_then(Value::as_u64), value.get("method")) {
        (Some(id), None) => {
            let Some(tx) = crate::lock(pending).remove(&id) else { return };
            let result = match value.get("error") {
                Some(error) => Err(CallError::Rpc {
                    code: error["code"].as_i64().unwrap_or(0),
                    message: error["message"].as_str().unwrap_or("error").to_string(),
                }),
                None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = tx.send(result);
        }
        (None, Some(_)) if value.get("id").is_none() => {
            let _ = notify.send(value);
        }
        _ => {} // the daemon calls a host back for nothing (tools.execute goes to proposers)
    }
}
