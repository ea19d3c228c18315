//! The host surface's methods (PROTOCOL §8). The state and its ACL live in [`crate::host`].

use hark_protocol::RpcError;
use hark_protocol::host::{
    AgentIdParams, AgentsResult, ApprovalsResult, EventsParams, EventsResult, NotifyParams, NotifyResult,
    RegisterAgentParams, RemovedResult, RequestApprovalParams, ResolveApprovalParams, SetStatusParams,
};
use serde_json::{Value, json};

use super::{Reply, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;
use crate::host::EVENT_RING;

pub fn require_host(conn: &Caller) -> Result<(), RpcError> {
    if conn.is_host() {
        Ok(())
    } else {
        Err(RpcError::forbidden("forbidden: host role needed (authenticate with the host token)"))
    }
}

pub fn subscribe(daemon: &Daemon, conn: &Caller) -> Result<Reply, RpcError> {
    require_host(conn)?;
    reply(&daemon.host.subscribe(conn, daemon.meetings.active_list()))
}

pub fn events(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    let EventsParams { limit } = parse(params)?;
    reply(&EventsResult { events: daemon.host.events(limit.unwrap_or(EVENT_RING).min(EVENT_RING)) })
}

pub fn agents(daemon: &Daemon, conn: &Caller) -> Result<Reply, RpcError> {
    reply(&AgentsResult { agents: daemon.host.agents(conn) })
}

pub fn approvals(daemon: &Daemon, conn: &Caller) -> Result<Reply, RpcError> {
    reply(&ApprovalsResult { approvals: daemon.host.approvals(conn) })
}

/// Bounds on what enters the host state and its event ring (every subscriber gets a copy).
const MAX_PAYLOAD_BYTES: usize = 16 << 10;
const MAX_SHORT: usize = 256;

fn check_size(field: &str, value: &impl serde::Serialize, max: usize) -> Result<(), RpcError> {
    if super::tools::json_size(value) > max {
        return Err(RpcError::invalid_params(field, format!("at most {} KiB", max >> 10)));
    }
    Ok(())
}

pub fn register_agent(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let mut params: RegisterAgentParams = parse(params)?;
    check_size("metadata", &params.metadata, MAX_PAYLOAD_BYTES)?;
    check_size("capabilities", &params.capabilities, 4 << 10)?;
    if params.name.len() > MAX_SHORT || params.kind.as_ref().is_some_and(|k| k.len() > MAX_SHORT) {
        return Err(RpcError::invalid_params("name", "name and kind of at most 256 bytes"));
    }
    // The roster id defaults to the connection's agent id; an id another live connection
    // claimed with session.auth is that connection's alone.
    let id = params
        .id
        .clone()
        .or_else(|| conn.agent_id.clone())
        .unwrap_or_else(|| format!("agent-{}", crate::mint_id()));
    if daemon.agent_claimed_by_other(&id, &conn.session_id) {
        return Err(RpcError::conflict(format!("agent id {id} belongs to another connection")));
    }
    params.id = Some(id);
    reply(&daemon.host.register_agent(conn, params)?)
}

pub fn set_status(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: SetStatusParams = parse(params)?;
    reply(&daemon.host.set_status(conn, params)?)
}

pub fn unregister_agent(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let AgentIdParams { agent_id } = parse(params)?;
    reply(&RemovedResult { removed: daemon.host.unregister_agent(conn, &agent_id)? })
}

pub fn notify(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: NotifyParams = parse(params)?;
    if params.message.len() > 4096 {
        return Err(RpcError::invalid_params("message", "at most 4096 bytes"));
    }
    check_size("payload", &params.payload, MAX_PAYLOAD_BYTES)?;
    if params.kind.as_ref().is_some_and(|k| k.len() > MAX_SHORT) {
        return Err(RpcError::invalid_params("kind", "at most 256 bytes"));
    }
    let payload = json!({ "kind": params.kind, "payload": params.payload, "session_id": conn.session_id });
    let event =
        daemon.host.emit("host.notification", conn.agent_id.clone().as_deref(), params.message, payload);
    reply(&NotifyResult { event_id: event.id })
}

pub fn request_approval(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: RequestApprovalParams = parse(params)?;
    let options = params.options.unwrap_or_else(|| vec!["approve".into(), "deny".into()]);
    if options.is_empty() || options.iter().any(|o| o.is_empty()) {
        return Err(RpcError::invalid_params("options", "a non-empty list of non-empty strings"));
    }
    if params.action.trim().is_empty() || params.action.len() > MAX_SHORT {
        return Err(RpcError::invalid_params("action", "a non-empty action of at most 256 bytes"));
    }
    if options.len() > 8 || options.iter().any(|o| o.len() > 64) {
        return Err(RpcError::invalid_params("options", "at most 8 options of at most 64 bytes"));
    }
    check_size("details", &params.details, MAX_PAYLOAD_BYTES)?;
    let details = params.details.unwrap_or(Value::Object(Default::default()));
    reply(&daemon.host.request_approval(conn, params.action, details, options)?)
}

pub fn resolve_approval(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let ResolveApprovalParams { approval_id, resolution } = parse(params)?;
    let (request, gate_capability) = daemon.host.resolve(conn, &approval_id, &resolution)?;
    // A standing grant is stored when the person answers, not when the parked request wakes:
    // what the host was told is resolved stays true even if the agent has just left.
    if let (Some(capability), Some(agent_id)) = (gate_capability, &request.agent_id)
        && resolution == hark_protocol::host::APPROVE_ALWAYS
    {
        daemon.permissions.grant(agent_id, &capability);
    }
    reply(&request)
}
