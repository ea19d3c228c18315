//! `agents.chat` over the wire (PROTOCOL §13): the host asks, the agent acks and streams, the
//! daemon forwards only the bound agent's events, routes close on done / cancel / disconnect /
//! idle, and the history survives a restart.

use std::time::Duration;

use hark_test_support::{Client, ClientError, TestDaemon};
use serde_json::{Value, json};

use crate::{LONG, SHORT};

/// Serves the next `agent.chat` call on `agent` with an ack; returns its params.
async fn ack_next_chat(agent: &Client) -> Value {
    let call = agent.next_method("agent.chat", LONG).await.expect("agent.chat reaches the agent");
    agent.reply(&call["id"], json!({ "ok": true })).await.unwrap();
    call["params"].clone()
}

/// Starts a chat from `host` to `agent_id`, served by `agent`; returns the session id.
async fn start_chat(
    host: &Client,
    agent: &Client,
    agent_id: &str,
    prompt: &str,
    session: Option<&str>,
) -> String {
    let mut params = json!({ "agent_id": agent_id, "prompt": prompt });
    if let Some(s) = session {
        params["session_id"] = json!(s);
    }
    let (result, seen) = tokio::join!(host.call("agents.chat", params), ack_next_chat(agent));
    let result = result.unwrap();
    assert_eq!(result["accepted"], json!(true));
    assert_eq!(seen["session_id"], result["session_id"]);
    assert_eq!(seen["prompt"], json!(prompt));
    assert!(seen["context"]["host_client_id"].is_string(), "{seen}");
    result["session_id"].as_str().unwrap().to_string()
}

async fn agent_event(agent: &Client, event: Value) {
    agent
        .send_json(&json!({ "jsonrpc": "2.0", "method": "agent.chat.event", "params": event }))
        .await
        .unwrap();
}

async fn next_chat_event(host: &Client) -> Value {
    host.next_method("agents.chat.event", LONG).await.expect("agents.chat.event")["params"].clone()
}

fn code(e: ClientError) -> i64 {
    e.code()
}

#[tokio::test]
async fn a_streamed_chat_reaches_the_host_in_order_and_is_stored() {
    let d = TestDaemon::start().await;
    let agent = d.agent("helper").await;
    let host = d.host().await;
    let sid = start_chat(&host, &agent, "helper", "what is on today?", None).await;

    for delta in ["Two ", "meetings", "."] {
        agent_event(&agent, json!({ "session_id": sid, "kind": "token", "delta": delta })).await;
    }
    agent_event(
        &agent,
        json!({ "session_id": sid, "kind": "tool_call", "name": "calendar", "args": {"day": 1} }),
    )
    .await;
    agent_event(&agent, json!({ "session_id": sid, "kind": "done" })).await;

    let mut kinds = Vec::new();
    let mut text = String::new();
    loop {
        let e = next_chat_event(&host).await;
        assert_eq!(e["agent_id"], json!("helper"));
        assert_eq!(e["session_id"], json!(sid));
        if let Some(delta) = e["delta"].as_str() {
            text.push_str(delta);
        }
        if e["kind"] == "tool_call" {
            assert_eq!(e["name"], json!("calendar"));
            assert_eq!(e["args"], json!({"day": 1}));
        }
        kinds.push(e["kind"].as_str().unwrap().to_string());
        if e["kind"] == "done" {
            break;
        }
    }
    assert_eq!(kinds, ["token", "token", "token", "tool_call", "done"]);
    assert_eq!(text, "Two meetings.");

    // The route is gone after done: a late event is not forwarded.
    let late =
        agent.call("agent.chat.event", json!({ "session_id": sid, "kind": "token", "delta": "x" })).await;
    assert_eq!(late.unwrap()["accepted"], json!(false));

    let history = host.call("agents.chat.history", json!({ "agent_id": "helper" })).await.unwrap();
    let sessions = history["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    let turns = sessions[0]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(turns[0]["role"], json!("user"));
    assert_eq!(turns[0]["text"], json!("what is on today?"));
    assert_eq!(turns[1]["role"], json!("agent"));
    assert_eq!(turns[1]["text"], json!("Two meetings."));
    assert_eq!(turns[1]["tool_calls"][0]["name"], json!("calendar"));
    assert!(turns[1].get("ended").is_none(), "{}", turns[1]);
    assert_eq!(sessions[0]["active"], json!(false));
    d.stop().await;
}

#[tokio::test]
async fn only_the_bound_agent_may_stream_and_only_the_host_may_chat() {
    let d = TestDaemon::start().await;
    let agent = d.agent("helper").await;
    let other = d.agent("impostor").await;
    let host = d.host().await;

    let refused = other.call("agents.chat", json!({ "agent_id": "helper", "prompt": "hi" })).await;
    assert_eq!(code(refused.unwrap_err()), -32002);
    let unknown = host.call("agents.chat", json!({ "agent_id": "nobody", "prompt": "hi" })).await;
    assert_eq!(code(unknown.unwrap_err()), -32010);

    let sid = start_chat(&host, &agent, "helper", "hi", None).await;
    let forged =
        other.call("agent.chat.event", json!({ "session_id": sid, "kind": "token", "delta": "EVIL" }));
    assert_eq!(forged.await.unwrap()["accepted"], json!(false));
    agent_event(&other, json!({ "session_id": sid, "kind": "done", "text": "EVIL" })).await;
    // A request after the notification on the same connection: the notification was handled.
    other.call("server.info", json!({})).await.unwrap();
    // The agent cannot name another agent in what it streams either.
    agent_event(
        &agent,
        json!({ "session_id": sid, "kind": "token", "delta": "real", "agent_id": "bank-bot" }),
    )
    .await;
    let first = next_chat_event(&host).await;
    assert_eq!(first["delta"], json!("real"), "the impostor's events were forwarded: {first}");
    assert_eq!(first["agent_id"], json!("helper"), "an agent forged its agent_id: {first}");
    agent_event(&agent, json!({ "session_id": sid, "kind": "done" })).await;
    let done = next_chat_event(&host).await;
    assert_eq!((done["kind"].as_str(), done.get("text")), (Some("done"), None), "{done}");
    d.stop().await;
}

#[tokio::test]
async fn cancel_is_idempotent_and_tells_the_agent() {
    let d = TestDaemon::start().await;
    let agent = d.agent("helper").await;
    let host = d.host().await;
    let sid = start_chat(&host, &agent, "helper", "long task", None).await;
    agent_event(&agent, json!({ "session_id": sid, "kind": "token", "delta": "part" })).await;
    assert_eq!(next_chat_event(&host).await["delta"], json!("part"));

    let first = host.call("agents.chat.cancel", json!({ "session_id": sid })).await.unwrap();
    assert_eq!(first["cancelled"], json!(true));
    let note = agent.next_method("agent.chat.cancel", LONG).await.expect("the agent is told");
    assert_eq!(note["params"]["session_id"], json!(sid));
    let again = host.call("agents.chat.cancel", json!({ "session_id": sid })).await.unwrap();
    assert_eq!(again["cancelled"], json!(false));
    let late = agent.call("agent.chat.event", json!({ "session_id": sid, "kind": "done" })).await.unwrap();
    assert_eq!(late["accepted"], json!(false));

    let history = host.call("agents.chat.history", json!({ "session_id": sid })).await.unwrap();
    let turns = &history["sessions"][0]["turns"];
    assert_eq!(turns[1]["text"], json!("part"));
    assert_eq!(turns[1]["ended"], json!("cancelled"));
    d.stop().await;
}

#[tokio::test]
async fn the_host_leaving_mid_chat_drops_the_route_and_the_agent_leaving_tells_the_host() {
    let d = TestDaemon::start().await;
    let agent = d.agent("helper").await;
    let host = d.host().await;
    let sid = start_chat(&host, &agent, "helper", "hi", None).await;
    host.close().await;
    drop(host);
    let note = agent.next_method("agent.chat.cancel", LONG).await.expect("the agent is told the host left");
    assert_eq!(note["params"], json!({ "session_id": sid, "reason": "host_disconnected" }));
    let late = agent.call("agent.chat.event", json!({ "session_id": sid, "kind": "done" })).await.unwrap();
    assert_eq!(late["accepted"], json!(false));

    let host = d.host().await;
    let sid2 = start_chat(&host, &agent, "helper", "again", None).await;
    agent.close().await;
    drop(agent);
    let e = next_chat_event(&host).await;
    assert_eq!((e["session_id"].as_str(), e["kind"].as_str()), (Some(sid2.as_str()), Some("error")));
    let history = host.call("agents.chat.history", json!({ "agent_id": "helper" })).await.unwrap();
    let ended: Vec<&Value> =
        history["sessions"].as_array().unwrap().iter().map(|s| &s["turns"][1]["ended"]).collect();
    assert!(
        ended.contains(&&json!("host_disconnected")) && ended.contains(&&json!("agent_disconnected")),
        "{ended:?}"
    );
    d.stop().await;
}

#[tokio::test]
async fn history_survives_a_restart_and_a_session_can_be_continued() {
    let root = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let (agent, host) = (d.agent("helper").await, d.host().await);
    let sid = start_chat(&host, &agent, "helper", "remember 42", None).await;
    agent_event(&agent, json!({ "session_id": sid, "kind": "done", "text": "noted" })).await;
    assert_eq!(next_chat_event(&host).await["kind"], json!("done"));
    // The history thread writes in order: reading through it proves the turn is on disk.
    host.call("agents.chat.history", json!({})).await.unwrap();
    drop((agent, host));
    d.stop().await;

    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let (agent, host) = (d.agent("helper").await, d.host().await);
    let history = host.call("agents.chat.history", json!({})).await.unwrap();
    assert_eq!(history["sessions"][0]["session_id"], json!(sid));
    assert_eq!(history["sessions"][0]["turns"][1]["text"], json!("noted"));

    let again = start_chat(&host, &agent, "helper", "what was it?", Some(&sid)).await;
    assert_eq!(again, sid);
    agent_event(&agent, json!({ "session_id": sid, "kind": "error", "error": "forgot" })).await;
    assert_eq!(next_chat_event(&host).await["kind"], json!("error"));
    let history = host.call("agents.chat.history", json!({ "session_id": sid })).await.unwrap();
    let turns = history["sessions"][0]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 4, "{turns:?}");
    assert_eq!(turns[2]["text"], json!("what was it?"));
    assert_eq!((turns[3]["error"].as_str(), turns[3]["ended"].as_str()), (Some("forgot"), Some("error")));
    let files: Vec<_> = std::fs::read_dir(d.data_dir.join("chats/helper")).unwrap().collect();
    assert_eq!(files.len(), 1);
    d.stop().await;
}

#[tokio::test]
async fn an_agent_that_does_not_ack_times_out_and_one_that_goes_quiet_is_dropped() {
    let d = TestDaemon::start_with(|c| c.chat_idle = SHORT).await;
    let (agent, host) = (d.agent("helper").await, d.host().await);

    // Idle: acked, then nothing: the host gets an error event, the agent a cancel.
    let sid = start_chat(&host, &agent, "helper", "hi", None).await;
    let e = next_chat_event(&host).await;
    assert_eq!((e["session_id"].as_str(), e["kind"].as_str()), (Some(sid.as_str()), Some("error")));
    let note = agent.next_method("agent.chat.cancel", LONG).await.unwrap();
    assert_eq!(note["params"]["reason"], json!("idle_timeout"));
    d.stop().await;

    // No ack within 5 s (and the default 5 min idle, so the timeout is what ends it): -32004,
    // the agent is told, and the route is gone.
    let d = TestDaemon::start().await;
    let (agent, host) = (d.agent("helper").await, d.host().await);
    let started = std::time::Instant::now();
    let call = host.call_timeout("agents.chat", json!({ "agent_id": "helper", "prompt": "x" }), LONG);
    let (result, seen) = tokio::join!(call, agent.next_method("agent.chat", LONG));
    assert_eq!(code(result.unwrap_err()), -32004);
    assert!(started.elapsed() >= Duration::from_secs(5));
    let sid = seen.unwrap()["params"]["session_id"].as_str().unwrap().to_string();
    let note = agent.next_method("agent.chat.cancel", LONG).await.expect("the agent is told");
    assert_eq!(note["params"], json!({ "session_id": sid, "reason": "timeout" }));
    let late = agent.call("agent.chat.event", json!({ "session_id": sid, "kind": "done" })).await.unwrap();
    assert_eq!(late["accepted"], json!(false));
    d.stop().await;
}

#[tokio::test]
async fn at_most_four_chats_per_agent_and_an_agent_error_is_relayed() {
    let d = TestDaemon::start().await;
    let (agent, host) = (d.agent("helper").await, d.host().await);
    for i in 0..4 {
        start_chat(&host, &agent, "helper", &format!("chat {i}"), None).await;
    }
    let fifth = host.call("agents.chat", json!({ "agent_id": "helper", "prompt": "five" })).await;
    assert_eq!(code(fifth.unwrap_err()), -32012);
    let busy =
        host.call("agents.chat", json!({ "agent_id": "helper", "prompt": "x", "session_id": "../x" })).await;
    assert_eq!(code(busy.unwrap_err()), -32602);

    let other = d.agent("grumpy").await;
    let call = host.call("agents.chat", json!({ "agent_id": "grumpy", "prompt": "hi" }));
    let refuse = async {
        let m = other.next_method("agent.chat", LONG).await.unwrap();
        other.reply_error(&m["id"], -32000, "not now").await.unwrap();
    };
    let (result, ()) = tokio::join!(call, refuse);
    let e = result.unwrap_err();
    assert_eq!(e.code(), -32000);
    d.stop().await;
}

#[tokio::test]
async fn events_in_a_batch_keep_their_order_with_the_frames_around_it() {
    let d = TestDaemon::start().await;
    let (agent, host) = (d.agent("helper").await, d.host().await);
    let sid = start_chat(&host, &agent, "helper", "count", None).await;
    let note = |delta: &str| json!({ "jsonrpc": "2.0", "method": "agent.chat.event", "params": { "session_id": sid, "kind": "token", "delta": delta } });
    for round in 0..20 {
        agent.send_json(&json!([note(&format!("{round}a,")), note(&format!("{round}b,"))])).await.unwrap();
        agent.send_json(&note(&format!("{round}c,"))).await.unwrap();
    }
    agent_event(&agent, json!({ "session_id": sid, "kind": "done" })).await;
    let mut text = String::new();
    loop {
        let e = next_chat_event(&host).await;
        if e["kind"] == "done" {
            break;
        }
        text.push_str(e["delta"].as_str().unwrap());
    }
    let want: String = (0..20).map(|r| format!("{r}a,{r}b,{r}c,")).collect();
    assert_eq!(text, want);
    d.stop().await;
}
