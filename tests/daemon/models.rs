//! Models (PROTOCOL §15) over real WebSockets, downloading from a small HTTP server this file
//! starts (Range requests, a mode that cuts the connection mid-file, one that ignores Range, a
//! slow one), with a test catalog of fake payloads: real models are far too big for tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hark_core::config::TranscriberChoice;
use hark_core::models::{CatalogEntry, sha256_file, sha256_hex};
use hark_test_support::{Client, TestDaemon};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{LONG, SHORT};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    /// Sends the headers of the whole answer, then the body only up to this file offset, then
    /// closes the connection.
    CutAt(usize),
    /// Answers 200 with the whole file whatever the Range header says.
    IgnoreRange,
    /// Sends the body in 16 pieces, 40 ms apart.
    Slow,
}

/// A one-request-per-connection HTTP/1.1 file server on 127.0.0.1:0.
struct FileServer {
    url: String,
    mode: Arc<Mutex<Mode>>,
    /// The Range header of every request, in order (`None`: no Range).
    ranges: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileServer {
    async fn start(files: HashMap<String, Vec<u8>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/models", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Serve));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let files = Arc::new(files);
        let (m, r) = (mode.clone(), ranges.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let (files, mode, ranges) = (files.clone(), *m.lock().unwrap(), r.clone());
                tokio::spawn(serve_one(socket, files, mode, ranges));
            }
        });
        FileServer { url, mode, ranges, task }
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.ranges.lock().unwrap().clone()
    }
}

async fn serve_one(
    mut socket: tokio::net::TcpStream,
    files: Arc<HashMap<String, Vec<u8>>>,
    mode: Mode,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
    let range = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("range")))
        .map(|(_, v)| v.trim().to_string());
    ranges.lock().unwrap().push(range.clone());
    let file_name = path.strip_prefix("/models/").unwrap_or_default();
    let Some(file) = files.get(file_name) else {
        let _ = socket
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    let start = match (range, mode) {
        (Some(r), m) if m != Mode::IgnoreRange => {
            r.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).and_then(|n| n.parse::<usize>().ok())
        }
        _ => None,
    };
    let (status, body_start) = match start {
        Some(n) if n >= file.len() => {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        Some(n) => {
            (format!("206 Partial Content\r\nContent-Range: bytes {n}-{}/{}", file.len() - 1, file.len()), n)
        }
        None => ("200 OK".to_string(), 0),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        file.len() - body_start
    );
    if socket.write_all(header.as_bytes()).await.is_err() {
        return;
    }
    let body = &file[body_start..];
    let _ = match mode {
        Mode::CutAt(at) => socket.write_all(&file[body_start..at.max(body_start)]).await,
        Mode::Slow => {
            for piece in body.chunks(body.len().div_ceil(16)) {
                if socket.write_all(piece).await.is_err() {
                    return;
                }
                let _ = socket.flush().await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            Ok(())
        }
        Mode::Serve | Mode::IgnoreRange => socket.write_all(body).await,
    };
    let _ = socket.shutdown().await;
}

/// 256 KiB that are not all alike.
fn payload() -> Vec<u8> {
    (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

struct Setup {
    d: TestDaemon,
    server: FileServer,
    host: Client,
    payload: Vec<u8>,
}

/// A daemon whose catalog is `fake` (the payload, its true hash), `corrupt` (the payload under a
/// wrong hash) and `gone` (not on the server).
async fn setup_with(tweak: impl FnOnce(&mut hark_core::DaemonConfig)) -> Setup {
    let payload = payload();
    let files = HashMap::from([
        ("ggml-fake.bin".to_string(), payload.clone()),
        ("ggml-corrupt.bin".to_string(), payload.clone()),
    ]);
    let server = FileServer::start(files).await;
    let catalog = vec![
        CatalogEntry::new("fake", payload.len() as u64, sha256_hex(&payload)),
        CatalogEntry::new("corrupt", payload.len() as u64, sha256_hex(b"something else")),
        CatalogEntry::new("gone", 10, sha256_hex(b"0123456789")),
    ];
    let url = server.url.clone();
    let d = TestDaemon::start_with(|c| {
        c.model_base_url = url;
        c.model_catalog = catalog;
        tweak(c);
    })
    .await;
    let host = d.host().await;
    Setup { d, server, host, payload }
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

fn models_dir(d: &TestDaemon) -> PathBuf {
    d.data_dir.join("models")
}

/// Every file under `models/` (recursively), relative names, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.map(Result::unwrap) {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

async fn list(c: &Client) -> Vec<Value> {
    c.call("models.list", json!({})).await.unwrap()["models"].as_array().unwrap().clone()
}

fn entry<'a>(models: &'a [Value], name: &str) -> &'a Value {
    models.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("{name} not listed: {models:?}"))
}

async fn progress_notes(c: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(m) = c.next_method("models.pull_progress", SHORT).await {
        out.push(m["params"].clone());
    }
    out
}

#[tokio::test]
async fn pull_downloads_verifies_reports_progress_and_lists() {
    let s = setup().await;
    let before = list(&s.host).await;
    assert_eq!(entry(&before, "fake")["installed"], json!(false));
    assert_eq!(entry(&before, "fake")["size_bytes"], json!(s.payload.len()));
    s.server.set_mode(Mode::Slow);
    let r = s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap();
    let path = models_dir(&s.d).join("ggml-fake.bin");
    assert_eq!(
        r,
        json!({ "name": "fake", "path": path.display().to_string(), "sha256": sha256_hex(&s.payload) })
    );
    assert_eq!(std::fs::read(&path).unwrap(), s.payload);

    // Throttled: 16 pieces over ~640 ms give a handful of reports, not one per read.
    let notes = progress_notes(&s.host).await;
    assert!((2..=10).contains(&notes.len()), "{notes:?}");
    let total = s.payload.len() as u64;
    assert!(notes.iter().all(|n| n["name"] == "fake" && n["total"] == json!(total)), "{notes:?}");
    let bytes: Vec<u64> = notes.iter().map(|n| n["bytes"].as_u64().unwrap()).collect();
    assert!(bytes.windows(2).all(|w| w[0] <= w[1]), "{bytes:?}");
    assert_eq!(*bytes.last().unwrap(), total, "a last report at 100%");

    let after = list(&s.host).await;
    let fake = entry(&after, "fake");
    assert_eq!(
        (&fake["installed"], &fake["path"], &fake["sha256"], &fake["default"], &fake["catalog"]),
        (
            &json!(true),
            &json!(path.display().to_string()),
            &json!(sha256_hex(&s.payload)),
            &json!(false),
            &json!(true)
        )
    );
    assert_eq!(files_in(&models_dir(&s.d)), ["ggml-fake.bin", "ggml-fake.bin.sha256"], "no part left");
    // The sidecar is `sha256sum -c` format.
    let sidecar = std::fs::read_to_string(models_dir(&s.d).join("ggml-fake.bin.sha256")).unwrap();
    assert_eq!(sidecar, format!("{}  ggml-fake.bin\n", sha256_hex(&s.payload)));

    // Pulling an installed model downloads nothing.
    let requests = s.server.ranges().len();
    let again = s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap();
    assert_eq!(again, r);
    assert_eq!(s.server.ranges().len(), requests);
}

#[tokio::test]
async fn a_cut_download_is_resumed_with_a_range_request() {
    let s = setup().await;
    let cut = 100_000;
    s.server.set_mode(Mode::CutAt(cut));
    let e = s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap_err();
    assert_eq!(e.code(), -32011, "{e}");
    assert!(e.to_string().contains("pull again to resume"), "{e}");
    let part = models_dir(&s.d).join(".partial/ggml-fake.bin.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64, "the part is kept");
    assert_eq!(entry(&list(&s.host).await, "fake")["installed"], json!(false));
    assert!(!models_dir(&s.d).join("ggml-fake.bin").exists());
    let first = progress_notes(&s.host).await;
    assert!(first.iter().all(|n| n["bytes"].as_u64().unwrap() <= cut as u64), "{first:?}");

    s.server.set_mode(Mode::Serve);
    let r = s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap();
    assert_eq!(r["sha256"], json!(sha256_hex(&s.payload)));
    assert_eq!(std::fs::read(models_dir(&s.d).join("ggml-fake.bin")).unwrap(), s.payload);
    assert_eq!(s.server.ranges(), [None, Some(format!("bytes={cut}-"))]);
    let notes = progress_notes(&s.host).await;
    assert!(
        notes.first().unwrap()["bytes"].as_u64().unwrap() >= cut as u64,
        "resumed, not restarted: {notes:?}"
    );
    assert!(!part.exists());
}

#[tokio::test]
async fn a_server_that_ignores_range_gets_a_fresh_download() {
    let s = setup().await;
    s.server.set_mode(Mode::CutAt(50_000));
    s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap_err();
    s.server.set_mode(Mode::IgnoreRange);
    let r = s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap();
    assert_eq!(r["sha256"], json!(sha256_hex(&s.payload)));
    assert_eq!(std::fs::read(models_dir(&s.d).join("ggml-fake.bin")).unwrap(), s.payload, "not appended");
    assert_eq!(s.server.ranges()[1], Some("bytes=50000-".to_string()));
}

#[tokio::test]
async fn a_checksum_mismatch_leaves_nothing_behind() {
    let s = setup().await;
    let e = s.host.call("models.pull", json!({ "name": "corrupt" })).await.unwrap_err();
    assert_eq!(e.code(), -32603, "{e}");
    assert!(e.to_string().contains("does not match the catalog"), "{e}");
    assert_eq!(files_in(&models_dir(&s.d)), Vec::<String>::new(), "no model, no part");
    assert_eq!(entry(&list(&s.host).await, "corrupt")["installed"], json!(false));
    // The next pull starts from scratch (nothing to resume from).
    s.host.call("models.pull", json!({ "name": "corrupt" })).await.unwrap_err();
    assert_eq!(s.server.ranges(), [None, None]);
}

#[tokio::test]
async fn two_pulls_of_one_model_do_not_share_a_file() {
    let s = setup().await;
    let other = s.d.host().await;
    s.server.set_mode(Mode::Slow);
    let (a, b) = tokio::join!(s.host.call("models.pull", json!({ "name": "fake" })), async {
        // The first pull is under way once it reports progress; only then the second asks.
        s.host.next_method("models.pull_progress", LONG).await.expect("the first pull's progress");
        other.call("models.pull", json!({ "name": "fake" })).await
    });
    a.unwrap();
    let e = b.unwrap_err();
    assert_eq!(e.code(), -32011, "{e}");
    assert!(e.to_string().contains("already under way"), "{e}");
    assert_eq!(std::fs::read(models_dir(&s.d).join("ggml-fake.bin")).unwrap(), s.payload);
}

#[tokio::test]
async fn unknown_names_and_bad_params_are_clear_errors() {
    let s = setup().await;
    let call = |m: &'static str, p: Value| {
        let c = &s.host;
        async move { c.call(m, p).await.unwrap_err() }
    };
    let e = call("models.pull", json!({ "name": "nope" })).await;
    assert_eq!(e.code(), -32010);
    assert!(e.to_string().contains("no model \"nope\" in the catalog"), "{e}");
    let e = call("models.pull", json!({ "name": "gone" })).await;
    assert_eq!(e.code(), -32010);
    assert!(e.to_string().contains("HTTP 404"), "{e}");
    let e = call("models.pull", json!({ "name": "../../etc" })).await;
    assert_eq!((e.code(), e.to_string().contains("invalid model name")), (-32602, true), "{e}");
    let e = call("models.pull", json!({})).await;
    assert_eq!(e.code(), -32602);
    assert!(e.to_string().contains("name"), "{e}");
    let e = call("models.remove", json!({ "name": "fake" })).await;
    assert_eq!(e.code(), -32010);
    assert!(e.to_string().contains("not installed"), "{e}");
    let e = call("models.set_default", json!({ "name": "fake" })).await;
    assert_eq!(e.code(), -32010, "a model that is not installed cannot be the default");
    assert_eq!(files_in(&models_dir(&s.d)), Vec::<String>::new());
    assert!(list(&s.host).await.iter().all(|m| m["default"] == json!(false)));
}

#[tokio::test]
async fn only_the_host_changes_models() {
    let s = setup().await;
    let agent = s.d.client().await;
    assert_eq!(list(&agent).await.len(), 3, "anyone authenticated may list");
    for (method, params) in [
        ("models.pull", json!({ "name": "fake" })),
        ("models.import", json!({ "path": "/etc/hostname" })),
        ("models.remove", json!({ "name": "fake" })),
        ("models.set_default", json!({ "name": "fake" })),
    ] {
        assert_eq!(agent.call(method, params).await.unwrap_err().code(), -32002, "{method}");
    }
    assert!(s.server.ranges().is_empty(), "nothing was downloaded");
}

/// A ggml header cut short: magic and 5 of the 11 header fields.
fn truncated_ggml() -> Vec<u8> {
    let mut b = 0x6767_6d6cu32.to_le_bytes().to_vec();
    for v in [51_864i32, 1500, 384, 6, 4] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

#[tokio::test]
async fn import_refuses_truncated_foreign_and_weightless_files() {
    let s = setup().await;
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("ggml-notes.bin");
    std::fs::write(&foreign, "just some text, not a model at all").unwrap();
    let truncated = tmp.path().join("ggml-cut.bin");
    std::fs::write(&truncated, truncated_ggml()).unwrap();
    let mut cases = vec![(foreign, "not a whisper ggml model"), (truncated, "truncated")];
    let stub =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/models/for-tests-ggml-tiny.bin");
    if stub.exists() {
        cases.push((stub, "no weights"));
    } else {
        eprintln!("skipped the weightless case: shared/fixtures/models is absent");
    }
    cases.push((tmp.path().join("missing.bin"), "cannot open"));
    for (path, reason) in cases {
        let e = s.host.call("models.import", json!({ "path": path, "name": "x" })).await.unwrap_err();
        assert_eq!(e.code(), -32602, "{e}");
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()) && text.contains(reason), "{text}");
    }
    assert!(files_in(&models_dir(&s.d)).is_empty(), "{:?}", files_in(&models_dir(&s.d)));
    let e =
        s.host.call("models.import", json!({ "path": "/etc/hostname", "name": "a/b" })).await.unwrap_err();
    assert_eq!(e.code(), -32602);
}

#[tokio::test]
async fn import_default_and_remove_with_the_real_model() {
    let Some(model) = std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from).filter(|p| p.exists()) else {
        eprintln!("skipped: HARK_TEST_MODEL is not set (the real tiny.en model)");
        return;
    };
    let s = setup().await;
    let r = s.host.call("models.import", json!({ "path": model })).await.unwrap();
    let sha = sha256_file(&model).unwrap();
    // The name comes from the file name (`ggml-tiny.en.bin` -> `tiny.en`) unless given.
    let name =
        model.file_name().unwrap().to_str().unwrap().trim_start_matches("ggml-").trim_end_matches(".bin");
    let path = models_dir(&s.d).join(format!("ggml-{name}.bin"));
    assert_eq!(r, json!({ "name": name, "path": path.display().to_string(), "sha256": sha }));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), std::fs::metadata(&model).unwrap().len());
    let listed = list(&s.host).await;
    assert_eq!(
        (&entry(&listed, name)["installed"], &entry(&listed, name)["sha256"]),
        (&json!(true), &json!(sha))
    );

    let e = s.host.call("models.import", json!({ "path": model, "name": name })).await.unwrap_err();
    assert_eq!(e.code(), -32012, "never overwritten: {e}");

    assert_eq!(
        s.host.call("models.set_default", json!({ "name": name })).await.unwrap(),
        json!({ "default": name })
    );
    assert_eq!(entry(&list(&s.host).await, name)["default"], json!(true));
    assert_eq!(std::fs::read_to_string(models_dir(&s.d).join("default")).unwrap().trim(), name);

    assert_eq!(
        s.host.call("models.remove", json!({ "name": name })).await.unwrap(),
        json!({ "removed": true })
    );
    assert!(!path.exists());
    assert!(
        list(&s.host).await.iter().all(|m| m["default"] == json!(false)),
        "removing the default clears it"
    );
    assert!(files_in(&models_dir(&s.d)).is_empty(), "{:?}", files_in(&models_dir(&s.d)));
}

#[tokio::test]
async fn the_daemons_own_model_cannot_be_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let own = tmp.path().join("data/models/ggml-fake.bin");
    let loader: hark_core::config::ModelLoader = Arc::new(|_: &Path| {
        Ok(Arc::new(hark_transcribe::fake::FakeTranscriber::new()) as Arc<dyn hark_transcribe::Transcriber>)
    });
    let s = setup_with(|c| {
        c.data_dir = tmp.path().join("data");
        c.transcriber = TranscriberChoice::Model { path: own.clone(), loader };
    })
    .await;
    s.host.call("models.pull", json!({ "name": "fake" })).await.unwrap();
    let e = s.host.call("models.remove", json!({ "name": "fake" })).await.unwrap_err();
    assert_eq!(e.code(), -32012, "{e}");
    assert!(e.to_string().contains("this daemon transcribes with"), "{e}");
    assert!(own.exists());
}

#[tokio::test]
async fn a_stream_or_a_call_may_name_an_installed_model() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("data/models");
    std::fs::create_dir_all(&models).unwrap();
    for name in ["own", "a", "b"] {
        std::fs::write(models.join(format!("ggml-{name}.bin")), name).unwrap();
    }
    // The loader records what it loads and hands back the fake: this is about which file is used.
    let loads = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = loads.clone();
    let loader: hark_core::config::ModelLoader = Arc::new(move |path: &Path| {
        seen.lock().unwrap().push(path.file_name().unwrap().to_string_lossy().to_string());
        Ok(Arc::new(hark_transcribe::fake::FakeTranscriber::new()) as Arc<dyn hark_transcribe::Transcriber>)
    });
    let d = TestDaemon::start_with(|c| {
        c.data_dir = tmp.path().join("data");
        c.transcriber = TranscriberChoice::Model { path: models.join("ggml-own.bin"), loader };
    })
    .await;
    let c = d.client().await;
    let start = |model: &str| {
        let params = json!({ "audio_source": { "kind": "pcm_push" }, "options": { "model": model } });
        c.call("voice.transcribe_stream.start", params)
    };
    let jfk = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/jfk.wav");
    let transcribe = |model: Option<&str>| {
        let mut params = json!({ "path": jfk });
        if let Some(m) = model {
            params["model"] = json!(m);
        }
        c.call("transcribe", params)
    };
    start("a").await.unwrap();
    start("a").await.unwrap();
    assert!(transcribe(Some("b")).await.unwrap()["text"].as_str().unwrap().starts_with("speech 1"));
    start("a").await.unwrap(); // a is now the most recently used
    transcribe(None).await.unwrap(); // the daemon's own: b, least recently used, is dropped
    transcribe(Some("b")).await.unwrap(); // so b loads again
    assert_eq!(*loads.lock().unwrap(), ["ggml-a.bin", "ggml-b.bin", "ggml-own.bin", "ggml-b.bin"]);

    let e = start("nope").await.unwrap_err();
    assert_eq!(e.code(), -32010);
    assert!(e.to_string().contains("not installed"), "{e}");
    let e = start("../own").await.unwrap_err();
    assert_eq!(e.code(), -32602);
    assert!(e.to_string().contains("options.model"), "{e}");
    assert_eq!(transcribe(Some("nope")).await.unwrap_err().code(), -32010);
    assert_eq!(loads.lock().unwrap().len(), 4, "nothing else was loaded");

    // Removing a model a stream loaded unloads it; it cannot be chosen any more.
    let a = models.join("ggml-a.bin");
    assert!(!d.daemon.engine.is_loaded(&a), "dropped when own and b were loaded after it");
    start("a").await.unwrap();
    assert!(d.daemon.engine.is_loaded(&a));
    d.host().await.call("models.remove", json!({ "name": "a" })).await.unwrap();
    assert!(!d.daemon.engine.is_loaded(&a) && !a.exists());
    assert_eq!(start("a").await.unwrap_err().code(), -32010);

    // With the fake transcriber there is nothing to choose.
    let fake = TestDaemon::start().await;
    let e = fake
        .client()
        .await
        .call(
            "voice.transcribe_stream.start",
            json!({ "audio_source": { "kind": "pcm_push" }, "options": { "model": "a" } }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32602);
    assert!(e.to_string().contains("fake transcriber"), "{e}");
}
