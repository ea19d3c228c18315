//! A concurrent JSON-RPC client over WebSocket (TCP or Unix socket). One reader task routes
//! replies to their calls by id and everything else (notifications, daemon->client requests)
//! to [`Client::next_message`]; so a test can serve `tools.execute` callbacks while its own
//! `proposal.submit` is pending.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub use hark_protocol::RpcError;

#[derive(Debug)]
pub enum ClientError {
    Rpc(RpcError),
    Closed,
    Timeout,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Rpc(e) => write!(f, "{e}"),
            ClientError::Closed => f.write_str("connection closed"),
            ClientError::Timeout => f.write_str("timed out"),
        }
    }
}

impl ClientError {
    /// The JSON-RPC error code, or panics with what happened instead.
    pub fn code(&self) -> i64 {
        match self {
            ClientError::Rpc(e) => e.code,
            other => panic!("expected a JSON-RPC error, got {other}"),
        }
    }
}

/// How the connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// The close frame's code, `None` when the socket ended without one.
    pub code: Option<u16>,
    pub reason: String,
}

type Writer =
    Box<dyn futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Send + Unpin>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

pub struct Client {
    writer: tokio::sync::Mutex<Writer>,
    pending: Pending,
    next_id: AtomicU64,
    messages: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    closed: watch::Receiver<Option<Closed>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    pub async fn connect_tcp(url: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        Self::connect_tcp_with(url, &[]).await
    }

    /// Connects with extra upgrade headers (e.g. `Origin`, a forged `Host`).
    pub async fn connect_tcp_with(
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let authority = url.trim_start_matches("ws://").split('/').next().unwrap_or_default().to_string();
        let tcp = tokio::net::TcpStream::connect(authority).await?;
        tcp.set_nodelay(true)?;
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("header name"),
                value.parse().expect("header value"),
            );
        }
        let (ws, _) = tokio_tungstenite::client_async(request, tcp).await?;
        Ok(Self::from_stream(ws))
    }

    pub async fn connect_unix(path: &Path) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        let (ws, _) = tokio_tungstenite::client_async("ws://localhost/", stream).await?;
        Ok(Self::from_stream(ws))
    }

    fn from_stream<S>(ws: WebSocketStream<S>) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, mut stream) = ws.split();
        let sink: SplitSink<WebSocketStream<S>, Message> = sink;
        let pending: Pending = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let (closed_tx, closed_rx) = watch::channel(None);
        let routes = pending.clone();
        let reader = tokio::spawn(async move {
            let mut end = Closed { code: None, reason: String::new() };
            while let Some(frame) = stream.next().await {
                match frame {
                    Ok(Message::Text(text)) => {
                        let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                        route(&routes, &tx, value);
                    }
                    Ok(Message::Close(frame)) => {
                        if let Some(f) = frame {
                            end = Closed { code: Some(u16::from(f.code)), reason: f.reason.to_string() };
                        }
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            routes.lock().unwrap().clear(); // pending calls see Closed
            let _ = closed_tx.send(Some(end));
        });
        Client {
            writer: tokio::sync::Mutex::new(Box::new(sink)),
            pending,
            next_id: AtomicU64::new(1),
            messages: tokio::sync::Mutex::new(rx),
            closed: closed_rx,
            reader,
        }
    }

    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), ClientError> {
        self.writer.lock().await.send(Message::text(text.into())).await.map_err(|_| ClientError::Closed)
    }

    pub async fn send_json(&self, value: &Value) -> Result<(), ClientError> {
        self.send_text(value.to_string()).await
    }

    pub async fn send_binary(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.writer.lock().await.send(Message::binary(bytes)).await.map_err(|_| ClientError::Closed)
    }

    /// Calls `method` and returns its result or its error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.call_timeout(method, params, DEFAULT_TIMEOUT).await
    }

    pub async fn call_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.to_string(), tx);
        self.send_json(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })).await?;
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => return Err(ClientError::Closed),
            Err(_) => {
                self.pending.lock().unwrap().remove(&id.to_string());
                return Err(ClientError::Timeout);
            }
        };
        match reply.get("error") {
            Some(e) => Err(ClientError::Rpc(serde_json::from_value(e.clone()).expect("error object"))),
            None => Ok(reply["result"].clone()),
        }
    }

    /// The next notification or daemon->client request.
    pub async fn next_message(&self, timeout: Duration) -> Option<Value> {
        let mut rx = self.messages.lock().await;
        tokio::time::timeout(timeout, rx.recv()).await.ok().flatten()
    }

    /// The next message whose `method` is `method` (others are skipped).
    pub async fn next_method(&self, method: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next_message(left).await?;
            if msg["method"] == method {
                return Some(msg);
            }
        }
    }

    /// Answers a daemon->client request.
    pub async fn reply(&self, id: &Value, result: Value) -> Result<(), ClientError> {
        self.send_json(&json!({ "jsonrpc": "2.0", "id": id, "result": result })).await
    }

    pub async fn reply_error(&self, id: &Value, code: i64, message: &str) -> Result<(), ClientError> {
        self.send_json(&json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }))
            .await
    }

    /// Waits until the daemon ends the connection; returns how.
    pub async fn closed(&self, timeout: Duration) -> Option<Closed> {
        let mut rx = self.closed.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        waited.ok().and_then(|r| r.ok().and_then(|v| v.clone()))
    }

    /// Sends a close frame (a polite goodbye).
    pub async fn close(&self) {
        let _ = self.writer.lock().await.close().await;
    }
}

fn route(pending: &Pending, messages: &mpsc::UnboundedSender<Value>, value: Value) {
    if let Value::Array(items) = &value {
        // A batch reply: deliver as one message to whoever asked for the batch's first id, and
        // also as a plain message for tests that read batches with `next_message`.
        let _ = messages.send(Value::Array(items.clone()));
        return;
    }
    let is_reply =
        value.get("method").is_none() && (value.get("result").is_some() || value.get("error").is_some());
    if is_reply {
        let key = match &value["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if let Some(tx) = pending.lock().unwrap().remove(&key) {
            let _ = tx.send(value);
            return;
        }
    }
    let _ = messages.send(value);
}
