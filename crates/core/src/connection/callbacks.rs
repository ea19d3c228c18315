//! Daemon -> client calls on one connection (`tools.execute`, `agent.chat`): ids `cb-<n>`, the pending map,
//! and the [`ToolInvoker`] the proposal engine uses. A reply with an unknown id is ignored; when
//! the connection goes, every pending call fails at once with "callback channel closed".

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hark_protocol::RpcError;
use hark_protocol::jsonrpc::{self, Id};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::Connection;
use crate::proposal::{ToolCall, ToolError, ToolInvoker};

type Reply = Result<Value, RpcError>;

#[derive(Debug, Default)]
pub struct Callbacks {
    next: AtomicU64,
    /// `None` once the connection is gone: new calls fail at once.
    pending: Mutex<Option<HashMap<String, oneshot::Sender<Reply>>>>,
}

impl Callbacks {
    pub fn new() -> Self {
        Callbacks { next: AtomicU64::new(1), pending: Mutex::new(Some(HashMap::new())) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, oneshot::Sender<Reply>>>> {
        crate::lock(&self.pending)
    }

    /// Reserves a callback id; `None` when the connection is closed.
    pub fn register(&self) -> Option<(String, oneshot::Receiver<Reply>)> {
        let id = format!("cb-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.lock().as_mut()?.insert(id.clone(), tx);
        Some((id, rx))
    }

    pub fn forget(&self, id: &str) {
        if let Some(map) = self.lock().as_mut() {
            map.remove(id);
        }
    }

    /// Routes a client's reply; unknown ids are ignored (returns false).
    pub fn resolve(&self, id: &Id, reply: Reply) -> bool {
        let Some(key) = id.as_str() else { return false };
        let sender = self.lock().as_mut().and_then(|map| map.remove(&*key));
        match sender {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    /// Fails every pending call (their receivers see the sender dropped).
    pub fn close_all(&self) {
        self.lock().take();
    }

    pub fn pending(&self) -> usize {
        self.lock().as_ref().map_or(0, HashMap::len)
    }
}

/// How a daemon -> client call ended without a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// The connection is gone (or went while waiting).
    Closed,
    /// No reply within the deadline; the pending entry is forgotten, a late reply is ignored.
    TimedOut,
}

impl Connection {
    /// Calls `method` on this client and waits up to `wait` for its reply (`agent.chat`). The
    /// client's own error object comes back as `Ok(Err(..))`.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        wait: std::time::Duration,
    ) -> Result<Reply, CallFailure> {
        let Some((cb_id, rx)) = self.callbacks.register() else {
            return Err(CallFailure::Closed);
        };
        self.send(&jsonrpc::request(&Id::str(cb_id.clone()), method, params));
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_closed)) => Err(CallFailure::Closed),
            Err(_elapsed) => {
                self.callbacks.forget(&cb_id);
                Err(CallFailure::TimedOut)
            }
        }
    }
}

/// Sends `tools.execute` to the connection that submitted the proposal and waits for its reply.
pub struct ConnectionInvoker<'a> {
    pub conn: &'a Connection,
}

impl ToolInvoker for ConnectionInvoker<'_> {
    async fn invoke(&self, call: ToolCall) -> Result<Value, ToolError> {
        let conn = self.conn;
        let Some((cb_id, rx)) = conn.callbacks.register() else {
            return Err(ToolError::ChannelClosed);
        };
        let request_id = format!("req-{}", crate::mint_id());
        let params = json!({
            "action_id": call.action_id,
            "tool": call.tool,
            "parameters": call.parameters,
            "timeout_ms": call.timeout_ms,
            "attempt": call.attempt,
            "request_id": request_id,
            "session_id": conn.session_id,
        });
        conn.send(&jsonrpc::request(&Id::str(cb_id.clone()), "tools.execute", params));
        match tokio::time::timeout(call.wait, rx).await {
            Ok(Ok(Ok(output))) => Ok(output),
            Ok(Ok(Err(error))) => Err(ToolError::Failed(error.message)),
            Ok(Err(_closed)) => Err(ToolError::ChannelClosed),
            Err(_elapsed) => {
                conn.callbacks.forget(&cb_id);
                conn.send(&jsonrpc::notification(
                    "tools.cancel",
                    json!({ "request_id": request_id, "action_id": call.action_id, "reason": "timeout" }),
                ));
                Err(ToolError::TimedOut(call.wait))
            }
        }
    }
}
