//! Meetings over real WebSockets (PROTOCOL §7, §16): recorded from WAV files and pushed PCM with
//! the fake transcriber (fast, deterministic) and, where `HARK_TEST_MODEL` is set, the real
//! tiny.en model; stored, listed, searched, exported; recovered after a crash left files behind;
//! bad input refused without touching the disk. (Killing a real `hark serve` with SIGKILL and
//! SIGTERM mid-meeting is in `crates/cli/tests/meetings.rs`.)

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use hark_audio::pcm::f32_to_s16le;
use hark_core::ApprovalPolicy;
use hark_test_support::{Client, TestDaemon};
use hark_transcribe::text::words;
use serde_json::{Value, json};

use crate::LONG;
use crate::voice::{JFK_TEXT, jfk, jfk_path, of_type, real_model, whisper};

/// Every `voice.event` of the stream `id` until its `done`, skipping other messages.
async fn meeting_events_until_done(c: &Client, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let m = c.next_method("voice.event", LONG * 6).await.expect("voice events up to done");
        if m["params"]["session_id"] != json!(id) {
            continue;
        }
        let e = m["params"]["event"].clone();
        let done = e["type"] == "done";
        out.push(e);
        if done {
            return out;
        }
    }
}

/// Polls `meeting.get` until the meeting is no longer recording (2 minutes at most: a real
/// model's live pass over a long file, in a debug build, on 2 cores).
async fn wait_finished(c: &Client, id: &str) -> Value {
    for _ in 0..4_800 {
        let r = c.call("meeting.get", json!({ "meeting_id": id })).await.unwrap();
        if r["metadata"]["status"] != "recording" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("meeting {id} never finished");
}

fn file_source(path: &Path, name: &str, role: &str) -> Value {
    json!({ "kind": "file", "path": path.display().to_string(), "realtime": false, "name": name, "role": role })
}

async fn push(c: &Client, stream: &str, audio: &[f32]) {
    for piece in audio.chunks(1_600) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(f32_to_s16le(piece));
        c.call("voice.transcribe_stream.push", json!({ "session_id": stream, "pcm_b64": b64 }))
            .await
            .unwrap();
    }
}

/// SRT, strictly: numbered cues from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text, one blank line.
fn parse_srt(s: &str) -> Vec<(u64, u64, String)> {
    let mut cues = Vec::new();
    let blocks: Vec<&str> = s.strip_suffix("\n\n").expect("ends with a blank line").split("\n\n").collect();
    for (i, block) in blocks.iter().enumerate() {
        let lines: Vec<&str> = block.split('\n').collect();
        assert!(lines.len() >= 3, "cue {i}: {block:?}");
        assert_eq!(lines[0], (i + 1).to_string());
        let (a, b) = lines[1].split_once(" --> ").expect("arrow");
        cues.push((clock(a, ','), clock(b, ','), lines[2..].join("\n")));
    }
    cues
}

/// WebVTT, strictly: the header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm` and text.
fn parse_vtt(s: &str) -> Vec<(u64, u64, String)> {
    let body = s.strip_prefix("WEBVTT\n\n").expect("WEBVTT header");
    let mut cues = Vec::new();
    for block in body.strip_suffix("\n\n").expect("ends with a blank line").split("\n\n") {
        let lines: Vec<&str> = block.split('\n').collect();
        let (a, b) = lines[0].split_once(" --> ").expect("arrow");
        assert!(!lines[1..].join(" ").contains("-->"));
        cues.push((clock(a, '.'), clock(b, '.'), lines[1..].join("\n")));
    }
    cues
}

/// `HH:MM:SS<sep>mmm` in ms, refusing any other shape.
fn clock(s: &str, sep: char) -> u64 {
    let b = s.as_bytes();
    assert_eq!(b.len(), 12, "{s:?}");
    assert!(b[2] == b':' && b[5] == b':' && b[8] == sep as u8, "{s:?}");
    let n = |r: std::ops::Range<usize>| s[r].parse::<u64>().unwrap_or_else(|_| panic!("{s:?}"));
    n(0..2) * 3_600_000 + n(3..5) * 60_000 + n(6..8) * 1000 + n(9..12)
}

#[tokio::test]
async fn a_file_meeting_is_stored_listed_searched_and_exported() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("host.subscribe", json!({})).await.unwrap();
    let r = host
        .call(
            "meeting.start",
            json!({ "id": "standup", "title": "Daily standup", "sources": [file_source(&jfk_path(), "call", "them")] }),
        )
        .await
        .unwrap();
    assert_eq!(r["id"], "standup");
    assert_eq!(r["voice_session_ids"], json!(["meeting:standup:call"]));
    let events = meeting_events_until_done(&host, "meeting:standup:call").await;
    let finals = of_type(&events, "transcript");
    assert!(finals.len() >= 2, "{events:?}");
    let got = wait_finished(&host, "standup").await;
    let m = &got["metadata"];
    assert_eq!(m["status"], "stopped");
    assert_eq!(m["title"], "Daily standup");
    assert_eq!(
        m["sources"],
        json!([{"kind": "file", "path": jfk_path().display().to_string(), "realtime": false, "name": "call", "role": "them"}])
    );
    assert_eq!(m["segment_count"], json!(finals.len()));
    assert!(m["duration_ms"].as_u64().unwrap() >= 11_000, "{m}");
    assert_eq!(m["revision"], 1);
    // meeting.get equals what the events said, in order.
    let segments = got["segments"].as_array().unwrap();
    assert_eq!(segments.len(), finals.len());
    for (s, e) in segments.iter().zip(&finals) {
        assert_eq!(
            (&s["seq"], &s["text"], &s["t0_ms"], &s["t1_ms"]),
            (&e["seq"], &e["text"], &e["t0_ms"], &e["t1_ms"])
        );
        assert_eq!(s["role"], "them");
        assert_eq!(e["role"], "them");
        assert_eq!(s["source"], "call");
    }
    // The meeting's host events, in the ring a window reads.
    let ring = host.call("host.events", json!({})).await.unwrap();
    let kinds: Vec<&str> =
        ring["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "meeting.started").count(), 1, "{kinds:?}");
    let started = kinds.iter().position(|k| *k == "meeting.started").unwrap();
    assert!(
        kinds[..started].iter().all(|k| !k.starts_with("meeting.")),
        "meeting.started comes first: {kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "meeting.segment").count(), finals.len(), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"meeting.stopped"), "{kinds:?}");

    // The audio was kept: 11 s at 16 kHz mono s16.
    let wav = d.data_dir.join("meetings/standup/audio/call.wav");
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().sample_rate, 16_000);
    assert_eq!(reader.len(), jfk().len() as u32);

    let list = host.call("meeting.list", json!({})).await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["meetings"][0]["id"], "standup");
    assert_eq!(list["meetings"][0]["segment_count"], json!(finals.len()));
    let hits = host.call("meeting.search", json!({ "query": "speech 2" })).await.unwrap();
    let hits = hits["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert_eq!(hits[0]["meeting_id"], "standup");
    assert!(hits[0]["snippet"].as_str().unwrap().contains('['), "{hits:?}");
    assert!(hits[0]["text"].as_str().unwrap().starts_with("speech "));
    // Hark's own fields: the meeting's title, and the snippet as pieces that join to its text.
    assert_eq!(hits[0]["title"], "Daily standup");
    let parts = hits[0]["snippet_parts"].as_array().unwrap();
    let matched: Vec<&str> =
        parts.iter().filter(|p| p["match"] == true).map(|p| p["text"].as_str().unwrap()).collect();
    assert!(matched.contains(&"speech"), "{parts:?}");
    let joined: String = parts.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(joined, hits[0]["snippet"].as_str().unwrap().replace(['[', ']'], ""));

    let export = |format: &str| {
        let host = &host;
        let format = format.to_string();
        async move {
            let r = host
                .call("meeting.export", json!({ "meeting_id": "standup", "format": format }))
                .await
                .unwrap();
            assert_eq!(r["format"], json!(format));
            r["content"].as_str().unwrap().to_string()
        }
    };
    let srt = parse_srt(&export("srt").await);
    let vtt = parse_vtt(&export("vtt").await);
    assert_eq!(srt.len(), finals.len());
    assert_eq!(
        srt,
        vtt.iter().map(|(a, b, t)| (*a, *b, t.replace("<v them>", "them: "))).collect::<Vec<_>>()
    );
    for ((t0, t1, text), e) in srt.iter().zip(&finals) {
        assert_eq!((*t0, *t1), (e["t0_ms"].as_u64().unwrap(), e["t1_ms"].as_u64().unwrap()));
        assert!(text.ends_with(e["text"].as_str().unwrap()), "{text:?} {e}");
    }
    let md = export("md").await;
    assert!(md.starts_with("# Daily standup\n"), "{md}");
    assert!(md.contains(&m["started_at"].as_str().unwrap()[..10]), "{md}");
    let txt = export("txt").await;
    assert_eq!(txt.lines().filter(|l| !l.is_empty()).count(), finals.len(), "{txt}");
    let j: Value = serde_json::from_str(&export("json").await).unwrap();
    assert_eq!(j["segments"], got["segments"]);
    let bad =
        host.call("meeting.export", json!({ "meeting_id": "standup", "format": "pdf" })).await.unwrap_err();
    assert_eq!(bad.code(), -32602);

    // Rename, then delete (host only).
    let renamed = host
        .call("meeting.update", json!({ "meeting_id": "standup", "title": "Standup, renamed" }))
        .await
        .unwrap();
    assert_eq!(renamed["title"], "Standup, renamed");
    let list = host.call("meeting.list", json!({ "query": "renamed" })).await.unwrap();
    assert_eq!(list["total"], 1);
    let again = host.call("meeting.stop", json!({ "meeting_id": "standup" })).await.unwrap_err();
    assert_eq!(again.code(), -32012, "stopping a stopped meeting is a conflict");
    let c = d.client().await;
    assert_eq!(
        c.call("meeting.delete", json!({ "meeting_id": "standup" })).await.unwrap_err().code(),
        -32002
    );
    assert_eq!(
        host.call("meeting.delete", json!({ "meeting_id": "standup" })).await.unwrap(),
        json!({ "deleted": true })
    );
    assert!(!d.data_dir.join("meetings/standup").exists());
    assert_eq!(host.call("meeting.list", json!({})).await.unwrap()["total"], 0);
    assert_eq!(
        host.call("meeting.get", json!({ "meeting_id": "standup" })).await.unwrap_err().code(),
        -32010
    );
}

#[tokio::test]
async fn a_pushed_meeting_survives_its_starter_and_stops_with_its_last_segment() {
    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Allow).await;
    let agent = d.agent("notetaker").await;
    let r = agent
        .call("meeting.start", json!({ "sources": [{ "kind": "pcm_push", "name": "call", "role": "them" }], "persist_audio": false }))
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 12);
    assert!(r["title"].as_str().unwrap().starts_with("Meeting "));
    let stream = format!("meeting:{id}:call");
    push(&agent, &stream, &jfk()[..16_000 * 5]).await;
    // The starter leaves: the meeting goes on recording; the host pushes the rest and stops it.
    agent.close().await;
    d.wait_sessions(0).await;
    let host = d.host().await;
    let sub = host.call("host.subscribe", json!({})).await.unwrap();
    assert_eq!(sub["meetings_active"][0]["id"], json!(id));
    push(&host, &stream, &jfk()[16_000 * 5..]).await;
    let stopped = host.call("meeting.stop", json!({ "meeting_id": id })).await.unwrap();
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["started_by"], "notetaker");
    assert!(stopped["segment_count"].as_u64().unwrap() >= 2, "{stopped}");
    assert!(!d.data_dir.join(format!("meetings/{id}/audio/call.wav")).exists(), "persist_audio: false");
    let got = host.call("meeting.get", json!({ "meeting_id": id })).await.unwrap();
    assert_eq!(got["metadata"], stopped);
    let last = got["segments"].as_array().unwrap().last().unwrap().clone();
    assert!(last["t1_ms"].as_u64().unwrap() >= 10_000, "the last speech was stored at stop: {last}");
    // A meeting's stream is stopped with its meeting, never alone; it is gone now.
    let e = host.call("voice.transcribe_stream.stop", json!({ "session_id": stream })).await.unwrap_err();
    assert_eq!(e.code(), -32010);
}

#[tokio::test]
async fn stop_on_disconnect_ends_the_meeting_with_its_starter() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    let r = host
        .call(
            "meeting.start",
            json!({ "id": "m1", "sources": [{ "kind": "pcm_push" }], "stop_on_disconnect": true }),
        )
        .await
        .unwrap();
    assert_eq!(r["voice_session_ids"], json!(["meeting:m1:push"]));
    push(&host, "meeting:m1:push", &jfk()[..16_000 * 4]).await;
    host.close().await;
    let watcher = d.host().await;
    for _ in 0..200 {
        let m = watcher.call("meeting.get", json!({ "meeting_id": "m1" })).await.unwrap();
        if m["metadata"]["status"] == "stopped" {
            assert!(m["metadata"]["segment_count"].as_u64().unwrap() >= 1, "{m}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the meeting did not stop with its starter");
}

#[tokio::test]
async fn bad_input_is_refused_and_touches_nothing() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    for id in ["../x", "a/b", &"a".repeat(65), "", "..", ".", "a:b"] {
        let e = host.call("meeting.start", json!({ "id": id, "sources": ["mic"] })).await.unwrap_err();
        assert_eq!(e.code(), -32602, "{id:?}: {e:?}");
        for method in ["meeting.get", "meeting.stop", "meeting.export", "meeting.delete"] {
            let e = host.call(method, json!({ "meeting_id": id, "format": "md" })).await.unwrap_err();
            assert_eq!(e.code(), -32602, "{method} {id:?}: {e:?}");
        }
    }
    let bad_sources = [
        json!([]),
        json!(["speakers"]),
        json!([7]),
        json!([{ "kind": "pcm_push", "name": "../up" }]),
        json!([{ "kind": "pcm_push" }, { "kind": "pcm_push" }]),
        json!([{ "kind": "file", "path": "/no/such.wav" }]),
        json!([{ "kind": "mic", "role": "them" }]),
        json!(["mic", "mic", "mic", "mic", "mic"]),
    ];
    for sources in bad_sources {
        let e = host.call("meeting.start", json!({ "sources": sources })).await.unwrap_err();
        assert_eq!(e.code(), -32602, "{sources}: {e:?}");
        assert!(e.to_string().contains("sources"), "{e:?}");
    }
    let meetings = d.data_dir.join("meetings");
    let left: Vec<_> = std::fs::read_dir(&meetings).map(|r| r.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(host.call("meeting.get", json!({ "meeting_id": "nope" })).await.unwrap_err().code(), -32010);
    assert_eq!(host.call("meeting.stop", json!({ "meeting_id": "nope" })).await.unwrap_err().code(), -32010);
    let e = host.call("meeting.search", json!({ "query": "  ?! " })).await.unwrap_err();
    assert_eq!(e.code(), -32602);
    // Hostile full-text syntax is just words.
    for q in ["\"", "a OR \"", "NEAR(", "*", "-x", "speech AND"] {
        host.call("meeting.search", json!({ "query": q })).await.unwrap_or_else(|e| {
            assert_eq!(e.code(), -32602, "{q:?}: {e:?}");
            json!(null)
        });
    }
    // An id in use, running or stored, is a conflict.
    host.call("meeting.start", json!({ "id": "taken", "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    let e = host
        .call("meeting.start", json!({ "id": "taken", "sources": [{ "kind": "pcm_push" }] }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32012);
    host.call("meeting.stop", json!({ "meeting_id": "taken" })).await.unwrap();
    let e = host
        .call("meeting.start", json!({ "id": "taken", "sources": [{ "kind": "pcm_push" }] }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32012);
    // A client may not stop someone else's meeting.
    let c = d.client().await;
    c.call("meeting.start", json!({ "id": "theirs", "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    assert_eq!(
        host.call("meeting.update", json!({ "meeting_id": "theirs", "title": "" })).await.unwrap_err().code(),
        -32602
    );
    let other = d.client().await;
    assert_eq!(
        other.call("meeting.stop", json!({ "meeting_id": "theirs" })).await.unwrap_err().code(),
        -32002
    );
    c.call("meeting.stop", json!({ "meeting_id": "theirs" })).await.unwrap();
}

#[tokio::test]
async fn reading_transcripts_needs_the_grant() {
    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Deny).await;
    let c = d.agent("reader").await;
    // Recording pushed audio needs no microphone; reading it back needs `transcripts`.
    c.call("meeting.start", json!({ "id": "secret", "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    c.call("meeting.stop", json!({ "meeting_id": "secret" })).await.unwrap();
    for (method, params) in [
        ("meeting.list", json!({})),
        ("meeting.get", json!({ "meeting_id": "secret" })),
        ("meeting.search", json!({ "query": "speech" })),
        ("meeting.export", json!({ "meeting_id": "secret", "format": "txt" })),
    ] {
        let e = c.call(method, params).await.unwrap_err();
        assert_eq!(e.code(), -32003, "{method}: {e:?}");
    }
    // The microphone needs its own grant.
    let e = c.call("meeting.start", json!({ "sources": ["mic"] })).await.unwrap_err();
    assert_eq!(e.code(), -32003);
}

/// What a crash leaves: a meeting still marked `recording`, a torn last line, a WAV whose
/// header says less than its data. The next start recovers it and tells the window.
#[tokio::test]
async fn a_meeting_left_recording_is_recovered_at_start() {
    let root = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    host.call(
        "meeting.start",
        json!({ "id": "crashed", "title": "Crash", "sources": [{ "kind": "pcm_push" }] }),
    )
    .await
    .unwrap();
    push(&host, "meeting:crashed:push", &jfk()).await;
    host.call("meeting.stop", json!({ "meeting_id": "crashed" })).await.unwrap();
    let before = host.call("meeting.get", json!({ "meeting_id": "crashed" })).await.unwrap();
    host.close().await;
    d.stop().await;

    // Make it look like the daemon died mid-meeting.
    let dir = root.path().join("data/meetings/crashed");
    let meta_path = dir.join("meeting.json");
    let mut meta: Value = serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["status"] = json!("recording");
    meta.as_object_mut().unwrap().remove("ended_at");
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    // A rewrite of meeting.json that the crash cut short (the store's temp-file name).
    let temp = dir.join("meeting.json.tmp4242-7");
    std::fs::write(&temp, b"{\"half\": ").unwrap();
    let transcript = dir.join("transcript.jsonl");
    let mut text = std::fs::read_to_string(&transcript).unwrap();
    text.push_str("{\"seq\":99,\"source\":\"push\",\"ro");
    std::fs::write(&transcript, text).unwrap();
    let wav = dir.join("audio/push.wav");
    let mut bytes = std::fs::read(&wav).unwrap();
    bytes[4..8].copy_from_slice(&36u32.to_le_bytes());
    bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&wav, bytes).unwrap();
    std::fs::write(root.path().join("data/index.sqlite"), b"this is not a database").unwrap();

    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    let sub = host.call("host.subscribe", json!({})).await.unwrap();
    let recovered: Vec<&Value> =
        sub["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "meeting.recovered").collect();
    assert_eq!(recovered.len(), 1, "{sub}");
    assert_eq!(recovered[0]["payload"]["meeting_id"], "crashed");
    let after = host.call("meeting.get", json!({ "meeting_id": "crashed" })).await.unwrap();
    assert_eq!(after["metadata"]["status"], "interrupted");
    assert_eq!(after["metadata"]["title"], "Crash", "the complete meeting.json was used, not the temp file");
    // Hark's own `recovered`: what the event said, kept with the meeting.
    let kept = &after["metadata"]["recovered"];
    assert_eq!((kept["broken_lines"].as_u64(), kept["wavs_fixed"].as_u64()), (Some(1), Some(1)), "{kept}");
    assert_eq!(kept["wavs_moved_aside"], 0);
    assert_eq!(kept["recovered_at"], after["metadata"]["ended_at"]);
    assert_eq!(recovered[0]["payload"]["broken_lines"], 1);
    assert!(!temp.exists(), "the cut-short temp file is removed");
    assert_eq!(after["segments"], before["segments"], "every stored segment is still there");
    let broken = std::fs::read_to_string(dir.join("transcript.jsonl.broken")).unwrap();
    assert!(broken.contains("\"seq\":99"), "the torn line is set aside: {broken:?}");
    assert_eq!(hound::WavReader::open(&wav).unwrap().len(), jfk().len() as u32);
    // The garbage index was set aside and rebuilt from the files.
    let list = host.call("meeting.list", json!({})).await.unwrap();
    assert_eq!(list["meetings"][0]["status"], "interrupted");
    assert_eq!(list["meetings"][0]["recovered"], *kept);
    let hits = host.call("meeting.search", json!({ "query": "speech" })).await.unwrap();
    assert_eq!(hits["hits"].as_array().unwrap().len(), before["segments"].as_array().unwrap().len());
}

#[tokio::test]
async fn real_model_meeting_from_jfk_gives_its_words() {
    let Some((model, _turn)) = real_model().await else { return };
    let d = TestDaemon::start_with(|c| c.transcriber = whisper(model)).await;
    let host = d.host().await;
    host.call(
        "meeting.start",
        json!({ "id": "jfk", "sources": [file_source(&jfk_path(), "speech", "them")] }),
    )
    .await
    .unwrap();
    let got = wait_finished(&host, "jfk").await;
    let text: Vec<&str> =
        got["segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert_eq!(words(&text.join(" ")), words(JFK_TEXT), "{text:?}");
    let hits = host.call("meeting.search", json!({ "query": "country" })).await.unwrap();
    assert!(!hits["hits"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_second_pass_writes_a_new_revision_and_keeps_the_live_one() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call("meeting.start", json!({ "id": "two", "sources": [file_source(&jfk_path(), "call", "them")] }))
        .await
        .unwrap();
    let live = wait_finished(&host, "two").await;
    assert!(live["segments"].as_array().unwrap().len() >= 2);
    let (r, progress) = tokio::join!(
        host.call("meeting.retranscribe", json!({ "meeting_id": "two" })),
        host.next_method("meeting.retranscribe_progress", LONG)
    );
    let r = r.unwrap();
    assert_eq!(r, json!({ "meeting_id": "two", "revision": 2, "model": "fake", "segment_count": 1 }));
    let p = progress.expect("progress notifications")["params"].clone();
    assert_eq!(p["meeting_id"], "two");
    assert_eq!(p["total_ms"], json!(11_000));
    // The latest revision is the default; revision 1 is unchanged.
    let got = host.call("meeting.get", json!({ "meeting_id": "two" })).await.unwrap();
    assert_eq!(got["revision"], 2);
    assert_eq!(got["metadata"]["revision"], 2);
    assert_eq!(got["metadata"]["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(got["metadata"]["revisions"][1]["model"], "fake");
    let seg = &got["segments"][0];
    assert_eq!(
        (&seg["text"], &seg["t0_ms"], &seg["t1_ms"], &seg["role"]),
        (&json!("speech 1 (11.0 s)"), &json!(0), &json!(11_000), &json!("them"))
    );
    let one = host.call("meeting.get", json!({ "meeting_id": "two", "revision": 1 })).await.unwrap();
    assert_eq!(one["segments"], live["segments"]);
    assert!(d.data_dir.join("meetings/two/transcript.r2.jsonl").is_file());
    let srt1 = host
        .call("meeting.export", json!({ "meeting_id": "two", "format": "srt", "revision": 1 }))
        .await
        .unwrap();
    let srt2 = host.call("meeting.export", json!({ "meeting_id": "two", "format": "srt" })).await.unwrap();
    assert_eq!(
        parse_srt(srt1["content"].as_str().unwrap()).len(),
        live["segments"].as_array().unwrap().len()
    );
    assert_eq!(
        parse_srt(srt2["content"].as_str().unwrap()),
        vec![(0, 11_000, "them: speech 1 (11.0 s)".to_string())]
    );
    // Search and memory index the latest revision only.
    let hits = host.call("meeting.search", json!({ "query": "speech" })).await.unwrap();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(
        host.call("meeting.get", json!({ "meeting_id": "two", "revision": 3 })).await.unwrap_err().code(),
        -32010
    );

    // What cannot be transcribed again says why.
    assert_eq!(
        host.call("meeting.retranscribe", json!({ "meeting_id": "nope" })).await.unwrap_err().code(),
        -32010
    );
    host.call("meeting.start", json!({ "id": "live", "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    assert_eq!(
        host.call("meeting.retranscribe", json!({ "meeting_id": "live" })).await.unwrap_err().code(),
        -32012
    );
    host.call("meeting.stop", json!({ "meeting_id": "live" })).await.unwrap();
    host.call(
        "meeting.start",
        json!({ "id": "noaudio", "persist_audio": false, "sources": [{ "kind": "pcm_push" }] }),
    )
    .await
    .unwrap();
    host.call("meeting.stop", json!({ "meeting_id": "noaudio" })).await.unwrap();
    let e = host.call("meeting.retranscribe", json!({ "meeting_id": "noaudio" })).await.unwrap_err();
    assert_eq!(e.code(), -32012);
    assert!(e.to_string().contains("audio"), "{e}");
    let e = host
        .call("meeting.retranscribe", json!({ "meeting_id": "two", "model": "base.en" }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32602, "the fake transcriber has no models to choose");
}

#[tokio::test]
async fn memory_holds_meeting_segments_and_facts_and_survives_a_lost_index() {
    let root = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_in(root.path(), |_| {}).await;
    let host = d.host().await;
    host.call("meeting.start", json!({ "id": "mem", "sources": [file_source(&jfk_path(), "call", "them")] }))
        .await
        .unwrap();
    let got = wait_finished(&host, "mem").await;
    let segments = got["segments"].as_array().unwrap().len() as u64;
    let agent = d.agent("notes").await;
    let f = agent
        .call(
            "memory.add_fact",
            json!({ "text": "The speech budget is due on Friday", "subject": "budget", "tags": ["finance"] }),
        )
        .await
        .unwrap();
    assert!(f["fact_id"].as_str().unwrap().starts_with("fact-"));
    assert_eq!(
        agent.call("memory.fact_count", json!({})).await.unwrap(),
        json!({ "facts": 1, "segments": segments })
    );
    for bad in [json!({ "text": " " }), json!({ "text": "x", "tags": [""] }), json!({})] {
        assert_eq!(agent.call("memory.add_fact", bad.clone()).await.unwrap_err().code(), -32602, "{bad}");
    }
    let r = host.call("memory.query", json!({ "query": "speech" })).await.unwrap();
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, (segments + 1).min(8), "{r}");
    let seg = results.iter().find(|h| h["kind"] == "segment").unwrap();
    assert_eq!(seg["speaker"], "meeting/mem/call");
    assert_eq!(seg["meeting_id"], "mem");
    let fact = results.iter().find(|h| h["kind"] == "fact").unwrap();
    assert_eq!(
        (&fact["text"], &fact["speaker"]),
        (&json!("The speech budget is due on Friday"), &json!("budget"))
    );
    let only =
        host.call("memory.query", json!({ "query": "speech", "meeting_id": "mem", "k": 100 })).await.unwrap();
    assert!(only["results"].as_array().unwrap().iter().all(|h| h["kind"] == "segment"));
    let later = host
        .call("memory.query", json!({ "query": "speech", "since": "2999-01-01T00:00:00Z" }))
        .await
        .unwrap();
    assert_eq!(later["results"], json!([]));
    for bad in [
        json!({ "query": "x", "since": "yesterday" }),
        json!({ "query": "x", "k": 0 }),
        json!({ "query": "x", "meeting_id": "../a" }),
    ] {
        assert_eq!(host.call("memory.query", bad.clone()).await.unwrap_err().code(), -32602, "{bad}");
    }
    host.close().await;
    agent.close().await;
    d.stop().await;

    // Facts are kept in their own file: an index lost or corrupt is rebuilt with them.
    std::fs::remove_file(root.path().join("data/index.sqlite")).unwrap();
    let d = TestDaemon::start_in(root.path(), |c| c.approvals = ApprovalPolicy::Deny).await;
    let host = d.host().await;
    assert_eq!(
        host.call("memory.fact_count", json!({})).await.unwrap(),
        json!({ "facts": 1, "segments": segments })
    );
    let r = host.call("memory.query", json!({ "query": "budget friday" })).await.unwrap();
    assert_eq!(r["results"][0]["kind"], "fact");
    // Reading memory needs the `transcripts` grant.
    let agent = d.agent("notes").await;
    assert_eq!(agent.call("memory.query", json!({ "query": "speech" })).await.unwrap_err().code(), -32003);
}

#[tokio::test]
async fn real_model_second_pass_equals_the_one_shot_transcript() {
    let Some((model, _turn)) = real_model().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-speech.sh");
    // Twice the six sentences: longer than one 30 s window, so the one-shot path seeks.
    let out = std::process::Command::new("bash").arg(&script).arg(dir.path()).arg("2").output();
    if !out.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: scripts/gen-speech.sh failed (espeak-ng and sox installed?): {out:?}");
        return;
    }
    let wav = dir.path().join("speech.wav");
    let d = TestDaemon::start_with(|c| c.transcriber = whisper(model)).await;
    let host = d.host().await;
    host.call("meeting.start", json!({ "id": "second", "sources": [file_source(&wav, "talk", "them")] }))
        .await
        .unwrap();
    let live = wait_finished(&host, "second").await;
    let live_text: Vec<&str> =
        live["segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    let r = host
        .call_timeout("meeting.retranscribe", json!({ "meeting_id": "second" }), LONG * 12)
        .await
        .unwrap();
    assert_eq!(r["revision"], 2);
    assert_eq!(r["model"], "tiny.en");
    let second = host.call("meeting.get", json!({ "meeting_id": "second" })).await.unwrap();
    let second_text: Vec<&str> =
        second["segments"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    // The one-shot path over the meeting's own WAV (what `hark transcribe` runs).
    let kept = d.data_dir.join("meetings/second/audio/talk.wav");
    let once = host
        .call_timeout("transcribe", json!({ "path": kept.display().to_string() }), LONG * 12)
        .await
        .unwrap();
    assert_eq!(words(&second_text.join(" ")), words(once["text"].as_str().unwrap()));
    eprintln!("live finals: {live_text:?}\nsecond pass: {second_text:?}");
    // Revision 1 is unchanged, and both revisions export.
    let one = host.call("meeting.get", json!({ "meeting_id": "second", "revision": 1 })).await.unwrap();
    assert_eq!(one["segments"], live["segments"]);
    for revision in [1, 2] {
        let vtt = host
            .call("meeting.export", json!({ "meeting_id": "second", "format": "vtt", "revision": revision }))
            .await
            .unwrap();
        let cues = parse_vtt(vtt["content"].as_str().unwrap());
        let n = if revision == 1 { &live } else { &second }["segments"].as_array().unwrap().len();
        assert_eq!(cues.len(), n);
    }
}

/// A capture backend whose system audio is jfk.wav and whose microphone hears the same through
/// the room, 600 ms later (the speakers' sound reaching the mic), both at real-time pace.
#[derive(Debug)]
struct RoomBackend;

fn room_device(
    delay_ms: usize,
) -> Result<Box<dyn hark_audio::source::AudioSource>, hark_audio::source::SourceError> {
    let mut audio = vec![0.0; 16 * delay_ms];
    audio.extend(jfk().iter().map(|s| s * 0.5));
    let config = hark_audio::source::FakeDeviceConfig {
        audio,
        rate: 16_000,
        channels: 1,
        frames_per_callback: 320,
        realtime: true,
        queue_samples: 16_000 * 60,
        fail_at_end: false,
    };
    Ok(Box::new(hark_audio::source::FakeDevice::start(config)?))
}

impl hark_core::voice::capture::CaptureBackend for RoomBackend {
    fn inputs(&self) -> Result<Vec<hark_audio::source::InputDevice>, hark_audio::source::SourceError> {
        Ok(Vec::new())
    }
    fn system_capture(&self) -> bool {
        true
    }
    fn open_mic(
        &self,
        _: Option<String>,
    ) -> Result<Box<dyn hark_audio::source::AudioSource>, hark_audio::source::SourceError> {
        room_device(600)
    }
    fn open_system(
        &self,
    ) -> Result<Box<dyn hark_audio::source::AudioSource>, hark_audio::source::SourceError> {
        room_device(0)
    }
}

#[tokio::test]
async fn mic_and_system_are_me_and_them_and_the_mic_hearing_the_speakers_is_not_stored_twice() {
    let d = TestDaemon::start_with(|c| c.capture = std::sync::Arc::new(RoomBackend)).await;
    let host = d.host().await;
    let r = host.call("meeting.start", json!({ "id": "call", "sources": ["mic", "system"] })).await.unwrap();
    assert_eq!(r["voice_session_ids"], json!(["meeting:call:mic", "meeting:call:system"]));
    let got = wait_finished(&host, "call").await;
    let segments = got["segments"].as_array().unwrap();
    assert!(segments.len() >= 2, "{got}");
    // Every system final is stored as `them`; the microphone's copies of the same speech, a
    // moment later, are echoes.
    assert!(segments.iter().all(|s| s["role"] == "them" && s["source"] == "system"), "{segments:?}");
    assert_eq!(
        got["metadata"]["sources"],
        json!([
            { "kind": "mic", "name": "mic", "role": "me" },
            { "kind": "system", "name": "system", "role": "them" },
        ])
    );
    let seqs: Vec<u64> = segments.iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..segments.len() as u64).collect::<Vec<_>>(), "meeting-wide seq without gaps");
    let both = d.data_dir.join("meetings/call/audio");
    assert!(both.join("mic.wav").is_file() && both.join("system.wav").is_file());
}

/// The next host event of `kind`, skipping others.
async fn host_event(c: &Client, kind: &str) -> Value {
    loop {
        let e = c.next_method("host.event", LONG).await.unwrap_or_else(|| panic!("no {kind} host event"));
        if e["params"]["kind"] == kind {
            return e["params"]["payload"].clone();
        }
    }
}

/// A window (and the tray's recent list) follows renames, new revisions and deletions, whoever
/// makes them: `meeting.updated` and `meeting.deleted` host events.
#[tokio::test]
async fn renames_revisions_and_deletions_are_host_events() {
    let d = TestDaemon::start().await;
    let window = d.host().await;
    window.call("host.subscribe", json!({})).await.unwrap();
    let other = d.host().await;
    other
        .call("meeting.start", json!({ "id": "m1", "sources": [file_source(&jfk_path(), "call", "them")] }))
        .await
        .unwrap();
    wait_finished(&other, "m1").await;
    other.call("meeting.update", json!({ "meeting_id": "m1", "title": "Renamed" })).await.unwrap();
    let p = host_event(&window, "meeting.updated").await;
    assert_eq!(
        (&p["meeting_id"], &p["change"], &p["meeting"]["title"]),
        (&json!("m1"), &json!("renamed"), &json!("Renamed"))
    );
    other.call("meeting.retranscribe", json!({ "meeting_id": "m1" })).await.unwrap();
    let p = host_event(&window, "meeting.updated").await;
    assert_eq!((&p["change"], &p["meeting"]["revision"]), (&json!("revision"), &json!(2)));
    // A rename while recording goes through the recorder, and is told the same way.
    other.call("meeting.start", json!({ "id": "m2", "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    other.call("meeting.update", json!({ "meeting_id": "m2", "title": "Live one" })).await.unwrap();
    let p = host_event(&window, "meeting.updated").await;
    assert_eq!(
        (&p["meeting_id"], &p["meeting"]["title"], &p["meeting"]["status"]),
        (&json!("m2"), &json!("Live one"), &json!("recording"))
    );
    other.call("meeting.stop", json!({ "meeting_id": "m2" })).await.unwrap();
    other.call("meeting.delete", json!({ "meeting_id": "m1" })).await.unwrap();
    assert_eq!(host_event(&window, "meeting.deleted").await, json!({ "meeting_id": "m1" }));
    // A refused rename or delete tells nothing.
    assert_eq!(other.call("meeting.delete", json!({ "meeting_id": "m1" })).await.unwrap_err().code(), -32010);
    assert_eq!(
        other.call("meeting.update", json!({ "meeting_id": "m1", "title": "x" })).await.unwrap_err().code(),
        -32010
    );
    let ring = window.call("host.events", json!({})).await.unwrap();
    let kinds: Vec<&str> = ring["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| matches!(*k, "meeting.updated" | "meeting.deleted"))
        .collect();
    assert_eq!(kinds, ["meeting.updated", "meeting.updated", "meeting.updated", "meeting.deleted"]);
}

/// `meeting.audio` hands the window a kept source's WAV in chunks: byte for byte the file, so the
/// chunks in order are a playable WAV of the meeting's length. What cannot be read says why.
#[tokio::test]
async fn the_host_reads_a_kept_meetings_audio_in_chunks() {
    let d = TestDaemon::start().await;
    let host = d.host().await;
    host.call(
        "meeting.start",
        json!({ "id": "kept", "sources": [file_source(&jfk_path(), "call", "them")] }),
    )
    .await
    .unwrap();
    let got = wait_finished(&host, "kept").await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (mut offset, mut wav) = (0u64, Vec::new());
    let total = loop {
        let r = host
            .call(
                "meeting.audio",
                json!({ "meeting_id": "kept", "source": "call", "offset": offset, "length": 100_000 }),
            )
            .await
            .unwrap();
        assert_eq!(
            (&r["content_type"], &r["sample_rate"], &r["channels"]),
            (&json!("audio/wav"), &json!(16_000), &json!(1))
        );
        assert_eq!(r["offset"], json!(offset));
        let chunk = b64.decode(r["data_b64"].as_str().unwrap()).unwrap();
        assert_eq!(r["length"], json!(chunk.len()));
        assert!(chunk.len() <= 100_000);
        wav.extend_from_slice(&chunk);
        offset += chunk.len() as u64;
        let total = r["total_bytes"].as_u64().unwrap();
        if offset == total {
            let ms = r["duration_ms"].as_u64().unwrap();
            assert!(
                ms.abs_diff(got["metadata"]["duration_ms"].as_u64().unwrap()) <= 100,
                "{ms} vs {}",
                got["metadata"]
            );
            break total;
        }
    };
    assert!(total > 300_000, "11 s of 16 kHz s16 is about 352 KB, got {total}");
    assert_eq!(wav, std::fs::read(d.data_dir.join("meetings/kept/audio/call.wav")).unwrap());
    let (samples, _) = hark_audio::wav::read_16k_mono(std::io::Cursor::new(&wav)).unwrap();
    assert!((samples.len() as f64 / 16_000.0 - 11.0).abs() < 0.2, "{} samples", samples.len());
    // The default chunk is 1 MiB: the whole of this one; at the end, nothing.
    let whole = host.call("meeting.audio", json!({ "meeting_id": "kept", "source": "call" })).await.unwrap();
    assert_eq!(whole["length"], json!(total));
    let end = host
        .call("meeting.audio", json!({ "meeting_id": "kept", "source": "call", "offset": total }))
        .await
        .unwrap();
    assert_eq!((&end["length"], &end["data_b64"]), (&json!(0), &json!("")));

    let code = |r: Result<Value, hark_test_support::ClientError>| r.unwrap_err().code();
    let ask = |params: Value| host.call("meeting.audio", params);
    for (params, want, field) in [
        (json!({ "meeting_id": "kept", "source": "call", "offset": total + 1 }), -32602, "offset"),
        (json!({ "meeting_id": "kept", "source": "call", "length": 0 }), -32602, "length"),
        (json!({ "meeting_id": "kept", "source": "call", "length": 3 << 20 }), -32602, "length"),
        (json!({ "meeting_id": "kept", "source": "call", "extra": 1 }), -32602, "extra"),
        (json!({ "meeting_id": "../x", "source": "call" }), -32602, "meeting_id"),
    ] {
        let e = ask(params.clone()).await.unwrap_err();
        assert_eq!(e.code(), want, "{params}");
        assert!(e.to_string().contains(field), "{params}: {e}");
    }
    assert_eq!(code(ask(json!({ "meeting_id": "nope", "source": "call" })).await), -32010);
    assert_eq!(code(ask(json!({ "meeting_id": "kept", "source": "mic" })).await), -32010);
    // Still recording; not kept; not the host.
    host.call("meeting.start", json!({ "id": "live", "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    assert_eq!(code(ask(json!({ "meeting_id": "live", "source": "push" })).await), -32012);
    host.call("meeting.stop", json!({ "meeting_id": "live" })).await.unwrap();
    assert!(ask(json!({ "meeting_id": "live", "source": "push" })).await.is_ok(), "stopped: readable");
    host.call(
        "meeting.start",
        json!({ "id": "gone", "persist_audio": false, "sources": [{ "kind": "pcm_push" }] }),
    )
    .await
    .unwrap();
    host.call("meeting.stop", json!({ "meeting_id": "gone" })).await.unwrap();
    let e = ask(json!({ "meeting_id": "gone", "source": "push" })).await.unwrap_err();
    assert_eq!(e.code(), -32012);
    assert!(e.to_string().contains("keep"), "{e}");
    let agent = d.agent("listener").await;
    assert_eq!(
        code(agent.call("meeting.audio", json!({ "meeting_id": "kept", "source": "call" })).await),
        -32002
    );
}
