//! Run tracing over the wire (PROTOCOL §14): receipts a client can recompute, the 2,000-turn
//! ceiling under pipelining, ownership, events in record order, incomplete after the owner
//! leaves, adoption at start-up, tamper detection, and ids that never escape `runs/`.

use futures_util::future::join_all;
use hark_test_support::{Client, TestDaemon};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::LONG;

/// The receipt chain computed from what the client sent (serde_json's `Value` keeps keys
/// sorted, and these turns hold only strings, integers and nested objects).
fn chain(run_id: &str, records: &[Value]) -> String {
    let mut d: [u8; 32] = Sha256::digest(run_id.as_bytes()).into();
    for r in records {
        let mut h = Sha256::new();
        h.update(d);
        h.update(serde_json::to_string(r).unwrap().as_bytes());
        d = h.finalize().into();
    }
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn turn(i: usize) -> Value {
    json!({ "role": "assistant", "n": i, "content": { "text": format!("step {i} — ünïcödé \"quoted\""), "a": 1 } })
}

async fn start(c: &Client, intent: &str) -> String {
    let r = c.call("runs.start", json!({ "intent": intent })).await.unwrap();
    r["run_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn receipts_match_what_the_client_sent_and_a_flipped_byte_is_reported() {
    let d = TestDaemon::start().await;
    let agent = d.agent("tracer").await;
    let run = start(&agent, "write a report").await;
    let first: Vec<Value> = (0..3).map(turn).collect();
    let r = agent.call("runs.record_turns", json!({ "run_id": run, "turns": first })).await.unwrap();
    assert_eq!(
        (r["ok"].clone(), r["base_index"].clone(), r["count"].clone()),
        (json!(true), json!(0), json!(3))
    );
    assert_eq!(r["digest"], json!(chain(&run, &first)));
    let second = vec![turn(3)];
    let r = agent.call("runs.record_turns", json!({ "run_id": run, "turns": second })).await.unwrap();
    let all: Vec<Value> = first.iter().chain(&second).cloned().collect();
    assert_eq!((r["base_index"].clone(), r["digest"].clone()), (json!(3), json!(chain(&run, &all))));

    let outcome = json!({ "status": "ok", "summary": "done" });
    let done = agent.call("runs.complete", json!({ "run_id": run, "outcome": outcome })).await.unwrap();
    let mut chained = all.clone();
    chained.push(json!({ "outcome": outcome }));
    assert_eq!(done["digest"], json!(chain(&run, &chained)));
    let trace = agent.call("runs.get_trace", json!({ "run_id": run })).await.unwrap();
    assert_eq!((trace["verified"].clone(), trace["digest"].clone()), (json!(true), done["digest"].clone()));
    assert_eq!(trace["records"].as_array().unwrap().len(), 5);
    assert_eq!(trace["status"], json!("completed"));

    // Flip one byte inside record 2's text on disk.
    let dir = d.data_dir.join("runs/tracer");
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&file).unwrap();
    let tampered = text.replacen("step 2", "step 9", 1);
    assert_ne!(text, tampered);
    std::fs::write(&file, tampered).unwrap();
    let trace = agent.call("runs.get_trace", json!({ "run_id": run })).await.unwrap();
    assert_eq!((trace["verified"].clone(), trace["first_bad"].clone()), (json!(false), json!(2)));
    assert_eq!(
        trace["records"].as_array().unwrap().len(),
        5,
        "a trace that does not verify is still returned"
    );
    let listed = agent.call("runs.list", json!({ "agent_id": "tracer" })).await.unwrap();
    assert_eq!(listed["runs"][0]["verified"], json!(false));
    d.stop().await;
}

#[tokio::test]
async fn forty_pipelined_batches_leave_exactly_two_thousand_turns() {
    let d = TestDaemon::start().await;
    let agent = d.agent("busy").await;
    let run = start(&agent, "many turns").await;
    let batches = (0..40).map(|b| {
        let turns: Vec<Value> = (0..100).map(|i| json!({ "b": b, "i": i })).collect();
        agent.call_timeout("runs.record_turns", json!({ "run_id": run, "turns": turns }), LONG * 3)
    });
    let results: Vec<Value> = join_all(batches).await.into_iter().map(Result::unwrap).collect();
    let accepted = results.iter().filter(|r| r["ok"] == json!(true)).count();
    let refused: Vec<&Value> = results.iter().filter(|r| r["ok"] == json!(false)).collect();
    assert_eq!((accepted, refused.len()), (20, 20));
    assert!(refused.iter().all(|r| r["dropped"] == json!("run_turn_limit")), "{refused:?}");
    let mut bases: Vec<u64> = results.iter().filter_map(|r| r["base_index"].as_u64()).collect();
    bases.sort();
    assert_eq!(bases, (0..20).map(|b| b * 100).collect::<Vec<u64>>());
    let snapshot = agent.call("runs.subscribe", json!({ "run_id": run })).await.unwrap();
    assert_eq!(snapshot["turns_so_far"], json!(2000));
    let trace = agent.call("runs.get_trace", json!({ "run_id": run, "cursor": 1990 })).await.unwrap();
    assert_eq!((trace["records"].as_array().unwrap().len(), trace["cursor"].clone()), (10, json!(2000)));
    d.stop().await;
}

#[tokio::test]
async fn subscribers_get_records_in_order_and_only_the_owner_writes() {
    let d = TestDaemon::start().await;
    let (agent, other, host) = (d.agent("writer").await, d.agent("other").await, d.host().await);
    let run = start(&agent, "ordered").await;
    let snap = host.call("runs.subscribe", json!({ "run_id": run })).await.unwrap();
    assert_eq!(snap, json!({ "turns_so_far": 0, "cursor": 0, "status": "open" }));
    assert_eq!(other.call("runs.subscribe", json!({ "run_id": run })).await.unwrap_err().code(), -32010);
    assert_eq!(other.call("runs.get_trace", json!({ "run_id": run })).await.unwrap_err().code(), -32010);
    let forged = other.call("runs.record_turns", json!({ "run_id": run, "turns": [{"x": 1}] })).await;
    assert_eq!(forged.unwrap_err().code(), -32002);
    let early = other.call("runs.complete", json!({ "run_id": run, "outcome": {"status": "ok"} })).await;
    assert_eq!(early.unwrap_err().code(), -32002);

    let sends = (0..8).map(|b| {
        agent.call(
            "runs.record_turns",
            json!({ "run_id": run, "turns": [{ "b": b, "k": 0 }, { "b": b, "k": 1 }] }),
        )
    });
    for r in join_all(sends).await {
        assert_eq!(r.unwrap()["ok"], json!(true));
    }
    agent.call("runs.complete", json!({ "run_id": run, "outcome": { "status": "ok" } })).await.unwrap();
    let mut indexes = Vec::new();
    let mut last = Value::Null;
    for _ in 0..17 {
        let e = host.next_method("runs.trace.event", LONG).await.expect("runs.trace.event")["params"].clone();
        indexes.push(e["record"]["index"].as_u64().unwrap());
        assert_eq!(e["cursor"].as_u64().unwrap(), indexes.last().unwrap() + 1);
        last = e;
    }
    assert_eq!(indexes, (0..17).collect::<Vec<u64>>(), "records out of order");
    assert_eq!(
        (last["status"].clone(), last["record"]["kind"].clone()),
        (json!("completed"), json!("outcome"))
    );
    let again = agent.call("runs.complete", json!({ "run_id": run, "outcome": { "status": "ok" } })).await;
    assert_eq!(again.unwrap_err().code(), -32012);
    let late = agent.call("runs.record_turns", json!({ "run_id": run, "turns": [{"x": 1}] })).await.unwrap();
    assert_eq!(late, json!({ "ok": false, "dropped": "run_terminal" }));
    d.stop().await;
}

#[tokio::test]
async fn a_dropped_owner_leaves_an_incomplete_run_and_bad_ids_stay_inside() {
    let d = TestDaemon::start().await;
    let (agent, host) = (d.agent("leaver").await, d.host().await);
    let run = start(&agent, "interrupted").await;
    agent.call("runs.record_turns", json!({ "run_id": run, "turns": [{"x": 1}] })).await.unwrap();
    host.call("runs.subscribe", json!({ "run_id": run })).await.unwrap();
    agent.close().await;
    drop(agent);
    let e = host.next_method("runs.trace.event", LONG).await.expect("the status change is pushed")["params"]
        .clone();
    assert_eq!(
        (e["status"].clone(), e["record"].clone(), e["cursor"].clone()),
        (json!("incomplete"), Value::Null, json!(1))
    );
    let trace = host.call("runs.get_trace", json!({ "run_id": run })).await.unwrap();
    assert_eq!((trace["status"].clone(), trace["verified"].clone()), (json!("incomplete"), json!(true)));

    let c = d.client().await;
    for bad in ["../x", "../../etc/passwd", "run-/../../x", ""] {
        let r = c.call("runs.record_turns", json!({ "run_id": bad, "turns": [{"x": 1}] })).await.unwrap();
        assert_eq!(r, json!({ "ok": false, "dropped": "run_not_found" }), "{bad}");
        assert_eq!(c.call("runs.get_trace", json!({ "run_id": bad })).await.unwrap_err().code(), -32010);
    }
    let escaped = c.call("runs.start", json!({ "intent": "x", "agent_id": "../../outside" })).await;
    assert_eq!(escaped.unwrap_err().code(), -32602);
    let own = d.agent("me").await;
    let other = own.call("runs.start", json!({ "intent": "x", "agent_id": "someone-else" })).await;
    assert_eq!(other.unwrap_err().code(), -32002, "an agent records runs as itself only");
    let unclaimed = c.call("runs.start", json!({ "intent": "x", "agent_id": "offline-agent" })).await;
    assert_eq!(unclaimed.unwrap_err().code(), -32002, "a client that claimed no id records as anonymous");
    let anonymous = c.call("runs.start", json!({ "intent": "x" })).await.unwrap();
    assert_eq!(anonymous["agent_id"], json!("anonymous"));
    let nosy = d.agent("anonymous").await;
    let listed = nosy.call("runs.list", json!({ "agent_id": "anonymous" })).await.unwrap();
    assert_eq!(listed["runs"], json!([]), "claiming 'anonymous' shows nobody's runs");
    let entries: Vec<String> = std::fs::read_dir(&d.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!entries.iter().any(|e| e == "outside"), "{entries:?}");
    assert!(!d.data_dir.parent().unwrap().join("outside").exists());
    d.stop().await;
}

#[tokio::test]
async fn a_restart_adopts_an_orphaned_open_run() {
    let root = tempfile::tempdir().unwrap();
    let runs_dir = root.path().join("data/runs");
    // A daemon that died mid-run: the book wrote the header and a turn, and nothing ended it.
    let (book, _) = hark_runs::RunBook::open(&runs_dir, hark_protocol::time::now_millis()).unwrap();
    let started =
        book.start("gone-session", "crashed", "before the crash", hark_protocol::time::now_millis()).unwrap();
    book.record_turns(
        "gone-session",
        &started.run_id,
        vec![json!({"x": 1})],
        hark_protocol::time::now_millis(),
    )
    .unwrap();
    drop(book);

    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    let listed = host.call("runs.list", json!({ "agent_id": "crashed" })).await.unwrap();
    let run = &listed["runs"][0];
    assert_eq!(run["run_id"], json!(started.run_id));
    assert_eq!(
        (run["status"].clone(), run["turns"].clone(), run["verified"].clone()),
        (json!("incomplete"), json!(1), json!(true))
    );
    d.stop().await;
}
