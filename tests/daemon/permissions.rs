//! The approval gate (PROTOCOL §9) through `permissions.request`, the method that runs the same
//! gate the voice and meeting methods will use.

use std::time::{Duration, Instant};

use hark_core::ApprovalPolicy;
use hark_test_support::{Client, TestDaemon, eventually};
use serde_json::{Value, json};

use crate::{LONG, SHORT};

async fn request(c: &Client, capability: &str) -> Result<Value, hark_test_support::ClientError> {
    c.call("permissions.request", json!({ "capability": capability })).await
}

/// The host's next `approval.requested` event payload.
async fn next_request(host: &Client) -> Value {
    loop {
        let event = host.next_method("host.event", LONG).await.expect("host.event");
        if event["params"]["kind"] == "approval.requested" {
            return event["params"]["payload"].clone();
        }
    }
}

async fn next_resolved(host: &Client) -> Value {
    loop {
        let event = host.next_method("host.event", LONG).await.expect("host.event");
        if event["params"]["kind"] == "approval.resolved" {
            return event["params"]["payload"].clone();
        }
    }
}

async fn resolve(host: &Client, payload: &Value, resolution: &str) -> Value {
    host.call(
        "host.resolve_approval",
        json!({ "approval_id": payload["approval_id"], "resolution": resolution }),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_parked_request_never_blocks_its_connection() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("scribe").await;
    let parked = request(&agent, "microphone");
    let meanwhile = async {
        let payload = next_request(&host).await;
        assert_eq!(
            (payload["agent_id"].clone(), payload["capability"].clone()),
            (json!("scribe"), json!("microphone"))
        );
        assert_eq!(payload["method"], json!("permissions.request"));
        // The same connection keeps working while its request is parked.
        let started = Instant::now();
        for _ in 0..20 {
            agent.call("server.info", json!({})).await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        resolve(&host, &payload, "approve_once").await
    };
    let (granted, resolved) = tokio::join!(parked, meanwhile);
    assert_eq!(granted.unwrap()["grant"], json!("once"));
    assert_eq!(
        (resolved["status"].clone(), resolved["resolution"].clone()),
        (json!("resolved"), json!("approve_once"))
    );
    // Once is once: the next use asks again.
    let again = request(&agent, "microphone");
    let deny = async {
        let payload = next_request(&host).await;
        resolve(&host, &payload, "deny").await
    };
    let (again, _) = tokio::join!(again, deny);
    assert_eq!(again.unwrap_err().code(), -32003);
}

#[tokio::test]
async fn approve_always_is_a_standing_grant_that_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("scribe").await;
    let (granted, _) = tokio::join!(request(&agent, "transcripts"), async {
        let payload = next_request(&host).await;
        let resolved = resolve(&host, &payload, "approve_always").await;
        // Stored when the person answered, before the agent's request even returns.
        let grants = host.call("permissions.list", json!({})).await.unwrap();
        assert_eq!(grants["grants"][0]["agent_id"], json!("scribe"));
        resolved
    });
    assert_eq!(granted.unwrap()["grant"], json!("always"));
    assert_eq!(request(&agent, "transcripts").await.unwrap()["grant"], json!("standing"));
    let mine = agent.call("permissions.list", json!({})).await.unwrap();
    assert_eq!(mine["grants"][0]["capability"], json!("transcripts"));
    drop((agent, host));
    d.stop().await;

    // Restarted with no host and the default policy (ask): the grant stands, no prompt needed.
    let d = TestDaemon::start_in(root.path(), |c| c.approval_timeout = SHORT).await;
    let agent = d.agent("scribe").await;
    assert_eq!(request(&agent, "transcripts").await.unwrap()["grant"], json!("standing"));
    // Another agent has no such grant; microphone was never granted.
    assert_eq!(request(&agent, "microphone").await.unwrap_err().code(), -32003);
    let other = d.agent("other").await;
    assert_eq!(request(&other, "transcripts").await.unwrap_err().code(), -32003);
    // Revoked, it asks again.
    let host = d.host().await;
    let r = host
        .call("permissions.revoke", json!({ "agent_id": "scribe", "capability": "transcripts" }))
        .await
        .unwrap();
    assert_eq!(r["revoked"], json!(true));
    assert_eq!(request(&agent, "transcripts").await.unwrap_err().code(), -32003);
    assert_eq!(host.call("permissions.list", json!({})).await.unwrap()["grants"], json!([]));
}

#[tokio::test]
async fn no_answer_times_out() {
    let d = TestDaemon::start_with(|c| c.approval_timeout = SHORT).await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("scribe").await;
    let started = Instant::now();
    let hark_test_support::ClientError::Rpc(e) = request(&agent, "microphone").await.unwrap_err() else {
        panic!()
    };
    assert_eq!(e.code, -32003);
    assert_eq!(e.data.unwrap()["reason"], json!("timeout"));
    assert!(started.elapsed() >= SHORT);
    let _ = next_request(&host).await;
    assert_eq!(next_resolved(&host).await["resolution"], json!("timeout"));
}

#[tokio::test]
async fn the_policy_decides_when_no_host_is_subscribed() {
    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Allow).await;
    let agent = d.agent("a").await;
    assert_eq!(request(&agent, "microphone").await.unwrap()["grant"], json!("policy"));
    // A subscribed host takes over from the policy.
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let (r, _) = tokio::join!(request(&agent, "microphone"), async {
        let payload = next_request(&host).await;
        resolve(&host, &payload, "deny").await
    });
    assert_eq!(r.unwrap_err().code(), -32003);

    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Deny).await;
    let agent = d.agent("a").await;
    assert_eq!(request(&agent, "microphone").await.unwrap_err().code(), -32003);

    // ask: parked; a host that subscribes later finds it in its snapshot and answers it.
    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Ask).await;
    let agent = d.agent("a").await;
    let host = d.host().await;
    let (r, _) = tokio::join!(request(&agent, "microphone"), async {
        // The request is parked once the daemon holds its approval.
        eventually("the parked approval", LONG, || async {
            !host.call("host.approvals", json!({})).await.unwrap()["approvals"].as_array().unwrap().is_empty()
        })
        .await;
        let snapshot = host.call("host.subscribe", json!({})).await.unwrap();
        let pending = &snapshot["approvals"][0];
        assert_eq!(pending["details"]["capability"], json!("microphone"));
        host.call(
            "host.resolve_approval",
            json!({ "approval_id": pending["id"], "resolution": "approve_once" }),
        )
        .await
        .unwrap()
    });
    assert_eq!(r.unwrap()["grant"], json!("once"));
}

#[tokio::test]
async fn only_the_host_answers_and_anonymous_clients_get_once_only() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let anonymous = d.client().await;
    let other = d.client().await;
    let (r, _) = tokio::join!(request(&anonymous, "microphone"), async {
        let payload = next_request(&host).await;
        let e = other
            .call(
                "host.resolve_approval",
                json!({ "approval_id": payload["approval_id"], "resolution": "approve_once" }),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), -32002);
        let e = anonymous
            .call(
                "host.resolve_approval",
                json!({ "approval_id": payload["approval_id"], "resolution": "approve_always" }),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), -32002, "a client cannot approve itself");
        resolve(&host, &payload, "approve_always").await
    });
    assert_eq!(r.unwrap()["grant"], json!("once"), "no agent_id: approve_always acts once");
    assert_eq!(host.call("permissions.list", json!({})).await.unwrap()["grants"], json!([]));
    assert_eq!(request(&anonymous, "nonsense").await.unwrap_err().code(), -32602);
}

#[tokio::test]
async fn a_departed_agent_resolves_agent_gone() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("leaver").await;
    let pending = tokio::spawn(async move {
        let _ = request(&agent, "microphone").await;
    });
    let payload = next_request(&host).await;
    pending.abort(); // drops the client: the socket closes
    let resolved = next_resolved(&host).await;
    assert_eq!(
        (resolved["approval_id"].clone(), resolved["resolution"].clone()),
        (payload["approval_id"].clone(), json!("agent_gone"))
    );
    let e = host
        .call(
            "host.resolve_approval",
            json!({ "approval_id": payload["approval_id"], "resolution": "approve_once" }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32012);
}

#[tokio::test]
async fn notifications_and_batch_members_count_against_the_in_flight_limit() {
    let d = TestDaemon::start_with(|c| c.limits.max_inflight_requests = 4).await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("flooder").await;
    for _ in 0..20 {
        agent.send_json(&json!({ "jsonrpc": "2.0", "method": "permissions.request", "params": { "capability": "microphone" } })).await.unwrap();
    }
    // A request after them is read after them: its -32011 says all 20 were read, 4 of them kept.
    let after = agent.call("server.info", json!({})).await.unwrap_err();
    assert_eq!(after.code(), -32011);
    let approvals = host.call("host.approvals", json!({})).await.unwrap();
    let parked =
        approvals["approvals"].as_array().unwrap().iter().filter(|a| a["status"] == "pending").count();
    assert_eq!(parked, 4, "only 4 notifications were taken in");
    // The person denies the 4; once their handlers have returned, the slots are free again.
    deny_pending(&host, 4).await;
    let conn = d.daemon.agent_connection("flooder").expect("the flooder's connection");
    eventually("the 4 slots to be given back", LONG, || {
        let n = conn.inflight();
        async move { n == 0 }
    })
    .await;
    // Then a batch of 10: 4 park (the person denies them too), 6 are told the connection is busy.
    let batch: Vec<Value> = (0..10)
        .map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "permissions.request", "params": { "capability": "microphone" } }))
        .collect();
    agent.send_json(&Value::Array(batch)).await.unwrap();
    deny_pending(&host, 4).await;
    let replies = loop {
        let m = agent.next_message(LONG).await.expect("the batch reply");
        if m.is_array() {
            break m;
        }
    };
    let codes: Vec<i64> =
        replies.as_array().unwrap().iter().map(|r| r["error"]["code"].as_i64().unwrap()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == -32011).count(), 6, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == -32003).count(), 4, "{codes:?}");
}

/// The ids of the approvals waiting for the person.
async fn pending_ids(host: &Client) -> Vec<Value> {
    let approvals = host.call("host.approvals", json!({})).await.unwrap();
    approvals["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "pending")
        .map(|a| a["id"].clone())
        .collect()
}

/// Waits until `n` approvals are pending, then denies them all as the person.
async fn deny_pending(host: &Client, n: usize) {
    eventually(&format!("{n} pending approvals"), LONG, || async move { pending_ids(host).await.len() == n })
        .await;
    for id in pending_ids(host).await {
        host.call("host.resolve_approval", json!({ "approval_id": id, "resolution": "deny" })).await.unwrap();
    }
}
