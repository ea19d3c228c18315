//! Precondition evaluation against the connection's state map (PROTOCOL §5).
//!
//! `eq`/`neq` compare JSON values (numbers by value, so `1` equals `1.0`); a missing `value` is
//! `null` and a missing key equals nothing. `gt`/`lt`/`gte`/`lte` compare numbers only: anything
//! else fails. `contains`: a string contains a string, an array contains a value, an object has a
//! key.

use std::collections::HashMap;

use hark_protocol::proposal::{Operator, Precondition};
use serde_json::Value;

/// The first precondition that does not hold, if any.
pub(super) fn first_failed<'a>(
    preconditions: &'a [Precondition],
    state: &HashMap<String, Value>,
) -> Option<&'a Precondition> {
    preconditions.iter().find(|p| !holds(p, state))
}

/// The precondition's description, else `key operator value`.
pub(super) fn describe(pre: &Precondition) -> String {
    if let Some(description) = pre.description.as_deref().filter(|d| !d.is_empty()) {
        return description.to_owned();
    }
    match (&pre.operator, &pre.value) {
        (Operator::Exists | Operator::NotExists, _) | (_, None) => {
            format!("{} {}", pre.key, pre.operator)
        }
        (op, Some(value)) => format!("{} {op} {value}", pre.key),
    }
}

pub(super) fn holds(pre: &Precondition, state: &HashMap<String, Value>) -> bool {
    let actual = state.get(&pre.key);
    let expected = pre.value.as_ref().unwrap_or(&Value::Null);
    let numbers = || Some((actual?.as_f64()?, expected.as_f64()?));
    match pre.operator {
        Operator::Eq => actual.is_some_and(|a| json_eq(a, expected)),
        Operator::Neq => !actual.is_some_and(|a| json_eq(a, expected)),
        Operator::Gt => numbers().is_some_and(|(a, e)| a > e),
        Operator::Lt => numbers().is_some_and(|(a, e)| a < e),
        Operator::Gte => numbers().is_some_and(|(a, e)| a >= e),
        Operator::Lte => numbers().is_some_and(|(a, e)| a <= e),
        Operator::Exists => actual.is_some(),
        Operator::NotExists => actual.is_none(),
        Operator::Contains => actual.is_some_and(|a| contains(a, expected)),
        // Refused by validation; a plan never holds one.
        Operator::Unknown(_) => false,
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        (Value::Array(items), _) => items.iter().any(|item| json_eq(item, needle)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(op: Operator, state_value: Option<Value>, value: Option<Value>) -> bool {
        let state: HashMap<String, Value> = state_value.into_iter().map(|v| ("k".to_owned(), v)).collect();
        holds(&Precondition::new("k", op, value), &state)
    }

    #[test]
    fn equality() {
        assert!(check(Operator::Eq, Some(json!(1)), Some(json!(1.0))));
        assert!(check(Operator::Eq, Some(json!("a")), Some(json!("a"))));
        assert!(!check(Operator::Eq, Some(json!("a")), Some(json!("b"))));
        assert!(!check(Operator::Eq, None, Some(json!(null))));
        assert!(check(Operator::Eq, Some(json!(null)), None));
        assert!(check(Operator::Neq, None, Some(json!(1))));
        assert!(!check(Operator::Neq, Some(json!(1)), Some(json!(1))));
    }

    #[test]
    fn ordering_is_numeric_only() {
        assert!(check(Operator::Gt, Some(json!(2)), Some(json!(1))));
        assert!(!check(Operator::Gt, Some(json!(1)), Some(json!(1))));
        assert!(check(Operator::Gte, Some(json!(1)), Some(json!(1.0))));
        assert!(check(Operator::Lt, Some(json!(-1.5)), Some(json!(0))));
        assert!(check(Operator::Lte, Some(json!(0)), Some(json!(0))));
        assert!(!check(Operator::Gt, Some(json!("b")), Some(json!("a"))));
        assert!(!check(Operator::Lt, None, Some(json!(1))));
    }

    #[test]
    fn existence_and_containment() {
        assert!(check(Operator::Exists, Some(json!(null)), None));
        assert!(!check(Operator::Exists, None, None));
        assert!(check(Operator::NotExists, None, None));
        assert!(check(Operator::Contains, Some(json!("hello")), Some(json!("ell"))));
        assert!(check(Operator::Contains, Some(json!([1, "x"])), Some(json!("x"))));
        assert!(check(Operator::Contains, Some(json!({"a": 1})), Some(json!("a"))));
        assert!(!check(Operator::Contains, Some(json!({"a": 1})), Some(json!("b"))));
        assert!(!check(Operator::Contains, Some(json!(12)), Some(json!(1))));
    }

    #[test]
    fn descriptions() {
        let mut pre = Precondition::new("mode", Operator::Eq, Some(json!("on")));
        assert_eq!(describe(&pre), "mode eq \"on\"");
        pre.description = Some("mode is on".into());
        assert_eq!(describe(&pre), "mode is on");
        assert_eq!(describe(&Precondition::new("k", Operator::Exists, None)), "k exists");
    }
}
