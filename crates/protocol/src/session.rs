//! Session methods (PROTOCOL §4): auth, handshake, server info, session.init, tools and policies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `session.auth` params: `{token}`, `{token, agent_id}` or `{host_token}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthParams {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub host_token: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Host,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthResult {
    pub ok: bool,
    pub auth_enabled: bool,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The server-minted id of this connection (names its journal). [Hark's own, additive]
    pub session_id: String,
}

/// `server.handshake` params. `protocol_version` is kept raw so a missing or non-integer value
/// gets -32006 (not a generic -32602).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HandshakeParams {
    #[serde(default)]
    pub protocol_version: Option<Value>,
    #[serde(default)]
    pub client_version: Option<String>,
    #[serde(default)]
    pub required_capabilities: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandshakeResult {
    pub protocol_version: u32,
    pub server_version: String,
    pub client_protocol_version: u32,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: Option<String>,
    pub loaded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    pub server_version: String,
    pub protocol_version: u32,
    pub uptime_ms: u64,
    /// Open WebSocket connections, the caller's included.
    pub connections: usize,
    /// Authenticated sessions, the caller's included. [Hark's own, additive]
    pub sessions: usize,
    pub capabilities: Vec<String>,
    pub limits: Limits,
    pub model: ModelInfo,
    pub auth_enabled: bool,
}

/// The transport limits in force (PROTOCOL §2.5, §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_binary_frame_bytes: usize,
    pub max_connections: usize,
    pub outbound_queue: usize,
    pub outbound_bytes: usize,
    pub max_inflight_requests: usize,
    pub ping_interval_ms: u64,
    pub idle_timeout_ms: u64,
    pub slow_consumer_ms: u64,
}

/// `ToolDefinition`: CAR's ToolSchema subset. Unknown fields are ignored, as CAR does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// CAR's built-in policy rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyRule {
    /// Deny every call of the tool named `target`.
    DenyTool,
    /// Deny calls of tool `target` whose parameter `key` contains `pattern` (or equals `value`).
    DenyToolParam,
    /// Deny every action unless state `key` exists (and equals `value` when given).
    RequireState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDefinition {
    pub name: String,
    pub rule: PolicyRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SessionInitParams {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub tools: Vec<ToolDefinition>,
    #[serde(default)]
    pub policies: Vec<PolicyDefinition>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInitResult {
    pub session_id: String,
    pub tools_registered: usize,
    pub policies_registered: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NameParams {
    pub name: String,
}
