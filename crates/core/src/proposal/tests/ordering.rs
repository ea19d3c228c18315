//! Ordering: the state-key DAG, concurrency of independent actions, result order, the journal.

use super::*;
use hark_protocol::proposal::{Operator, Precondition};

const SLOW: Duration = Duration::from_millis(100);

#[tokio::test(start_paused = true)]
async fn reader_runs_after_its_writer() {
    let tools = FakeTools::default().delay("fetch", SLOW).delay("use", SLOW);
    let rt = runtime(&["fetch", "use"]);
    let actions = vec![
        with(Action::tool_call("write", "fetch", json!({})), |a| {
            a.expected_effects = json!({ "doc": "text" });
        }),
        with(Action::tool_call("read", "use", json!({})), |a| {
            a.state_dependencies = vec!["doc".into()];
        }),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Succeeded; 2]);
    let (write, read) = (&tools.seen_by("write")[0], &tools.seen_by("read")[0]);
    assert!(read.started >= write.finished, "the reader started before its writer finished");
    assert_eq!(result.cost.total_duration_ms, 200);
    assert_eq!(self::result(&result, "write").state_changes["doc"], "text");
    assert_eq!(rt.lock().unwrap().state["doc"], "text");
}

#[tokio::test(start_paused = true)]
async fn independent_actions_run_concurrently() {
    let tools = FakeTools::default().delay("a", SLOW).delay("b", SLOW);
    let rt = runtime(&["a", "b"]);
    let actions = vec![
        with(Action::tool_call("one", "a", json!({})), |a| {
            a.expected_effects = json!({ "x": 1 });
        }),
        with(Action::tool_call("two", "b", json!({})), |a| {
            a.state_dependencies = vec!["unrelated".into()];
        }),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Succeeded; 2]);
    let (one, two) = (&tools.seen_by("one")[0], &tools.seen_by("two")[0]);
    assert!(one.started < two.finished && two.started < one.finished, "they did not overlap");
    assert_eq!(result.cost.total_duration_ms, 100);
}

#[tokio::test(start_paused = true)]
async fn state_reads_and_preconditions_wait_for_earlier_writers() {
    let tools = FakeTools::default().delay("set", SLOW);
    let rt = runtime(&["set"]);
    let actions = vec![
        with(Action::tool_call("set", "set", json!({})), |a| {
            a.expected_effects = json!({ "ready": true });
        }),
        Action::state_read("peek", "ready"),
        Action::assertion("check", vec![Precondition::new("ready", Operator::Eq, Some(json!(true)))]),
    ];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(statuses(&result), [ActionStatus::Succeeded; 3]);
    assert_eq!(self::result(&result, "peek").output, json!(true));
}

#[tokio::test(start_paused = true)]
async fn an_earlier_reader_does_not_wait_for_a_later_writer() {
    let tools = FakeTools::default();
    let rt = runtime(&[]);
    let actions = vec![Action::state_read("before", "k"), Action::state_write("w", "k", json!(5))];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(self::result(&result, "before").output, Value::Null);
    assert_eq!(self::result(&result, "w").state_changes["k"], 5);
}

#[tokio::test(start_paused = true)]
async fn results_keep_proposal_order_when_actions_finish_out_of_order() {
    let tools = FakeTools::default().delay("slow", SLOW);
    let rt = runtime(&["slow", "fast"]);
    let actions =
        vec![Action::tool_call("first", "slow", json!({})), Action::tool_call("second", "fast", json!({}))];
    let (result, _) = run(actions, &rt, &tools).await;

    assert_eq!(tools.seen()[0].call.action_id, "second");
    let ids: Vec<_> = result.results.iter().map(|r| r.action_id.as_str()).collect();
    assert_eq!(ids, ["first", "second"]);
    assert_eq!(result.proposal_id, "p1");
}

#[tokio::test(start_paused = true)]
async fn state_write_and_read_round_trip_and_journal() {
    let tools = FakeTools::default();
    let rt = runtime(&["echo"]);
    let actions = vec![
        Action::state_write("w", "mode", json!("on")),
        Action::state_read("r", "mode"),
        Action::tool_call("t", "echo", json!({ "x": 1 })),
    ];
    let (result, journal) = run(actions, &rt, &tools).await;

    let w = self::result(&result, "w");
    assert_eq!((w.status, &w.output, w.attempts), (ActionStatus::Succeeded, &Value::Null, 1));
    assert_eq!(w.state_changes, json!({ "mode": "on" }).as_object().unwrap().clone());
    assert_eq!(self::result(&result, "r").output, "on");
    assert_eq!(self::result(&result, "t").output["parameters"], json!({ "x": 1 }));
    assert!(result.results.iter().all(|r| r.error.is_none() && r.timestamp.ends_with('Z')));
    assert_eq!(
        result.cost,
        hark_protocol::proposal::Cost { tool_calls: 1, actions_executed: 3, ..Default::default() }
    );

    assert_eq!(journal.kinds_for(None), ["proposal_submitted", "proposal_completed"]);
    assert_eq!(journal.kinds_for(Some("w")), ["action_started", "state_changed", "action_succeeded"]);
    assert_eq!(journal.kinds_for(Some("t")), ["action_started", "action_succeeded"]);
}

#[tokio::test]
async fn tool_calls_carry_the_action_and_the_wait() {
    let tools = FakeTools::default();
    let mut rt = SessionRuntime::default();
    rt.tools.insert("plain".into(), tool("plain", None));
    rt.tools.insert("timed".into(), tool("timed", Some(2_000)));
    let rt = Mutex::new(rt);
    let actions = vec![
        Action::tool_call("default", "plain", json!({ "q": 1 })),
        Action::tool_call("from_tool", "timed", json!({})),
        with(Action::tool_call("from_action", "timed", json!({})), |a| a.timeout_ms = Some(500)),
    ];
    run(actions, &rt, &tools).await;

    let call = |id| tools.seen_by(id)[0].call.clone();
    assert_eq!(
        call("default"),
        ToolCall {
            action_id: "default".into(),
            tool: "plain".into(),
            parameters: json!({ "q": 1 }),
            timeout_ms: None,
            wait: DEFAULT_WAIT,
            attempt: 1,
        }
    );
    assert_eq!((call("from_tool").timeout_ms, call("from_tool").wait), (Some(2_000), Duration::from_secs(7)));
    assert_eq!(
        (call("from_action").timeout_ms, call("from_action").wait),
        (Some(500), Duration::from_millis(5_500))
    );
}

#[test]
fn execute_is_send() {
    fn assert_send<T: Send>(_: T) {}
    let (rt, tools, journal) = (runtime(&[]), FakeTools::default(), RecordingJournal::default());
    let plan = validate(proposal(vec![Action::state_read("r", "k")])).unwrap();
    assert_send(execute(plan, &rt, &tools, &journal, DEFAULT_WAIT));
}
