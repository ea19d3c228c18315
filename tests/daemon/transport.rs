//! The door and the wire: error-code table (TCP and Unix socket), Host/Origin checks, the auth
//! gate, file modes, size and connection limits, shutdown.

use std::os::unix::fs::PermissionsExt;

use hark_test_support::{Client, TestDaemon};
use serde_json::json;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::LONG;

#[derive(Clone, Copy, Debug)]
enum Via {
    Tcp,
    Unix,
}

async fn open(d: &TestDaemon, via: Via) -> Client {
    match via {
        Via::Tcp => d.connect().await,
        Via::Unix => d.connect_unix().await,
    }
}

async fn open_authed(d: &TestDaemon, via: Via) -> Client {
    let c = open(d, via).await;
    c.call("session.auth", json!({ "token": d.token })).await.unwrap();
    c
}

async fn raw(c: &Client, text: &str) -> serde_json::Value {
    c.send_text(text).await.unwrap();
    c.next_message(LONG).await.expect("a reply")
}

/// Every row of PROTOCOL §3's table that this build sends, on one transport.
async fn error_table(via: Via) {
    let d = TestDaemon::start_with(|c| {
        c.limits.max_inflight_requests = 2;
        c.approval_timeout = LONG * 3;
    })
    .await;

    // -32001: a first frame other than session.auth, and the connection closes (1008).
    let c = open(&d, via).await;
    assert_eq!(c.call("server.info", json!({})).await.unwrap_err().code(), -32001);
    assert_eq!(c.closed(LONG).await.unwrap().code, Some(1008));

    let c = open_authed(&d, via).await;
    // -32700: parse error, id null, and the connection stays open.
    let reply = raw(&c, r#"{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]"#).await;
    assert_eq!((reply["error"]["code"].clone(), reply["id"].clone()), (json!(-32700), json!(null)));
    // -32600: not JSON-RPC 2.0.
    let reply = raw(&c, r#"{"jsonrpc":"1.0","method":"server.info","id":7}"#).await;
    assert_eq!((reply["error"]["code"].clone(), reply["id"].clone()), (json!(-32600), json!(7)));
    // -32601
    let e = c.call("no.such.method", json!({})).await.unwrap_err();
    assert_eq!(e.code(), -32601);
    // -32602 names the field.
    let hark_test_support::ClientError::Rpc(e) = c.call("tools.unregister", json!({})).await.unwrap_err()
    else {
        panic!()
    };
    assert_eq!((e.code, e.data.unwrap()["field"].clone()), (-32602, json!("name")));
    // -32002: host role needed.
    assert_eq!(c.call("host.subscribe", json!({})).await.unwrap_err().code(), -32002);
    // -32006: an unsupported protocol version, with the supported list.
    let hark_test_support::ClientError::Rpc(e) =
        c.call("server.handshake", json!({ "protocol_version": 9 })).await.unwrap_err()
    else {
        panic!()
    };
    assert_eq!((e.code, e.data.unwrap()["supported"].clone()), (-32006, json!([1, 2, 3])));
    // -32010: unknown agent.
    let e = c.call("host.set_status", json!({ "agent_id": "nobody", "status": "idle" })).await.unwrap_err();
    assert_eq!(e.code(), -32010);
    // -32012: a roster id another connection claimed with session.auth.
    let _alice = d.agent(&format!("alice-{via:?}")).await;
    let e = c
        .call("host.register_agent", json!({ "id": format!("alice-{via:?}"), "name": "mallory" }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32012);
    // -32012: authenticating twice.
    assert_eq!(c.call("session.auth", json!({ "token": d.token })).await.unwrap_err().code(), -32012);
    // -32011: the connection's in-flight limit (2): two parked permission requests fill it.
    let parked = [
        c.call("permissions.request", json!({ "capability": "microphone" })),
        c.call("permissions.request", json!({ "capability": "transcripts" })),
    ];
    let parked = futures_util::future::join_all(parked);
    // The read loop takes messages in the order they were sent: the two parked requests hold
    // both slots before server.info is read (`biased`: they are sent first).
    let busy = c.call("server.info", json!({}));
    tokio::select! {
        biased;
        _ = parked => panic!("parked requests returned"),
        busy = busy => assert_eq!(busy.unwrap_err().code(), -32011),
    }
    drop(c);

    // -32003: with --approvals deny and no host, the gate denies.
    let d2 = TestDaemon::start_with(|c| c.approvals = hark_core::ApprovalPolicy::Deny).await;
    let c = open_authed(&d2, via).await;
    assert_eq!(
        c.call("permissions.request", json!({ "capability": "microphone" })).await.unwrap_err().code(),
        -32003
    );
    d2.stop().await;
    d.stop().await;
}

#[tokio::test]
async fn error_codes_over_tcp() {
    error_table(Via::Tcp).await;
}

#[tokio::test]
async fn error_codes_over_unix_socket() {
    error_table(Via::Unix).await;
}

#[tokio::test]
async fn wrong_token_closes() {
    let d = TestDaemon::start().await;
    for via in [Via::Tcp, Via::Unix] {
        let c = open(&d, via).await;
        let e = c.call("session.auth", json!({ "token": "x".repeat(43) })).await.unwrap_err();
        assert_eq!(e.code(), -32001);
        assert_eq!(c.closed(LONG).await.unwrap().code, Some(1008));
        // The host token is not a client token and vice versa.
        let c = open(&d, via).await;
        let e = c.call("session.auth", json!({ "host_token": d.token })).await.unwrap_err();
        assert_eq!(e.code(), -32001);
        assert!(c.closed(LONG).await.is_some());
    }
    let host = d.host().await;
    assert_eq!(
        host.call("host.subscribe", json!({})).await.unwrap()["events"].as_array().map(Vec::len),
        Some(0)
    );
}

fn http_status(err: WsError) -> u16 {
    match err {
        WsError::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn origin_and_host_checks_answer_403_before_the_upgrade() {
    let d = TestDaemon::start_with(|c| c.allowed_origins = vec!["http://localhost:5173".into()]).await;
    let refused =
        Client::connect_tcp_with(&d.url, &[("Origin", "https://evil.example")]).await.err().unwrap();
    assert_eq!(http_status(refused), 403);
    let refused = Client::connect_tcp_with(&d.url, &[("Origin", "null")]).await.err().unwrap();
    assert_eq!(http_status(refused), 403);
    let refused = Client::connect_tcp_with(&d.url, &[("Host", "evil.example")]).await.err().unwrap();
    assert_eq!(http_status(refused), 403);
    let refused = Client::connect_tcp_with(&d.url, &[("Host", "127.0.0.1.nip.io:80")]).await.err().unwrap();
    assert_eq!(http_status(refused), 403);
    // Programs send no Origin and pass; the webview's and allowlisted origins pass.
    for headers in [
        vec![],
        vec![("Origin", "tauri://localhost")],
        vec![("Origin", "http://localhost:5173")],
        vec![("Host", "localhost")],
    ] {
        let c = Client::connect_tcp_with(&d.url, &headers).await.unwrap();
        c.call("session.auth", json!({ "token": d.token })).await.unwrap();
    }
}

#[tokio::test]
async fn files_are_private() {
    let d = TestDaemon::start().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.runtime_dir), 0o700);
    assert_eq!(mode(&d.data_dir), 0o700);
    for file in ["auth-token", "host-token", "daemon.json"] {
        assert_eq!(mode(&d.runtime_dir.join(file)), 0o600, "{file}");
    }
    let socket = d.socket.clone().unwrap();
    assert_eq!(mode(&socket), 0o600);
    let token = std::fs::read_to_string(d.runtime_dir.join("auth-token")).unwrap();
    assert_eq!(token.len(), 43);
    let runtime_dir = d.runtime_dir.clone();
    d.stop().await;
    for file in ["auth-token", "host-token", "daemon.json", "daemon.sock"] {
        assert!(!runtime_dir.join(file).exists(), "{file} left behind");
    }
}

#[tokio::test]
async fn oversize_message_closes_with_1009() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"host.notify","params":{{"message":"{}"}}}}"#,
        "a".repeat(1 << 20)
    );
    let _ = c.send_text(big).await;
    assert_eq!(c.closed(LONG).await.unwrap().code, Some(1009));
    // Binary frames have their own, smaller limit.
    let c = d.client().await;
    let _ = c.send_binary(vec![0u8; (256 << 10) + 1]).await;
    assert_eq!(c.closed(LONG).await.unwrap().code, Some(1009));
    // Just under the limit is fine.
    let c = d.client().await;
    let message = "a".repeat(4000);
    c.call("host.notify", json!({ "message": message })).await.unwrap();
    let too_long = "a".repeat(5000); // host.notify's own cap is 4 KiB: a clear -32602, connection kept
    assert_eq!(c.call("host.notify", json!({ "message": too_long })).await.unwrap_err().code(), -32602);
    assert!(c.call("server.info", json!({})).await.is_ok());
}

#[tokio::test]
async fn connection_limit_answers_503() {
    let d = TestDaemon::start_with(|c| c.limits.max_connections = 2).await;
    let a = d.client().await;
    let _b = d.client().await;
    let refused = Client::connect_tcp(&d.url).await.err().unwrap();
    assert_eq!(http_status(refused), 503);
    drop(a);
    d.wait_sessions(1).await;
    for _ in 0..100 {
        if Client::connect_tcp(&d.url).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("a slot was not freed");
}

#[tokio::test]
async fn shutdown_closes_connections_with_1001() {
    let d = TestDaemon::start().await;
    let tcp = d.client().await;
    let unix = d.connect_unix().await;
    unix.call("session.auth", json!({ "token": d.token })).await.unwrap();
    d.stop().await;
    assert_eq!(tcp.closed(LONG).await.unwrap().code, Some(1001));
    assert_eq!(unix.closed(LONG).await.unwrap().code, Some(1001));
}

#[tokio::test]
async fn no_auth_mode_needs_no_token_but_keeps_the_door_checks() {
    let d = TestDaemon::start_with(|c| c.auth = false).await;
    assert!(d.token.is_none() && !d.runtime_dir.join("auth-token").exists());
    let c = d.connect().await;
    let info = c.call("server.info", json!({})).await.unwrap();
    assert_eq!(info["auth_enabled"], json!(false));
    let auth = c.call("session.auth", json!({ "agent_id": "solo" })).await.unwrap();
    assert_eq!((auth["auth_enabled"].clone(), auth["agent_id"].clone()), (json!(false), json!("solo")));
    let refused =
        Client::connect_tcp_with(&d.url, &[("Origin", "https://evil.example")]).await.err().unwrap();
    assert_eq!(http_status(refused), 403);
}

#[tokio::test]
async fn handshake_versions_and_server_info() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    for v in [1, 2, 3] {
        let r = c
            .call(
                "server.handshake",
                json!({ "protocol_version": v, "client_version": "t", "required_capabilities": [] }),
            )
            .await
            .unwrap();
        assert_eq!(
            (r["protocol_version"].clone(), r["client_protocol_version"].clone()),
            (json!(v), json!(v))
        );
        assert!(r["capabilities"].as_array().unwrap().contains(&json!("tools")));
    }
    for bad in [
        json!({}),
        json!({ "protocol_version": "3" }),
        json!({ "protocol_version": 3.5 }),
        json!({ "protocol_version": 0 }),
    ] {
        assert_eq!(c.call("server.handshake", bad).await.unwrap_err().code(), -32006);
    }
    let e = c
        .call("server.handshake", json!({ "protocol_version": 3, "required_capabilities": ["teleport"] }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32006);
    let info = c.call("server.info", json!({})).await.unwrap();
    assert_eq!(info["protocol_version"], json!(3));
    assert_eq!(info["connections"], json!(1));
    assert_eq!(info["limits"]["max_message_bytes"], json!(1 << 20));
    let adm = c.call("admission.status", json!({})).await.unwrap();
    assert_eq!(adm, json!({ "permits_total": 2, "permits_available": 2, "permits_in_use": 0, "queued": 0 }));
}

#[tokio::test]
async fn agent_ids_are_validated_and_unique() {
    let d = TestDaemon::start().await;
    let c = d.connect().await;
    let e = c.call("session.auth", json!({ "token": d.token, "agent_id": "../etc" })).await.unwrap_err();
    assert_eq!(e.code(), -32602);
    let _a = d.agent("notes-bot").await;
    // CAR clients may send fields Hark has no use for (e.g. memory_namespace): ignored.
    let c = d.connect().await;
    let r = c.call("session.auth", json!({ "token": d.token, "memory_namespace": "proj1" })).await.unwrap();
    assert_eq!((r["ok"].clone(), r["role"].clone()), (json!(true), json!("client")));
    let c = d.connect().await;
    let e = c.call("session.auth", json!({ "token": d.token, "agent_id": "notes-bot" })).await.unwrap_err();
    assert_eq!(e.code(), -32012);
}
