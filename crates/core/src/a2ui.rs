//! Agent surfaces (PROTOCOL §12): the process-wide A2UI store ([`hark_a2ui::Store`], pure), who
//! owns each surface, where its actions go, and who hears about changes.
//!
//! - Owner keys: a surface applied by a connection is owned by that connection's session id; a
//!   surface that arrived through `a2ui.ingest` with an `owner` is owned by that A2A owner AS
//!   SEEN FROM the ingesting connection (`a2a:<session>:<owner>`), so another connection naming
//!   the same owner cannot touch it. Surfaces outlive their owner (they are the person's screen)
//!   until deleted or reaped; with the owner gone, nobody can change them and actions fail.
//! - Routes: a surface ingested with an `a2aEndpoint` sends its actions there (A2A
//!   `message/send`); others go to the owning connection as the `a2ui.action` notification.
//!   Route auth (a bearer token or a header) lives only in [`A2aRoute`], keyed by surface id: it
//!   is never in a surface view, an event, a list, a replay, a log line or an error (its `Debug`
//!   is redacted).
//! - Events: `a2ui.event` goes to `a2ui/subscribe`rs under the store's lock, so every subscriber
//!   sees changes in the order they were applied (lock order: surfaces -> outbound).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hark_a2ui::{Applied, ApplyError, Limits, Store};
use hark_protocol::jsonrpc;
use hark_protocol::{ErrorCode, RpcError};
use serde_json::{Value, json};

use crate::caller::{Caller, Outbox, OwnedBySession};

/// How an A2A endpoint authenticates the daemon's forwarded actions.
#[derive(Clone, PartialEq, Eq)]
pub enum RouteAuth {
    None,
    Bearer(String),
    Header { name: String, value: String },
}

impl std::fmt::Debug for RouteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteAuth::None => "RouteAuth::None",
            RouteAuth::Bearer(_) => "RouteAuth::Bearer(<redacted>)",
            RouteAuth::Header { .. } => "RouteAuth::Header(<redacted>)",
        })
    }
}

impl RouteAuth {
    /// Parses `routeAuth`. Errors never echo a value (it may be a secret).
    pub fn parse(value: &Value) -> Result<RouteAuth, RpcError> {
        let bad = |reason: &str| RpcError::invalid_params("routeAuth", reason.to_string());
        let obj = value.as_object().ok_or_else(|| bad("an object {type: none|bearer|header, ...}"))?;
        let text =
            |key: &str| obj.get(key).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 4096);
        let known = |keys: &[&str]| obj.keys().all(|k| k == "type" || keys.contains(&k.as_str()));
        match obj.get("type").and_then(Value::as_str) {
            Some("none") if known(&[]) => Ok(RouteAuth::None),
            Some("bearer") if known(&["token"]) => {
                let token = text("token").ok_or_else(|| bad("bearer needs token: 1 to 4096 bytes"))?;
                if !is_header_value(token) {
                    return Err(bad("token must be printable ASCII"));
                }
                Ok(RouteAuth::Bearer(token.to_string()))
            }
            Some("header") if known(&["name", "value"]) => {
                let name = text("name").filter(|n| is_header_name(n));
                let value = text("value").filter(|v| is_header_value(v));
                match (name, value) {
                    (Some(name), Some(value)) => {
                        Ok(RouteAuth::Header { name: name.to_string(), value: value.to_string() })
                    }
                    _ => Err(bad("header needs name (an HTTP header name) and value (printable ASCII)")),
                }
            }
            Some("none" | "bearer" | "header") => Err(bad("unknown field for this type")),
            _ => Err(bad("type must be none, bearer or header")),
        }
    }

    /// The HTTP header this auth adds, if any.
    pub fn header(&self) -> Option<(String, String)> {
        match self {
            RouteAuth::None => None,
            RouteAuth::Bearer(token) => Some(("Authorization".into(), format!("Bearer {token}"))),
            RouteAuth::Header { name, value } => Some((name.clone(), value.clone())),
        }
    }
}

/// Headers a route's auth may not set: the ones that frame or route the request itself
/// (smuggling into a loopback service) and the hop-by-hop ones.
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "expect",
];

fn is_header_name(name: &str) -> bool {
    name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Where an A2A-owned surface's actions are sent.
#[derive(Debug, Clone)]
pub struct A2aRoute {
    pub endpoint: String,
    pub auth: RouteAuth,
}

/// What an apply does to the surface's A2A route.
#[derive(Debug, Clone)]
pub enum RouteUpdate {
    Keep,
    /// Actions go to this endpoint from now on (`a2ui.ingest` with `a2aEndpoint`).
    Set(A2aRoute),
    /// The route's auth is replaced (`a2ui.apply` with `routeAuth`).
    Auth(RouteAuth),
}

/// Where one action goes, decided under the lock, delivered after it.
pub enum Delivery {
    Owner,
    A2a(A2aRoute),
}

#[derive(Default)]
struct Inner {
    store: Store,
    routes: HashMap<String, A2aRoute>,
    /// Live owners (session id -> outbox); an owner whose connection ended is gone from here.
    owners: HashMap<String, Arc<dyn Outbox>>,
    /// Which session an owner key belongs to (for the cleanup path).
    owner_sessions: HashMap<String, String>,
    /// Who an owner key is, as the host's views name it ([`owner_label`]); kept as long as
    /// `owner_sessions` keeps the key, so a surface outlives its agent's connection labelled.
    labels: HashMap<String, Value>,
    subscribers: HashMap<String, Caller>,
}

pub struct Surfaces {
    limits: Limits,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Surfaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Surfaces")
    }
}

impl Default for Surfaces {
    fn default() -> Self {
        let limits = Limits::default();
        Surfaces {
            inner: Mutex::new(Inner { store: Store::new(limits.clone()), ..Default::default() }),
            limits,
        }
    }
}

/// The owner key of surfaces `caller` ingests for the A2A owner `owner`.
pub fn a2a_owner_key(caller: &Caller, owner: &str) -> String {
    format!("a2a:{}:{owner}", caller.session_id)
}

/// Who put a surface on screen, for the host's views (`owner` in `a2ui.surfaces`,
/// `a2ui/replay`, `a2ui.event` and the `a2ui.surface_updated` host event): the connection's
/// `agent_id` and `client_id` (what it authenticated as), and the A2A `owner` it ingested the
/// surface for, if any. Never the route auth.
pub fn owner_label(caller: &Caller, owner_key: &str) -> Value {
    let a2a = owner_key.strip_prefix(&format!("a2a:{}:", caller.session_id));
    json!({ "agent_id": caller.agent_id, "client_id": caller.client_id, "a2a_owner": a2a })
}

/// -32602 naming the path and rule, -32002, -32010 or -32012, from a refusal of the store; the
/// error's data is always `{field, path, rule, reason}`.
pub fn apply_error(error: &ApplyError, message: &Value) -> RpcError {
    let r = error.to_refusal(message);
    let data = refusal_data(&r);
    match error {
        ApplyError::Forbidden { .. } => RpcError::forbidden(error.to_string()).with_data(data),
        ApplyError::NotFound { .. } => RpcError::new(ErrorCode::NotFound, error.to_string()).with_data(data),
        ApplyError::Conflict(_) => RpcError::conflict(format!("{} ({})", r.message, r.rule)).with_data(data),
        ApplyError::Invalid(_) | ApplyError::Limit(_) => refusal_error(&r),
    }
}

/// -32602 for a refusal: "invalid params: <path>: <message> (<rule>)".
pub fn refusal_error(r: &hark_a2ui::Refusal) -> RpcError {
    let at = if r.path.is_empty() { "(the message)" } else { r.path.as_str() };
    RpcError::invalid_params(at, format!("{} ({})", r.message, r.rule)).with_data(refusal_data(r))
}

fn refusal_data(r: &hark_a2ui::Refusal) -> Value {
    json!({ "field": r.path, "path": r.path, "rule": r.rule, "reason": r.message })
}

impl Surfaces {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::lock(&self.inner)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates and applies one envelope for `owner` (a key from the caller), tells the
    /// subscribers, and changes the surface's A2A route as `route` says.
    pub fn apply(
        &self,
        message: &Value,
        owner: &str,
        caller: &Caller,
        route: RouteUpdate,
    ) -> Result<Applied, RpcError> {
        let now = hark_protocol::time::now_millis();
        let mut inner = self.lock();
        if let RouteUpdate::Auth(_) = &route {
            let target = hark_a2ui::Kind::of(message).and_then(|k| message[k.key()]["surfaceId"].as_str());
            // A surface of someone else's is left to the store's -32002 (it learns nothing).
            let others = target.is_some_and(|id| inner.store.owner(id).is_some_and(|o| o != owner));
            if !others && !target.is_some_and(|id| inner.routes.contains_key(id)) {
                return Err(RpcError::invalid_params(
                    "routeAuth",
                    "this surface has no A2A route (a2ui.ingest with a2aEndpoint sets one)",
                ));
            }
        }
        let applied = inner.store.apply(message, owner, now).map_err(|e| apply_error(&e, message))?;
        inner.owners.insert(owner.to_string(), caller.outbox.clone());
        inner.owner_sessions.insert(owner.to_string(), caller.session_id.clone());
        inner.labels.insert(owner.to_string(), owner_label(caller, owner));
        if applied.deleted {
            inner.routes.remove(&applied.surface_id);
            inner.forget_owner_if_idle(owner);
        } else {
            match route {
                RouteUpdate::Keep => {}
                RouteUpdate::Set(route) => {
                    inner.routes.insert(applied.surface_id.clone(), route);
                }
                RouteUpdate::Auth(auth) => {
                    if let Some(route) = inner.routes.get_mut(&applied.surface_id) {
                        route.auth = auth;
                    }
                }
            }
        }
        let kind = if applied.deleted { "a2ui.surface_deleted" } else { "a2ui.surface_updated" };
        let mut result = applied_json(&applied);
        if !applied.deleted {
            result["owner"] = owner_label(caller, owner);
        }
        inner.broadcast(kind, &result);
        Ok(applied)
    }

    pub fn get(&self, surface_id: &str) -> Option<Value> {
        self.lock().store.get(surface_id)
    }

    /// Every surface, each with its `owner` (host), or the caller's own (a client).
    pub fn list(&self, caller: &Caller) -> Vec<Value> {
        let inner = self.lock();
        let all = inner.store.list();
        if caller.is_host() {
            return inner.labelled(all);
        }
        all.into_iter()
            .filter(|s| {
                s["surfaceId"].as_str().and_then(|id| inner.store.owner(id)).is_some_and(|owner| {
                    inner.owner_sessions.get(owner).is_some_and(|session| *session == caller.session_id)
                })
            })
            .collect()
    }

    /// True when `caller` owns the surface (directly or through an A2A owner it ingested).
    pub fn owned_by(&self, surface_id: &str, caller: &Caller) -> bool {
        let inner = self.lock();
        inner
            .store
            .owner(surface_id)
            .and_then(|owner| inner.owner_sessions.get(owner))
            .is_some_and(|session| *session == caller.session_id)
    }

    /// The current surfaces, as views (each with its `owner`) and as the v0.9 messages that
    /// rebuild them.
    pub fn replay(&self) -> (Vec<Value>, Vec<Value>) {
        let inner = self.lock();
        (inner.labelled(inner.store.list()), inner.store.replay())
    }

    pub fn reap(&self, idle_ms: u64) -> Vec<String> {
        let mut inner = self.lock();
        let removed = inner.store.reap(hark_protocol::time::now_millis(), idle_ms);
        for id in &removed {
            inner.routes.remove(id);
            inner.broadcast("a2ui.surface_deleted", &json!({ "surfaceId": id, "deleted": true }));
        }
        removed
    }

    pub fn subscribe(&self, caller: &Caller) {
        self.lock().subscribers.insert(caller.session_id.clone(), caller.clone());
    }

    pub fn unsubscribe(&self, session_id: &str) -> bool {
        self.lock().subscribers.remove(session_id).is_some()
    }

    /// Decides where a renderer's action goes; for the owner route it queues the `a2ui.action`
    /// notification and tells the subscribers. The A2A route is returned for the caller to POST
    /// (off the lock), then to [`Surfaces::delivered`].
    pub fn action(&self, surface_id: &str, action: &Value) -> Result<Delivery, RpcError> {
        let mut inner = self.lock();
        let owner = inner
            .store
            .owner(surface_id)
            .map(str::to_string)
            .ok_or_else(|| RpcError::not_found("surface", surface_id))?;
        inner.store.touch(surface_id, hark_protocol::time::now_millis());
        let delivery = match inner.routes.get(surface_id) {
            Some(route) => Delivery::A2a(route.clone()),
            None => {
                let outbox = inner.owners.get(&owner).ok_or_else(|| {
                    RpcError::conflict(format!(
                        "the agent that owns surface {surface_id} is no longer connected"
                    ))
                })?;
                let note = jsonrpc::notification(
                    "a2ui.action",
                    json!({ "surfaceId": surface_id, "action": action }),
                );
                outbox.push_text(note.to_string());
                inner.broadcast("a2ui.action", &json!({ "surfaceId": surface_id, "action": action }));
                Delivery::Owner
            }
        };
        Ok(delivery)
    }

    /// Tells the subscribers an action reached its A2A endpoint.
    pub fn delivered(&self, surface_id: &str, action: &Value) {
        self.lock().broadcast("a2ui.action", &json!({ "surfaceId": surface_id, "action": action }));
    }
}

impl Inner {
    /// Drops an owner key that owns no surface any more (its maps would otherwise only grow).
    fn forget_owner_if_idle(&mut self, owner: &str) {
        let owns = self
            .store
            .list()
            .iter()
            .any(|s| s["surfaceId"].as_str().and_then(|id| self.store.owner(id)) == Some(owner));
        if !owns {
            self.owners.remove(owner);
            self.owner_sessions.remove(owner);
            self.labels.remove(owner);
        }
    }

    /// Host views: each surface with its `owner` (null for a key no longer known).
    fn labelled(&self, mut views: Vec<Value>) -> Vec<Value> {
        for view in &mut views {
            let owner = view["surfaceId"].as_str().and_then(|id| self.store.owner(id));
            view["owner"] = owner.and_then(|o| self.labels.get(o)).cloned().unwrap_or(Value::Null);
        }
        views
    }

    fn broadcast(&self, kind: &str, result: &Value) {
        if self.subscribers.is_empty() {
            return;
        }
        let text = jsonrpc::notification("a2ui.event", json!({ "kind": kind, "result": result })).to_string();
        for subscriber in self.subscribers.values() {
            subscriber.outbox.push_text(text.clone());
        }
    }
}

/// `{surfaceId, deleted, surface?}`: `a2ui.apply`'s result and an update event's `result`.
pub fn applied_json(applied: &Applied) -> Value {
    let mut v = json!({ "surfaceId": applied.surface_id, "deleted": applied.deleted });
    if let Some(surface) = &applied.surface {
        v["surface"] = surface.clone();
    }
    v
}

impl OwnedBySession for Surfaces {
    /// Part of the cleanup path: its subscription ends and its owner keys lose their outbox
    /// (the surfaces stay: they are the person's screen; A2A routes stay with them).
    fn release_session(&self, session_id: &str) {
        let mut inner = self.lock();
        inner.subscribers.remove(session_id);
        let keys: Vec<String> =
            inner.owner_sessions.iter().filter(|(_, s)| *s == session_id).map(|(k, _)| k.clone()).collect();
        let still_owning: std::collections::HashSet<String> = inner
            .store
            .list()
            .iter()
            .filter_map(|s| s["surfaceId"].as_str().and_then(|id| inner.store.owner(id)).map(str::to_string))
            .collect();
        for key in keys {
            inner.owners.remove(&key);
            if !still_owning.contains(&key) {
                inner.owner_sessions.remove(&key); // nothing left to show it for
                inner.labels.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_auth_parses_and_never_shows_its_secret() {
        let bearer = RouteAuth::parse(&json!({"type": "bearer", "token": "s3cret"})).unwrap();
        assert_eq!(bearer.header(), Some(("Authorization".into(), "Bearer s3cret".into())));
        assert!(!format!("{bearer:?}").contains("s3cret"));
        let header = RouteAuth::parse(&json!({"type": "header", "name": "X-Key", "value": "v4lue"})).unwrap();
        assert!(!format!("{header:?}").contains("v4lue"));
        assert_eq!(RouteAuth::parse(&json!({"type": "none"})).unwrap(), RouteAuth::None);
        for bad in [
            json!({"type": "bearer"}),
            json!({"type": "bearer", "token": "s3cret", "x": 1}),
            json!({"type": "bearer", "token": "line\nbreak-s3cret"}),
            json!({"type": "header", "name": "Bad Name", "value": "s3cret"}),
            json!({"type": "header", "name": "Content-Length", "value": "s3cret"}),
            json!({"type": "header", "name": "transfer-encoding", "value": "s3cret"}),
            json!({"type": "basic", "token": "s3cret"}),
            json!("s3cret"),
        ] {
            let e = RouteAuth::parse(&bad).unwrap_err();
            assert!(!e.message.contains("s3cret") && !e.to_string().contains("s3cret"), "{e:?}");
            assert_eq!(e.code, -32602);
        }
    }
}
