//! Policies: `deny_tool`, `deny_tool_param`, `require_state` make an action `rejected` before it
//! runs, and the proposal goes on.

use super::*;

fn with_policy(rt: Mutex<SessionRuntime>, policy: PolicyDefinition) -> Mutex<SessionRuntime> {
    rt.lock().unwrap().policies.insert(policy.name.clone(), policy);
    rt
}

#[tokio::test]
async fn a_denied_tool_is_rejected_and_never_invoked() {
    let tools = FakeTools::default();
    let rt = with_policy(runtime(&["rm", "ls"]), policy("no-rm", "deny_tool", json!({ "target": "rm" })));
    let actions = vec![Action::tool_call("del", "rm", json!({})), Action::tool_call("list", "ls", json!({}))];
    let (result, journal) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Rejected, ActionStatus::Succeeded]);
    assert_eq!(error_of(&result, "del"), "rejected by policy 'no-rm': tool 'rm' is denied");
    assert_eq!(self::result(&result, "del").attempts, 0);
    assert!(tools.seen_by("del").is_empty());
    assert_eq!((result.cost.actions_rejected, result.cost.actions_executed), (1, 1));
    assert_eq!(journal.kinds_for(Some("del")), ["policy_violation"]);
}

#[tokio::test]
async fn deny_tool_param_matches_a_pattern_or_a_value() {
    let tools = FakeTools::default();
    let rt = runtime(&["sh"]);
    let rt = with_policy(
        rt,
        policy("no-rf", "deny_tool_param", json!({ "target": "sh", "key": "cmd", "pattern": "-rf" })),
    );
    let rt = with_policy(
        rt,
        policy("no-root", "deny_tool_param", json!({ "target": "sh", "key": "dir", "value": "/" })),
    );
    let actions = vec![
        Action::tool_call("rf", "sh", json!({ "cmd": "rm -rf tmp" })),
        Action::tool_call("root", "sh", json!({ "cmd": "ls", "dir": "/" })),
        Action::tool_call("fine", "sh", json!({ "cmd": "ls", "dir": "/tmp" })),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Rejected, ActionStatus::Rejected, ActionStatus::Succeeded]);
    assert!(error_of(&result, "rf").contains("'no-rf'"));
    assert!(error_of(&result, "root").contains("'no-root'"));
    let called: Vec<_> = tools.seen().into_iter().map(|s| s.call.action_id).collect();
    assert_eq!(called, ["fine"]);
}

#[tokio::test]
async fn require_state_rejects_every_action_until_the_state_holds() {
    let tools = FakeTools::default();
    let rule = policy("armed", "require_state", json!({ "key": "mode", "value": "armed" }));
    let rt = with_policy(runtime(&["fire"]), rule);
    let actions = vec![
        Action::tool_call("early", "fire", json!({})),
        Action::state_write("set", "mode", json!("armed")),
    ];
    let (result, _) = run(actions, &rt, &tools).await;
    assert_eq!(statuses(&result), [ActionStatus::Rejected; 2]);
    assert_eq!(error_of(&result, "early"), "rejected by policy 'armed': state 'mode' is required");

    rt.lock().unwrap().state.insert("mode".into(), json!("safe"));
    let (result, _) = run(vec![Action::tool_call("wrong", "fire", json!({}))], &rt, &tools).await;
    assert_eq!(error_of(&result, "wrong"), "rejected by policy 'armed': state 'mode' must equal \"armed\"");

    rt.lock().unwrap().state.insert("mode".into(), json!("armed"));
    let (result, _) = run(vec![Action::tool_call("now", "fire", json!({}))], &rt, &tools).await;
    assert_eq!(statuses(&result), [ActionStatus::Succeeded]);
    assert!(tools.seen_by("early").is_empty() && tools.seen_by("wrong").is_empty());
}
