//! The host surface's methods (PROTOCOL §8). The state and its ACL live in [`crate::host`].

use std::sync::Arc;

use hark_protocol::RpcError;
use hark_protocol::host::{
    AgentIdParams, EventsParams, NotifyParams, RegisterAgentParams, RequestApprovalParams,
    ResolveApprovalParams, SetStatusParams,
};
use serde_json::{Value, json};

use super::{Reply, parse, reply};
use crate::connection::Connection;
use crate::daemon::Daemon;
use crate::host::EVENT_RING;

pub fn require_host(conn: &Connection) -> Result<(), RpcError> {
    if conn.is_host() {
        Ok(())
    } else {
        Err(RpcError::forbidden("forbidden: host role needed (authenticate with the host token)"))
    }
}

pub fn subscribe(daemon: &Daemon, conn: &Arc<Connection>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    reply(&daemon.host.subscribe(conn))
}

pub fn events(daemon: &Daemon, conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    let EventsParams { limit } = parse(params)?;
    reply(&json!({ "events": daemon.host.events(limit.unwrap_or(EVENT_RING).min(EVENT_RING)) }))
}

pub fn agents(daemon: &Daemon, conn: &Connection) -> Result<Reply, RpcError> {
    reply(&json!({ "agents": daemon.host.agents(conn) }))
}

pub fn approvals(daemon: &Daemon, conn: &Connection) -> Result<Reply, RpcError> {
    reply(&json!({ "approvals": daemon.host.approvals(conn) }))
}

pub fn register_agent(daemon: &Daemon, conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: RegisterAgentParams = parse(params)?;
    reply(&daemon.host.register_agent(conn, params)?)
}

pub fn set_status(daemon: &Daemon, conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: SetStatusParams = parse(params)?;
    reply(&daemon.host.set_status(conn, params)?)
}

pub fn unregister_agent(
    daemon: &Daemon,
    conn: &Connection,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    let AgentIdParams { agent_id } = parse(params)?;
    reply(&json!({ "removed": daemon.host.unregister_agent(conn, &agent_id)? }))
}

pub fn notify(daemon: &Daemon, conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: NotifyParams = parse(params)?;
    if params.message.len() > 4096 {
        return Err(RpcError::invalid_params("message", "at most 4096 bytes"));
    }
    let payload = json!({ "kind": params.kind, "payload": params.payload, "session_id": conn.session_id });
    let event = daemon.host.emit("host.notification", conn.agent_id().as_deref(), params.message, payload);
    reply(&json!({ "event_id": event.id }))
}

pub fn request_approval(
    daemon: &Daemon,
    conn: &Arc<Connection>,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    let params: RequestApprovalParams = parse(params)?;
    let options = params.options.unwrap_or_else(|| vec!["approve".into(), "deny".into()]);
    if options.is_empty() || options.iter().any(|o| o.is_empty()) {
        return Err(RpcError::invalid_params("options", "a non-empty list of non-empty strings"));
    }
    if params.action.trim().is_empty() {
        return Err(RpcError::invalid_params("action", "must not be empty"));
    }
    let details = params.details.unwrap_or(Value::Object(Default::default()));
    reply(&daemon.host.request_approval(conn, params.action, details, options))
}

pub fn resolve_approval(
    daemon: &Daemon,
    conn: &Connection,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    let ResolveApprovalParams { approval_id, resolution } = parse(params)?;
    reply(&daemon.host.resolve(conn, &approval_id, &resolution)?)
}
