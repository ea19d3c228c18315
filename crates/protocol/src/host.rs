//! The host surface (PROTOCOL §8) and permissions (§9): agents roster, host events, approvals.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostAgent {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub status: AgentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub capabilities: Vec<String>,
    pub metadata: Map<String, Value>,
    pub session_id: String,
    pub registered_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Idle,
    Running,
    WaitingForApproval,
    Paused,
    Completed,
    Errored,
    Stopped,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegisterAgentParams {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SetStatusParams {
    pub agent_id: String,
    pub status: AgentStatus,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AgentIdParams {
    pub agent_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotifyParams {
    #[serde(default)]
    pub kind: Option<String>,
    pub message: String,
    #[serde(default)]
    pub payload: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventsParams {
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `host.event` (PROTOCOL §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEvent {
    pub id: String,
    pub sequence: u64,
    pub timestamp: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub message: String,
    pub payload: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Resolved,
}

/// `HostApprovalRequest` (PROTOCOL §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostApprovalRequest {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub client_id: String,
    pub action: String,
    pub details: Value,
    pub options: Vec<String>,
    pub status: ApprovalStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RequestApprovalParams {
    pub action: String,
    #[serde(default)]
    pub details: Option<Value>,
    #[serde(default)]
    pub options: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResolveApprovalParams {
    pub approval_id: String,
    pub resolution: String,
}

/// The two gated capabilities (PROTOCOL §9).
pub const CAPABILITIES: [&str; 2] = ["microphone", "transcripts"];

/// Gate resolutions.
pub const APPROVE_ONCE: &str = "approve_once";
pub const APPROVE_ALWAYS: &str = "approve_always";
pub const DENY: &str = "deny";
/// How a gate approval ends when nobody answers, or when the asking agent left.
pub const TIMEOUT: &str = "timeout";
pub const AGENT_GONE: &str = "agent_gone";

#[derive(Debug, Clone, Deserialize)]
pub struct RevokeParams {
    pub agent_id: String,
    pub capability: String,
}

/// `permissions.request {capability}` [Hark's own]: asks for a capability ahead of use.
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionRequestParams {
    pub capability: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub agent_id: String,
    pub capability: String,
    pub granted_at: String,
}

/// `host.events`' result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsResult {
    pub events: Vec<HostEvent>,
}

/// `host.agents`' result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentsResult {
    pub agents: Vec<HostAgent>,
}

/// `host.approvals`' result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalsResult {
    pub approvals: Vec<HostApprovalRequest>,
}

/// `host.unregister_agent`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedResult {
    pub removed: bool,
}

/// `host.notify`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyResult {
    pub event_id: String,
}

/// `permissions.list`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantsResult {
    pub grants: Vec<Grant>,
}

/// `permissions.revoke`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeResult {
    pub revoked: bool,
}

/// `permissions.request`'s result: `grant` says why it was let through (`host`, `standing`,
/// `once`, `always`, `policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionResult {
    pub capability: String,
    pub granted: bool,
    pub grant: String,
}

/// `host.subscribe`'s snapshot (PROTOCOL §8); `host.event` pushes follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribeResult {
    pub agents: Vec<HostAgent>,
    pub approvals: Vec<HostApprovalRequest>,
    pub meetings_active: Vec<crate::meeting::MeetingMetadata>,
    /// The last 50 host events, oldest first.
    pub events: Vec<HostEvent>,
}
