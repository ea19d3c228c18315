//! The host surface (PROTOCOL §8): roster and its ACL, notifications, generic approvals, the
//! event ring.

use hark_test_support::TestDaemon;
use serde_json::json;

use crate::LONG;

#[tokio::test]
async fn roster_events_and_acl() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    let snapshot = host.call("host.subscribe", json!({})).await.unwrap();
    assert_eq!(snapshot["agents"], json!([]));
    let agent = d.agent("notes").await;
    let me = agent
        .call("host.register_agent", json!({ "name": "Notes bot", "capabilities": ["chat"] }))
        .await
        .unwrap();
    assert_eq!((me["id"].clone(), me["status"].clone()), (json!("notes"), json!("idle")));
    let event = host.next_method("host.event", LONG).await.unwrap();
    assert_eq!(event["params"]["kind"], json!("agent.registered"));
    let r = agent
        .call("host.set_status", json!({ "agent_id": "notes", "status": "running", "message": "thinking" }))
        .await
        .unwrap();
    assert_eq!(r["status"], json!("running"));
    assert_eq!(
        host.next_method("host.event", LONG).await.unwrap()["params"]["kind"],
        json!("agent.status_changed")
    );
    assert_eq!(
        agent
            .call("host.set_status", json!({ "agent_id": "notes", "status": "dancing" }))
            .await
            .unwrap_err()
            .code(),
        -32602
    );

    // Another client neither sees nor changes it; the host sees everything.
    let other = d.client().await;
    assert_eq!(other.call("host.agents", json!({})).await.unwrap()["agents"], json!([]));
    assert_eq!(
        other
            .call("host.set_status", json!({ "agent_id": "notes", "status": "idle" }))
            .await
            .unwrap_err()
            .code(),
        -32002
    );
    assert_eq!(
        other.call("host.unregister_agent", json!({ "agent_id": "notes" })).await.unwrap_err().code(),
        -32002
    );
    assert_eq!(
        other
            .call("host.register_agent", json!({ "id": "notes", "name": "impostor" }))
            .await
            .unwrap_err()
            .code(),
        -32012
    );
    assert_eq!(host.call("host.agents", json!({})).await.unwrap()["agents"][0]["name"], json!("Notes bot"));
    assert_eq!(other.call("host.events", json!({})).await.unwrap_err().code(), -32002);

    // host.notify
    let r = agent
        .call("host.notify", json!({ "kind": "info", "message": "summary ready", "payload": { "n": 1 } }))
        .await
        .unwrap();
    let event = host.next_method("host.event", LONG).await.unwrap();
    assert_eq!(
        (event["params"]["id"].clone(), event["params"]["kind"].clone()),
        (r["event_id"].clone(), json!("host.notification"))
    );
    assert_eq!(event["params"]["agent_id"], json!("notes"));

    // The agent leaves: it is unregistered in the same cleanup path.
    drop(agent);
    let event = host.next_method("host.event", LONG).await.unwrap();
    assert_eq!(event["params"]["kind"], json!("agent.unregistered"));
    assert_eq!(host.call("host.agents", json!({})).await.unwrap()["agents"], json!([]));
}

#[tokio::test]
async fn generic_approvals() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("deployer").await;
    let req = agent
        .call("host.request_approval", json!({ "action": "deploy to prod", "details": { "sha": "abc" } }))
        .await
        .unwrap();
    assert_eq!(
        (req["status"].clone(), req["options"].clone()),
        (json!("pending"), json!(["approve", "deny"]))
    );
    assert_eq!(
        host.next_method("host.event", LONG).await.unwrap()["params"]["kind"],
        json!("approval.requested")
    );
    assert_eq!(host.call("host.approvals", json!({})).await.unwrap()["approvals"][0]["id"], req["id"]);
    let e = host
        .call("host.resolve_approval", json!({ "approval_id": req["id"], "resolution": "maybe" }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32602);
    let done = host
        .call("host.resolve_approval", json!({ "approval_id": req["id"], "resolution": "approve" }))
        .await
        .unwrap();
    assert_eq!((done["status"].clone(), done["resolution"].clone()), (json!("resolved"), json!("approve")));
    // The asking agent, not subscribed, is told.
    let told = agent.next_method("host.event", LONG).await.unwrap();
    assert_eq!(
        (told["params"]["kind"].clone(), told["params"]["payload"]["resolution"].clone()),
        (json!("approval.resolved"), json!("approve"))
    );
    let e = host
        .call("host.resolve_approval", json!({ "approval_id": req["id"], "resolution": "deny" }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32012);
    let e = host
        .call("host.resolve_approval", json!({ "approval_id": "apr-none", "resolution": "deny" }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32010);
    // An agent may withdraw (resolve) its own generic request.
    let req = agent
        .call("host.request_approval", json!({ "action": "x", "options": ["ok", "cancel"] }))
        .await
        .unwrap();
    let done = agent
        .call("host.resolve_approval", json!({ "approval_id": req["id"], "resolution": "cancel" }))
        .await
        .unwrap();
    assert_eq!(done["resolution"], json!("cancel"));
}

#[tokio::test]
async fn the_event_ring_keeps_the_last_500() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    let c = d.client().await;
    for i in 0..600 {
        c.call("host.notify", json!({ "message": format!("n{i}") })).await.unwrap();
    }
    let events = host.call("host.events", json!({})).await.unwrap()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 500);
    assert_eq!((events[0]["sequence"].clone(), events[499]["sequence"].clone()), (json!(101), json!(600)));
    assert_eq!(events[0]["message"], json!("n100"));
    let snapshot = host.call("host.subscribe", json!({})).await.unwrap();
    let backlog = snapshot["events"].as_array().unwrap();
    assert_eq!((backlog.len(), backlog[49]["sequence"].clone()), (50, json!(600)));
    let limited = host.call("host.events", json!({ "limit": 3 })).await.unwrap();
    assert_eq!(limited["events"].as_array().unwrap().len(), 3);
}
