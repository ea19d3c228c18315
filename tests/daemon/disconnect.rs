//! The one cleanup path: a pending callback fails at once when its client drops; a peer that
//! vanishes without a close frame, and one that goes silent, are cleaned up the same way.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hark_test_support::{RawPeer, TestDaemon};
use serde_json::json;

use crate::LONG;

async fn settle(d: &TestDaemon) -> (usize, usize) {
    let live = || d.daemon.live_connection_objects.load(Ordering::Acquire);
    for _ in 0..300 {
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
