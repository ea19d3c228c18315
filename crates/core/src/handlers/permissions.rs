//! `permissions.list`, `permissions.revoke` (PROTOCOL §9) and `permissions.request` [Hark's own]:
//! an agent may ask for a capability ahead of use (so the prompt comes when the person expects
//! it, not in the middle of a meeting); it runs the same gate the voice and meeting methods use.

use hark_protocol::RpcError;
use hark_protocol::host::{
    GrantsResult, PermissionRequestParams, PermissionResult, RevokeParams, RevokeResult,
};
use serde_json::{Value, json};

use super::{Reply, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;
use crate::permissions::{check_capability, gate};

pub fn list(daemon: &Daemon, conn: &Caller) -> Result<Reply, RpcError> {
    let grants = if conn.is_host() {
        daemon.permissions.list(None)
    } else {
        match conn.agent_id.clone() {
            Some(agent_id) => daemon.permissions.list(Some(&agent_id)),
            None => Vec::new(),
        }
    };
    reply(&GrantsResult { grants })
}

/// The host revokes any grant; an agent may give up its own.
pub fn revoke(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let RevokeParams { agent_id, capability } = parse(params)?;
    check_capability(&capability)?;
    if !conn.is_host() && conn.agent_id.clone().as_deref() != Some(agent_id.as_str()) {
        return Err(RpcError::forbidden("forbidden: host role needed to revoke another agent's grant"));
    }
    reply(&RevokeResult { revoked: daemon.permissions.revoke(&agent_id, &capability) })
}

pub async fn request(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let PermissionRequestParams { capability } = parse(params)?;
    check_capability(&capability)?;
    let allowed = gate(daemon, conn, &capability, "permissions.request", json!({})).await?;
    reply(&PermissionResult { capability, granted: true, grant: allowed.as_str().into() })
}
