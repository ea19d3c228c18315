//! Chat with an agent (PROTOCOL §13): `agents.chat`, the agent's `agent.chat.event` stream, its
//! forwarded form `agents.chat.event`, `agents.chat.cancel`, and the persistent history
//! `agents.chat.history`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `agents.chat` (host → daemon).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatParams {
    pub agent_id: String,
    pub prompt: String,
    /// An earlier session to continue, or a new id the host chose; minted when absent.
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatResult {
    pub accepted: bool,
    pub session_id: String,
}

/// What an agent may stream for a chat session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatEventKind {
    Token,
    ToolCall,
    Done,
    Error,
}

impl ChatEventKind {
    /// `done` and `error` end the route.
    pub fn is_terminal(self) -> bool {
        matches!(self, ChatEventKind::Done | ChatEventKind::Error)
    }
}

/// `agent.chat.event` (agent → daemon). A `tool_call` event's other fields (its name, its
/// arguments, whatever the agent sends) are kept as they came in `extra`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatEventParams {
    pub session_id: String,
    pub kind: ChatEventKind,
    #[serde(default)]
    pub delta: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// `agents.chat.event` (daemon → host): the agent's event with its `agent_id`.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardedChatEvent<'a> {
    pub agent_id: &'a str,
    pub session_id: &'a str,
    pub kind: ChatEventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(flatten)]
    pub extra: &'a serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionIdParams {
    pub session_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CancelResult {
    pub cancelled: bool,
}

/// `agents.chat.history` (host only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    /// Sessions returned (newest first); default 20, at most 200.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// The person, through the host: the prompt.
    User,
    /// The agent: its joined `token` deltas (or its final `text`), tool calls, error.
    Agent,
}

/// One stored turn of a chat session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatTurn {
    pub role: ChatRole,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How an agent turn ended when it did not end with `done`: `error`, `refused`, `timeout`,
    /// `cancelled`, `agent_disconnected`, `host_disconnected`, `idle_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// The reply was longer than the daemon keeps; `text` holds its start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatSession {
    pub session_id: String,
    pub agent_id: String,
    pub started_at: String,
    pub last_active_at: String,
    /// True while a route is open for it (the agent is answering).
    pub active: bool,
    pub turns: Vec<ChatTurn>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryResult {
    pub sessions: Vec<ChatSession>,
}
