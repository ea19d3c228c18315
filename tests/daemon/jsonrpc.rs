//! The JSON-RPC 2.0 specification's own examples (section 7), sent verbatim. Its methods
//! (`sum`, `subtract`, ...) do not exist here, so where the spec shows a result Hark answers
//! -32601 for the same id: what is checked is the envelope: which ids get a reply, the error
//! codes, batches, and silence for notifications.

use std::collections::BTreeMap;

use hark_test_support::{Client, TestDaemon};
use serde_json::{Value, json};

use crate::{LONG, SHORT};

async fn send(c: &Client, text: &str) -> Option<Value> {
    c.send_text(text).await.unwrap();
    c.next_message(SHORT * 2).await
}

fn by_id(replies: &Value) -> BTreeMap<String, i64> {
    replies
        .as_array()
        .expect("a batch reply")
        .iter()
        .map(|r| (r["id"].to_string(), r["error"]["code"].as_i64().unwrap_or(0)))
        .collect()
}

#[tokio::test]
async fn specification_examples() {
    let d = TestDaemon::start().await;
    let c = d.client().await;

    // rpc call with positional / named parameters: a reply with the same id.
    let r =
        send(&c, r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#).await.unwrap();
    assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!(1), json!(-32601)));
    let r = send(
        &c,
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
    )
    .await
    .unwrap();
    assert_eq!(r["id"], json!(3));
    // A notification: no reply, even for an unknown method.
    assert!(send(&c, r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#).await.is_none());
    assert!(send(&c, r#"{"jsonrpc": "2.0", "method": "foobar"}"#).await.is_none());
    // Non-existent method.
    let r = send(&c, r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#).await.unwrap();
    assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!("1"), json!(-32601)));
    // Invalid JSON.
    let r = send(&c, r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#).await.unwrap();
    assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!(null), json!(-32700)));
    // Invalid Request object.
    let r = send(&c, r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#).await.unwrap();
    assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!(null), json!(-32600)));
    // Batch, invalid JSON: one parse error.
    let r = send(
        &c,
        r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
    )
    .await
    .unwrap();
    assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!(null), json!(-32700)));
    // Empty Array: one error object, not an array.
    let r = send(&c, "[]").await.unwrap();
    assert!(r.is_object());
    assert_eq!(r["error"]["code"], json!(-32600));
    // An invalid batch, but not empty.
    let r = send(&c, "[1]").await.unwrap();
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["error"]["code"], json!(-32600));
    let r = send(&c, "[1,2,3]").await.unwrap();
    assert_eq!(
        r.as_array().unwrap().iter().map(|e| e["error"]["code"].clone()).collect::<Vec<_>>(),
        vec![json!(-32600); 3]
    );
    // The mixed batch.
    let r = send(
        &c,
        r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#,
    )
    .await
    .unwrap();
    let ids = by_id(&r);
    let expect: BTreeMap<String, i64> =
        [("\"1\"", -32601), ("\"2\"", -32601), ("null", -32600), ("\"5\"", -32601), ("\"9\"", -32601)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(ids, expect);
    // All notifications: nothing at all.
    assert!(
        send(
            &c,
            r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#
        )
        .await
        .is_none()
    );
}

#[tokio::test]
async fn batches_of_real_methods_and_id_types_echoed() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    c.send_text(
        r#"[{"jsonrpc":"2.0","id":1,"method":"server.info"},
            {"jsonrpc":"2.0","id":"two","method":"admission.status","params":{}},
            {"jsonrpc":"2.0","id":null,"method":"tools.list"}]"#,
    )
    .await
    .unwrap();
    let r = c.next_message(LONG).await.unwrap();
    let r = r.as_array().unwrap();
    assert_eq!(r.len(), 3);
    let find = |id: Value| r.iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!(find(json!(1))["result"]["protocol_version"], json!(3));
    assert_eq!(find(json!("two"))["result"]["permits_total"], json!(2));
    assert_eq!(find(json!(null))["result"]["count"], json!(0));
}

#[tokio::test]
async fn a_handler_panic_is_an_internal_error_and_harms_nothing_else() {
    let d = TestDaemon::start_with(|c| c.test_faults = true).await;
    let c = d.client().await;
    let other = d.client().await;
    match c.call("debug.panic", json!({})).await.unwrap_err() {
        hark_test_support::ClientError::Rpc(e) => {
            assert_eq!(
                (e.code, e.message.as_str()),
                (-32603, "internal error"),
                "nothing of the panic leaks"
            );
        }
        e => panic!("expected -32603, got {e}"),
    }
    // The same connection goes on, in a batch too, and so do the others.
    c.call("server.info", json!({})).await.unwrap();
    let replies = send(
        &c,
        r#"[{"jsonrpc":"2.0","id":1,"method":"debug.panic"},{"jsonrpc":"2.0","id":2,"method":"admission.status"}]"#,
    )
    .await
    .expect("a batch reply");
    assert_eq!(by_id(&replies), BTreeMap::from([("1".to_string(), -32603), ("2".to_string(), 0)]));
    other.call("server.info", json!({})).await.unwrap();
    assert_eq!(d.daemon.session_count(), 2);
    // A daemon that was not built for the test has no such method.
    let plain = TestDaemon::start().await;
    let c = plain.client().await;
    assert_eq!(c.call("debug.panic", json!({})).await.unwrap_err().code(), -32601);
}

/// Ids past 64 bits, strings, 0 and negatives come back byte for byte (the reply is read as
/// text: a JSON parser into f64 would hide the difference).
#[tokio::test]
async fn ids_are_echoed_exactly() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let d = TestDaemon::start().await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(&d.url, tcp).await.unwrap();
    let auth = json!({ "jsonrpc": "2.0", "id": 0, "method": "session.auth", "params": { "token": d.token } });
    ws.send(Message::text(auth.to_string())).await.unwrap();
    ws.next().await.unwrap().unwrap();
    for id in [
        "18446744073709551616",
        "-9223372036854775809",
        "12345678901234567890123",
        "0",
        "-7",
        "\"abc\"",
        "\"\\u00e9\"",
    ] {
        let single = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"admission.status"}}"#);
        let batch = format!(
            r#"[{{"jsonrpc":"2.0","id":{id},"method":"admission.status"}},{{"jsonrpc":"2.0","id":{id},"method":"nope"}}]"#
        );
        for text in [single, batch] {
            ws.send(Message::text(text.clone())).await.unwrap();
            let reply = loop {
                match tokio::time::timeout(LONG, ws.next()).await.unwrap().unwrap().unwrap() {
                    Message::Text(t) => break t.to_string(),
                    _ => continue,
                }
            };
            let expected = format!(r#""id":{id},"#);
            assert!(reply.contains(&expected), "{text} -> {reply}");
        }
    }
}
