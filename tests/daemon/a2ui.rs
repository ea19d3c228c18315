//! Agent surfaces over the wire (PROTOCOL §12): apply and ingest, refusals that change nothing
//! and leave the daemon responsive, ownership, subscriber events in order, actions to the owner
//! and over A2A, and route auth that never reaches anyone.

use std::path::PathBuf;

use hark_test_support::{Client, HttpRecorder, TestDaemon};
use serde_json::{Value, json};

use crate::{LONG, SHORT};

fn examples() -> Vec<(String, Vec<Value>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/a2ui/tests/fixtures/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            (f.file_name().unwrap().to_string_lossy().into_owned(), v["messages"].as_array().unwrap().clone())
        })
        .collect()
}

fn create(id: &str) -> Value {
    json!({ "version": "v0.9", "createSurface": {
        "surfaceId": id, "catalogId": "https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json" } })
}

fn components(id: &str, components: Value) -> Value {
    json!({ "version": "v0.9", "updateComponents": { "surfaceId": id, "components": components } })
}

fn button_surface(id: &str) -> Vec<Value> {
    vec![
        create(id),
        components(
            id,
            json!([
                { "id": "root", "component": "Button", "child": "label", "action": { "event": { "name": "ok" } } },
                { "id": "label", "component": "Text", "text": "OK" },
            ]),
        ),
    ]
}

fn action(id: &str) -> Value {
    json!({ "name": "ok", "surfaceId": id, "sourceComponentId": "root",
            "timestamp": "2026-12-02T14:00:00Z", "context": { "answer": 42 } })
}

async fn apply_all(c: &Client, messages: &[Value]) -> Value {
    let mut last = Value::Null;
    for m in messages {
        last = c.call("a2ui.apply", m.clone()).await.unwrap_or_else(|e| panic!("{m}: {e:?}"));
    }
    last
}

#[tokio::test]
async fn every_catalog_example_applies_and_replays() {
    let d = TestDaemon::start().await;
    let agent = d.client().await;
    let host = d.host().await;
    let examples = examples();
    assert!(examples.len() >= 18, "the examples were not found");
    for (name, messages) in &examples {
        let last = apply_all(&agent, messages).await;
        assert_eq!(last["deleted"], json!(false), "{name}");
        assert_eq!(last["surface"]["complete"], json!(true), "{name}: {}", last["surface"]["pending"]);
        // Delete it again: 18 surfaces would fit, but the store is shared with other checks.
        let id = last["surfaceId"].clone();
        let gone =
            agent.call("a2ui.apply", json!({ "version": "v0.9", "deleteSurface": { "surfaceId": id } }));
        assert_eq!(gone.await.unwrap()["deleted"], json!(true));
    }
    apply_all(&agent, &button_surface("kept")).await;
    let replay = host.call("a2ui/replay", json!({})).await.unwrap();
    assert_eq!(replay["surfaces"].as_array().unwrap().len(), 1);
    let kinds: Vec<&str> = replay["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_object().unwrap().keys().find(|k| *k != "version").unwrap().as_str())
        .collect();
    assert_eq!(kinds[0], "createSurface");
    assert!(kinds.contains(&"updateComponents"), "{kinds:?}");
    let caps = agent.call("a2ui.capabilities", json!({})).await.unwrap();
    assert_eq!(caps["version"], json!("v0.9"));
    assert!(caps["components"].as_array().unwrap().contains(&json!("Button")));
    d.stop().await;
}

#[tokio::test]
async fn bad_surfaces_are_refused_with_their_path_and_change_nothing() {
    let d = TestDaemon::start().await;
    let agent = d.client().await;
    apply_all(&agent, &button_surface("s")).await;
    let before = agent.call("a2ui.get", json!({ "surfaceId": "s" })).await.unwrap();

    let chain: Vec<Value> = (0..60)
        .map(|i| json!({ "id": if i == 0 { "root".to_string() } else { format!("c{i}") }, "component": "Column", "children": [format!("c{}", i + 1)] }))
        .collect();
    let cases = [
        (
            components(
                "s",
                json!([{ "id": "root", "component": "Column", "children": ["label"] },
                                 { "id": "label", "component": "Column", "children": ["root"] }]),
            ),
            "cycle",
        ),
        (
            components(
                "s",
                json!([{ "id": "a", "component": "Text", "text": "x" },
                                 { "id": "a", "component": "Text", "text": "y" }]),
            ),
            "duplicate_id",
        ),
        (components("s", Value::Array(chain)), "max_depth"),
        (components("s", json!([{ "id": "x", "component": "Blink" }])), "unknown_component"),
        (components("s", json!([{ "id": "x", "component": "Text" }])), "required_property"),
        (
            components("s", json!([{ "id": "x", "component": "Text", "text": "a".repeat(600 << 10) }])),
            "max_message_bytes",
        ),
    ];
    for (message, rule) in cases {
        let e = agent.call("a2ui.apply", message).await.unwrap_err();
        let hark_test_support::ClientError::Rpc(e) = e else { panic!("{e:?}") };
        assert_eq!(e.code, -32602, "{rule}: {e:?}");
        let data = e.data.clone().unwrap();
        assert_eq!(data["rule"], json!(rule), "{e:?}");
        let path = data["path"].as_str().unwrap();
        assert!(
            path.starts_with("/updateComponents") || (rule == "max_message_bytes" && path.is_empty()),
            "{e:?}"
        );
    }
    // 10,000 nested columns, in messages of 200: the surface limit refuses them, the daemon stays.
    let mut refused = 0;
    for batch in 0..50 {
        let comps: Vec<Value> = (batch * 200..(batch + 1) * 200)
            .map(|i| json!({ "id": format!("n{i}"), "component": "Column", "children": [format!("n{}", i + 1)] }))
            .collect();
        if agent.call("a2ui.apply", components("s", Value::Array(comps))).await.is_err() {
            refused += 1;
        }
    }
    assert!(refused >= 49, "only {refused} of 50 batches refused");
    assert!(agent.call("server.info", json!({})).await.is_ok());
    let after = agent.call("a2ui.get", json!({ "surfaceId": "s" })).await.unwrap();
    assert_eq!(after["components"], before["components"], "a refused update changed the surface");
    d.stop().await;
}

#[tokio::test]
async fn a_child_that_arrives_later_renders_after_it() {
    let d = TestDaemon::start().await;
    let agent = d.client().await;
    agent.call("a2ui.apply", json!({ "envelope": create("p") })).await.unwrap();
    let first = agent
        .call("a2ui.apply", json!({ "message": components("p", json!([{ "id": "root", "component": "Card", "child": "body" }])) }))
        .await
        .unwrap();
    assert_eq!(
        (first["surface"]["pending"].clone(), first["surface"]["complete"].clone()),
        (json!(["body"]), json!(false))
    );
    let second = agent
        .call("a2ui.apply", components("p", json!([{ "id": "body", "component": "Text", "text": "hi" }])))
        .await
        .unwrap();
    assert_eq!(
        (second["surface"]["pending"].clone(), second["surface"]["complete"].clone()),
        (json!([]), json!(true))
    );
    d.stop().await;
}

#[tokio::test]
async fn only_the_owner_changes_a_surface_and_subscribers_see_every_change_in_order() {
    let d = TestDaemon::start().await;
    let (owner, other, host) = (d.client().await, d.client().await, d.host().await);
    assert_eq!(host.call("a2ui/subscribe", json!({})).await.unwrap()["subscribed"], json!(true));
    assert_eq!(other.call("a2ui/subscribe", json!({})).await.unwrap_err().code(), -32002);

    apply_all(&owner, &button_surface("mine")).await;
    let update = components("mine", json!([{ "id": "label", "component": "Text", "text": "Changed" }]));
    assert_eq!(other.call("a2ui.apply", update.clone()).await.unwrap_err().code(), -32002);
    let delete = json!({ "version": "v0.9", "deleteSurface": { "surfaceId": "mine" } });
    assert_eq!(other.call("a2ui.apply", delete.clone()).await.unwrap_err().code(), -32002);
    assert_eq!(other.call("a2ui.get", json!({ "surfaceId": "mine" })).await.unwrap(), Value::Null);
    assert!(other.call("a2ui.surfaces", json!({})).await.unwrap()["surfaces"].as_array().unwrap().is_empty());
    owner.call("a2ui.apply", update).await.unwrap();
    owner.call("a2ui.apply", delete).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..4 {
        let e = host.next_method("a2ui.event", LONG).await.expect("a2ui.event")["params"].clone();
        seen.push((e["kind"].as_str().unwrap().to_string(), e["result"]["surface"]["revision"].clone()));
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["a2ui.surface_updated", "a2ui.surface_updated", "a2ui.surface_updated", "a2ui.surface_deleted"]
    );
    let revisions: Vec<u64> = seen[..3].iter().map(|(_, r)| r.as_u64().unwrap()).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    assert!(host.next_method("a2ui.event", SHORT).await.is_none());
    d.stop().await;
}

#[tokio::test]
async fn an_action_reaches_the_owner_and_an_a2a_surface_forwards_it_with_its_auth() {
    let d = TestDaemon::start().await;
    let (owner, host) = (d.client().await, d.host().await);
    apply_all(&owner, &button_surface("local")).await;
    let sent = host.call("a2ui.action", action("local")).await.unwrap();
    assert_eq!(sent, json!({ "delivered": true, "route": "owner" }));
    let got = owner.next_method("a2ui.action", LONG).await.expect("the owner gets the action");
    assert_eq!(got["params"]["surfaceId"], json!("local"));
    assert_eq!(got["params"]["action"]["context"]["answer"], json!(42));
    assert_eq!(owner.call("a2ui.action", action("local")).await.unwrap_err().code(), -32002);

    let a2a = HttpRecorder::start(200);
    let bridge = d.client().await;
    let payload = json!({ "kind": "message", "role": "agent", "parts": button_surface("remote").into_iter()
        .map(|m| json!({ "kind": "data", "data": m, "metadata": { "mimeType": "application/json+a2ui" } })).collect::<Vec<_>>() });
    let ingested = bridge
        .call(
            "a2ui.ingest",
            json!({ "payload": payload, "owner": "remote-agent", "a2aEndpoint": a2a.url,
            "routeAuth": { "type": "header", "name": "X-Route-Key", "value": "route-s3cret-4242" } }),
        )
        .await
        .unwrap();
    assert_eq!(ingested["applied"].as_array().unwrap().len(), 2, "{ingested}");
    assert_eq!(ingested["errors"], json!([]));
    let sent = host.call("a2ui.action", action("remote")).await.unwrap();
    assert_eq!(sent, json!({ "delivered": true, "route": "a2a" }));
    let request = a2a.next(LONG).expect("the A2A endpoint gets the action");
    assert!(request.request_line.starts_with("POST /a2a "), "{}", request.request_line);
    assert_eq!(request.header("x-route-key"), Some("route-s3cret-4242"));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["method"], json!("message/send"));
    let part = &body["params"]["message"]["parts"][0];
    assert_eq!(part["data"]["action"]["surfaceId"], json!("remote"));
    assert_eq!(part["metadata"]["mimeType"], json!("application/json+a2ui"));

    // A refused endpoint and an unreachable one.
    let far =
        bridge.call("a2ui.ingest", json!({ "payload": payload, "a2aEndpoint": "http://example.com/a2a" }));
    assert_eq!(far.await.unwrap_err().code(), -32602);
    d.stop().await;
}

#[tokio::test]
async fn ingest_goes_on_past_a_failing_message_and_reports_each() {
    let d = TestDaemon::start().await;
    let agent = d.client().await;
    let mut messages = button_surface("i");
    messages.insert(1, components("i", json!([{ "id": "x", "component": "Nope" }])));
    messages.push(components("missing", json!([{ "id": "root", "component": "Text", "text": "t" }])));
    let parts: Vec<Value> = messages.iter().map(|m| json!({ "kind": "data", "data": m })).collect();
    let task = json!({ "result": { "kind": "task", "id": "t1", "status": { "state": "completed" },
        "artifacts": [{ "parts": parts }] } });
    let r = agent.call("a2ui.ingest", json!({ "payload": task })).await.unwrap();
    assert_eq!(r["applied"].as_array().unwrap().len(), 2, "{r}");
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{r}");
    assert_eq!(errors[0]["code"], json!("VALIDATION_FAILED"));
    assert_eq!((errors[0]["index"].clone(), errors[0]["surfaceId"].clone()), (json!(1), json!("i")));
    assert_eq!(errors[0]["rule"], json!("unknown_component"));
    assert_eq!((errors[1]["index"].clone(), errors[1]["rule"].clone()), (json!(3), json!("not_found")));
    let s = agent.call("a2ui.get", json!({ "surfaceId": "i" })).await.unwrap();
    assert_eq!(s["complete"], json!(true));
    d.stop().await;
}

/// The host's views name who put each surface on screen (`owner`): the agent's id, a client's
/// id, or the A2A owner a bridge ingested it for; the label outlives the agent's connection.
#[tokio::test]
async fn the_host_sees_who_owns_each_surface() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("a2ui/subscribe", json!({})).await.unwrap();
    host.call("host.subscribe", json!({})).await.unwrap();
    let agent = d.agent("notes-agent").await;
    apply_all(&agent, &button_surface("notes")).await;
    let named = json!({ "agent_id": "notes-agent", "client_id": null, "a2a_owner": null });
    // The subscriber's event and the host event both carry it.
    let event = loop {
        let e = host.next_method("a2ui.event", LONG).await.expect("a2ui.event");
        if e["params"]["kind"] == "a2ui.surface_updated" {
            break e;
        }
    };
    assert_eq!(event["params"]["result"]["owner"], named, "{event}");
    let told = loop {
        let e = host.next_method("host.event", LONG).await.expect("host.event");
        if e["params"]["kind"] == "a2ui.surface_updated" {
            break e;
        }
    };
    assert_eq!(told["params"]["payload"]["owner"], named, "{told}");

    let bridge = d.client().await;
    let payload = json!({ "kind": "message", "role": "agent", "parts": button_surface("remote").into_iter()
        .map(|m| json!({ "kind": "data", "data": m, "metadata": { "mimeType": "application/json+a2ui" } })).collect::<Vec<_>>() });
    bridge.call("a2ui.ingest", json!({ "payload": payload, "owner": "remote-agent" })).await.unwrap();

    let owners = |surfaces: &Value| -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = surfaces
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["surfaceId"].as_str().unwrap().to_string(), s["owner"].clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let bridged = json!({ "agent_id": null, "client_id": null, "a2a_owner": "remote-agent" });
    let want = vec![("notes".to_string(), named.clone()), ("remote".to_string(), bridged.clone())];
    let listed = host.call("a2ui.surfaces", json!({})).await.unwrap();
    assert_eq!(owners(&listed["surfaces"]), want);
    let replay = host.call("a2ui/replay", json!({})).await.unwrap();
    assert_eq!(owners(&replay["surfaces"]), want);
    // A client sees its own surfaces, as before, and only those.
    let own = agent.call("a2ui.surfaces", json!({})).await.unwrap();
    assert_eq!(own["surfaces"].as_array().unwrap().len(), 1);
    // The agent leaves; its surface stays on screen, still labelled.
    agent.close().await;
    hark_test_support::eventually("the agent's session is released", LONG, || async {
        d.daemon.agent_connection("notes-agent").is_none()
    })
    .await;
    let listed = host.call("a2ui.surfaces", json!({})).await.unwrap();
    assert_eq!(owners(&listed["surfaces"]), want);
}
