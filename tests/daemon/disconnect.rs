//! The one cleanup path: a pending callback fails at once when its client drops; a peer that
//! vanishes without a close frame, and one that goes silent, are cleaned up the same way.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hark_test_support::{RawPeer, TestDaemon};
use serde_json::json;

use crate::LONG;

async fn settle(d: &TestDaemon) -> (usize, usize) {
    let live = || d.daemon.live_connection_objects.load(Ordering::Acquire);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if d.daemon.session_count() == 0 && live() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (d.daemon.session_count(), live())
}

#[tokio::test]
async fn a_pending_callback_fails_at_once_when_its_client_vanishes() {
    // The tool timeout is the default 300 s: only the cleanup path can end this quickly.
    let d = TestDaemon::start().await;
    let c = d.client().await;
    c.call("tools.register", json!([{ "name": "hang" }])).await.unwrap();
    c.send_json(&json!({ "jsonrpc": "2.0", "id": 99, "method": "proposal.submit",
        "params": { "proposal": { "actions": [{ "tool": "hang" }] } } }))
        .await
        .unwrap();
    c.next_method("tools.execute", LONG).await.expect("callback");
    assert_eq!(d.daemon.session_count(), 1);
    let t = Instant::now();
    drop(c); // no close frame: the socket just goes away
    assert_eq!(settle(&d).await, (0, 0), "session and handler released");
    assert!(t.elapsed() < Duration::from_secs(2), "released in {:?}", t.elapsed());
}

#[tokio::test]
async fn a_polite_close_and_a_vanished_peer_are_cleaned_up_alike() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let polite = d.agent("polite").await;
    polite.call("host.register_agent", json!({ "name": "p" })).await.unwrap();
    polite.close().await;
    let vanished = d.agent("vanished").await;
    vanished.call("host.register_agent", json!({ "name": "v" })).await.unwrap();
    drop(vanished);
    let mut gone = Vec::new();
    while gone.len() < 2 {
        let e = host.next_method("host.event", LONG).await.unwrap();
        if e["params"]["kind"] == "agent.unregistered" {
            gone.push(e["params"]["agent_id"].as_str().unwrap().to_string());
        }
    }
    gone.sort();
    assert_eq!(gone, ["polite", "vanished"]);
    // Their agent ids are free again.
    d.agent("polite").await;
    d.agent("vanished").await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_idle_timeout() {
    let d = TestDaemon::start_with(|c| {
        c.limits.ping_interval = Duration::from_millis(100);
        c.limits.idle_timeout = Duration::from_millis(400);
    })
    .await;
    let mut peer = RawPeer::connect(d.port).await.unwrap();
    peer.send_text(
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "session.auth", "params": { "token": d.token } })
            .to_string(),
    )
    .await
    .unwrap();
    // It never answers pings and never sends again (but keeps the TCP connection open).
    let t = Instant::now();
    for _ in 0..100 {
        if d.daemon.session_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(settle(&d).await, (0, 0));
    assert!(t.elapsed() >= Duration::from_millis(300), "dropped too early: {:?}", t.elapsed());
    // A client that answers pings (tungstenite does) stays.
    let live = d.client().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(live.call("server.info", json!({})).await.is_ok());
}

#[tokio::test]
async fn an_unauthenticated_connection_is_dropped_after_the_auth_timeout() {
    let d = TestDaemon::start_with(|c| c.limits.auth_timeout = Duration::from_millis(200)).await;
    let c = d.connect().await;
    assert_eq!(c.closed(LONG).await.unwrap().code, Some(1008));
}

#[tokio::test]
async fn work_racing_a_disconnect_never_outlives_the_cleanup() {
    let d = TestDaemon::start().await;
    for i in 0..20 {
        let c = d.connect().await;
        c.call("session.auth", json!({ "host_token": d.host_token })).await.unwrap();
        let batch = json!([
            { "jsonrpc": "2.0", "id": 1, "method": "host.subscribe" },
            { "jsonrpc": "2.0", "id": 2, "method": "host.register_agent", "params": { "id": format!("ghost-{i}"), "name": "g" } },
            { "jsonrpc": "2.0", "id": 3, "method": "host.request_approval", "params": { "action": "x" } },
        ]);
        c.send_json(&batch).await.unwrap();
        drop(c);
    }
    assert_eq!(settle(&d).await, (0, 0));
    assert!(!d.daemon.host.has_subscribers(), "a departed connection is still subscribed");
    let host = d.host().await;
    assert_eq!(host.call("host.agents", json!({})).await.unwrap()["agents"], json!([]));
    let pending: Vec<_> = host.call("host.approvals", json!({})).await.unwrap()["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "pending")
        .cloned()
        .collect();
    assert!(pending.is_empty(), "{pending:?}");
}

#[tokio::test]
async fn the_first_frame_rules() {
    let d = TestDaemon::start().await;
    // A notification first: no reply (a notification never gets one), and the door closes.
    let c = d.connect().await;
    c.send_text(r#"{"jsonrpc":"2.0","method":"server.info"}"#).await.unwrap();
    assert_eq!(c.closed(LONG).await.unwrap().code, Some(1008));
    assert!(c.next_message(Duration::from_millis(100)).await.is_none());
}

#[tokio::test]
async fn unauthenticated_connections_cannot_take_every_slot() {
    let d = TestDaemon::start_with(|c| c.limits.max_unauthenticated = 2).await;
    let _a = d.connect().await;
    let _b = d.connect().await;
    assert!(
        hark_test_support::Client::connect_tcp(&d.url).await.is_err(),
        "a third unauthenticated one is refused"
    );
    drop(_a);
    // Authenticated connections do not count.
    for _ in 0..100 {
        if let Ok(c) = hark_test_support::Client::connect_tcp(&d.url).await {
            c.call("session.auth", json!({ "token": d.token })).await.unwrap();
            let again = d.connect().await;
            again.call("session.auth", json!({ "token": d.token })).await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no slot came back");
}
