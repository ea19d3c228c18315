//! `messages_of_a2a`: which A2A shapes give which A2UI messages.

use hark_a2ui::messages_of_a2a;
use serde_json::{Value, json};

fn msg(id: &str) -> Value {
    json!({"version": "v0.9", "deleteSurface": {"surfaceId": id}})
}

fn ids(messages: Vec<&Value>) -> Vec<&str> {
    messages.into_iter().map(|m| m["deleteSurface"]["surfaceId"].as_str().unwrap_or("?")).collect()
}

#[test]
fn a_message_gives_its_a2ui_data_parts_in_order() {
    let payload = json!({"kind": "message", "role": "agent", "parts": [
        {"kind": "data", "data": msg("1")},
        {"kind": "text", "text": "between"},
        {"data": msg("2"), "metadata": {"mimeType": "application/json+a2ui"}},
        {"kind": "data", "data": [msg("3"), msg("4")]},
        {"kind": "data", "data": {"weather": "sunny"}},
    ]});
    assert_eq!(ids(messages_of_a2a(&payload).unwrap()), ["1", "2", "3", "4"]);
}

#[test]
fn a_task_gives_history_then_status_then_artifacts() {
    let task = json!({"kind": "task", "id": "t",
        "artifacts": [{"artifactId": "a", "parts": [{"kind": "data", "data": msg("art1")}]},
                      {"artifactId": "b", "parts": [{"kind": "data", "data": msg("art2")}]}],
        "history": [{"role": "user", "messageId": "u", "parts": [{"kind": "text", "text": "hi"}]},
                    {"role": "agent", "messageId": "h", "parts": [{"kind": "data", "data": msg("hist")}]}],
        "status": {"state": "completed", "message":
            {"role": "agent", "messageId": "s", "parts": [{"kind": "data", "data": msg("status")}]}}});
    assert_eq!(ids(messages_of_a2a(&task).unwrap()), ["hist", "status", "art1", "art2"]);
}

#[test]
fn a_json_rpc_result_is_unwrapped() {
    let message = json!({"role": "agent", "parts": [{"kind": "data", "data": msg("r")}]});
    let rpc = json!({"jsonrpc": "2.0", "id": 7, "result": message});
    assert_eq!(ids(messages_of_a2a(&rpc).unwrap()), ["r"]);
}

#[test]
fn streaming_events_are_read() {
    let status = json!({"kind": "status-update", "taskId": "t", "status": {"state": "working",
        "message": {"role": "agent", "parts": [{"kind": "data", "data": msg("st")}]}}});
    let artifact = json!({"kind": "artifact-update", "taskId": "t",
        "artifact": {"parts": [{"kind": "data", "data": msg("ar")}]}});
    assert_eq!(ids(messages_of_a2a(&status).unwrap()), ["st"]);
    assert_eq!(ids(messages_of_a2a(&artifact).unwrap()), ["ar"]);
}

#[test]
fn bare_lists_of_parts_or_of_messages() {
    let parts = json!([{"kind": "text", "text": "x"}, {"kind": "data", "data": msg("p")}]);
    assert_eq!(ids(messages_of_a2a(&parts).unwrap()), ["p"]);
    let messages = json!([msg("m1"), {"not": "a message"}, msg("m2")]);
    assert_eq!(messages_of_a2a(&messages).unwrap().len(), 3, "every element is passed on, to be reported");
    assert!(messages_of_a2a(&json!([])).unwrap().is_empty());
}

#[test]
fn a_single_message_is_itself() {
    let m = msg("one");
    assert_eq!(messages_of_a2a(&m).unwrap(), vec![&m]);
}

#[test]
fn no_a2ui_parts_is_empty_and_unknown_shapes_are_refused() {
    let payload = json!({"role": "agent", "parts": [{"kind": "text", "text": "just text"}]});
    assert!(messages_of_a2a(&payload).unwrap().is_empty());
    let task = json!({"kind": "task", "id": "t", "status": {"state": "working"}});
    assert!(messages_of_a2a(&task).unwrap().is_empty());
    for bad in [json!(null), json!("text"), json!({"jsonrpc": "2.0", "error": {"code": 1}})] {
        assert_eq!(messages_of_a2a(&bad).unwrap_err().rule, "a2a_shape", "{bad}");
    }
}
