//! Route auth never leaks (PROTOCOL §12, issue 14): a `hark serve` at the most verbose log
//! level gets A2A-routed surfaces with a bearer token and a custom header; the endpoint receives
//! them, and no frame any connection received, no log line (stderr, `logs/`), and no file under
//! the data dir contains either secret.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hark_test_support::{Client, HttpRecorder};
use serde_json::{Value, json};

const HARK: &str = env!("CARGO_BIN_EXE_hark");
const BEARER: &str = "bearer-s3cret-7d1f0c";
const HEADER: &str = "header-s3cret-92ab4e";

fn surface(id: &str) -> Vec<Value> {
    vec![
        json!({ "version": "v0.9", "createSurface": { "surfaceId": id,
            "catalogId": "https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json" } }),
        json!({ "version": "v0.9", "updateComponents": { "surfaceId": id, "components": [
            { "id": "root", "component": "Button", "child": "t", "action": { "event": { "name": "go" } } },
            { "id": "t", "component": "Text", "text": "Go" } ] } }),
    ]
}

fn payload(id: &str) -> Value {
    json!({ "kind": "message", "role": "agent",
            "parts": surface(id).into_iter().map(|m| json!({ "kind": "data", "data": m })).collect::<Vec<_>>() })
}

fn action(id: &str) -> Value {
    json!({ "name": "go", "surfaceId": id, "sourceComponentId": "root",
            "timestamp": "2026-12-02T14:00:00Z", "context": {} })
}

/// Every message `c` still has queued, as text.
async fn drain(c: &Client) -> Vec<String> {
    let mut all = Vec::new();
    while let Some(m) = c.next_message(Duration::from_millis(300)).await {
        all.push(m.to_string());
    }
    all
}

/// Kills `hark serve` when a failed assertion unwinds past it.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_auth_reaches_the_endpoint_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let stderr_file = root.path().join("stderr.log");
    let mut child = Command::new(HARK)
        .args(["serve", "--port", "0", "--transcriber", "fake", "--data-dir"])
        .arg(&data)
        .env("HARK_RUNTIME_DIR", root.path().join("run"))
        .env("HARK_LOG", "trace")
        .env_remove("HARK_PORT")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(Some(child));
    let mut line = String::new();
    BufReader::new(&mut stdout).read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    let url = ready["ws_url"].as_str().unwrap().to_string();
    let token = std::fs::read_to_string(ready["token_file"].as_str().unwrap()).unwrap();
    let host_token = std::fs::read_to_string(ready["host_token_file"].as_str().unwrap()).unwrap();

    let connect = |auth: Value| {
        let url = url.clone();
        async move {
            let c = Client::connect_tcp(&url).await.unwrap();
            c.call("session.auth", auth).await.unwrap();
            c
        }
    };
    let host = connect(json!({ "host_token": host_token })).await;
    let bridge = connect(json!({ "token": token, "agent_id": "bridge" })).await;
    let bystander = connect(json!({ "token": token })).await;
    host.call("a2ui/subscribe", json!({})).await.unwrap();
    host.call("host.subscribe", json!({})).await.unwrap();

    let a2a = HttpRecorder::start(200);
    let mut replies = Vec::new();
    let bearer = json!({ "type": "bearer", "token": BEARER });
    let header = json!({ "type": "header", "name": "X-Agent-Key", "value": HEADER });
    for (id, auth) in [("with-bearer", &bearer), ("with-header", &header)] {
        let r = bridge
            .call("a2ui.ingest", json!({ "payload": payload(id), "owner": "remote", "a2aEndpoint": a2a.url, "routeAuth": auth }))
            .await
            .unwrap();
        assert_eq!(r["errors"], json!([]), "{r}");
        replies.push(r.to_string());
    }
    // Refusals that carry the secrets must not echo them.
    for bad in [
        json!({ "payload": payload("x"), "routeAuth": bearer }),
        json!({ "payload": payload("x"), "a2aEndpoint": a2a.url, "routeAuth": { "type": "bearer", "token": BEARER, "extra": HEADER } }),
        json!({ "payload": payload("x"), "a2aEndpoint": "http://example.com/", "routeAuth": bearer }),
    ] {
        let e = bridge.call("a2ui.ingest", bad).await.unwrap_err();
        replies.push(format!("{e:?}"));
    }
    let e = bystander.call("a2ui.apply", json!({ "version": "v0.9", "deleteSurface": { "surfaceId": "with-bearer" }, "routeAuth": bearer })).await;
    replies.push(format!("{e:?}"));

    for id in ["with-bearer", "with-header"] {
        let sent = host.call("a2ui.action", action(id)).await.unwrap();
        assert_eq!(sent["route"], json!("a2a"));
        replies.push(sent.to_string());
    }
    let first = a2a.next(Duration::from_secs(10)).expect("the bearer surface's action");
    assert_eq!(first.header("authorization"), Some(format!("Bearer {BEARER}").as_str()));
    let second = a2a.next(Duration::from_secs(10)).expect("the header surface's action");
    assert_eq!(second.header("x-agent-key"), Some(HEADER));
    assert_eq!(second.header("authorization"), None);

    for (method, params) in [
        ("a2ui.surfaces", json!({})),
        ("a2ui.get", json!({ "surfaceId": "with-bearer" })),
        ("a2ui/replay", json!({})),
        ("host.events", json!({})),
        ("a2ui.capabilities", json!({})),
    ] {
        replies.push(host.call(method, params.clone()).await.unwrap().to_string());
        replies.push(format!("{:?}", bystander.call(method, params).await));
    }
    let mut frames = Vec::new();
    for c in [&host, &bridge, &bystander] {
        frames.extend(drain(c).await);
    }
    assert!(frames.iter().any(|f| f.contains("a2ui.surface_updated")), "the host saw no surface event");
    for text in replies.iter().chain(&frames) {
        assert!(!text.contains(BEARER) && !text.contains(HEADER), "a secret reached a client: {text}");
    }

    let child = child.0.as_mut().unwrap();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "hark serve did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&stderr_file).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is not verbose; the scan proves nothing"
    );
    let leaked: Vec<&str> = log.lines().filter(|l| l.contains(BEARER) || l.contains(HEADER)).collect();
    assert!(leaked.is_empty(), "a secret reached the log: {leaked:#?}");
    let mut files = Vec::new();
    files_under(&data, &mut files);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(BEARER) && !text.contains(HEADER), "a secret reached {}", file.display());
    }
}
