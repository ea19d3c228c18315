//! Run tracing (PROTOCOL §14): `runs.start`, `runs.record_turns`, `runs.complete`,
//! `runs.subscribe`, `runs.unsubscribe`, `runs.list`, `runs.get_trace`. The files and receipts
//! are [`hark_runs`]; subscriptions and the grace timer are [`crate::runs`].
//!
//! Decided here where PROTOCOL is silent:
//! - `agent_id` defaults to the caller's claimed agent id, else `anonymous`; a client records
//!   as the id it claimed, or as `anonymous` (another id: -32002; otherwise any client could
//!   push an offline agent's traces out of its 50 kept); a host may name any id; an id another
//!   live connection claimed is refused (-32012); ids follow PROTOCOL §4's pattern; at most 64
//!   open runs per connection (-32011);
//! - reading (`list`, `get_trace`, `subscribe`) is for a host, the runs of the agent id the
//!   caller claimed (not `anonymous`, which anyone may claim), and the runs the caller started; other runs are `-32010` (not found), so their
//!   ids are not confirmed to exist; `runs.list`'s `agent_id` is optional for a host (all agents);
//! - `runs.complete` of a finished run is -32012; of an unknown one -32010;
//! - the `runs.trace.event` for an outcome has `status: "completed"`, and one with
//!   `record: null` says a run became `incomplete`.

use hark_protocol::RpcError;
use hark_runs::{RecordOutcome, RunBook, RunError, Status};
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

/// Open runs one connection may hold at once (each is a file and a lock until it ends).
pub const MAX_OPEN_RUNS_PER_SESSION: usize = 64;

/// The run's agent id, if `caller` may read it; otherwise -32010 (unknown and hidden alike).
/// Blocking: the summary takes the run's lock, which a long `get_trace` holds.
fn readable(book: &RunBook, runs: &crate::runs::Runs, caller: &Caller, run_id: &str) -> Result<(), RpcError> {
    let summary = book.summary(run_id).ok_or_else(|| RpcError::not_found("run", run_id))?;
    if runs.visible(caller, run_id, &summary.agent_id) {
        Ok(())
    } else {
        Err(RpcError::not_found("run", run_id))
    }
}

pub async fn start(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: StartParams = parse(params)?;
    if p.agent_id.as_deref().is_some_and(|id| !hark_protocol::ids::is_valid_agent_id(id)) {
        return Err(RpcError::invalid_params(
            "agent_id",
            "1 to 128 of A-Z a-z 0-9 _ - . : (not first . or :)",
        ));
    }
    let agent_id = match (p.agent_id, &caller.agent_id) {
        (Some(asked), _) if caller.is_host() => asked,
        (Some(asked), mine) if Some(&asked) != mine.as_ref() && asked != DEFAULT_AGENT => {
            return Err(RpcError::forbidden(format!(
                "forbidden: a connection records runs as the agent id it claimed with session.auth ({})",
                mine.as_deref().unwrap_or("none: anonymous")
            )));
        }
        (Some(asked), _) => asked,
        (None, Some(mine)) => mine.clone(),
        (None, None) => DEFAULT_AGENT.to_string(),
    };
    if daemon.agent_claimed_by_other(&agent_id, &caller.session_id) {
        return Err(RpcError::conflict(format!("agent id {agent_id} belongs to another connection")));
    }
    let (book, owner, gone) = (daemon.runs.book.clone(), caller.session_id.clone(), caller.gone.clone());
    let started = blocking(move || {
        if book.owner_gone(&owner).len() >= MAX_OPEN_RUNS_PER_SESSION {
            return Err(RpcError::busy(format!(
                "this connection has {MAX_OPEN_RUNS_PER_SESSION} open runs; complete one first"
            )));
        }
        let now = hark_protocol::time::now_millis();
        let started = book.start(&owner, &agent_id, &p.intent, now).map_err(run_error)?;
        // The caller left while the run was being created: the cleanup path already looked for
        // its open runs, so this one is ended here.
        if gone.is_cancelled() {
            let _ = book.mark_incomplete(&started.run_id, "connection closed", now);
        }
        Ok(started)
    })
    .await?;
    daemon.runs.started(&started.run_id, &caller.session_id, &started.removed);
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

pub async fn subscribe(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let RunIdParams { run_id } = parse(params)?;
    let (book, runs, who, id) =
        (daemon.runs.book.clone(), daemon.runs.clone(), caller.clone(), run_id.clone());
    let snapshot = blocking(move || {
        readable(&book, &runs, &who, &id)?;
        book.snapshot(&id).ok_or_else(|| RpcError::not_found("run", &id))
    })
    .await?;
    reply(&daemon.runs.subscribe(&run_id, caller, snapshot))
}

pub fn unsubscribe(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let RunIdParams { run_id } = parse(params)?;
    reply(&json!({ "removed": daemon.runs.unsubscribe(&run_id, &caller.session_id) }))
}

pub async fn list(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let ListParams { agent_id } = parse(params)?;
    if agent_id.is_none() && !caller.is_host() && caller.agent_id.is_none() {
        return Err(RpcError::invalid_params("agent_id", "required (only a host lists every agent's runs)"));
    }
    let agent = agent_id.or(if caller.is_host() { None } else { caller.agent_id.clone() });
    let book = daemon.runs.book.clone();
    let all = blocking(move || Ok(book.list(agent.as_deref()))).await?;
    let runs: Vec<_> =
        all.into_iter().filter(|s| daemon.runs.visible(caller, &s.run_id, &s.agent_id)).collect();
    reply(&json!({ "runs": runs }))
}

pub async fn get_trace(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let TraceParams { run_id, cursor } = parse(params)?;
    let (book, runs, who) = (daemon.runs.book.clone(), daemon.runs.clone(), caller.clone());
    let trace = blocking(move || {
        readable(&book, &runs, &who, &run_id)?;
        book.get_trace(&run_id, cursor.unwrap_or(0)).map_err(run_error)
    })
    .await?;
    if !trace.verified {
        tracing::warn!(run = %trace.run_id, first_bad = ?trace.first_bad, "a run trace does not verify");
    }
    reply(&trace)
}
