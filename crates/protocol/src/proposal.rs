//! Proposals (PROTOCOL §5): the subset of CAR's Agent IR that `proposal.submit` takes
//! (`ActionProposal`, `Action`, `Precondition`) and the `ProposalResult` it answers with.
//!
//! Unknown fields are ignored, as CAR does. The three enumerated strings (`type`, `operator`,
//! `failure_behavior`) deserialize leniently: a value this version does not know is kept as
//! `Unknown(..)` instead of failing the whole parse, so the daemon's proposal validation can answer
//! -32602 naming the exact field (`actions[2].type`). A missing or `null` value takes the default.
//! `parameters` and `expected_effects` stay raw JSON for the same reason: validation checks that
//! they are objects and names the field when they are not.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `proposal.submit` params: `{proposal: ActionProposal}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmitParams {
    pub proposal: ActionProposal,
}

/// A plan of actions for the daemon to run (CAR's `ActionProposal`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionProposal {
    /// Defaults to 12 hex chars of a UUIDv4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Missing means empty, which validation refuses (-32602 `actions`).
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

/// One step of a proposal (CAR's `Action`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Defaults to a fresh 12-hex-char id, unique within the proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Missing or `null` means `tool_call`.
    #[serde(rename = "type", default)]
    pub action_type: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// An object; `{}` when missing. `state_write` takes `{key, value}`, `state_read` `{key}`.
    #[serde(default = "empty_object")]
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<Precondition>,
    /// An object `{state key: value}` applied to the state map when the action succeeds.
    #[serde(default = "empty_object")]
    pub expected_effects: Value,
    /// State keys this action reads: it runs after every earlier action that writes one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_dependencies: Vec<String>,
    #[serde(default)]
    pub idempotent: bool,
    /// How many more times a `retry` action is re-run after its first failure.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    #[serde(default)]
    pub failure_behavior: FailureBehavior,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// CAR's default `max_retries`.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl Default for Action {
    /// What an empty JSON object `{}` deserializes to.
    fn default() -> Self {
        Action {
            id: None,
            action_type: ActionType::default(),
            tool: None,
            parameters: empty_object(),
            preconditions: Vec::new(),
            expected_effects: empty_object(),
            state_dependencies: Vec::new(),
            idempotent: false,
            max_retries: DEFAULT_MAX_RETRIES,
            failure_behavior: FailureBehavior::default(),
            timeout_ms: None,
            metadata: None,
        }
    }
}

impl Action {
    /// A `tool_call` of `tool` with `parameters`.
    pub fn tool_call(id: &str, tool: &str, parameters: Value) -> Self {
        Action { id: Some(id.to_owned()), tool: Some(tool.to_owned()), parameters, ..Action::default() }
    }

    /// A `state_write` of `value` under `key`.
    pub fn state_write(id: &str, key: &str, value: Value) -> Self {
        Action {
            id: Some(id.to_owned()),
            action_type: ActionType::StateWrite,
            parameters: serde_json::json!({ "key": key, "value": value }),
            ..Action::default()
        }
    }

    /// A `state_read` of `key`.
    pub fn state_read(id: &str, key: &str) -> Self {
        Action {
            id: Some(id.to_owned()),
            action_type: ActionType::StateRead,
            parameters: serde_json::json!({ "key": key }),
            ..Action::default()
        }
    }

    /// An `assertion` that `preconditions` hold.
    pub fn assertion(id: &str, preconditions: Vec<Precondition>) -> Self {
        Action {
            id: Some(id.to_owned()),
            action_type: ActionType::Assertion,
            preconditions,
            ..Action::default()
        }
    }
}

/// A condition on the connection's state map (CAR's `Precondition`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Precondition {
    /// Required; validation names `actions[i].preconditions[j].key` when it is missing or empty.
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: Operator,
    /// Compared against the state value; missing means `null`. Unused by `exists`/`not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Precondition {
    pub fn new(key: &str, operator: Operator, value: Option<Value>) -> Self {
        Precondition { key: key.to_owned(), operator, value, description: None }
    }
}

/// Declares a string enum that keeps values it does not know (see the module docs).
macro_rules! lenient_enum {
    (
        $(#[$meta:meta])*
        $name:ident, default $default:ident, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know (JSON text when it was not a string);
            /// validation refuses it with -32602 naming the field.
            Unknown(String),
        }

        impl $name {
            /// Every value this version knows, in wire spelling.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(other) => other,
                }
            }

            fn from_wire(value: Value) -> Self {
                match value {
                    Value::Null => Self::$default,
                    Value::String(text) => match text.as_str() {
                        $($text => Self::$variant,)+
                        _ => Self::Unknown(text),
                    },
                    other => Self::Unknown(other.to_string()),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Value::deserialize(deserializer).map(Self::from_wire)
            }
        }
    };
}

lenient_enum! {
    /// `Action.type`.
    ActionType, default ToolCall, {
        /// Call a client tool through a `tools.execute` callback.
        ToolCall => "tool_call",
        /// `parameters: {key, value}`: set a state key.
        StateWrite => "state_write",
        /// `parameters: {key}`: output the state value.
        StateRead => "state_read",
        /// Succeed iff the preconditions hold.
        Assertion => "assertion",
    }
}

lenient_enum! {
    /// `Precondition.operator`.
    Operator, default Eq, {
        Eq => "eq",
        Neq => "neq",
        Gt => "gt",
        Lt => "lt",
        Gte => "gte",
        Lte => "lte",
        Exists => "exists",
        NotExists => "not_exists",
        Contains => "contains",
    }
}

lenient_enum! {
    /// `Action.failure_behavior`.
    FailureBehavior, default Abort, {
        /// Stop the proposal: actions not started become `skipped`.
        Abort => "abort",
        /// Re-run up to `max_retries` more times, then abort.
        Retry => "retry",
        /// Mark the action `skipped` and go on.
        Skip => "skip",
    }
}

/// The answer to `proposal.submit` (CAR's `ProposalResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalResult {
    pub proposal_id: String,
    /// One per action, in the proposal's action order.
    pub results: Vec<ActionResult>,
    pub cost: Cost,
}

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub action_id: String,
    pub status: ActionStatus,
    /// The tool's output, a `state_read`'s value; `null` when none.
    #[serde(default)]
    pub output: Value,
    /// Why it failed, was skipped or was rejected; `null` on success.
    #[serde(default)]
    pub error: Option<String>,
    /// The state keys this action set, with their new values.
    #[serde(default)]
    pub state_changes: Map<String, Value>,
    pub duration_ms: u64,
    /// RFC 3339, when the action ended.
    pub timestamp: String,
    /// How many times it ran (0 when it never started).
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Succeeded,
    Failed,
    Skipped,
    Rejected,
}

/// What a proposal cost (CAR's `CostSummary` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// `tools.execute` callbacks sent, every attempt counted.
    pub tool_calls: u32,
    /// Actions that ran to `succeeded` or `failed`.
    pub actions_executed: u32,
    pub actions_rejected: u32,
    pub actions_skipped: u32,
    /// Wall time of the whole proposal.
    pub total_duration_ms: u64,
    /// Extra attempts beyond each action's first.
    pub retries: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_unknown_fields() {
        let p: SubmitParams = serde_json::from_value(json!({
            "proposal": {"actions": [{"tool": "echo", "extra": 1}], "whatever": true}
        }))
        .unwrap();
        let a = &p.proposal.actions[0];
        assert_eq!(a.action_type, ActionType::ToolCall);
        assert_eq!(a.failure_behavior, FailureBehavior::Abort);
        assert_eq!(a.max_retries, 3);
        assert_eq!(a.parameters, json!({}));
        assert_eq!(a, &Action { tool: Some("echo".into()), ..Action::default() });
    }

    #[test]
    fn unknown_enum_values_are_kept_for_validation() {
        let a: Action = serde_json::from_value(json!({
            "type": "teleport", "failure_behavior": 7,
            "preconditions": [{"key": "k", "operator": "approx"}, {"key": "j", "operator": null}]
        }))
        .unwrap();
        assert_eq!(a.action_type, ActionType::Unknown("teleport".into()));
        assert_eq!(a.failure_behavior, FailureBehavior::Unknown("7".into()));
        assert_eq!(a.preconditions[0].operator, Operator::Unknown("approx".into()));
        assert_eq!(a.preconditions[1].operator, Operator::Eq);
    }

    #[test]
    fn enums_round_trip_in_wire_spelling() {
        let a = Action::state_write("w", "k", json!(1));
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["type"], "state_write");
        assert_eq!(v["failure_behavior"], "abort");
        assert_eq!(serde_json::from_value::<Action>(v).unwrap(), a);
        assert_eq!(Operator::KNOWN.len(), 9);
    }

    #[test]
    fn result_error_is_null_when_none() {
        let r = ActionResult {
            action_id: "a".into(),
            status: ActionStatus::Succeeded,
            output: Value::Null,
            error: None,
            state_changes: Map::new(),
            duration_ms: 0,
            timestamp: "1970-01-01T00:00:00.000Z".into(),
            attempts: 1,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["error"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("error"));
        assert_eq!(v["status"], "succeeded");
    }
}
