//! Who is calling, and where their messages go: the seam between the daemon's domains (voice,
//! meetings, the host surface, the permission gate) and whatever carries a request.
//!
//! A [`Caller`] is the identity of a request (session id, role, agent and client ids) plus an
//! [`Outbox`] for the notifications the domain sends back. A WebSocket connection makes one from
//! its state for every request (`Connection::caller`); the desktop tray will make one with an
//! in-process outbox and call the same operations. Domain state keeps `Caller`s (or just their
//! outboxes), never a `Connection`, so no domain can reach into a socket's read loop, callbacks
//! or runtime. What a departed caller owned is released through [`OwnedBySession`], one hook per
//! domain, called by the daemon's one cleanup path.

use std::sync::Arc;

use hark_protocol::session::Role;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::connection::outbound::{Outbound, Pushed};

/// Where a caller's notifications go, in order. Pushing never waits (a slow client never slows
/// the daemon): see `connection::outbound`.
pub trait Outbox: Send + Sync {
    fn push_text(&self, text: String) -> Pushed;
    /// A message a newer one with the same key may replace while the caller is behind (voice
    /// `partial`s; finals never are).
    fn push_coalescable(&self, key: String, text: String) -> Pushed;
}

impl Outbox for Outbound {
    fn push_text(&self, text: String) -> Pushed {
        Outbound::push_text(self, text)
    }
    fn push_coalescable(&self, key: String, text: String) -> Pushed {
        Outbound::push_coalescable(self, key, text)
    }
}

/// The caller of one request: a snapshot of the connection's identity, and its outbox.
#[derive(Clone)]
pub struct Caller {
    /// Server-minted, unique per connection (or in-process caller): what ownership is keyed by.
    pub session_id: String,
    pub role: Role,
    pub agent_id: Option<String>,
    pub client_id: Option<String>,
    pub outbox: Arc<dyn Outbox>,
    /// Cancelled when the caller is gone (its connection ended, or the daemon stops).
    pub gone: CancellationToken,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("session_id", &self.session_id).field("role", &self.role).finish()
    }
}

impl Caller {
    pub fn is_host(&self) -> bool {
        self.role == Role::Host
    }

    /// Queues one JSON message for the caller.
    pub fn send(&self, message: &Value) -> Pushed {
        self.outbox.push_text(message.to_string())
    }

    /// How the caller is named to the person: its agent id, else its client id, else its session.
    pub fn display_name(&self) -> String {
        self.agent_id.clone().or_else(|| self.client_id.clone()).unwrap_or_else(|| self.session_id.clone())
    }
}

/// A domain that keeps things on behalf of a session: the daemon's cleanup path calls
/// `release_session` exactly once when that session is gone, for every registered domain.
pub trait OwnedBySession: Send + Sync {
    fn release_session(&self, session_id: &str);
}
