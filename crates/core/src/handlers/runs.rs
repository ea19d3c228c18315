//! Run tracing (PROTOCOL §14): `runs.start`, `runs.record_turns`, `runs.complete`,
//! `runs.subscribe`, `runs.unsubscribe`, `runs.list`, `runs.get_trace`. The files and receipts
//! are [`hark_runs`]; subscriptions and the grace timer are [`crate::runs`].
//!
//! Decided here where PROTOCOL is silent:
//! - `agent_id` defaults to the caller's claimed agent id, else `anonymous`; a client that claimed
//!   an agent id records as itself only (another id: -32002); an id another live connection
//!   claimed is refused (-32012), as for `host.register_agent`; ids follow PROTOCOL §4's pattern;
//! - reading (`list`, `get_trace`, `subscribe`) is for a host, the runs of the agent id the
//!   caller claimed (not `anonymous`, which anyone may claim), and the runs the caller started; other runs are `-32010` (not found), so their
//!   ids are not confirmed to exist; `runs.list`'s `agent_id` is optional for a host (all agents);
//! - `runs.complete` of a finished run is -32012; of an unknown one -32010;
//! - the `runs.trace.event` for an outcome has `status: "completed"`, and one with
//!   `record: null` says a run became `incomplete`.

use hark_protocol::RpcError;
use hark_runs::{RecordOutcome, RunError, Status};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Reply, blocking, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;

use crate::runs::DEFAULT_AGENT;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartParams {
    intent: String,
    #[serde(default)]
    agent_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordParams {
    run_id: String,
    turns: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteParams {
    run_id: String,
    outcome: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunIdParams {
    run_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    agent_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceParams {
    run_id: String,
    #[serde(default)]
    cursor: Option<u64>,
}

fn run_error(e: RunError) -> RpcError {
    match e {
        RunError::InvalidInput(reason) => {
            let field = ["turns", "outcome", "agent_id", "intent"]
                .into_iter()
                .find(|f| reason.starts_with(f))
                .unwrap_or("params");
            RpcError::invalid_params(field, reason)
        }
        RunError::NotFound(id) => RpcError::not_found("run", &id),
        RunError::Forbidden(_) => RpcError::forbidden("forbidden: this run belongs to another session"),
        RunError::Terminal { run_id, status } => RpcError::conflict(format!(
            "run {run_id} is already {}",
            json!(status).as_str().unwrap_or("finished")
        )),
        other => {
            tracing::warn!(error = %other, "run store failure");
            RpcError::internal()
        }
    }
}

/// The run, if `caller` may read it; otherwise -32010 (unknown and hidden alike).
fn readable(daemon: &Daemon, caller: &Caller, run_id: &str) -> Result<(), RpcError> {
    let summary = daemon.runs.book.summary(run_id).ok_or_else(|| RpcError::not_found("run", run_id))?;
    if daemon.runs.visible(caller, run_id, &summary.agent_id) {
        Ok(())
    } else {
        Err(RpcError::not_found("run", run_id))
    }
}

pub async fn start(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: StartParams = parse(params)?;
    let agent_id = match (p.agent_id, &caller.agent_id) {
        (Some(asked), Some(mine)) if asked != *mine && !caller.is_host() => {
            return Err(RpcError::forbidden(format!(
                "forbidden: this connection is agent {mine}; it records runs as itself"
            )));
        }
        (Some(asked), _) => asked,
        (None, Some(mine)) => mine.clone(),
        (None, None) => DEFAULT_AGENT.to_string(),
    };
    if !hark_protocol::ids::is_valid_agent_id(&agent_id) {
        return Err(RpcError::invalid_params(
            "agent_id",
            "1 to 128 of A-Z a-z 0-9 _ - . : (not first . or :)",
        ));
    }
    if daemon.agent_claimed_by_other(&agent_id, &caller.session_id) {
        return Err(RpcError::conflict(format!("agent id {agent_id} belongs to another connection")));
    }
    let (book, owner) = (daemon.runs.book.clone(), caller.session_id.clone());
    let started = blocking(move || {
        book.start(&owner, &agent_id, &p.intent, hark_protocol::time::now_millis()).map_err(run_error)
    })
    .await?;
    daemon.runs.started(&started.run_id, &caller.session_id);
    reply(&started)
}

pub async fn record_turns(
    daemon: &Daemon,
    caller: &Caller,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    let p: RecordParams = parse(params)?;
    let (book, owner) = (daemon.runs.book.clone(), caller.session_id.clone());
    let run_id = p.run_id.clone();
    let outcome = blocking(move || {
        book.record_turns(&owner, &run_id, p.turns, hark_protocol::time::now_millis()).map_err(run_error)
    })
    .await?;
    let result = reply(&outcome)?;
    if let RecordOutcome::Recorded(recorded) = outcome {
        daemon.runs.publish(&p.run_id, recorded.records, Status::Open);
    }
    Ok(result)
}

pub async fn complete(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: CompleteParams = parse(params)?;
    let (book, owner) = (daemon.runs.book.clone(), caller.session_id.clone());
    let run_id = p.run_id.clone();
    let completed = blocking(move || {
        book.complete(&owner, &run_id, p.outcome, hark_protocol::time::now_millis()).map_err(run_error)
    })
    .await?;
    let result = reply(&completed)?;
    daemon.runs.publish(&p.run_id, vec![completed.record], Status::Completed);
    Ok(result)
}

pub fn subscribe(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let RunIdParams { run_id } = parse(params)?;
    readable(daemon, caller, &run_id)?;
    let snapshot = daemon.runs.book.snapshot(&run_id).ok_or_else(|| RpcError::not_found("run", &run_id))?;
    reply(&daemon.runs.subscribe(&run_id, caller, snapshot))
}

pub fn unsubscribe(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let RunIdParams { run_id } = parse(params)?;
    reply(&json!({ "removed": daemon.runs.unsubscribe(&run_id, &caller.session_id) }))
}

pub fn list(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let ListParams { agent_id } = parse(params)?;
    if agent_id.is_none() && !caller.is_host() && caller.agent_id.is_none() {
        return Err(RpcError::invalid_params("agent_id", "required (only a host lists every agent's runs)"));
    }
    let agent = agent_id.as_deref().or(if caller.is_host() { None } else { caller.agent_id.as_deref() });
    let runs: Vec<_> = daemon
        .runs
        .book
        .list(agent)
        .into_iter()
        .filter(|s| daemon.runs.visible(caller, &s.run_id, &s.agent_id))
        .collect();
    reply(&json!({ "runs": runs }))
}

pub async fn get_trace(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let TraceParams { run_id, cursor } = parse(params)?;
    readable(daemon, caller, &run_id)?;
    let book = daemon.runs.book.clone();
    let trace = blocking(move || book.get_trace(&run_id, cursor.unwrap_or(0)).map_err(run_error)).await?;
    if !trace.verified {
        tracing::warn!(run = %trace.run_id, first_bad = ?trace.first_bad, "a run trace does not verify");
    }
    reply(&trace)
}
