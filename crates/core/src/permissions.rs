//! Permissions (PROTOCOL §9): standing grants per agent and capability, persisted in
//! `<data_dir>/grants.json`, and the approval gate that parks a request until the person answers.
//!
//! The gate is an `async fn` awaited by the handler that needs the capability. Handlers run as
//! their own tasks, so a parked request never blocks its connection's other requests.

use std::path::PathBuf;
use std::sync::Mutex;

use hark_protocol::host::{self as wire, Grant};
use hark_protocol::time::now_rfc3339;
use hark_protocol::{ErrorCode, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::caller::Caller;
use crate::config::ApprovalPolicy;
use crate::daemon::Daemon;

#[derive(Debug, Default, Serialize, Deserialize)]
struct GrantsFile {
    version: u32,
    grants: Vec<Grant>,
}

#[derive(Debug)]
pub struct Permissions {
    path: PathBuf,
    grants: Mutex<Vec<Grant>>,
    disk: crate::disk::DiskWriter,
}

/// Why a gated request was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    Host,
    Standing,
    Once,
    Always,
    Policy,
}

impl Allowed {
    pub fn as_str(self) -> &'static str {
        match self {
            Allowed::Host => "host",
            Allowed::Standing => "standing",
            Allowed::Once => "once",
            Allowed::Always => "always",
            Allowed::Policy => "policy",
        }
    }
}

impl Permissions {
    /// Loads the grants; an unreadable file is moved aside (never silently overwritten) and the
    /// daemon starts with no grants, which only means the person is asked again.
    pub fn load(path: PathBuf, disk: crate::disk::DiskWriter) -> Self {
        let grants = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<GrantsFile>(&bytes) {
                Ok(file) => file.grants,
                Err(e) => {
                    let aside = crate::runtime_files::move_aside(&path);
                    tracing::warn!(path = %path.display(), error = %e, aside = %aside.display(), "grants file unreadable; moved aside");
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        };
        Permissions { path, grants: Mutex::new(grants), disk }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Grant>> {
        crate::lock(&self.grants)
    }

    pub fn has(&self, agent_id: &str, capability: &str) -> bool {
        self.lock().iter().any(|g| g.agent_id == agent_id && g.capability == capability)
    }

    pub fn list(&self, agent_id: Option<&str>) -> Vec<Grant> {
        self.lock().iter().filter(|g| agent_id.is_none_or(|a| g.agent_id == a)).cloned().collect()
    }

    pub fn grant(&self, agent_id: &str, capability: &str) {
        let mut grants = self.lock();
        if !grants.iter().any(|g| g.agent_id == agent_id && g.capability == capability) {
            grants.push(Grant {
                agent_id: agent_id.to_string(),
                capability: capability.to_string(),
                granted_at: now_rfc3339(),
            });
            self.persist(&grants);
        }
    }

    pub fn revoke(&self, agent_id: &str, capability: &str) -> bool {
        let mut grants = self.lock();
        let before = grants.len();
        grants.retain(|g| !(g.agent_id == agent_id && g.capability == capability));
        let removed = grants.len() != before;
        if removed {
            self.persist(&grants);
        }
        removed
    }

    /// Queued under the lock, so concurrent changes reach the file in order; written by the
    /// disk writer thread (temp file, fsync, rename), never on the runtime.
    fn persist(&self, grants: &[Grant]) {
        let file = GrantsFile { version: 1, grants: grants.to_vec() };
        let json = serde_json::to_vec_pretty(&file).expect("grants serialize");
        self.disk.replace(self.path.clone(), json);
    }
}

pub fn check_capability(capability: &str) -> Result<(), RpcError> {
    if wire::CAPABILITIES.contains(&capability) {
        Ok(())
    } else {
        Err(RpcError::invalid_params(
            "capability",
            format!("expected one of {}", wire::CAPABILITIES.join(", ")),
        ))
    }
}

fn denied(message: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::ApprovalDenied, message)
}

/// The gate: lets `conn` use `capability` for `method`, asking the person when needed.
pub async fn gate(
    daemon: &Daemon,
    conn: &Caller,
    capability: &str,
    method: &str,
    params_preview: Value,
) -> Result<Allowed, RpcError> {
    if conn.is_host() {
        return Ok(Allowed::Host);
    }
    let agent_id = conn.agent_id.clone();
    if agent_id.as_deref().is_some_and(|a| daemon.permissions.has(a, capability)) {
        return Ok(Allowed::Standing);
    }
    if !daemon.host.has_subscribers() {
        match daemon.config.approvals {
            ApprovalPolicy::Allow => return Ok(Allowed::Policy),
            ApprovalPolicy::Deny => {
                return Err(denied(format!(
                    "{capability} access denied: no host is connected and the daemon's policy is deny"
                )));
            }
            ApprovalPolicy::Ask => {} // park: a host that subscribes later sees it in its snapshot
        }
    }
    let (approval_id, answer) = daemon.host.open_gate(conn, capability, method, params_preview);
    let timeout = daemon.config.approval_timeout;
    let resolution = match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(resolution)) => resolution,
        Ok(Err(_)) => wire::AGENT_GONE.to_string(),
        Err(_) => {
            daemon.host.expire(&approval_id, wire::TIMEOUT);
            return Err(denied(format!(
                "{capability} access was not approved within {} s",
                timeout.as_secs_f64()
            ))
            .with_data(serde_json::json!({ "approval_id": approval_id, "reason": "timeout" })));
        }
    };
    match resolution.as_str() {
        wire::APPROVE_ONCE => Ok(Allowed::Once),
        // The grant itself was stored by `host.resolve_approval`. A client that claimed no
        // agent_id can only be approved once (PROTOCOL §9).
        wire::APPROVE_ALWAYS if agent_id.is_some() => Ok(Allowed::Always),
        wire::APPROVE_ALWAYS => Ok(Allowed::Once),
        other => Err(denied(format!("{capability} access denied by the person"))
            .with_data(serde_json::json!({ "approval_id": approval_id, "reason": other }))),
    }
}
