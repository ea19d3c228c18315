//! Session methods (PROTOCOL §4): `session.auth`, `server.handshake`, `server.info`,
//! `session.init`.

use std::sync::Arc;

use hark_protocol::session::{
    AuthParams, AuthResult, HandshakeParams, HandshakeResult, ModelInfo, Role, ServerInfo, SessionInitParams,
    SessionInitResult,
};
use hark_protocol::{ErrorCode, PROTOCOL_VERSION, RpcError, SUPPORTED_PROTOCOL_VERSIONS};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{Reply, parse, reply};
use crate::connection::{AuthInfo, Connection};
use crate::daemon::{CAPABILITIES, Daemon, VERSION};

fn token_matches(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// `session.auth`: checks a token in constant time, claims the agent id, and makes the
/// connection a session. On error the caller closes the connection.
pub fn authenticate(
    daemon: &Daemon,
    conn: &Arc<Connection>,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    let params: AuthParams = parse(params)?;
    let role = match (&daemon.tokens, &params.host_token, &params.token) {
        (Some(tokens), Some(given), _) if token_matches(given, &tokens.host) => Role::Host,
        (Some(tokens), None, Some(given)) if token_matches(given, &tokens.client) => Role::Client,
        (Some(_), None, None) => return Err(RpcError::unauthorized("authentication failed: token missing")),
        (Some(_), _, _) => return Err(RpcError::unauthorized("authentication failed: invalid token")),
        // --no-auth: any caller may take the host role by asking for it.
        (None, Some(_), _) => Role::Host,
        (None, None, _) => Role::Client,
    };
    if let Some(agent_id) = &params.agent_id {
        if !hark_protocol::ids::is_valid_agent_id(agent_id) {
            return Err(RpcError::invalid_params(
                "agent_id",
                "must match ^[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127}$",
            ));
        }
        daemon.claim_agent(agent_id, &conn.session_id)?;
    }
    conn.set_auth(AuthInfo { role, agent_id: params.agent_id.clone(), explicit: true });
    daemon.session_authenticated(conn);
    tracing::debug!(session = %conn.session_id, ?role, agent_id = ?params.agent_id, "authenticated");
    let result = AuthResult {
        ok: true,
        auth_enabled: daemon.auth_enabled(),
        role,
        agent_id: params.agent_id,
        session_id: conn.session_id.clone(),
    };
    reply(&result)
}

/// `session.auth` on a connection that already authenticated. Under `--no-auth` a connection's
/// first explicit call may still claim an agent id or the host role.
pub fn reauthenticate(
    daemon: &Daemon,
    conn: &Arc<Connection>,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    match conn.auth() {
        Some(info) if !info.explicit => authenticate(daemon, conn, params),
        _ => Err(RpcError::conflict("this connection is already authenticated")),
    }
}

pub fn handshake(params: Option<Value>) -> Result<Reply, RpcError> {
    let params: HandshakeParams = parse(params)?;
    let unsupported = |reason: String| {
        RpcError::new(ErrorCode::ProtocolVersion, reason)
            .with_data(json!({ "supported": SUPPORTED_PROTOCOL_VERSIONS }))
    };
    let version = match &params.protocol_version {
        None | Some(Value::Null) => return Err(unsupported("protocol_version is missing".into())),
        Some(v) => {
            v.as_u64().ok_or_else(|| unsupported(format!("protocol_version must be an integer, got {v}")))?
        }
    };
    let version =
        u32::try_from(version).ok().filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(v)).ok_or_else(|| {
            unsupported(format!("protocol_version {version} is not supported; this server speaks 1, 2 and 3"))
        })?;
    if let Some(missing) = params.required_capabilities.iter().find(|c| !CAPABILITIES.contains(&c.as_str())) {
        return Err(RpcError::new(
            ErrorCode::ProtocolVersion,
            format!("required capability not supported: {missing}"),
        )
        .with_data(json!({ "missing": missing, "capabilities": CAPABILITIES })));
    }
    let result = HandshakeResult {
        protocol_version: version,
        server_version: VERSION.to_string(),
        client_protocol_version: version,
        capabilities: CAPABILITIES.map(String::from).to_vec(),
    };
    reply(&result)
}

pub fn info(daemon: &Daemon) -> Result<Reply, RpcError> {
    let info = ServerInfo {
        server_version: VERSION.to_string(),
        protocol_version: PROTOCOL_VERSION,
        uptime_ms: daemon.started.elapsed().as_millis() as u64,
        connections: daemon.open_connections.load(std::sync::atomic::Ordering::Acquire),
        sessions: daemon.session_count(),
        capabilities: CAPABILITIES.map(String::from).to_vec(),
        limits: daemon.config.limits.to_wire(),
        model: {
            let (name, loaded) = daemon.engine.model_info();
            ModelInfo { name, loaded }
        },
        auth_enabled: daemon.auth_enabled(),
    };
    reply(&info)
}

/// `session.init` (optional, CAR's rule): names the client and registers tools and policies.
pub fn init(conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: SessionInitParams = parse(params)?;
    super::tools::validate_tools(&params.tools)?;
    for policy in &params.policies {
        super::tools::validate_policy(policy)?;
    }
    if let Some(client_id) = &params.client_id
        && client_id.len() > 256
    {
        return Err(RpcError::invalid_params("client_id", "at most 256 characters"));
    }
    conn.set_client_id(params.client_id);
    let (tools, policies) = (params.tools.len(), params.policies.len());
    {
        let mut runtime = crate::lock(&conn.runtime);
        if runtime.tools.len() + tools > super::tools::MAX_TOOLS
            || runtime.policies.len() + policies > super::tools::MAX_POLICIES
        {
            return Err(RpcError::busy(format!(
                "at most {} tools and {} policies per session",
                super::tools::MAX_TOOLS,
                super::tools::MAX_POLICIES
            )));
        }
        for tool in params.tools {
            runtime.tools.insert(tool.name.clone(), tool);
        }
        for policy in params.policies {
            runtime.policies.insert(policy.name.clone(), policy);
        }
    }
    conn.journal.record("session_init", None, None, json!({ "tools": tools, "policies": policies }));
    reply(&SessionInitResult {
        session_id: conn.session_id.clone(),
        tools_registered: tools,
        policies_registered: policies,
    })
}
