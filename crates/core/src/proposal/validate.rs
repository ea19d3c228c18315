//! Turning a wire `ActionProposal` into a runnable [`Plan`]: the shape rules of PROTOCOL §5
//! (a malformed proposal is -32602 naming the JSON path, and nothing runs), default ids, and the
//! dependency DAG over state keys.
//!
//! Ordering rule: an action waits for every EARLIER action (in list order) that writes a key it
//! reads, so the graph can have no cycles. Writes are the `expected_effects` keys and a
//! `state_write`'s key. Reads are `state_dependencies` plus, as a Hark extension that only adds
//! ordering CAR's rule implies, a `state_read`'s key and every precondition's key (a check of a
//! key an earlier action sets would otherwise race that action).

use std::collections::{BTreeSet, HashMap, HashSet};

use hark_protocol::RpcError;
use hark_protocol::proposal::{Action, ActionProposal, ActionType, FailureBehavior, Operator, Precondition};
use serde_json::{Map, Value};

/// A validated proposal: every id assigned, every enum known, the DAG computed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(super) id: String,
    pub(super) source: Option<String>,
    pub(super) steps: Vec<Step>,
}

impl Plan {
    /// The proposal id (the client's, or a fresh 12-hex-char one).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The proposal's `source`, if it gave one.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The action ids in proposal order (defaults filled in).
    pub fn action_ids(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| s.id.as_str())
    }
}

/// One validated action.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Operators are all known here.
    pub preconditions: Vec<Precondition>,
    pub effects: Map<String, Value>,
    /// Never `Unknown` here.
    pub failure: FailureBehavior,
    pub max_retries: u32,
    pub timeout_ms: Option<u64>,
    /// The action's `state_dependencies`.
    pub declared_reads: Vec<String>,
    /// Indexes of the earlier steps this one waits for, ascending.
    pub depends_on: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum StepKind {
    ToolCall { tool: String, parameters: Value },
    StateWrite { key: String, value: Value },
    StateRead { key: String },
    Assertion,
}

impl StepKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            StepKind::ToolCall { .. } => "tool_call",
            StepKind::StateWrite { .. } => "state_write",
            StepKind::StateRead { .. } => "state_read",
            StepKind::Assertion => "assertion",
        }
    }

    pub fn tool(&self) -> Option<&str> {
        match self {
            StepKind::ToolCall { tool, .. } => Some(tool),
            _ => None,
        }
    }
}

/// Checks `proposal` against PROTOCOL §5 and plans it. Errors are -32602 naming the field
/// (`actions`, `actions[2].type`, `actions[0].preconditions[1].operator`, ...).
pub fn validate(proposal: ActionProposal) -> Result<Plan, RpcError> {
    if proposal.actions.is_empty() {
        return Err(RpcError::invalid_params("actions", "must contain at least one action"));
    }
    if proposal.actions.len() > MAX_ACTIONS {
        return Err(RpcError::invalid_params(
            "actions",
            format!("at most {MAX_ACTIONS} actions per proposal"),
        ));
    }
    let ids = assign_ids(&proposal.actions)?;
    let mut steps = Vec::with_capacity(proposal.actions.len());
    for (index, (action, id)) in proposal.actions.into_iter().zip(ids).enumerate() {
        steps.push(validate_action(index, action, id)?);
    }
    link(&mut steps);
    Ok(Plan { id: non_empty(proposal.id).unwrap_or_else(crate::mint_id), source: proposal.source, steps })
}

/// An empty id counts as no id (it gets the default).
fn non_empty(id: Option<String>) -> Option<String> {
    id.filter(|id| !id.is_empty())
}

/// The client's ids, checked for duplicates, and fresh ones, unique, where it gave none.
fn assign_ids(actions: &[Action]) -> Result<Vec<String>, RpcError> {
    let mut first_use: HashMap<&str, usize> = HashMap::new();
    for (index, action) in actions.iter().enumerate() {
        let Some(id) = action.id.as_deref().filter(|id| !id.is_empty()) else {
            continue;
        };
        if let Some(first) = first_use.insert(id, index) {
            return Err(RpcError::invalid_params(
                &format!("actions[{index}].id"),
                format!("duplicate action id '{id}' (also actions[{first}].id)"),
            ));
        }
    }
    let mut used: HashSet<String> = first_use.keys().map(|id| (*id).to_owned()).collect();
    let ids = actions
        .iter()
        .map(|action| match non_empty(action.id.clone()) {
            Some(id) => id,
            None => loop {
                let id = crate::mint_id();
                if used.insert(id.clone()) {
                    break id;
                }
            },
        })
        .collect();
    Ok(ids)
}

/// The most retries one action gets, whatever it asks for: a retry of a failed precondition
/// involves no await, so an absurd `max_retries` would otherwise spin for a long time.
pub(super) const MAX_RETRIES_CAP: u32 = 100;
/// Scheduling is quadratic in the number of actions; a plan is a plan, not a batch job.
pub(super) const MAX_ACTIONS: usize = 1000;

fn validate_action(index: usize, action: Action, id: String) -> Result<Step, RpcError> {
    let field = |name: &str| format!("actions[{index}].{name}");
    if let ActionType::Unknown(other) = &action.action_type {
        // Before the parameters: an unknown type is the more useful thing to hear about.
        return Err(unknown(&field("type"), "type", other, ActionType::KNOWN));
    }
    let parameters = match action.parameters {
        Value::Null => Value::Object(Map::new()),
        Value::Object(map) => Value::Object(map),
        _ => {
            return Err(RpcError::invalid_params(&field("parameters"), "expected an object"));
        }
    };
    let kind = match &action.action_type {
        ActionType::ToolCall => {
            let Some(tool) = action.tool.filter(|t| !t.is_empty()) else {
                return Err(RpcError::invalid_params(&field("tool"), "a tool_call needs the name of a tool"));
            };
            StepKind::ToolCall { tool, parameters }
        }
        ActionType::StateWrite => {
            let key = state_key(&parameters, &field("parameters.key"), "state_write")?;
            let Some(value) = parameters.get("value") else {
                return Err(RpcError::invalid_params(
                    &field("parameters.value"),
                    "a state_write needs a value",
                ));
            };
            StepKind::StateWrite { key, value: value.clone() }
        }
        ActionType::StateRead => {
            StepKind::StateRead { key: state_key(&parameters, &field("parameters.key"), "state_read")? }
        }
        ActionType::Assertion => StepKind::Assertion,
        ActionType::Unknown(other) => {
            return Err(unknown(&field("type"), "type", other, ActionType::KNOWN));
        }
    };
    for (j, pre) in action.preconditions.iter().enumerate() {
        if pre.key.is_empty() {
            return Err(RpcError::invalid_params(
                &field(&format!("preconditions[{j}].key")),
                "must be a non-empty string",
            ));
        }
        if let Operator::Unknown(other) = &pre.operator {
            let name = field(&format!("preconditions[{j}].operator"));
            return Err(unknown(&name, "operator", other, Operator::KNOWN));
        }
    }
    let effects = match action.expected_effects {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(RpcError::invalid_params(
                &field("expected_effects"),
                "expected an object of state key to value",
            ));
        }
    };
    if let FailureBehavior::Unknown(other) = &action.failure_behavior {
        let name = field("failure_behavior");
        return Err(unknown(&name, "failure_behavior", other, FailureBehavior::KNOWN));
    }
    Ok(Step {
        id,
        kind,
        preconditions: action.preconditions,
        effects,
        failure: action.failure_behavior,
        max_retries: action.max_retries.min(MAX_RETRIES_CAP),
        timeout_ms: action.timeout_ms,
        declared_reads: action.state_dependencies,
        depends_on: Vec::new(),
    })
}

fn state_key(parameters: &Value, field: &str, action_type: &str) -> Result<String, RpcError> {
    match parameters.get("key") {
        Some(Value::String(key)) if !key.is_empty() => Ok(key.clone()),
        _ => Err(RpcError::invalid_params(field, format!("a {action_type} needs a non-empty string key"))),
    }
}

fn unknown(field: &str, what: &str, got: &str, known: &[&str]) -> RpcError {
    RpcError::invalid_params(field, format!("unknown {what} '{got}'; expected one of: {}", known.join(", ")))
}

impl Step {
    /// The state keys this step reads (see the module docs).
    fn reads(&self) -> BTreeSet<&str> {
        let mut keys: BTreeSet<&str> = self.declared_reads.iter().map(String::as_str).collect();
        keys.extend(self.preconditions.iter().map(|p| p.key.as_str()));
        if let StepKind::StateRead { key } = &self.kind {
            keys.insert(key);
        }
        keys
    }

    /// The state keys this step writes when it succeeds.
    pub(super) fn writes(&self) -> BTreeSet<&str> {
        let mut keys: BTreeSet<&str> = self.effects.keys().map(String::as_str).collect();
        if let StepKind::StateWrite { key, .. } = &self.kind {
            keys.insert(key);
        }
        keys
    }
}

/// Fills in `depends_on`: each step waits for every earlier step that writes a key it reads.
fn link(steps: &mut [Step]) {
    let mut writers: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut edges: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let depends_on: BTreeSet<usize> =
            step.reads().into_iter().filter_map(|key| writers.get(key)).flatten().copied().collect();
        edges.push(depends_on.into_iter().collect());
        for key in step.writes() {
            writers.entry(key).or_default().push(index);
        }
    }
    for (step, depends_on) in steps.iter_mut().zip(edges) {
        step.depends_on = depends_on;
    }
}
