//! Agent surfaces (PROTOCOL §12): `a2ui.apply`, `a2ui.ingest`, `a2ui.capabilities`,
//! `a2ui.surfaces`, `a2ui.get`, `a2ui.action`, `a2ui.reap`, `a2ui/subscribe`,
//! `a2ui/unsubscribe`, `a2ui/replay`. The store, owners and routes live in [`crate::a2ui`].
//!
//! Decided here where PROTOCOL is silent **[differs from CAR]**:
//! - what a renderer does (`a2ui.action`, `a2ui/subscribe`, `a2ui/replay`, `a2ui.reap`) needs
//!   the host role: an agent must not click on another agent's surface or watch the screen;
//! - `a2ui.surfaces` / `a2ui.get` show a host every surface and a client only its own (a
//!   surface may show transcripts; `get` of another's surface answers `null`);
//! - `routeAuth` on `a2ui.apply` replaces the auth of the surface's A2A route, and is refused
//!   when the surface has none (it would be silently unused);
//! - `a2ui/replay` answers `{surfaces, messages}`: the views, and the v0.9 messages that
//!   rebuild them in a renderer (`createSurface`, `updateComponents`, `updateDataModel` each);
//! - an action the A2A endpoint does not accept (unreachable, not 2xx within 5 s) → -32012.

use std::time::Duration;

use hark_protocol::RpcError;
use serde_json::{Value, json};

use super::host::require_host;
use super::{Reply, blocking, reply};
use crate::a2ui::{
    A2aRoute, Delivery, RouteAuth, RouteUpdate, a2a_owner_key, applied_json, owner_label, refusal_error,
};
use crate::caller::Caller;
use crate::daemon::Daemon;

/// Surfaces untouched this long are removed by `a2ui.reap` (PROTOCOL §12).
pub const REAP_IDLE: Duration = Duration::from_secs(3600);
/// How long an A2A endpoint has to accept a forwarded action.
pub const A2A_DEADLINE: Duration = Duration::from_secs(5);

fn params_object(params: Option<Value>) -> Result<Value, RpcError> {
    match params {
        Some(v @ Value::Object(_)) => Ok(v),
        None => Ok(json!({})),
        Some(_) => Err(RpcError::invalid_params("params", "a JSON object")),
    }
}

fn route_auth(params: &Value) -> Result<Option<RouteAuth>, RpcError> {
    params.get("routeAuth").map(RouteAuth::parse).transpose()
}

pub fn apply(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params = params_object(params)?;
    let auth = route_auth(&params)?;
    let limits = daemon.surfaces.limits();
    let envelope = hark_a2ui::envelope_of_params(&params, limits).map_err(|r| refusal_error(&r))?;
    let applied = daemon.surfaces.apply(
        &envelope,
        &caller.session_id,
        caller,
        auth.map_or(RouteUpdate::Keep, RouteUpdate::Auth),
    )?;
    after_apply(daemon, caller, &caller.session_id, &applied);
    reply(&applied_json(&applied))
}

pub fn ingest(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params = params_object(params)?;
    let payload = params.get("payload").ok_or_else(|| RpcError::invalid_params("payload", "required"))?;
    let owner = match params.get("owner") {
        None | Some(Value::Null) => None,
        Some(Value::String(o)) if !o.is_empty() && o.len() <= 256 => Some(o.as_str()),
        Some(_) => return Err(RpcError::invalid_params("owner", "a string of 1 to 256 bytes")),
    };
    let endpoint = match params.get("a2aEndpoint") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => Some(check_endpoint(url, &daemon.config.a2a_endpoints)?),
        Some(_) => return Err(RpcError::invalid_params("a2aEndpoint", "an http(s) URL")),
    };
    let auth = route_auth(&params)?;
    if auth.is_some() && endpoint.is_none() {
        return Err(RpcError::invalid_params("routeAuth", "only with a2aEndpoint"));
    }
    let route = endpoint.map(|endpoint| A2aRoute { endpoint, auth: auth.unwrap_or(RouteAuth::None) });
    let messages = hark_a2ui::messages_of_a2a(payload).map_err(|r| refusal_error(&r))?;
    let owner_key = owner.map_or_else(|| caller.session_id.clone(), |o| a2a_owner_key(caller, o));
    let (mut applied, mut errors) = (Vec::new(), Vec::new());
    for (index, message) in messages.iter().enumerate() {
        let update = route.clone().map_or(RouteUpdate::Keep, RouteUpdate::Set);
        match daemon.surfaces.apply(message, &owner_key, caller, update) {
            Ok(done) => {
                after_apply(daemon, caller, &owner_key, &done);
                applied.push(applied_json(&done));
            }
            Err(e) => {
                let data = e.data.clone().unwrap_or_default();
                errors.push(json!({
                    "code": "VALIDATION_FAILED",
                    "index": index,
                    "surfaceId": surface_id_of(message),
                    "path": data.get("path").cloned().unwrap_or(json!("")),
                    "rule": data.get("rule").cloned().unwrap_or(json!("invalid")),
                    "message": data.get("reason").cloned().unwrap_or(json!(e.message)),
                }));
            }
        }
    }
    reply(&json!({ "applied": applied, "errors": errors }))
}

fn surface_id_of(message: &Value) -> Value {
    hark_a2ui::Kind::of(message)
        .and_then(|k| message[k.key()].get("surfaceId").cloned())
        .unwrap_or(Value::Null)
}

/// The host event for an applied change (its payload names the surface, never its content: the
/// ring keeps 500 events).
fn after_apply(daemon: &Daemon, caller: &Caller, owner_key: &str, applied: &hark_a2ui::Applied) {
    let (kind, verb) = if applied.deleted {
        ("a2ui.surface_deleted", "deleted")
    } else {
        ("a2ui.surface_updated", "updated")
    };
    let revision = applied.surface.as_ref().and_then(|s| s.get("revision").cloned());
    let mut payload = json!({ "surfaceId": applied.surface_id, "revision": revision });
    if !applied.deleted {
        payload["owner"] = owner_label(caller, owner_key);
    }
    daemon.host.emit(
        kind,
        caller.agent_id.as_deref(),
        format!("surface {} {verb}", applied.surface_id),
        payload,
    );
}

/// An A2A endpoint actions may be sent to: loopback (`127.0.0.1`, `[::1]`, `localhost`, any
/// port) or one the person configured (`HARK_A2A_ENDPOINTS`: exact URL prefixes).
pub fn check_endpoint(url: &str, configured: &[String]) -> Result<String, RpcError> {
    let bad = |reason: &str| RpcError::invalid_params("a2aEndpoint", reason.to_string());
    if url.len() > 2048 || url.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(bad("a URL of at most 2048 printable ASCII characters"));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("no user info in the URL"));
    }
    // A configured prefix matches at a boundary: `http://host:8080` is not `http://host:8080.evil`.
    let configured = configured.iter().any(|prefix| {
        url.strip_prefix(prefix.as_str())
            .is_some_and(|tail| prefix.ends_with('/') || tail.is_empty() || tail.starts_with(['/', '?', '#']))
    });
    if configured {
        return Ok(url.to_string());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _port)| h),
    };
    if matches!(host.to_ascii_lowercase().as_str(), "127.0.0.1" | "::1" | "localhost") {
        Ok(url.to_string())
    } else {
        Err(bad(
            "not a loopback endpoint; other endpoints must be configured by the person (HARK_A2A_ENDPOINTS)",
        ))
    }
}

pub fn capabilities(daemon: &Daemon) -> Result<Reply, RpcError> {
    reply(&hark_a2ui::capabilities(daemon.surfaces.limits()))
}

pub fn surfaces(daemon: &Daemon, caller: &Caller) -> Result<Reply, RpcError> {
    reply(&json!({ "surfaces": daemon.surfaces.list(caller) }))
}

pub fn get(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params = params_object(params)?;
    let id = params
        .get("surfaceId")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("surfaceId", "a string"))?;
    let visible = caller.is_host() || daemon.surfaces.owned_by(id, caller);
    reply(&if visible { daemon.surfaces.get(id).unwrap_or(Value::Null) } else { Value::Null })
}

pub async fn action(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let action = params_object(params)?;
    let message = json!({ "version": hark_a2ui::VERSION, "action": action });
    hark_a2ui::validate_client_message(&message).map_err(|r| {
        let path = r.path.strip_prefix("/action").unwrap_or(&r.path).to_string();
        refusal_error(&hark_a2ui::Refusal { path, ..r })
    })?;
    let surface_id = action["surfaceId"].as_str().unwrap_or_default().to_string();
    let route = match daemon.surfaces.action(&surface_id, &action)? {
        Delivery::Owner => "owner",
        Delivery::A2a(route) => {
            let id = surface_id.clone();
            blocking(move || {
                crate::a2a::send_action(&route, &message, A2A_DEADLINE).map_err(|why| {
                    tracing::info!(surface = %id, %why, "an A2A endpoint did not take an action");
                    RpcError::conflict(format!("the agent's A2A endpoint did not accept the action: {why}"))
                })
            })
            .await?;
            daemon.surfaces.delivered(&surface_id, &action);
            "a2a"
        }
    };
    let name = action["name"].as_str().unwrap_or_default();
    daemon.host.emit(
        "a2ui.action",
        None,
        format!("action {name} on surface {surface_id}"),
        json!({ "surfaceId": surface_id, "name": name, "route": route }),
    );
    reply(&json!({ "delivered": true, "route": route }))
}

pub fn reap(daemon: &Daemon, caller: &Caller) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let removed = daemon.surfaces.reap(REAP_IDLE.as_millis() as u64);
    for id in &removed {
        daemon.host.emit(
            "a2ui.surface_deleted",
            None,
            format!("surface {id} reaped"),
            json!({ "surfaceId": id, "reaped": true }),
        );
    }
    reply(&json!({ "removed": removed }))
}

pub fn subscribe(daemon: &Daemon, caller: &Caller) -> Result<Reply, RpcError> {
    require_host(caller)?;
    daemon.surfaces.subscribe(caller);
    reply(&json!({ "subscribed": true }))
}

pub fn unsubscribe(daemon: &Daemon, caller: &Caller) -> Result<Reply, RpcError> {
    require_host(caller)?;
    daemon.surfaces.unsubscribe(&caller.session_id);
    reply(&json!({ "subscribed": false }))
}

pub fn replay(daemon: &Daemon, caller: &Caller) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let (surfaces, messages) = daemon.surfaces.replay();
    reply(&json!({ "surfaces": surfaces, "messages": messages }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_or_configured_endpoints() {
        for ok in
            ["http://127.0.0.1:8080/a2a", "http://localhost/a2a", "https://[::1]:9/x", "http://LOCALHOST:1"]
        {
            assert!(check_endpoint(ok, &[]).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/a2a",
            "http://127.0.0.1.evil.com/",
            "http://127.0.0.1@evil.com/",
            "ftp://127.0.0.1/",
            "http://10.0.0.1:80/",
            "http://localhost.evil:80/",
            "http://[::2]/",
        ] {
            assert_eq!(check_endpoint(bad, &[]).unwrap_err().code, -32602, "{bad}");
        }
        let configured = vec!["https://agents.example.com/".to_string(), "http://10.0.0.5:8080".to_string()];
        assert!(check_endpoint("https://agents.example.com/a2a", &configured).is_ok());
        assert!(check_endpoint("http://10.0.0.5:8080/a2a", &configured).is_ok());
        assert!(check_endpoint("https://agents.example.com.evil/a2a", &configured).is_err());
        assert!(check_endpoint("http://10.0.0.5:8080@evil.com/", &configured).is_err());
        assert!(check_endpoint("http://10.0.0.5:80800/", &configured).is_err());
    }
}
