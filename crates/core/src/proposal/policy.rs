//! CAR's built-in policy rules, checked before an action runs. A match makes the action
//! `rejected` (not failed: the proposal goes on). A policy missing the fields its rule needs
//! (`target`, `key`) matches nothing.

use std::collections::{BTreeMap, HashMap};

use hark_protocol::session::{PolicyDefinition, PolicyRule};
use serde_json::Value;

use super::validate::{Step, StepKind};

/// A policy that denied an action.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Denial {
    pub policy: String,
    pub rule: PolicyRule,
    /// `rejected by policy '<name>': <why>`, the action's error.
    pub message: String,
}

/// The first policy (by name) that denies `step`.
pub(super) fn denial(
    policies: &BTreeMap<String, PolicyDefinition>,
    state: &HashMap<String, Value>,
    step: &Step,
) -> Option<Denial> {
    policies.values().find_map(|policy| {
        let reason = reason(policy, state, step)?;
        Some(Denial {
            policy: policy.name.clone(),
            rule: policy.rule,
            message: format!("rejected by policy '{}': {reason}", policy.name),
        })
    })
}

fn reason(policy: &PolicyDefinition, state: &HashMap<String, Value>, step: &Step) -> Option<String> {
    match policy.rule {
        PolicyRule::DenyTool => {
            let tool = step.kind.tool()?;
            (Some(tool) == policy.target.as_deref()).then(|| format!("tool '{tool}' is denied"))
        }
        PolicyRule::DenyToolParam => {
            let StepKind::ToolCall { tool, parameters } = &step.kind else {
                return None;
            };
            if Some(tool.as_str()) != policy.target.as_deref() {
                return None;
            }
            let key = policy.key.as_deref()?;
            let param = parameters.get(key)?;
            param_denied(param, policy.pattern.as_deref(), policy.value.as_ref())
                .then(|| format!("parameter '{key}' of tool '{tool}' is denied"))
        }
        PolicyRule::RequireState => {
            let key = policy.key.as_deref()?;
            match (state.get(key), &policy.value) {
                (None, _) => Some(format!("state '{key}' is required")),
                (Some(actual), Some(wanted)) if actual != wanted => {
                    Some(format!("state '{key}' must equal {wanted}"))
                }
                _ => None,
            }
        }
    }
}

/// `pattern` is a plain substring of the parameter (a non-string parameter is matched in its JSON
/// text, so a pattern cannot be dodged by wrapping the value in an array); `value` is equality.
fn param_denied(param: &Value, pattern: Option<&str>, value: Option<&Value>) -> bool {
    let text = match param {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    pattern.is_some_and(|p| text.contains(p)) || value.is_some_and(|v| v == param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pattern_matches_inside_non_string_parameters() {
        assert!(param_denied(&json!("rm -rf /"), Some("rm -rf"), None));
        assert!(param_denied(&json!(["rm", "-rf"]), Some("-rf"), None));
        assert!(!param_denied(&json!("ls"), Some("rm"), None));
        assert!(param_denied(&json!(5), None, Some(&json!(5))));
        assert!(!param_denied(&json!(5), None, None));
    }
}
