//! The host surface's state (PROTOCOL §8): the `host.event` ring (last 500) and its subscribers,
//! the agent roster, and approvals, both the generic ones agents ask for and the permission
//! gate's (§9). One mutex guards it all; events are pushed to subscribers under it so every
//! subscriber sees the same order. Nothing here awaits.
//!
//! ACL: subscribing, reading the event ring and answering gate approvals need the host role;
//! a client sees and changes only its own roster entries and approvals.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use hark_protocol::RpcError;
use hark_protocol::host::{
    self as wire, AgentStatus, ApprovalStatus, HostAgent, HostApprovalRequest, HostEvent,
    RegisterAgentParams, SetStatusParams,
};
use hark_protocol::jsonrpc;
use hark_protocol::time::now_rfc3339;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::caller::{Caller, OwnedBySession};

pub const EVENT_RING: usize = 500;
pub const SUBSCRIBE_BACKLOG: usize = 50;
/// Roster entries one session may register.
pub const MAX_AGENTS_PER_SESSION: usize = 16;
/// Pending generic approvals one session may have.
pub const MAX_PENDING_APPROVALS: usize = 32;
/// Resolved approvals kept for `host.approvals`.
const RESOLVED_KEPT: usize = 100;

struct Approval {
    request: HostApprovalRequest,
    owner_session: String,
    /// Set for the permission gate's approvals: the parked request waits on it.
    gate: Option<oneshot::Sender<String>>,
    /// The capability a gate approval asks for; `None` for a generic approval.
    capability: Option<String>,
    /// The asking connection, told of the resolution when it is not a subscriber.
    owner: Option<Caller>,
}

#[derive(Default)]
struct Inner {
    events: VecDeque<HostEvent>,
    next_sequence: u64,
    subscribers: HashMap<String, Caller>,
    agents: BTreeMap<String, HostAgent>,
    approvals: BTreeMap<String, Approval>,
    resolved: VecDeque<(String, HostApprovalRequest)>,
}

#[derive(Default)]
pub struct HostState {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostState")
    }
}

impl Inner {
    fn emit(&mut self, kind: &str, agent_id: Option<&str>, message: String, payload: Value) -> HostEvent {
        self.next_sequence += 1;
        let event = HostEvent {
            id: format!("evt-{}", self.next_sequence),
            sequence: self.next_sequence,
            timestamp: now_rfc3339(),
            kind: kind.to_string(),
            agent_id: agent_id.map(str::to_string),
            message,
            payload,
        };
        if self.events.len() == EVENT_RING {
            self.events.pop_front();
        }
        self.events.push_back(event.clone());
        let note = jsonrpc::notification("host.event", json!(event));
        for conn in self.subscribers.values() {
            conn.send(&note);
        }
        event
    }

    fn finish_approval(&mut self, id: &str, resolution: &str) -> Option<HostApprovalRequest> {
        let mut approval = self.approvals.remove(id)?;
        approval.request.status = ApprovalStatus::Resolved;
        approval.request.resolution = Some(resolution.to_string());
        approval.request.resolved_at = Some(now_rfc3339());
        if let Some(gate) = approval.gate.take() {
            let _ = gate.send(resolution.to_string());
        }
        let request = approval.request;
        let event = self.emit(
            "approval.resolved",
            request.agent_id.as_deref(),
            format!("{} {}", request.action, resolution),
            json!({ "approval_id": request.id, "resolution": resolution, "request": request }),
        );
        if let Some(owner) = approval.owner
            && !self.subscribers.contains_key(&owner.session_id)
        {
            owner.send(&jsonrpc::notification("host.event", json!(event)));
        }
        if self.resolved.len() == RESOLVED_KEPT {
            self.resolved.pop_front();
        }
        self.resolved.push_back((approval.owner_session, request.clone()));
        Some(request)
    }
}

fn forbidden_not_owner(what: &str) -> RpcError {
    RpcError::forbidden(format!("forbidden: this {what} belongs to another session"))
}

impl HostState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::lock(&self.inner)
    }

    pub fn emit(&self, kind: &str, agent_id: Option<&str>, message: String, payload: Value) -> HostEvent {
        self.lock().emit(kind, agent_id, message, payload)
    }

    pub fn has_subscribers(&self) -> bool {
        !self.lock().subscribers.is_empty()
    }

    /// Subscribes a host caller; returns the snapshot of PROTOCOL §8 (`meetings_active` comes
    /// from the meetings domain).
    pub fn subscribe(
        &self,
        conn: &Caller,
        meetings_active: Vec<hark_protocol::meeting::MeetingMetadata>,
    ) -> wire::SubscribeResult {
        let mut inner = self.lock();
        inner.subscribers.insert(conn.session_id.clone(), conn.clone());
        let skip = inner.events.len().saturating_sub(SUBSCRIBE_BACKLOG);
        wire::SubscribeResult {
            agents: inner.agents.values().cloned().collect(),
            approvals: inner.approvals.values().map(|a| a.request.clone()).collect(),
            meetings_active,
            events: inner.events.iter().skip(skip).cloned().collect(),
        }
    }

    pub fn events(&self, limit: usize) -> Vec<HostEvent> {
        let inner = self.lock();
        let skip = inner.events.len().saturating_sub(limit);
        inner.events.iter().skip(skip).cloned().collect()
    }

    /// The roster: all of it for the host, a client's own entries otherwise.
    pub fn agents(&self, conn: &Caller) -> Vec<HostAgent> {
        let host = conn.is_host();
        self.lock().agents.values().filter(|a| host || a.session_id == conn.session_id).cloned().collect()
    }

    pub fn register_agent(&self, conn: &Caller, params: RegisterAgentParams) -> Result<HostAgent, RpcError> {
        let id = match params.id.or_else(|| conn.agent_id.clone()) {
            Some(id) if hark_protocol::ids::is_valid_agent_id(&id) => id,
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "id",
                    "must match ^[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127}$",
                ));
            }
            None => format!("agent-{}", crate::mint_id()),
        };
        if params.name.trim().is_empty() {
            return Err(RpcError::invalid_params("name", "must not be empty"));
        }
        let mut inner = self.lock();
        let previous = inner.agents.get(&id);
        if previous.is_some_and(|a| a.session_id != conn.session_id) {
            return Err(RpcError::conflict(format!("agent {id} is registered by another session")));
        }
        if previous.is_none()
            && inner.agents.values().filter(|a| a.session_id == conn.session_id).count()
                >= MAX_AGENTS_PER_SESSION
        {
            return Err(RpcError::busy(format!("at most {MAX_AGENTS_PER_SESSION} agents per session")));
        }
        let agent = HostAgent {
            id: id.clone(),
            name: params.name,
            kind: params.kind,
            status: previous.map_or(AgentStatus::Idle, |a| a.status),
            message: None,
            capabilities: params.capabilities,
            metadata: params.metadata,
            session_id: conn.session_id.clone(),
            registered_at: previous.map_or_else(now_rfc3339, |a| a.registered_at.clone()),
        };
        inner.agents.insert(id.clone(), agent.clone());
        inner.emit("agent.registered", Some(&id), format!("{} registered", agent.name), json!(agent));
        Ok(agent)
    }

    pub fn set_status(&self, conn: &Caller, params: SetStatusParams) -> Result<HostAgent, RpcError> {
        let mut inner = self.lock();
        let agent = inner
            .agents
            .get_mut(&params.agent_id)
            .ok_or_else(|| RpcError::not_found("agent", &params.agent_id))?;
        if agent.session_id != conn.session_id {
            return Err(forbidden_not_owner("agent"));
        }
        agent.status = params.status;
        agent.message = params.message;
        let agent = agent.clone();
        let message = format!("{} is {}", agent.name, json!(agent.status).as_str().unwrap_or(""));
        inner.emit("agent.status_changed", Some(&agent.id), message, json!(agent));
        Ok(agent)
    }

    pub fn unregister_agent(&self, conn: &Caller, agent_id: &str) -> Result<bool, RpcError> {
        let mut inner = self.lock();
        match inner.agents.get(agent_id) {
            None => Ok(false),
            Some(a) if a.session_id != conn.session_id && !conn.is_host() => {
                Err(forbidden_not_owner("agent"))
            }
            Some(_) => {
                let agent = inner.agents.remove(agent_id).expect("present");
                inner.emit(
                    "agent.unregistered",
                    Some(agent_id),
                    format!("{} unregistered", agent.name),
                    json!(agent),
                );
                Ok(true)
            }
        }
    }

    /// A generic approval an agent asks the person for (`host.request_approval`).
    pub fn request_approval(
        &self,
        conn: &Caller,
        action: String,
        details: Value,
        options: Vec<String>,
    ) -> Result<HostApprovalRequest, RpcError> {
        let request = self.new_request(conn, action, details, options);
        let mut inner = self.lock();
        let pending = inner.approvals.values().filter(|a| a.owner_session == conn.session_id).count();
        if pending >= MAX_PENDING_APPROVALS {
            return Err(RpcError::busy(format!(
                "at most {MAX_PENDING_APPROVALS} pending approvals per session"
            )));
        }
        inner.approvals.insert(
            request.id.clone(),
            Approval {
                request: request.clone(),
                owner_session: conn.session_id.clone(),
                gate: None,
                capability: None,
                owner: Some(conn.clone()),
            },
        );
        inner.emit(
            "approval.requested",
            request.agent_id.as_deref(),
            format!("approval requested: {}", request.action),
            json!({ "approval_id": request.id, "request": request }),
        );
        Ok(request)
    }

    fn new_request(
        &self,
        conn: &Caller,
        action: String,
        details: Value,
        options: Vec<String>,
    ) -> HostApprovalRequest {
        HostApprovalRequest {
            id: format!("apr-{}", crate::mint_id()),
            agent_id: conn.agent_id.clone(),
            client_id: conn.client_id.clone().unwrap_or_else(|| conn.session_id.clone()),
            action,
            details,
            options,
            status: ApprovalStatus::Pending,
            created_at: now_rfc3339(),
            resolved_at: None,
            resolution: None,
        }
    }

    /// Parks a permission request (PROTOCOL §9): raises `approval.requested` with
    /// `{approval_id, agent_id, capability, method, params_preview}`; the receiver gets the resolution.
    pub fn open_gate(
        &self,
        conn: &Caller,
        capability: &str,
        method: &str,
        params_preview: Value,
    ) -> (String, oneshot::Receiver<String>) {
        let details = json!({ "capability": capability, "method": method, "params_preview": params_preview });
        let options = [wire::APPROVE_ONCE, wire::APPROVE_ALWAYS, wire::DENY].map(String::from).to_vec();
        let request = self.new_request(conn, format!("use the {capability}"), details, options);
        let (tx, rx) = oneshot::channel();
        let id = request.id.clone();
        let mut inner = self.lock();
        let payload = json!({
            "approval_id": id,
            "agent_id": request.agent_id,
            "capability": capability,
            "method": method,
            "params_preview": params_preview,
            "request": request,
        });
        let who = request.agent_id.clone().unwrap_or_else(|| request.client_id.clone());
        inner.approvals.insert(
            id.clone(),
            Approval {
                request,
                owner_session: conn.session_id.clone(),
                gate: Some(tx),
                capability: Some(capability.to_string()),
                owner: None,
            },
        );
        inner.emit("approval.requested", None, format!("{who} wants to use the {capability}"), payload);
        (id, rx)
    }

    /// Ends a parked gate approval nobody answered in time.
    pub fn expire(&self, approval_id: &str, resolution: &str) {
        self.lock().finish_approval(approval_id, resolution);
    }

    /// `host.resolve_approval`: the host answers any approval; a client only its own generic ones.
    pub fn resolve(
        &self,
        conn: &Caller,
        approval_id: &str,
        resolution: &str,
    ) -> Result<(HostApprovalRequest, Option<String>), RpcError> {
        let mut inner = self.lock();
        let Some(approval) = inner.approvals.get(approval_id) else {
            if let Some((_, done)) = inner.resolved.iter().find(|(_, r)| r.id == approval_id) {
                return Err(RpcError::conflict(format!(
                    "approval {approval_id} is already resolved ({})",
                    done.resolution.as_deref().unwrap_or("")
                )));
            }
            return Err(RpcError::not_found("approval", approval_id));
        };
        let allowed =
            conn.is_host() || (approval.capability.is_none() && approval.owner_session == conn.session_id);
        if !allowed {
            return Err(RpcError::forbidden(if approval.capability.is_some() {
                "forbidden: only the person (host role) answers permission requests"
            } else {
                "forbidden: this approval belongs to another session"
            }));
        }
        if !approval.request.options.iter().any(|o| o == resolution) {
            return Err(RpcError::invalid_params(
                "resolution",
                format!("expected one of {}", approval.request.options.join(", ")),
            ));
        }
        let capability = approval.capability.clone();
        Ok((inner.finish_approval(approval_id, resolution).expect("present"), capability))
    }

    /// Pending approvals plus recently resolved ones: all for the host, a client's own otherwise.
    pub fn approvals(&self, conn: &Caller) -> Vec<HostApprovalRequest> {
        let inner = self.lock();
        let host = conn.is_host();
        let mine = |owner: &str| host || owner == conn.session_id;
        let pending = inner.approvals.values().filter(|a| mine(&a.owner_session)).map(|a| a.request.clone());
        let resolved = inner.resolved.iter().filter(|(owner, _)| mine(owner)).map(|(_, r)| r.clone());
        pending.chain(resolved).collect()
    }

    /// The session that registered the roster entry `agent_id`, if any.
    pub fn agent_session(&self, agent_id: &str) -> Option<String> {
        self.lock().agents.get(agent_id).map(|a| a.session_id.clone())
    }

    /// Calls `f` for every host subscriber, under the lock, so every subscriber sees what is
    /// sent this way in the same order as the host events (lock order: host -> outbound).
    pub fn for_each_subscriber(&self, mut f: impl FnMut(&Caller)) {
        for caller in self.lock().subscribers.values() {
            f(caller);
        }
    }
}

impl OwnedBySession for HostState {
    /// Part of the cleanup path: unsubscribe, drop its agents, resolve its approvals `agent_gone`.
    fn release_session(&self, session_id: &str) {
        let mut inner = self.lock();
        inner.subscribers.remove(session_id);
        let agents: Vec<String> =
            inner.agents.values().filter(|a| a.session_id == session_id).map(|a| a.id.clone()).collect();
        for id in agents {
            let agent = inner.agents.remove(&id).expect("present");
            inner.emit("agent.unregistered", Some(&id), format!("{} disconnected", agent.name), json!(agent));
        }
        let approvals: Vec<String> = inner
            .approvals
            .iter()
            .filter(|(_, a)| a.owner_session == session_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in approvals {
            if let Some(a) = inner.approvals.get_mut(&id) {
                a.owner = None;
            }
            inner.finish_approval(&id, wire::AGENT_GONE);
        }
    }
}
