//! `proposal.submit` (PROTOCOL §5): validates the plan (a malformed one runs nothing), then runs
//! it with `tools.execute` callbacks to this same connection. The handler is its own task, so the
//! read loop keeps serving the client's callback replies while the submit is pending.

use std::sync::Arc;

use hark_protocol::RpcError;
use hark_protocol::proposal::{ActionProposal, SubmitParams};
use serde_json::Value;

use super::{Reply, parse, reply};
use crate::connection::Connection;
use crate::connection::callbacks::ConnectionInvoker;
use crate::daemon::Daemon;
use crate::proposal;

pub async fn submit(
    daemon: &Daemon,
    conn: &Arc<Connection>,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    // CAR's shape is `{proposal: {...}}`; a bare proposal (`{actions: [...]}`) is taken too.
    let proposal: ActionProposal = match params {
        Some(Value::Object(map)) if !map.contains_key("proposal") && map.contains_key("actions") => {
            parse(Some(Value::Object(map)))?
        }
        other => parse::<SubmitParams>(other)?.proposal,
    };
    let plan = proposal::validate(proposal)?;
    let invoker = ConnectionInvoker { conn };
    let result =
        proposal::execute(plan, &conn.runtime, &invoker, &conn.journal, daemon.config.tool_timeout).await;
    reply(&result)
}
