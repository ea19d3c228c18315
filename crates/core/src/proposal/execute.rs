//! Running a [`Plan`]: starting each action as soon as the actions it depends on have finished
//! (independent ones run concurrently, all polled from this one task), policies, preconditions,
//! attempts and failure behaviours, the journal, and the cost summary.
//!
//! Per action: policies (a match → `rejected`, the proposal goes on), then up to `max_attempts`
//! attempts of: preconditions, the tool's registration, the action itself. A failure is handled
//! per `failure_behavior`: `abort` and exhausted `retry` stop the proposal (actions not started
//! become `skipped`, running ones finish), `skip` marks the action `skipped` and goes on.
//! A closed callback channel is fatal whatever the behaviour: the client is gone.
//!
//! The state lock is only ever held between awaits, never across one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hark_protocol::proposal::{ActionResult, ActionStatus, Cost, FailureBehavior, ProposalResult};
use hark_protocol::time::now_rfc3339;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::validate::{Plan, Step, StepKind};
use crate::lock;

use super::{JournalSink, SessionRuntime, ToolCall, ToolError, ToolInvoker, policy, precondition};

/// Keys a session's state map may hold (each value is bounded by the message size).
pub const MAX_STATE_KEYS: usize = 1024;

/// Added to a tool timeout to get how long the daemon waits for the reply (PROTOCOL §5).
const REPLY_GRACE: Duration = Duration::from_secs(5);

/// Runs `plan` to the end and reports every action, in the proposal's order. Tool calls go
/// through `invoker`; `default_tool_timeout` is the wait when neither the action nor the tool
/// definition names a timeout. Never fails: failures are in the result.
pub async fn execute(
    plan: Plan,
    runtime: &Mutex<SessionRuntime>,
    invoker: &impl ToolInvoker,
    journal: &dyn JournalSink,
    default_tool_timeout: Duration,
) -> ProposalResult {
    let started = Instant::now();
    let ctx = Ctx { proposal_id: &plan.id, runtime, invoker, journal, default_tool_timeout };
    journal.record(
        "proposal_submitted",
        None,
        Some(&plan.id),
        json!({ "actions": plan.action_ids().collect::<Vec<_>>(), "source": plan.source }),
    );

    let steps = &plan.steps;
    let mut outcomes: Vec<Option<Outcome>> = steps.iter().map(|_| None).collect();
    let mut launched = vec![false; steps.len()];
    let mut stopped_by: Option<usize> = None;
    let mut running = FuturesUnordered::new();
    loop {
        if stopped_by.is_none() {
            for (index, step) in steps.iter().enumerate() {
                if !launched[index] && step.depends_on.iter().all(|&d| outcomes[d].is_some()) {
                    launched[index] = true;
                    let ctx = &ctx;
                    running.push(async move { (index, run_step(ctx, step).await) });
                }
            }
        }
        let Some((index, outcome)) = running.next().await else {
            break;
        };
        if outcome.stop && stopped_by.is_none() {
            stopped_by = Some(index);
        }
        outcomes[index] = Some(outcome);
    }

    let reason = match stopped_by {
        Some(index) => format!("aborted: {} failed", steps[index].id),
        None => "not run".to_owned(), // unreachable: every dependency is an earlier action
    };
    let mut cost = Cost::default();
    let mut results = Vec::with_capacity(steps.len());
    for (step, outcome) in steps.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| {
            journal.record(
                "action_skipped",
                Some(&step.id),
                Some(&plan.id),
                json!({ "error": reason, "attempts": 0 }),
            );
            Outcome::new(finish(step, ActionStatus::Skipped, Some(reason.clone()), Instant::now()))
        });
        cost.tool_calls = cost.tool_calls.saturating_add(outcome.tool_calls);
        let retries = outcome.result.attempts.saturating_sub(1);
        cost.retries = cost.retries.saturating_add(retries);
        match outcome.result.status {
            ActionStatus::Succeeded | ActionStatus::Failed => cost.actions_executed += 1,
            ActionStatus::Skipped => cost.actions_skipped += 1,
            ActionStatus::Rejected => cost.actions_rejected += 1,
        }
        results.push(outcome.result);
    }
    cost.total_duration_ms = millis(started.elapsed());
    let count = |status| results.iter().filter(|r| r.status == status).count();
    journal.record(
        "proposal_completed",
        None,
        Some(&plan.id),
        json!({
            "succeeded": count(ActionStatus::Succeeded),
            "failed": count(ActionStatus::Failed),
            "skipped": count(ActionStatus::Skipped),
            "rejected": count(ActionStatus::Rejected),
            "cost": cost,
        }),
    );
    ProposalResult { proposal_id: plan.id.clone(), results, cost }
}

/// What every running action shares.
struct Ctx<'a, I> {
    proposal_id: &'a str,
    runtime: &'a Mutex<SessionRuntime>,
    invoker: &'a I,
    journal: &'a dyn JournalSink,
    default_tool_timeout: Duration,
}

impl<I> Ctx<'_, I> {
    fn record(&self, kind: &str, step: &Step, data: Value) {
        self.journal.record(kind, Some(&step.id), Some(self.proposal_id), data);
    }
}

/// How one action ended, plus what it cost.
struct Outcome {
    result: ActionResult,
    tool_calls: u32,
    /// The proposal must start nothing more.
    stop: bool,
}

impl Outcome {
    fn new(result: ActionResult) -> Self {
        Outcome { result, tool_calls: 0, stop: false }
    }
}

/// Why one attempt failed.
struct Failure {
    message: String,
    /// No retry, no skip: the proposal stops.
    fatal: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, fatal: false }
    }
}

async fn run_step<I: ToolInvoker>(ctx: &Ctx<'_, I>, step: &Step) -> Outcome {
    let started = Instant::now();
    let denial = {
        let runtime = lock(ctx.runtime);
        policy::denial(&runtime.policies, &runtime.state, step)
    };
    if let Some(denial) = denial {
        ctx.record(
            "policy_violation",
            step,
            json!({
                "policy": denial.policy,
                "rule": denial.rule,
                "tool": step.kind.tool(),
                "error": denial.message,
            }),
        );
        return Outcome::new(finish(step, ActionStatus::Rejected, Some(denial.message), started));
    }

    ctx.record("action_started", step, json!({ "type": step.kind.type_name(), "tool": step.kind.tool() }));
    let max_attempts = match step.failure {
        FailureBehavior::Retry => step.max_retries.saturating_add(1),
        _ => 1,
    };
    let mut tool_calls = 0;
    let mut attempts = 0;
    let failure = loop {
        attempts += 1;
        match attempt(ctx, step, attempts, &mut tool_calls).await {
            Ok((output, changes)) => {
                for (key, value) in &changes {
                    ctx.record("state_changed", step, json!({ "key": key, "value": value }));
                }
                let mut result = finish(step, ActionStatus::Succeeded, None, started);
                (result.output, result.state_changes, result.attempts) = (output, changes, attempts);
                ctx.record(
                    "action_succeeded",
                    step,
                    json!({ "attempts": attempts, "duration_ms": result.duration_ms }),
                );
                return Outcome { result, tool_calls, stop: false };
            }
            Err(failure) if !failure.fatal && attempts < max_attempts => {
                // A failed precondition retries without awaiting anything: let others run.
                tokio::task::yield_now().await;
                ctx.record(
                    "action_retry",
                    step,
                    json!({ "attempt": attempts + 1, "error": failure.message }),
                );
            }
            Err(failure) => break failure,
        }
    };

    let skip = step.failure == FailureBehavior::Skip && !failure.fatal;
    let (status, kind) = if skip {
        (ActionStatus::Skipped, "action_skipped")
    } else {
        (ActionStatus::Failed, "action_failed")
    };
    ctx.record(kind, step, json!({ "error": failure.message, "attempts": attempts }));
    let mut result = finish(step, status, Some(failure.message), started);
    result.attempts = attempts;
    Outcome { result, tool_calls, stop: !skip }
}

/// What an attempt does between awaits: either it is already done, or a tool call is due.
enum Prepared {
    Done(Value, Map<String, Value>),
    Call(ToolCall),
}

/// One attempt: preconditions, then the action. On success, the output and the state changes.
async fn attempt<I: ToolInvoker>(
    ctx: &Ctx<'_, I>,
    step: &Step,
    attempt: u32,
    tool_calls: &mut u32,
) -> Result<(Value, Map<String, Value>), Failure> {
    let prepared = {
        let mut runtime = lock(ctx.runtime);
        prepare(ctx, step, attempt, &mut runtime)?
    };
    let call = match prepared {
        Prepared::Done(output, changes) => return Ok((output, changes)),
        Prepared::Call(call) => call,
    };
    let tool = call.tool.clone();
    *tool_calls += 1;
    let output = ctx.invoker.invoke(call).await.map_err(|error| match error {
        ToolError::Failed(message) => Failure::from(message),
        ToolError::TimedOut(after) => {
            Failure::from(format!("tool '{tool}' timed out after {} ms", millis(after)))
        }
        ToolError::ChannelClosed => Failure { message: error.to_string(), fatal: true },
    })?;
    let changes = apply(&mut lock(ctx.runtime).state, &step.effects);
    Ok((output, changes))
}

/// The synchronous part of an attempt, under the state lock.
fn prepare<I>(
    ctx: &Ctx<'_, I>,
    step: &Step,
    attempt: u32,
    runtime: &mut SessionRuntime,
) -> Result<Prepared, Failure> {
    if let Some(pre) = precondition::first_failed(&step.preconditions, &runtime.state) {
        return Err(Failure::from(match step.kind {
            StepKind::Assertion => {
                format!("assertion failed: {}", pre.description.as_deref().unwrap_or(&pre.key))
            }
            _ => format!("precondition failed: {}", precondition::describe(pre)),
        }));
    }
    let state = &mut runtime.state;
    let written = match &step.kind {
        StepKind::StateWrite { key, .. } => Some(key),
        _ => None,
    };
    let new_keys = written.into_iter().chain(step.effects.keys()).filter(|k| !state.contains_key(*k)).count();
    if state.len() + new_keys > MAX_STATE_KEYS {
        return Err(Failure::from(format!("the session's state is full ({MAX_STATE_KEYS} keys)")));
    }
    match &step.kind {
        StepKind::ToolCall { tool, parameters } => {
            let Some(definition) = runtime.tools.get(tool) else {
                return Err(Failure::from(format!("tool '{tool}' is not registered")));
            };
            let timeout_ms = step.timeout_ms.or(definition.timeout_ms);
            let wait = timeout_ms
                .map(|ms| Duration::from_millis(ms) + REPLY_GRACE)
                .unwrap_or(ctx.default_tool_timeout);
            Ok(Prepared::Call(ToolCall {
                action_id: step.id.clone(),
                tool: tool.clone(),
                parameters: parameters.clone(),
                timeout_ms,
                wait,
                attempt,
            }))
        }
        StepKind::StateWrite { key, value } => {
            state.insert(key.clone(), value.clone());
            let mut changes = Map::from_iter([(key.clone(), value.clone())]);
            changes.extend(apply(state, &step.effects));
            Ok(Prepared::Done(Value::Null, changes))
        }
        StepKind::StateRead { key } => {
            let output = state.get(key).cloned().unwrap_or(Value::Null);
            Ok(Prepared::Done(output, apply(state, &step.effects)))
        }
        StepKind::Assertion => Ok(Prepared::Done(Value::Null, apply(state, &step.effects))),
    }
}

/// Applies a succeeded action's `expected_effects`; returns them as its state changes.
fn apply(state: &mut HashMap<String, Value>, effects: &Map<String, Value>) -> Map<String, Value> {
    for (key, value) in effects {
        state.insert(key.clone(), value.clone());
    }
    effects.clone()
}

/// A result with no output and no state changes; callers fill in the rest.
fn finish(step: &Step, status: ActionStatus, error: Option<String>, started: Instant) -> ActionResult {
    ActionResult {
        action_id: step.id.clone(),
        status,
        output: Value::Null,
        error,
        state_changes: Map::new(),
        duration_ms: millis(started.elapsed()),
        timestamp: now_rfc3339(),
        attempts: 0,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
