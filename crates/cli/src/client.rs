//! A small sequential JSON-RPC client over the daemon's WebSocket, for CLI commands that make a
//! few calls and exit. Notifications that arrive meanwhile are kept for [`Client::notification`].

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub struct Client {
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    next_id: u64,
    /// Notifications that arrived while a call waited for its reply, oldest first.
    pending: std::collections::VecDeque<Value>,
}

impl Client {
    /// Connects to `ws://127.0.0.1:<port>/`.
    pub async fn connect(ws_url: &str) -> anyhow::Result<Self> {
        let authority = ws_url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .with_context(|| format!("not a ws:// URL: {ws_url}"))?;
        let tcp = tokio::net::TcpStream::connect(authority).await.with_context(|| {
            format!("cannot connect to the daemon at {ws_url} (is `hark serve` running?)")
        })?;
        let (ws, _) =
            tokio_tungstenite::client_async(ws_url, tcp).await.context("WebSocket upgrade failed")?;
        Ok(Client { ws, next_id: 1, pending: Default::default() })
    }

    pub async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.ws.send(Message::text(request.to_string())).await?;
        while let Some(message) = self.ws.next().await {
            let Message::Text(text) = message? else { continue };
            let reply: Value = serde_json::from_str(text.as_str())?;
            if reply.get("id").is_none() && reply.get("method").is_some() {
                if self.pending.len() < 10_000 {
                    self.pending.push_back(reply);
                }
                continue;
            }
            if reply.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("{method} failed: {} ({})", error["message"].as_str().unwrap_or("?"), error["code"]);
            }
            return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
        }
        bail!("the daemon closed the connection")
    }

    /// The next notification (`{method, params}`); `None` when the daemon closed the connection.
    pub async fn notification(&mut self) -> anyhow::Result<Option<Value>> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(Some(n));
        }
        while let Some(message) = self.ws.next().await {
            let Message::Text(text) = message? else { continue };
            let n: Value = serde_json::from_str(text.as_str())?;
            if n.get("id").is_none() && n.get("method").is_some() {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}
