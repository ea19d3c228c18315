//! The person's settings (`settings.get/update`, `settings.changed`) and what the daemon does
//! with them: a meeting's defaults, the auto-stop guard for forgotten recordings, and the
//! release of a model nothing has used for its keep-alive.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hark_audio::pcm::f32_to_s16le;
use hark_core::config::TranscriberChoice;
use hark_test_support::{Client, TestDaemon, eventually};
use serde_json::{Value, json};

use crate::LONG;
use crate::voice::{jfk, jfk_path};

async fn next_host_event(host: &Client, kind: &str) -> Value {
    loop {
        let event =
            host.next_method("host.event", LONG).await.unwrap_or_else(|| panic!("a {kind} host event"));
        if event["params"]["kind"] == kind {
            return event["params"]["payload"].clone();
        }
    }
}

#[tokio::test]
async fn the_host_reads_and_changes_the_settings_and_they_survive_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    let defaults = host.call("settings.get", json!({})).await.unwrap()["settings"].clone();
    assert_eq!(
        defaults,
        json!({
            "input_device": null, "language": "en", "keep_audio": true, "system_audio": false,
            "auto_stop_minutes": 15.0, "model_keep_alive_minutes": 5.0, "port": null,
            "start_at_login": false, "global_shortcut": null, "notifications": true
        })
    );
    host.call("host.subscribe", json!({})).await.unwrap();
    let changed = host
        .call("settings.update", json!({ "settings": { "system_audio": true, "auto_stop_minutes": 30 } }))
        .await
        .unwrap()["settings"]
        .clone();
    assert_eq!(
        (changed["system_audio"].clone(), changed["auto_stop_minutes"].clone()),
        (json!(true), json!(30.0))
    );
    let event = next_host_event(&host, "settings.changed").await;
    assert_eq!(event["settings"], changed);

    // A bad value or an unknown key names its field and changes nothing.
    for (bad, field) in [
        (json!({ "keep_audio": false, "port": 0 }), "settings.port"),
        (json!({ "keep_audio": false, "volume": 11 }), "settings.volume"),
    ] {
        let e = host.call("settings.update", json!({ "settings": bad })).await.unwrap_err();
        assert_eq!(e.code(), -32602, "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
    assert_eq!(host.call("settings.get", json!({})).await.unwrap()["settings"], changed);
    // Agents neither read nor change them.
    let agent = d.agent("notes").await;
    assert_eq!(agent.call("settings.get", json!({})).await.unwrap_err().code(), -32002);
    let e = agent.call("settings.update", json!({ "settings": { "keep_audio": false } })).await.unwrap_err();
    assert_eq!(e.code(), -32002);
    drop((host, agent));
    d.stop().await;

    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    assert_eq!(host.call("settings.get", json!({})).await.unwrap()["settings"], changed);
    drop(host);
    d.stop().await;
    // An unreadable file is moved aside, never overwritten unseen; the defaults apply.
    std::fs::write(root.path().join("data/settings.json"), "{ not json").unwrap();
    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    assert_eq!(host.call("settings.get", json!({})).await.unwrap()["settings"], defaults);
    let aside = std::fs::read_dir(root.path().join("data"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("settings.json.corrupt-"))
        .count();
    assert_eq!(aside, 1);
}

#[tokio::test]
async fn a_meeting_takes_what_its_start_leaves_out_from_the_settings() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("settings.update", json!({ "settings": { "keep_audio": false, "language": "de" } }))
        .await
        .unwrap();
    let started = host.call("meeting.start", json!({ "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    let id = started["id"].as_str().unwrap();
    let m = host.call("meeting.get", json!({ "meeting_id": id })).await.unwrap()["metadata"].clone();
    assert_eq!((m["persist_audio"].clone(), m["language"].clone()), (json!(false), json!("de")));
    // What the call says wins.
    let said = json!({ "sources": [{ "kind": "pcm_push" }], "persist_audio": true, "language": "fr" });
    let id2 = host.call("meeting.start", said).await.unwrap()["id"].as_str().unwrap().to_string();
    let m = host.call("meeting.get", json!({ "meeting_id": id2 })).await.unwrap()["metadata"].clone();
    assert_eq!((m["persist_audio"].clone(), m["language"].clone()), (json!(true), json!("fr")));
}

/// Pushes `audio` into `stream` at the pace of real time, 100 ms at a time.
async fn push_in_real_time(c: &Client, stream: &str, audio: &[f32]) {
    let start = tokio::time::Instant::now();
    for (i, piece) in audio.chunks(1_600).enumerate() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(f32_to_s16le(piece));
        c.call("voice.transcribe_stream.push", json!({ "session_id": stream, "pcm_b64": b64 }))
            .await
            .unwrap();
        tokio::time::sleep_until(start + Duration::from_millis(100 * (i as u64 + 1))).await;
    }
}

#[tokio::test]
async fn a_forgotten_meeting_stops_by_itself_after_the_auto_stop_silence() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    // 1.2 s: longer than any pause in jfk.wav, short enough for a test.
    host.call("settings.update", json!({ "settings": { "auto_stop_minutes": 0.02 } })).await.unwrap();
    host.call("host.subscribe", json!({})).await.unwrap();
    let started = host.call("meeting.start", json!({ "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let stream = format!("meeting:{id}:push");
    // 3 s of speech, pushed as it would be spoken: the guard never fires while someone talks.
    push_in_real_time(&host, &stream, &jfk()[..48_000]).await;
    let m = host.call("meeting.get", json!({ "meeting_id": id })).await.unwrap()["metadata"].clone();
    assert_eq!(m["status"], json!("recording"), "stopped while speech went on");
    // Then nothing: the meeting stops by itself, saying why.
    let quiet = Instant::now();
    let stopped = next_host_event(&host, "meeting.stopped").await;
    let waited = quiet.elapsed();
    assert_eq!(
        (stopped["meeting_id"].as_str(), stopped["reason"].as_str()),
        (Some(id.as_str()), Some("auto_stop"))
    );
    let silence = stopped["silence_ms"].as_u64().unwrap();
    assert!((1_199..=1_201).contains(&silence), "{stopped}");
    assert_eq!(stopped["meeting"]["status"], json!("stopped"));
    assert!(stopped["meeting"]["segment_count"].as_u64().unwrap() >= 1, "{stopped}");
    assert!(waited >= Duration::from_millis(600), "stopped {waited:?} after the last push");
    let ring = host.call("host.events", json!({})).await.unwrap();
    let message = ring["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "meeting.stopped")
        .unwrap()["message"]
        .clone();
    assert!(message.as_str().unwrap().ends_with("stopped by itself after 1 second of silence"), "{message}");
}

#[tokio::test]
async fn a_meeting_stopped_or_ended_says_so_and_a_file_is_never_auto_stopped() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    // A guard far shorter than the file's silences: the file is read to its end regardless.
    host.call("settings.update", json!({ "settings": { "auto_stop_minutes": 0.0001 } })).await.unwrap();
    host.call("host.subscribe", json!({})).await.unwrap();
    let file = json!({ "kind": "file", "path": jfk_path().display().to_string(), "realtime": false });
    host.call("meeting.start", json!({ "sources": [file] })).await.unwrap();
    let ended = next_host_event(&host, "meeting.stopped").await;
    assert_eq!(ended["reason"], json!("sources_ended"), "{ended}");
    assert!(ended["meeting"]["segment_count"].as_u64().unwrap() >= 2, "{ended}");

    host.call("settings.update", json!({ "settings": { "auto_stop_minutes": 0 } })).await.unwrap();
    let id = host.call("meeting.start", json!({ "sources": [{ "kind": "pcm_push" }] })).await.unwrap()["id"]
        .clone();
    host.call("meeting.stop", json!({ "meeting_id": id })).await.unwrap();
    let stopped = next_host_event(&host, "meeting.stopped").await;
    assert_eq!((stopped["meeting_id"].clone(), stopped["reason"].clone()), (id, json!("stopped")));
}

#[tokio::test]
async fn a_model_nothing_uses_is_released_after_its_keep_alive() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("ggml-fake.bin");
    std::fs::write(&model, "a model").unwrap();
    let loader: hark_core::config::ModelLoader = Arc::new(|_: &Path| {
        Ok(Arc::new(hark_transcribe::fake::FakeTranscriber::new()) as Arc<dyn hark_transcribe::Transcriber>)
    });
    let path = model.clone();
    let d = TestDaemon::start_with(move |c| c.transcriber = TranscriberChoice::Model { path, loader }).await;
    let host = d.host().await;
    // 60 ms.
    host.call("settings.update", json!({ "settings": { "model_keep_alive_minutes": 0.001 } })).await.unwrap();
    let c = d.client().await;
    let id = c
        .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "pcm_push" } }))
        .await
        .unwrap()["session_id"]
        .clone();
    assert!(d.daemon.engine.is_loaded(&model));
    // Held by a stream, it stays well past its keep-alive (the reaper looks again every second).
    let b64 = base64::engine::general_purpose::STANDARD.encode(f32_to_s16le(&jfk()[..16_000]));
    c.call("voice.transcribe_stream.push", json!({ "session_id": id, "pcm_b64": b64 })).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(d.daemon.engine.is_loaded(&model), "released while a stream held it");
    c.call("voice.transcribe_stream.stop", json!({ "session_id": id })).await.unwrap();
    eventually("the model to be released", LONG, || async { !d.daemon.engine.is_loaded(&model) }).await;
    assert_eq!(c.call("server.info", json!({})).await.unwrap()["model"]["loaded"], json!(false));
    // The next use loads it again.
    c.call("transcribe", json!({ "path": jfk_path() })).await.unwrap();
    eventually("the model to be released again", LONG, || async { !d.daemon.engine.is_loaded(&model) }).await;
}
