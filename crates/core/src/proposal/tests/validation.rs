//! Validation: malformed proposals are -32602 naming the field; ids and the DAG of valid ones.

use super::*;
use hark_protocol::proposal::SubmitParams;

/// Parses `proposal` as a client would send it and validates it.
fn check(proposal: Value) -> Result<super::super::Plan, RpcError> {
    let params: SubmitParams = serde_json::from_value(json!({ "proposal": proposal })).unwrap();
    validate(params.proposal)
}

fn field(proposal: Value) -> String {
    invalid_field(&check(proposal).expect_err("malformed"))
}

#[test]
fn empty_or_missing_actions() {
    assert_eq!(field(json!({ "actions": [] })), "actions");
    assert_eq!(field(json!({})), "actions");
}

#[test]
fn duplicate_action_ids() {
    let p = json!({ "actions": [{"id": "a", "tool": "t"}, {"tool": "t"}, {"id": "a", "tool": "t"}] });
    assert_eq!(field(p.clone()), "actions[2].id");
    assert!(check(p).unwrap_err().message.contains("duplicate action id 'a'"));
}

#[test]
fn tool_call_without_tool() {
    assert_eq!(field(json!({ "actions": [{"type": "tool_call"}] })), "actions[0].tool");
    assert_eq!(field(json!({ "actions": [{"tool": "t"}, {"tool": ""}] })), "actions[1].tool");
}

#[test]
fn unknown_type() {
    let p = json!({ "actions": [{"tool": "t"}, {"tool": "t"}, {"type": "teleport"}] });
    assert_eq!(field(p.clone()), "actions[2].type");
    assert!(check(p).unwrap_err().message.contains("'teleport'"));
    assert_eq!(field(json!({ "actions": [{"type": 3}] })), "actions[0].type");
}

#[test]
fn unknown_operator() {
    let p = json!({ "actions": [{"type": "assertion", "preconditions": [
        {"key": "a"}, {"key": "b", "operator": "approx"}
    ]}] });
    assert_eq!(field(p), "actions[0].preconditions[1].operator");
    let p = json!({ "actions": [{"type": "assertion", "preconditions": [{"operator": "eq"}]}] });
    assert_eq!(field(p), "actions[0].preconditions[0].key");
}

#[test]
fn unknown_failure_behavior() {
    let p = json!({ "actions": [{"tool": "t", "failure_behavior": "pray"}] });
    assert_eq!(field(p), "actions[0].failure_behavior");
}

#[test]
fn state_actions_need_their_parameters() {
    let write = |parameters| json!({ "actions": [{"type": "state_write", "parameters": parameters}] });
    assert_eq!(field(write(json!({ "value": 1 }))), "actions[0].parameters.key");
    assert_eq!(field(write(json!({ "key": 1, "value": 1 }))), "actions[0].parameters.key");
    assert_eq!(field(write(json!({ "key": "k" }))), "actions[0].parameters.value");
    assert!(check(write(json!({ "key": "k", "value": null }))).is_ok());
    assert_eq!(field(json!({ "actions": [{"type": "state_read"}] })), "actions[0].parameters.key");
    assert_eq!(field(json!({ "actions": [{"tool": "t", "parameters": [1]}] })), "actions[0].parameters");
    assert_eq!(
        field(json!({ "actions": [{"tool": "t", "expected_effects": 1}] })),
        "actions[0].expected_effects"
    );
}

#[test]
fn default_ids_are_short_hex_and_unique() {
    let plan =
        check(json!({ "actions": [{"tool": "t"}, {"id": "mine", "tool": "t"}, {"tool": "t", "id": ""}] }))
            .unwrap();
    let is_short_hex = |id: &str| id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit());
    assert!(is_short_hex(plan.id()));
    let ids: Vec<_> = plan.action_ids().collect();
    assert_eq!(ids[1], "mine");
    assert!(is_short_hex(ids[0]) && is_short_hex(ids[2]) && ids[0] != ids[2]);

    let plan = check(json!({ "id": "given", "source": "agent", "actions": [{"tool": "t"}] })).unwrap();
    assert_eq!((plan.id(), plan.source()), ("given", Some("agent")));
}

#[test]
fn missing_type_is_a_tool_call_and_the_dag_follows_state_keys() {
    let plan = check(json!({ "actions": [
        {"id": "w1", "tool": "t", "expected_effects": {"a": 1}},
        {"id": "w2", "type": "state_write", "parameters": {"key": "b", "value": 2}},
        {"id": "r", "tool": "t", "state_dependencies": ["a", "b"]},
        {"id": "free", "tool": "t"},
        {"id": "read", "type": "state_read", "parameters": {"key": "a"}},
        {"id": "pre", "type": "assertion", "preconditions": [{"key": "b", "operator": "exists"}]},
    ]}))
    .unwrap();
    let deps: Vec<&[usize]> = plan.steps.iter().map(|s| s.depends_on.as_slice()).collect();
    assert_eq!(deps, [&[][..], &[], &[0, 1], &[], &[0], &[1]]);
    assert_eq!(plan.steps[0].kind.type_name(), "tool_call");
}

#[test]
fn an_absurd_max_retries_is_capped() {
    let plan = check(
        json!({ "actions": [{"tool": "t", "failure_behavior": "retry", "max_retries": 4_000_000_000u32}] }),
    )
    .unwrap();
    assert_eq!(plan.steps[0].max_retries, super::super::validate::MAX_RETRIES_CAP);
    assert_eq!(field(json!({ "actions": [{"type": "nope", "parameters": 1}] })), "actions[0].type");
}

#[test]
fn too_many_actions_are_refused() {
    let max = super::super::validate::MAX_ACTIONS;
    let actions: Vec<_> = (0..=max).map(|_| json!({ "tool": "t" })).collect();
    assert_eq!(field(json!({ "actions": actions })), "actions");
    let actions: Vec<_> = (0..max).map(|_| json!({ "tool": "t" })).collect();
    assert!(check(json!({ "actions": actions })).is_ok());
}
