//! Tests of the proposal engine, by behaviour, with the fakes they share: a scripted
//! [`FakeTools`] invoker that records every call with its start and end instants, and a
//! [`RecordingJournal`]. Timing tests run on tokio's paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use hark_protocol::RpcError;
use hark_protocol::proposal::{Action, ActionProposal, ActionResult, ActionStatus, ProposalResult};
use hark_protocol::session::{PolicyDefinition, ToolDefinition};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use super::{JournalSink, SessionRuntime, ToolCall, ToolError, ToolInvoker, execute, validate};

mod failures;
mod ordering;
mod policies;
mod validation;

/// The wait when neither the action nor the tool names a timeout.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// One call the fake saw.
#[derive(Debug, Clone)]
struct Seen {
    call: ToolCall,
    started: Instant,
    finished: Instant,
}

/// A scripted `ToolInvoker`: per tool, a delay and a queue of replies; with the queue empty it
/// answers `{"tool", "parameters"}`.
#[derive(Default)]
struct FakeTools {
    delays: Mutex<HashMap<String, Duration>>,
    replies: Mutex<HashMap<String, VecDeque<Result<Value, ToolError>>>>,
    seen: Mutex<Vec<Seen>>,
}

impl FakeTools {
    fn delay(self, tool: &str, delay: Duration) -> Self {
        self.delays.lock().unwrap().insert(tool.to_owned(), delay);
        self
    }

    fn reply(self, tool: &str, reply: Result<Value, ToolError>) -> Self {
        self.replies.lock().unwrap().entry(tool.to_owned()).or_default().push_back(reply);
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn seen_by(&self, action_id: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.call.action_id == action_id).collect()
    }
}

impl ToolInvoker for FakeTools {
    async fn invoke(&self, call: ToolCall) -> Result<Value, ToolError> {
        let started = Instant::now();
        let delay = self.delays.lock().unwrap().get(&call.tool).copied().unwrap_or_default();
        sleep(delay).await;
        let scripted = self.replies.lock().unwrap().get_mut(&call.tool).and_then(VecDeque::pop_front);
        let reply =
            scripted.unwrap_or_else(|| Ok(json!({ "tool": call.tool, "parameters": call.parameters })));
        self.seen.lock().unwrap().push(Seen { call, started, finished: Instant::now() });
        reply
    }
}

/// Every journal event as `(kind, action_id, data)`.
#[derive(Default)]
struct RecordingJournal {
    events: Mutex<Vec<(String, Option<String>, Value)>>,
}

impl RecordingJournal {
    fn kinds_for(&self, action_id: Option<&str>) -> Vec<String> {
        let events = self.events.lock().unwrap();
        events.iter().filter(|e| e.1.as_deref() == action_id).map(|e| e.0.clone()).collect()
    }

    fn count(&self, kind: &str) -> usize {
        self.events.lock().unwrap().iter().filter(|e| e.0 == kind).count()
    }
}

impl JournalSink for RecordingJournal {
    fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value) {
        assert!(proposal_id.is_some(), "every proposal event names its proposal");
        self.events.lock().unwrap().push((kind.to_owned(), action_id.map(str::to_owned), data));
    }
}

/// A runtime with `tools` registered (no timeouts) and no policies.
fn runtime(tools: &[&str]) -> Mutex<SessionRuntime> {
    let mut runtime = SessionRuntime::default();
    for name in tools {
        runtime.tools.insert((*name).to_owned(), tool(name, None));
    }
    Mutex::new(runtime)
}

fn tool(name: &str, timeout_ms: Option<u64>) -> ToolDefinition {
    ToolDefinition {
        name: name.to_owned(),
        description: None,
        parameters: None,
        returns: None,
        idempotent: None,
        timeout_ms,
    }
}

fn policy(name: &str, rule: &str, fields: Value) -> PolicyDefinition {
    let mut definition = json!({ "name": name, "rule": rule });
    definition.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    serde_json::from_value(definition).unwrap()
}

fn proposal(actions: Vec<Action>) -> ActionProposal {
    ActionProposal { id: Some("p1".into()), actions, ..ActionProposal::default() }
}

/// Validates and runs `actions` with `tools` and a fresh journal.
async fn run(
    actions: Vec<Action>,
    runtime: &Mutex<SessionRuntime>,
    tools: &FakeTools,
) -> (ProposalResult, RecordingJournal) {
    let journal = RecordingJournal::default();
    let plan = validate(proposal(actions)).expect("valid proposal");
    let result = execute(plan, runtime, tools, &journal, DEFAULT_WAIT).await;
    (result, journal)
}

fn result<'a>(result: &'a ProposalResult, action_id: &str) -> &'a ActionResult {
    result.results.iter().find(|r| r.action_id == action_id).expect("a result per action")
}

fn statuses(result: &ProposalResult) -> Vec<ActionStatus> {
    result.results.iter().map(|r| r.status).collect()
}

fn error_of<'a>(result: &'a ProposalResult, action_id: &str) -> &'a str {
    self::result(result, action_id).error.as_deref().unwrap_or_default()
}

/// The `data.field` of a -32602, after checking the code.
fn invalid_field(error: &RpcError) -> String {
    assert_eq!(error.code, -32602, "{error}");
    error.data.as_ref().and_then(|d| d["field"].as_str()).unwrap_or_default().to_owned()
}

fn with<F: FnOnce(&mut Action)>(mut action: Action, edit: F) -> Action {
    edit(&mut action);
    action
}
