//! Failures: preconditions, assertions, each `failure_behavior`, unregistered tools, timeouts,
//! a closed callback channel.

use super::*;
use hark_protocol::proposal::{FailureBehavior, Operator, Precondition};

fn failing(tool: &str, times: usize) -> FakeTools {
    (0..times).fold(FakeTools::default(), |tools, n| {
        tools.reply(tool, Err(ToolError::Failed(format!("boom {}", n + 1))))
    })
}

#[tokio::test]
async fn preconditions_gate_the_action() {
    let tools = FakeTools::default();
    let rt = runtime(&["t"]);
    rt.lock().unwrap().state.insert("count".into(), json!(3));
    let actions = vec![
        with(Action::tool_call("ok", "t", json!({})), |a| {
            a.preconditions = vec![Precondition::new("count", Operator::Gte, Some(json!(3)))];
            a.failure_behavior = FailureBehavior::Skip;
        }),
        with(Action::tool_call("no", "t", json!({})), |a| {
            a.preconditions = vec![Precondition::new("count", Operator::Gt, Some(json!(3)))];
        }),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Succeeded, ActionStatus::Failed]);
    assert_eq!(error_of(&result, "no"), "precondition failed: count gt 3");
    assert!(tools.seen_by("no").is_empty(), "a failed precondition must not call the tool");
    assert_eq!(result.cost.tool_calls, 1);
}

#[tokio::test]
async fn assertions_pass_or_fail_with_their_description() {
    let tools = FakeTools::default();
    let rt = runtime(&[]);
    let mut described = Precondition::new("mode", Operator::Eq, Some(json!("off")));
    described.description = Some("mode is off".into());
    let actions = vec![
        Action::state_write("w", "mode", json!("on")),
        with(Action::assertion("holds", vec![Precondition::new("mode", Operator::Exists, None)]), |a| {
            a.failure_behavior = FailureBehavior::Skip;
        }),
        with(Action::assertion("bare", vec![Precondition::new("missing", Operator::Exists, None)]), |a| {
            a.failure_behavior = FailureBehavior::Skip;
        }),
        Action::assertion("described", vec![described]),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(self::result(&result, "holds").status, ActionStatus::Succeeded);
    assert_eq!(error_of(&result, "bare"), "assertion failed: missing");
    assert_eq!(self::result(&result, "described").status, ActionStatus::Failed);
    assert_eq!(error_of(&result, "described"), "assertion failed: mode is off");
}

#[tokio::test(start_paused = true)]
async fn abort_skips_what_has_not_started_and_lets_running_actions_finish() {
    let tools =
        failing("bad", 1).delay("bad", Duration::from_millis(10)).delay("slow", Duration::from_millis(50));
    let rt = runtime(&["bad", "slow", "later"]);
    let actions = vec![
        with(Action::tool_call("slow", "slow", json!({})), |a| {
            a.expected_effects = json!({ "s": 1 });
        }),
        Action::tool_call("bad", "bad", json!({})),
        with(Action::tool_call("after_slow", "later", json!({})), |a| {
            a.state_dependencies = vec!["s".into()];
        }),
    ];
    let (result, journal) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Succeeded, ActionStatus::Failed, ActionStatus::Skipped]);
    assert_eq!(error_of(&result, "bad"), "boom 1");
    assert_eq!(error_of(&result, "after_slow"), "aborted: bad failed");
    assert_eq!(self::result(&result, "after_slow").attempts, 0);
    assert!(tools.seen_by("after_slow").is_empty());
    let cost = &result.cost;
    assert_eq!((cost.actions_executed, cost.actions_skipped, cost.tool_calls), (2, 1, 2));
    assert_eq!(journal.kinds_for(Some("bad")), ["action_started", "action_failed"]);
    assert_eq!(journal.kinds_for(Some("after_slow")), ["action_skipped"]);
}

#[tokio::test]
async fn retry_reruns_and_counts_attempts() {
    let tools = failing("flaky", 2);
    let rt = runtime(&["flaky"]);
    let actions = vec![with(Action::tool_call("f", "flaky", json!({})), |a| {
        a.failure_behavior = FailureBehavior::Retry;
    })];
    let (result, journal) = run(actions, &rt, &tools).await;

    let f = self::result(&result, "f");
    assert_eq!((f.status, f.attempts, f.error.as_deref()), (ActionStatus::Succeeded, 3, None));
    let attempts: Vec<u32> = tools.seen().iter().map(|s| s.call.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!((result.cost.retries, result.cost.tool_calls), (2, 3));
    assert_eq!(journal.count("action_retry"), 2);
}

#[tokio::test]
async fn retry_exhausted_aborts() {
    let tools = failing("flaky", 10);
    let rt = runtime(&["flaky", "t"]);
    let actions = vec![
        with(Action::tool_call("f", "flaky", json!({})), |a| {
            a.failure_behavior = FailureBehavior::Retry;
            a.max_retries = 1;
            a.expected_effects = json!({ "k": 1 });
        }),
        with(Action::tool_call("next", "t", json!({})), |a| a.state_dependencies = vec!["k".into()]),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    let f = self::result(&result, "f");
    assert_eq!((f.status, f.attempts, f.error.as_deref()), (ActionStatus::Failed, 2, Some("boom 2")));
    assert_eq!(error_of(&result, "next"), "aborted: f failed");
    assert_eq!((result.cost.retries, result.cost.tool_calls), (1, 2));
}

#[tokio::test]
async fn skip_marks_the_action_skipped_and_continues() {
    let tools = failing("bad", 1);
    let rt = runtime(&["bad", "t"]);
    let actions = vec![
        with(Action::tool_call("b", "bad", json!({})), |a| {
            a.failure_behavior = FailureBehavior::Skip;
            a.expected_effects = json!({ "k": 1 });
        }),
        with(Action::tool_call("next", "t", json!({})), |a| a.state_dependencies = vec!["k".into()]),
    ];
    let (result, journal) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Skipped, ActionStatus::Succeeded]);
    assert_eq!(error_of(&result, "b"), "boom 1");
    assert_eq!(self::result(&result, "b").attempts, 1);
    assert!(!rt.lock().unwrap().state.contains_key("k"), "a failed action applies no effects");
    assert_eq!((result.cost.actions_skipped, result.cost.actions_executed), (1, 1));
    assert_eq!(journal.kinds_for(Some("b")), ["action_started", "action_skipped"]);
}

#[tokio::test]
async fn an_unregistered_tool_fails_without_a_call() {
    let tools = FakeTools::default();
    let rt = runtime(&[]);
    let (result, _) = run(vec![Action::tool_call("x", "ghost", json!({}))], &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Failed]);
    assert_eq!(error_of(&result, "x"), "tool 'ghost' is not registered");
    assert!(tools.seen().is_empty());
    assert_eq!(result.cost.tool_calls, 0);
}

#[tokio::test]
async fn a_timeout_surfaces_as_timed_out() {
    let tools = FakeTools::default().reply("slow", Err(ToolError::TimedOut(Duration::from_secs(6))));
    let rt = runtime(&["slow"]);
    let (result, _) = run(vec![Action::tool_call("s", "slow", json!({}))], &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Failed]);
    assert_eq!(error_of(&result, "s"), "tool 'slow' timed out after 6000 ms");
    assert!(ToolError::TimedOut(Duration::from_secs(1)).to_string().contains("timed out"));
}

#[tokio::test]
async fn a_closed_channel_stops_the_proposal_whatever_the_behaviour() {
    let tools = FakeTools::default().reply("t", Err(ToolError::ChannelClosed));
    let rt = runtime(&["t"]);
    let actions = vec![
        with(Action::tool_call("a", "t", json!({})), |a| {
            a.failure_behavior = FailureBehavior::Retry;
            a.expected_effects = json!({ "k": 1 });
        }),
        with(Action::tool_call("b", "t", json!({})), |a| a.state_dependencies = vec!["k".into()]),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Failed, ActionStatus::Skipped]);
    assert_eq!(error_of(&result, "a"), "callback channel closed");
    assert_eq!((self::result(&result, "a").attempts, result.cost.tool_calls), (1, 1));
}
