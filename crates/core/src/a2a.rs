//! Forwarding a renderer's action to an A2A-owned surface's agent (PROTOCOL §12): one A2A
//! `message/send` JSON-RPC request, POSTed to the surface's endpoint with its route auth.
//! Blocking (ureq): callers run it on a blocking thread.
//!
//! The message carries one data part, the A2UI v0.9 client message `{"version":"v0.9",
//! "action": {...}}`, marked `metadata.mimeType = "application/json+a2ui"`. Redirects are not
//! followed (they could carry the auth header elsewhere). What the endpoint answers beyond its
//! HTTP status is not read: A2A agents answer `message/send` with a task or a message that is
//! theirs to act on. Errors name the HTTP status or the transport failure, never the auth.

use std::time::Duration;

use serde_json::{Value, json};

use crate::a2ui::A2aRoute;

/// The JSON-RPC body of the `message/send` for one A2UI client message.
pub fn message_send_body(client_message: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": format!("hark-{}", crate::mint_id()),
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": format!("hark-{}", crate::mint_id()),
                "role": "user",
                "parts": [{
                    "kind": "data",
                    "data": client_message,
                    "metadata": { "mimeType": "application/json+a2ui" },
                }],
            },
        },
    })
}

/// POSTs the action; Ok once the endpoint answered 2xx within `deadline`.
pub fn send_action(route: &A2aRoute, client_message: &Value, deadline: Duration) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new().timeout(deadline).redirects(0).build();
    let mut request = agent.post(&route.endpoint).set("Content-Type", "application/json");
    if let Some((name, value)) = route.auth.header() {
        request = request.set(&name, &value);
    }
    match request.send_string(&message_send_body(client_message).to_string()) {
        Ok(response) if (200..300).contains(&response.status()) => Ok(()),
        Ok(response) => Err(format!("HTTP {}", response.status())),
        Err(ureq::Error::Status(status, _)) => Err(format!("HTTP {status}")),
        Err(ureq::Error::Transport(t)) => Err(t.kind().to_string()),
    }
}
