//! `tools.register/list/unregister` and `policy.register/list/unregister` (PROTOCOL §4). Both live
//! in the connection's runtime: a tool is served by the connection that registered it, and a
//! policy guards that connection's proposals. `scope: "global"` is CAR's word for "every proposal
//! of this session", which is what Hark does; one agent's policy never touches another's plans.

use hark_protocol::RpcError;
use hark_protocol::session::{NameParams, PolicyDefinition, PolicyRule, ToolDefinition};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Reply, parse, reply};
use crate::connection::Connection;

const MAX_NAME: usize = 256;
// Per-session bounds, so one client cannot make the daemon hold much (see ARCHITECTURE.md).
pub const MAX_TOOLS: usize = 256;
pub const MAX_TOOL_BYTES: usize = 32 << 10;
pub const MAX_POLICIES: usize = 64;
pub const MAX_POLICY_BYTES: usize = 4 << 10;

/// The size of `value` as JSON.
pub fn json_size(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

/// `tools.register` takes the array itself (as CAR clients send it) or `{tools: [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RegisterParams {
    List(Vec<ToolDefinition>),
    Wrapped { tools: Vec<ToolDefinition> },
}

pub fn validate_tools(tools: &[ToolDefinition]) -> Result<(), RpcError> {
    for (i, tool) in tools.iter().enumerate() {
        if tool.name.trim().is_empty() || tool.name.len() > MAX_NAME {
            return Err(RpcError::invalid_params(
                &format!("[{i}].name"),
                "a non-empty name of at most 256 bytes",
            ));
        }
        if json_size(tool) > MAX_TOOL_BYTES {
            return Err(RpcError::invalid_params(&format!("[{i}]"), "a tool definition of at most 32 KiB"));
        }
        if tool.parameters.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(RpcError::invalid_params(&format!("[{i}].parameters"), "a JSON Schema object"));
        }
    }
    Ok(())
}

pub fn validate_policy(policy: &PolicyDefinition) -> Result<(), RpcError> {
    if policy.name.trim().is_empty() || policy.name.len() > MAX_NAME {
        return Err(RpcError::invalid_params("name", "a non-empty name of at most 256 bytes"));
    }
    if json_size(policy) > MAX_POLICY_BYTES {
        return Err(RpcError::invalid_params("params", "a policy of at most 4 KiB"));
    }
    let need = |field: &str, present: bool| {
        if present {
            Ok(())
        } else {
            Err(RpcError::invalid_params(field, format!("required by rule {:?}", policy.rule)))
        }
    };
    match policy.rule {
        PolicyRule::DenyTool => need("target", policy.target.is_some()),
        PolicyRule::DenyToolParam => {
            need("target", policy.target.is_some())?;
            need("key", policy.key.is_some())?;
            need("pattern", policy.pattern.is_some() || policy.value.is_some())
        }
        PolicyRule::RequireState => need("key", policy.key.is_some()),
    }
}

fn runtime(conn: &Connection) -> std::sync::MutexGuard<'_, crate::proposal::SessionRuntime> {
    crate::lock(&conn.runtime)
}

pub fn register(conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let tools = match parse::<RegisterParams>(params) {
        Ok(RegisterParams::List(tools) | RegisterParams::Wrapped { tools }) => tools,
        Err(_) => {
            return Err(RpcError::invalid_params(
                "params",
                "expected an array of ToolDefinition {name, description?, parameters?, returns?, idempotent?, timeout_ms?}",
            ));
        }
    };
    validate_tools(&tools)?;
    let count = tools.len();
    let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    {
        let mut runtime = runtime(conn);
        if runtime.tools.len() + count > MAX_TOOLS {
            return Err(RpcError::busy(format!("at most {MAX_TOOLS} tools per session")));
        }
        for tool in tools {
            runtime.tools.insert(tool.name.clone(), tool);
        }
    }
    conn.journal.record("tools_registered", None, None, json!({ "tools": names }));
    reply(&count)
}

pub fn list(conn: &Connection) -> Result<Reply, RpcError> {
    let tools: Vec<ToolDefinition> = runtime(conn).tools.values().cloned().collect(); // BTreeMap: sorted
    reply(&json!({ "count": tools.len(), "tools": tools }))
}

pub fn unregister(conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let NameParams { name } = parse(params)?;
    let removed = runtime(conn).tools.remove(&name).is_some();
    if removed {
        conn.journal.record("tool_unregistered", None, None, json!({ "tool": name }));
    }
    reply(&json!({ "unregistered": name, "removed": u8::from(removed) }))
}

pub fn policy_register(conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let policy: PolicyDefinition = parse(params)?;
    validate_policy(&policy)?;
    let name = policy.name.clone();
    {
        let mut runtime = runtime(conn);
        if !runtime.policies.contains_key(&name) && runtime.policies.len() >= MAX_POLICIES {
            return Err(RpcError::busy(format!("at most {MAX_POLICIES} policies per session")));
        }
        runtime.policies.insert(name.clone(), policy);
    }
    conn.journal.record("policy_registered", None, None, json!({ "policy": name }));
    reply(&json!({ "registered": name, "scope": "global" }))
}

pub fn policy_list(conn: &Connection) -> Result<Reply, RpcError> {
    let policies: Vec<Value> = runtime(conn)
        .policies
        .values()
        .map(|p| {
            let description = p.description.clone().unwrap_or_else(|| describe(p));
            json!({ "name": p.name, "description": description })
        })
        .collect();
    reply(&json!({ "policies": policies, "scope": "global" }))
}

fn describe(p: &PolicyDefinition) -> String {
    let target = p.target.as_deref().unwrap_or("?");
    let key = p.key.as_deref().unwrap_or("?");
    match p.rule {
        PolicyRule::DenyTool => format!("deny tool {target}"),
        PolicyRule::DenyToolParam => format!("deny tool {target} when parameter {key} matches"),
        PolicyRule::RequireState => format!("require state {key}"),
    }
}

pub fn policy_unregister(conn: &Connection, params: Option<Value>) -> Result<Reply, RpcError> {
    let NameParams { name } = parse(params)?;
    let removed = runtime(conn).policies.remove(&name).is_some();
    reply(&json!({ "unregistered": name, "removed": u8::from(removed), "scope": "global" }))
}
