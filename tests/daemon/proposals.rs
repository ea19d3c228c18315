//! `proposal.submit` over the wire: the client serves `tools.execute` callbacks on the same
//! connection while its submit is pending.

use std::sync::Mutex;
use std::time::Duration;

use hark_test_support::{Client, TestDaemon};
use serde_json::{Value, json};

use crate::{LONG, SHORT};

/// Submits `proposal` and serves its callbacks with `tool` until the submit returns. Returns the
/// result and every `tools.execute` params seen, in arrival order.
async fn run(
    c: &Client,
    proposal: Value,
    tool: impl Fn(&Value) -> (Duration, Result<Value, String>),
) -> (Result<Value, hark_test_support::ClientError>, Vec<Value>) {
    let seen = Mutex::new(Vec::new());
    let submit = c.call_timeout("proposal.submit", json!({ "proposal": proposal }), LONG * 2);
    let serve = async {
        loop {
            let Some(msg) = c.next_message(LONG * 2).await else { return };
            if msg["method"] != "tools.execute" {
                continue;
            }
            seen.lock().unwrap().push(msg["params"].clone());
            let (delay, outcome) = tool(&msg["params"]);
            tokio::time::sleep(delay).await;
            match outcome {
                Ok(v) => c.reply(&msg["id"], v).await.unwrap(),
                Err(m) => c.reply_error(&msg["id"], -32000, &m).await.unwrap(),
            }
        }
    };
    let result = tokio::select! {
        r = submit => r,
        _ = serve => panic!("message stream ended"),
    };
    (result, seen.into_inner().unwrap())
}

async fn agent_with_tools(d: &TestDaemon, tools: &[&str]) -> Client {
    let c = d.client().await;
    let defs: Vec<Value> = tools.iter().map(|t| json!({ "name": t, "description": "test tool" })).collect();
    assert_eq!(c.call("tools.register", Value::Array(defs)).await.unwrap(), json!(tools.len()));
    c
}

fn ok(v: Value) -> (Duration, Result<Value, String>) {
    (Duration::ZERO, Ok(v))
}

#[tokio::test]
async fn tool_call_round_trip() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["echo"]).await;
    let listed = c.call("tools.list", json!({})).await.unwrap();
    assert_eq!(listed["count"], json!(1));
    let proposal = json!({ "id": "p1", "actions": [
        { "id": "a1", "type": "tool_call", "tool": "echo", "parameters": { "text": "hi" }, "timeout_ms": 2000 }
    ]});
    let (result, seen) = run(&c, proposal, |p| ok(json!({ "echo": p["parameters"]["text"] }))).await;
    let result = result.unwrap();
    assert_eq!(result["proposal_id"], json!("p1"));
    assert_eq!(result["results"][0]["status"], json!("succeeded"));
    assert_eq!(result["results"][0]["output"], json!({ "echo": "hi" }));
    assert_eq!(result["results"][0]["attempts"], json!(1));
    assert_eq!(result["cost"]["tool_calls"], json!(1));
    let p = &seen[0];
    assert_eq!(
        (p["action_id"].clone(), p["tool"].clone(), p["timeout_ms"].clone(), p["attempt"].clone()),
        (json!("a1"), json!("echo"), json!(2000), json!(1))
    );
    assert!(p["request_id"].is_string() && p["session_id"].is_string());
    // The journal recorded it (the disk writer has written what was queued before the flush).
    d.daemon.disk.flush().await;
    let journal = std::fs::read_dir(d.data_dir.join("journals")).unwrap().next().unwrap().unwrap().path();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&journal).unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(journal).unwrap();
    assert!(text.contains("\"proposal_completed\"") && text.contains("\"p1\""), "{text}");
}

#[tokio::test]
async fn a_reader_runs_after_its_writer() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["write", "read"]).await;
    let proposal = json!({ "actions": [
        { "id": "w", "tool": "write", "expected_effects": { "doc": "v1" } },
        { "id": "r", "tool": "read", "state_dependencies": ["doc"] },
        { "id": "s", "type": "state_read", "parameters": { "key": "doc" } },
    ]});
    let finished = Mutex::new(Vec::new());
    let (result, seen) = run(&c, proposal, |p| {
        finished.lock().unwrap().push(p["action_id"].as_str().unwrap().to_string());
        if p["tool"] == "write" { (SHORT, Ok(json!("written"))) } else { ok(json!("read")) }
    })
    .await;
    let result = result.unwrap();
    let order: Vec<&str> = seen.iter().map(|p| p["action_id"].as_str().unwrap()).collect();
    assert_eq!(order, ["w", "r"], "the reader's callback comes only after the writer's reply");
    assert_eq!(result["results"][0]["state_changes"], json!({ "doc": "v1" }));
    assert_eq!(result["results"][2]["output"], json!("v1"));
}

#[tokio::test]
async fn preconditions_and_assertions() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["t"]).await;
    let proposal = json!({ "actions": [
        { "id": "set", "type": "state_write", "parameters": { "key": "n", "value": 5 } },
        { "id": "yes", "tool": "t", "preconditions": [{ "key": "n", "operator": "gte", "value": 5 }], "state_dependencies": ["n"] },
        { "id": "no", "tool": "t", "preconditions": [{ "key": "n", "operator": "lt", "value": 5 }], "state_dependencies": ["n"], "failure_behavior": "skip" },
        { "id": "check", "type": "assertion", "preconditions": [{ "key": "n", "operator": "eq", "value": 5 }] },
    ]});
    let (result, seen) = run(&c, proposal, |_| ok(json!(true))).await;
    let result = result.unwrap();
    let status: Vec<&str> =
        result["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["succeeded", "succeeded", "skipped", "succeeded"]);
    assert!(result["results"][2]["error"].as_str().unwrap().contains("precondition failed"));
    assert_eq!(seen.len(), 1, "the failed precondition never reached the client");
}

#[tokio::test]
async fn failure_behaviors() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["bad", "good"]).await;
    let fail =
        |p: &Value| if p["tool"] == "bad" { (Duration::ZERO, Err("boom".to_string())) } else { ok(json!(1)) };

    // abort (the default): the rest is skipped.
    let (r, _) = run(
        &c,
        json!({ "actions": [
            { "id": "a1", "tool": "bad", "expected_effects": { "k": 1 } },
            { "id": "a2", "tool": "good", "state_dependencies": ["k"] },
        ]}),
        fail,
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r["results"][0]["status"], json!("failed"));
    assert_eq!(r["results"][0]["error"], json!("boom"));
    // a2 reads what a1 writes, so it waits for a1, and a1's failure aborts it: one outcome.
    let a2 = &r["results"][1];
    assert_eq!(a2["error"], json!("aborted: a1 failed"), "{a2}");

    let (r, _) = run(
        &c,
        json!({ "actions": [
            { "id": "w", "tool": "bad", "expected_effects": { "k": 1 } },
            { "id": "after", "tool": "good", "state_dependencies": ["k"] },
        ]}),
        fail,
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r["results"][1]["status"], json!("skipped"));
    assert_eq!(r["results"][1]["error"], json!("aborted: w failed"));

    // retry: up to max_retries more attempts, counted in cost.
    let (r, seen) = run(
        &c,
        json!({ "actions": [
            { "id": "r", "tool": "bad", "failure_behavior": "retry", "max_retries": 2 },
        ]}),
        fail,
    )
    .await;
    let r = r.unwrap();
    assert_eq!((r["results"][0]["attempts"].clone(), r["cost"]["retries"].clone()), (json!(3), json!(2)));
    assert_eq!(seen.iter().map(|p| p["attempt"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(r["cost"]["tool_calls"], json!(3));

    // skip: marked skipped, the proposal goes on.
    let (r, _) = run(
        &c,
        json!({ "actions": [
            { "id": "s", "tool": "bad", "failure_behavior": "skip", "expected_effects": { "k": 1 } },
            { "id": "next", "tool": "good", "state_dependencies": ["k"] },
        ]}),
        fail,
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r["results"][0]["status"], json!("skipped"));
    assert_eq!(r["results"][1]["status"], json!("succeeded"));
}

#[tokio::test]
async fn a_callback_timeout_sends_tools_cancel() {
    let d = TestDaemon::start_with(|c| c.tool_timeout = SHORT).await;
    let c = agent_with_tools(&d, &["sleepy"]).await;
    let submit =
        c.call("proposal.submit", json!({ "proposal": { "actions": [{ "id": "z", "tool": "sleepy" }] } }));
    let watch = async {
        let exec = c.next_method("tools.execute", LONG).await.expect("callback");
        let cancel = c.next_method("tools.cancel", LONG).await.expect("cancel");
        (exec, cancel)
    };
    let (result, (exec, cancel)) = tokio::join!(submit, watch);
    let result = result.unwrap();
    assert_eq!(result["results"][0]["status"], json!("failed"));
    assert!(result["results"][0]["error"].as_str().unwrap().contains("timed out"), "{result}");
    assert_eq!(cancel["params"]["request_id"], exec["params"]["request_id"]);
    assert_eq!(cancel["params"]["action_id"], json!("z"));
    assert!(cancel.get("id").is_none(), "tools.cancel is a notification");
    // A late reply with the old id is ignored, and the connection keeps working.
    c.reply(&exec["id"], json!("late")).await.unwrap();
    assert!(c.call("server.info", json!({})).await.is_ok());
}

#[tokio::test]
async fn a_denied_tool_is_rejected_and_never_called() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["rm", "ls"]).await;
    let r = c
        .call("policy.register", json!({ "name": "no-rm", "rule": "deny_tool", "target": "rm" }))
        .await
        .unwrap();
    assert_eq!(r, json!({ "registered": "no-rm", "scope": "global" }));
    c.call("policy.register", json!({ "name": "no-secrets", "rule": "deny_tool_param", "target": "ls", "key": "path", "pattern": "/secret" })).await.unwrap();
    let (r, seen) = run(
        &c,
        json!({ "actions": [
            { "id": "x", "tool": "rm", "parameters": { "path": "/" } },
            { "id": "y", "tool": "ls", "parameters": { "path": "/secret/keys" } },
            { "id": "z", "tool": "ls", "parameters": { "path": "/home" } },
        ]}),
        |_| ok(json!([])),
    )
    .await;
    let r = r.unwrap();
    let status: Vec<&str> =
        r["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["rejected", "rejected", "succeeded"]);
    assert_eq!(r["cost"]["actions_rejected"], json!(2));
    assert_eq!(seen.len(), 1);
    d.daemon.disk.flush().await;
    let journal = std::fs::read_dir(d.data_dir.join("journals")).unwrap().next().unwrap().unwrap().path();
    assert!(std::fs::read_to_string(journal).unwrap().contains("policy_violation"));
    let listed = c.call("policy.list", json!({})).await.unwrap();
    assert_eq!(listed["policies"].as_array().unwrap().len(), 2);
    let r = c.call("policy.unregister", json!({ "name": "no-rm" })).await.unwrap();
    assert_eq!(r["removed"], json!(1));
}

#[tokio::test]
async fn a_malformed_proposal_runs_nothing() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["t"]).await;
    let bad = [
        (json!({ "actions": [] }), "actions"),
        (json!({ "actions": [{ "id": "a", "tool": "t" }, { "id": "a", "tool": "t" }] }), "actions[1].id"),
        (json!({ "actions": [{ "id": "ok", "tool": "t" }, { "type": "tool_call" }] }), "actions[1].tool"),
        (json!({ "actions": [{ "id": "ok", "tool": "t" }, { "type": "teleport" }] }), "actions[1].type"),
        (
            json!({ "actions": [{ "tool": "t", "preconditions": [{ "key": "k", "operator": "approx" }] }] }),
            "actions[0].preconditions[0].operator",
        ),
    ];
    for (proposal, field) in bad {
        let hark_test_support::ClientError::Rpc(e) =
            c.call("proposal.submit", json!({ "proposal": proposal })).await.unwrap_err()
        else {
            panic!()
        };
        assert_eq!(e.code, -32602, "{proposal}");
        assert_eq!(e.data.unwrap()["field"], json!(field), "{proposal}");
    }
    assert!(c.next_message(SHORT).await.is_none(), "no callback was sent");
    assert_eq!(c.call("proposal.submit", json!({})).await.unwrap_err().code(), -32602);
}

#[tokio::test]
async fn unregistered_tools_fail_and_tools_unregister() {
    let d = TestDaemon::start().await;
    let c = agent_with_tools(&d, &["t"]).await;
    let r = c.call("tools.unregister", json!({ "name": "t" })).await.unwrap();
    assert_eq!(r, json!({ "unregistered": "t", "removed": 1 }));
    let (r, seen) = run(&c, json!({ "actions": [{ "id": "a", "tool": "t" }] }), |_| ok(json!(1))).await;
    let r = r.unwrap();
    assert_eq!(r["results"][0]["status"], json!("failed"));
    assert!(r["results"][0]["error"].as_str().unwrap().contains("not registered"));
    assert!(seen.is_empty());
    // session.init registers tools too, and names the session.
    let init =
        c.call("session.init", json!({ "client_id": "tester", "tools": [{ "name": "u" }] })).await.unwrap();
    assert_eq!(init["tools_registered"], json!(1));
    assert_eq!(init["session_id"].as_str().unwrap().len(), 12);
}
