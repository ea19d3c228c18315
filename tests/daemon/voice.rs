//! Live voice over real WebSockets (PROTOCOL §6): streams fed with pushed PCM (JSON and binary
//! frames) and WAV files, with the fake transcriber (fast, deterministic) and, where
//! `HARK_TEST_MODEL` is set, the real whisper tiny.en model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hark_audio::pcm::f32_to_s16le;
use hark_core::ApprovalPolicy;
use hark_core::config::TranscriberChoice;
use hark_test_support::{Client, TestDaemon};
use hark_transcribe::text::{wer, words};
use serde_json::{Value, json};

use crate::LONG;

pub(crate) fn jfk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/jfk.wav")
}

pub(crate) fn jfk() -> Vec<f32> {
    hark_audio::wav::read_file_16k_mono(&jfk_path()).unwrap().0
}

/// A binary audio frame (PROTOCOL §6.4) for the session `id` (32 hex chars): s16le PCM.
fn binary_frame(id: &str, seq: u64, pcm: &[f32]) -> Vec<u8> {
    hark_protocol::voice::audio_frame(id, seq, &f32_to_s16le(pcm)).unwrap()
}

pub(crate) async fn start(c: &Client, source: Value) -> String {
    let r = c.call("voice.transcribe_stream.start", json!({ "audio_source": source })).await.unwrap();
    r["session_id"].as_str().unwrap().to_string()
}

async fn push_all(c: &Client, id: &str, audio: &[f32], chunk_ms: usize) {
    for piece in audio.chunks(16 * chunk_ms) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(f32_to_s16le(piece));
        let r = c
            .call("voice.transcribe_stream.push", json!({ "session_id": id, "pcm_b64": b64 }))
            .await
            .unwrap();
        assert_eq!(r["samples"], json!(piece.len()));
    }
}

/// Pushes `audio` in 100 ms pieces at real-time pace, as a live client does.
async fn push_realtime(c: &Client, id: &str, audio: &[f32]) {
    let mut next = tokio::time::Instant::now();
    for piece in audio.chunks(1_600) {
        push_all(c, id, piece, 100).await;
        next += Duration::from_millis(100);
        tokio::time::sleep_until(next).await;
    }
}

/// Every `voice.event` of `id` until `done`.
pub(crate) async fn events_until_done(c: &Client, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let m = c.next_method("voice.event", LONG * 6).await.expect("voice events up to done");
        assert_eq!(m["params"]["session_id"], json!(id));
        let e = m["params"]["event"].clone();
        let done = e["type"] == "done";
        out.push(e);
        if done {
            return out;
        }
    }
}

pub(crate) fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

/// Checks the order: starts and ends alternate; a partial only after speech started and never
/// about audio a final already covered; finals numbered in order, never overlapping; done last.
pub(crate) fn check_order(events: &[Value]) {
    assert_eq!(events.last().unwrap()["type"], json!("done"));
    let (mut open, mut started, mut seq, mut final_end) = (false, false, 0, 0);
    for e in events {
        match e["type"].as_str().unwrap() {
            "speech_start" => {
                assert!(!open, "two starts without an end: {events:?}");
                (open, started) = (true, true);
            }
            "speech_end" => open = false,
            "partial" => {
                assert!(started, "a partial before any speech: {e}");
                assert!(e["t0_ms"].as_u64().unwrap() >= final_end, "a partial about finalized audio: {e}");
            }
            "transcript" => {
                assert_eq!(e["seq"], json!(seq));
                seq += 1;
                assert_eq!(e["role"], json!("unknown"));
                assert!(e["t0_ms"].as_u64().unwrap() >= final_end, "finals overlap: {events:?}");
                final_end = e["t1_ms"].as_u64().unwrap();
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn jfk_pushed_as_json_gives_segments_where_the_speech_is() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push", "sample_rate": 16000, "channels": 1 })).await;
    assert_eq!(id.len(), 32, "minted ids are 32 hex chars (binary frames carry them)");
    push_all(&c, &id, &jfk(), 100).await;
    let stopped = c.call("voice.transcribe_stream.stop", json!({ "session_id": id }));
    let (stopped, events) = tokio::join!(stopped, events_until_done(&c, &id));
    assert_eq!(stopped.unwrap(), json!({ "session_id": id, "stopped": true }));
    check_order(&events);
    let finals = of_type(&events, "transcript");
    assert!(!finals.is_empty());
    assert_eq!(finals[0]["text"].as_str().unwrap().split(' ').take(2).collect::<Vec<_>>(), ["speech", "1"]);
    assert!(finals[0]["t0_ms"].as_u64().unwrap() <= 700);
    assert!(finals.last().unwrap()["t1_ms"].as_u64().unwrap() >= 10_000);
    assert!(!of_type(&events, "partial").is_empty(), "partials while speech goes on");
    assert!(of_type(&events, "level").len() >= 100, "about 10 levels a second");
    assert_eq!(events.last().unwrap()["reason"], json!("stopped"));
}

#[tokio::test]
async fn binary_frames_at_48k_stereo() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push", "sample_rate": 48000, "channels": 2 })).await;
    // jfk at 48 kHz stereo: each sample three times, on both channels.
    let audio: Vec<f32> = jfk().iter().flat_map(|&s| [s; 6]).collect();
    for (seq, piece) in audio.chunks(9600).enumerate() {
        c.send_binary(binary_frame(&id, seq as u64, piece)).await.unwrap();
    }
    c.send_binary(vec![0x02, 1, 2]).await.unwrap(); // unknown frame: ignored
    let (stopped, events) = tokio::join!(
        c.call("voice.transcribe_stream.stop", json!({ "session_id": id })),
        events_until_done(&c, &id)
    );
    stopped.unwrap();
    check_order(&events);
    let finals = of_type(&events, "transcript");
    assert!(finals.last().unwrap()["t1_ms"].as_u64().unwrap() >= 10_000, "{finals:?}");
}

#[tokio::test]
async fn silence_and_noise_give_no_text() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push" })).await;
    let mut x: u32 = 12345;
    let mut audio = vec![0.0f32; 16_000 * 15];
    audio.extend((0..16_000 * 15).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x as f32 / u32::MAX as f32 - 0.5) * 0.02
    }));
    push_all(&c, &id, &audio, 500).await;
    let (_, events) = tokio::join!(
        c.call("voice.transcribe_stream.stop", json!({ "session_id": id })),
        events_until_done(&c, &id)
    );
    for t in ["transcript", "partial", "speech_start"] {
        assert!(of_type(&events, t).is_empty(), "{t} from silence: {events:?}");
    }
}

#[tokio::test]
async fn stop_flushes_the_open_segment_before_done() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push" })).await;
    push_all(&c, &id, &jfk()[..16_000 * 2], 100).await; // mid-sentence
    let (_, events) = tokio::join!(
        c.call("voice.transcribe_stream.stop", json!({ "session_id": id })),
        events_until_done(&c, &id)
    );
    let n = events.len();
    assert_eq!(events[n - 1]["type"], json!("done"));
    assert_eq!(events[n - 2]["type"], json!("transcript"), "{events:?}");
    assert!(events[n - 2]["text"].as_str().unwrap().starts_with("speech 1 ("));
}

#[tokio::test]
async fn only_the_owner_pushes_and_stops_and_bad_input_is_refused() {
    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Allow).await;
    let owner = d.client().await;
    let other = d.client().await;
    let id = start(&owner, json!({ "kind": "pcm_push" })).await;
    let push = json!({ "session_id": id, "pcm_b64": "AAA=" }); // 2 bytes: one sample
    assert_eq!(other.call("voice.transcribe_stream.push", push.clone()).await.unwrap_err().code(), -32002);
    assert_eq!(
        other.call("voice.transcribe_stream.stop", json!({ "session_id": id })).await.unwrap_err().code(),
        -32002
    );
    assert_eq!(other.call("voice.sessions.list", json!({})).await.unwrap()["sessions"], json!([]));
    assert_eq!(
        owner.call("voice.sessions.list", json!({})).await.unwrap()["sessions"][0]["session_id"],
        json!(id)
    );
    let bad = [
        ("voice.transcribe_stream.push", json!({ "session_id": id, "pcm_b64": "not base64!" }), -32602),
        ("voice.transcribe_stream.push", json!({ "session_id": id, "pcm_b64": "AAAA" }), -32602), // 3 bytes: odd
        ("voice.transcribe_stream.push", json!({ "session_id": "nope", "pcm_b64": "AAAA" }), -32010),
        ("voice.transcribe_stream.stop", json!({ "session_id": "nope" }), -32010),
        ("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "radio" } }), -32602),
        (
            "voice.transcribe_stream.start",
            json!({ "audio_source": { "kind": "pcm_push", "sample_rate": 0 } }),
            -32602,
        ),
        (
            "voice.transcribe_stream.start",
            json!({ "audio_source": { "kind": "pcm_push", "channels": 0 } }),
            -32602,
        ),
        (
            "voice.transcribe_stream.start",
            json!({ "audio_source": { "kind": "file", "path": "/no/such.wav" } }),
            -32602,
        ),
        (
            "voice.transcribe_stream.start",
            json!({ "session_id": id, "audio_source": { "kind": "pcm_push" } }),
            -32012,
        ),
        (
            "voice.transcribe_stream.start",
            json!({ "session_id": "../x", "audio_source": { "kind": "pcm_push" } }),
            -32602,
        ),
        ("transcribe", json!({}), -32602),
        ("transcribe", json!({ "audio_b64": "UklGRg==" }), -32602),
    ];
    for (method, params, code) in bad {
        let e = owner.call(method, params.clone()).await.unwrap_err();
        assert_eq!(e.code(), code, "{method} {params}: {e}");
    }
    // The stream survived all of it.
    owner.call("voice.transcribe_stream.push", push).await.unwrap();
}

#[tokio::test]
async fn mic_sources_ask_for_the_microphone_first() {
    let d = TestDaemon::start_with(|c| c.approvals = ApprovalPolicy::Deny).await;
    let c = d.agent("listener").await;
    let e = c
        .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "mic" } }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), -32003, "denied before anything opens the microphone");
}

#[tokio::test]
async fn a_departed_owner_s_streams_end() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    start(&c, json!({ "kind": "pcm_push" })).await;
    start(&c, json!({ "kind": "pcm_push" })).await;
    let host = d.host().await;
    assert_eq!(
        host.call("voice.sessions.list", json!({})).await.unwrap()["sessions"].as_array().unwrap().len(),
        2
    );
    drop(c);
    for _ in 0..200 {
        if host.call("voice.sessions.list", json!({})).await.unwrap()["sessions"] == json!([]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("streams outlived their owner");
}

#[tokio::test]
async fn a_file_source_ends_with_source_ended_and_one_shot_transcribe() {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let path = jfk_path().display().to_string();
    let id = start(&c, json!({ "kind": "file", "path": path, "realtime": false })).await;
    let events = events_until_done(&c, &id).await;
    check_order(&events);
    assert_eq!(events.last().unwrap()["reason"], json!("source_ended"));
    assert!(!of_type(&events, "transcript").is_empty());
    let r = c.call("transcribe", json!({ "path": path })).await.unwrap();
    assert_eq!((r["text"].clone(), r["duration_ms"].clone()), (json!("speech 1 (11.0 s)"), json!(11_000)));
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(jfk_path()).unwrap());
    let r = c.call("transcribe", json!({ "audio_b64": b64 })).await.unwrap();
    assert_eq!(r["segments"][0]["t1_ms"], json!(11_000));
}

/// Tests that run the real model take turns: two or three decoding at once on a 2-core machine
/// slow each other past their client timeouts, and make their timings meaningless.
static REAL_MODEL_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn real_model_path() -> Option<PathBuf> {
    std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from).filter(|p| p.exists())
}

/// The real tiny.en model (`HARK_TEST_MODEL`) and this test's turn to use it; `None`, with a
/// message, where the model is absent.
pub(crate) async fn real_model() -> Option<(PathBuf, tokio::sync::MutexGuard<'static, ()>)> {
    let Some(m) = real_model_path() else {
        eprintln!("skipped: HARK_TEST_MODEL is not set (the real tiny.en model)");
        return None;
    };
    Some((m, REAL_MODEL_TURN.lock().await))
}

pub(crate) fn whisper(path: PathBuf) -> TranscriberChoice {
    TranscriberChoice::Model {
        path,
        loader: Arc::new(|p: &Path| {
            let t = hark_transcribe::whisper::WhisperTranscriber::load(p)?;
            Ok(Arc::new(t) as Arc<dyn hark_transcribe::Transcriber>)
        }),
    }
}

pub(crate) const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

#[tokio::test]
async fn real_model_streams_jfk_word_for_word() {
    let Some((model, _turn)) = real_model().await else { return };
    let d = TestDaemon::start_with(|c| c.transcriber = whisper(model)).await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push" })).await;
    push_all(&c, &id, &jfk(), 100).await;
    let (_, events) = tokio::join!(
        c.call("voice.transcribe_stream.stop", json!({ "session_id": id })),
        events_until_done(&c, &id)
    );
    check_order(&events);
    let finals = of_type(&events, "transcript");
    let text: Vec<&str> = finals.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(words(&text.join(" ")), words(JFK_TEXT), "{text:?}");
    // The speech is from about 0.3 s to 11.0 s: first and last finals within 300 ms of it.
    assert!(finals[0]["t0_ms"].as_u64().unwrap() <= 700);
    assert!(finals.last().unwrap()["t1_ms"].as_u64().unwrap() >= 10_700);
    let info = c.call("server.info", json!({})).await.unwrap();
    assert_eq!(info["model"], json!({ "name": "tiny.en", "loaded": true }));
    let r = c.call("transcribe", json!({ "path": jfk_path().display().to_string() })).await.unwrap();
    assert_eq!(words(r["text"].as_str().unwrap()), words(JFK_TEXT));

    // Binary frames (§6.4) at real-time pace, as a live client sends them: partials come while
    // the speech goes on, before the first final.
    let id = start(&c, json!({ "kind": "pcm_push" })).await;
    let send = async {
        let mut next = tokio::time::Instant::now();
        for (seq, piece) in jfk().chunks(1_600).enumerate() {
            c.send_binary(binary_frame(&id, seq as u64, piece)).await.unwrap();
            next += Duration::from_millis(100);
            tokio::time::sleep_until(next).await;
        }
        c.call("voice.transcribe_stream.stop", json!({ "session_id": id })).await.unwrap();
    };
    let ((), events) = tokio::join!(send, events_until_done(&c, &id));
    check_order(&events);
    let finals = of_type(&events, "transcript");
    let text: Vec<&str> = finals.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(words(&text.join(" ")), words(JFK_TEXT), "{text:?}");
    let first_final = events.iter().position(|e| e["type"] == "transcript").unwrap();
    assert!(
        events[..first_final].iter().any(|e| e["type"] == "partial"),
        "no partial before the first final"
    );
    assert!(finals[0]["t0_ms"].as_u64().unwrap() <= 700);
    assert!(finals.last().unwrap()["t1_ms"].as_u64().unwrap() >= 10_700);
}

#[tokio::test]
async fn a_bad_model_is_a_clear_error_and_the_daemon_keeps_serving() {
    let stub =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/models/for-tests-ggml-tiny.en.bin");
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.bin");
    std::fs::write(&truncated, b"lmgg\x00\x00").unwrap();
    for model in [stub, truncated, dir.path().join("missing.bin")] {
        if !model.exists() && model.ends_with("for-tests-ggml-tiny.en.bin") {
            continue; // shared fixtures absent
        }
        let d = TestDaemon::start_with(|c| c.transcriber = whisper(model.clone())).await;
        let c = d.client().await;
        let e = c
            .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "pcm_push" } }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), -32010, "{model:?}: {e}");
        let e = c.call("transcribe", json!({ "path": jfk_path().display().to_string() })).await.unwrap_err();
        assert_eq!(e.code(), -32010);
        assert!(c.call("server.info", json!({})).await.is_ok());
    }
}

#[tokio::test]
async fn real_model_finals_follow_the_sentences_of_a_generated_recording() {
    // 6 sentences: WER 0.327 against 0.286 for the whole file (0.408 before finals that lost
    // their sentence were decoded again: BENCHMARKS.md; the same since finals are decoded
    // after their context's text).
    let Some((w, w_whole, hypothesis)) = finals_of_generated_speech(1).await else { return };
    assert!(w <= w_whole + 0.06, "streaming WER {w:.3} vs {w_whole:.3} for the whole file: {hypothesis:?}");
}

#[tokio::test]
async fn real_model_finals_of_a_long_generated_recording_stay_near_the_whole_file() {
    // 24 sentences (92 s): WER 0.327 against 0.291 since a final is decoded after its
    // context's text, forced (0.372 before, 0.423 before the second decodes).
    let Some((w, w_whole, hypothesis)) = finals_of_generated_speech(4).await else { return };
    assert!(w <= w_whole + 0.06, "streaming WER {w:.3} vs {w_whole:.3} for the whole file: {hypothesis:?}");
}

/// Streams `scripts/gen-speech.sh DIR repeats` through the real model, file read as fast as the
/// stream takes it (so the finals do not depend on the machine's speed), checks that each
/// sentence has its final, and returns the finals' WER, the WER of the same model over the
/// whole file in one call, and the finals.
async fn finals_of_generated_speech(repeats: u32) -> Option<(f64, f64, Vec<String>)> {
    let (model, _turn) = real_model().await?;
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-speech.sh");
    let generated =
        std::process::Command::new("bash").arg(&script).arg(dir.path()).arg(repeats.to_string()).output();
    let Ok(out) = generated.as_ref().map_err(|e| e.to_string()).and_then(|o| {
        if o.status.success() { Ok(o) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
    }) else {
        eprintln!("skipped: scripts/gen-speech.sh failed (espeak-ng and sox installed?): {generated:?}");
        return None;
    };
    let _ = out;
    let manifest = std::fs::read_to_string(dir.path().join("manifest.tsv")).unwrap();
    let sentences: Vec<(u64, u64, String)> = manifest
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let ms = |s: &str| (s.parse::<f64>().unwrap() * 1000.0) as u64;
            (ms(f.next().unwrap()), ms(f.next().unwrap()), f.next().unwrap().to_string())
        })
        .collect();
    let d = TestDaemon::start_with(|c| c.transcriber = whisper(model)).await;
    let c = d.client().await;
    let path = dir.path().join("speech.wav").display().to_string();
    let id = start(&c, json!({ "kind": "file", "path": path, "realtime": false })).await;
    let events = events_until_done(&c, &id).await;
    check_order(&events);
    let finals = of_type(&events, "transcript");
    let spans: Vec<(u64, u64, &str)> = finals
        .iter()
        .map(|e| (e["t0_ms"].as_u64().unwrap(), e["t1_ms"].as_u64().unwrap(), e["text"].as_str().unwrap()))
        .collect();
    // One or more finals per sentence, each inside its sentence (300 ms of slack, plus the VAD's
    // pre-roll before and end pad after), in order.
    for (start_ms, end_ms, text) in &sentences {
        let inside: Vec<_> = spans
            .iter()
            .filter(|(t0, t1, _)| *t0 + 800 >= *start_ms && *t1 <= end_ms + 500 && t1 > start_ms)
            .collect();
        assert!(!inside.is_empty(), "no final for {text:?} ({start_ms}-{end_ms} ms): {spans:?}");
    }
    assert_eq!(spans.len(), sentences.len(), "one final per sentence here: {spans:?}");
    let reference: Vec<&str> = sentences.iter().map(|(_, _, t)| t.as_str()).collect();
    let hypothesis: Vec<&str> = spans.iter().map(|(_, _, t)| *t).collect();
    let w = wer(&reference.join(" "), &hypothesis.join(" "));
    // The same model over the whole file in one call: synthetic voices are hard for tiny.en, so
    // the bar is that streaming stays near what the model does with all the audio at once.
    let whole = tokio::task::spawn_blocking({
        let path = PathBuf::from(&path);
        let model = real_model_path().unwrap();
        move || {
            use hark_transcribe::Transcriber;
            let t = hark_transcribe::whisper::WhisperTranscriber::load(&model).unwrap();
            let audio = hark_audio::wav::read_file_16k_mono(&path).unwrap().0;
            t.transcribe(&audio, &hark_transcribe::Options::default()).unwrap().text()
        }
    })
    .await
    .unwrap();
    let w_whole = wer(&reference.join(" "), &whole);
    eprintln!(
        "generated speech: streaming WER {w:.3} {hypothesis:?}; whole file in one call WER {w_whole:.3}: {whole}"
    );
    Some((w, w_whole, hypothesis.iter().map(|h| h.to_string()).collect()))
}

/// The fake transcriber, slowed down like a model too big for the machine: each final takes
/// `delay` (partials are instant); counts the finals decoded.
struct Slow {
    inner: hark_transcribe::fake::FakeTranscriber,
    delay: Duration,
    finals: Arc<std::sync::atomic::AtomicUsize>,
}

impl hark_transcribe::Transcriber for Slow {
    fn name(&self) -> &str {
        "slow-fake"
    }
    fn transcribe(
        &self,
        audio: &[f32],
        options: &hark_transcribe::Options,
    ) -> Result<hark_transcribe::Transcript, hark_transcribe::TranscribeError> {
        if !options.partial {
            std::thread::sleep(self.delay);
            self.finals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.transcribe(audio, options)
    }
}

#[tokio::test]
async fn a_stream_that_falls_behind_catches_up_with_larger_segments() {
    // jfk.wav twice at real-time pace (22 s, 7 speech segments, 5 finals when decoded one per
    // segment of 2 s and more) with finals that take 6 s each: one decode per final needs 30 s
    // and falls further behind with every segment (measured without catching up: 5 decodes, the
    // stream ends 11.0 s after its audio); joined while behind: 4 decodes, 6.0 s.
    let finals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = finals.clone();
    let loader: hark_core::config::ModelLoader = Arc::new(move |_: &Path| {
        let slow = Slow {
            inner: hark_transcribe::fake::FakeTranscriber::new(),
            delay: Duration::from_secs(6),
            finals: counter.clone(),
        };
        Ok(Arc::new(slow) as Arc<dyn hark_transcribe::Transcriber>)
    });
    let d = TestDaemon::start_with(move |c| {
        c.transcriber = TranscriberChoice::Model { path: jfk_path(), loader }
    })
    .await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push" })).await;
    let audio: Vec<f32> = jfk().into_iter().chain(jfk()).collect();
    let send = async {
        push_realtime(&c, &id, &audio).await;
        let pushed = tokio::time::Instant::now();
        c.call_timeout("voice.transcribe_stream.stop", json!({ "session_id": id }), LONG * 3).await.unwrap();
        pushed.elapsed()
    };
    let (stop_took, events) = tokio::join!(send, events_until_done(&c, &id));
    check_order(&events);
    let segments = of_type(&events, "speech_end").len();
    let decoded = finals.load(std::sync::atomic::Ordering::SeqCst);
    assert!(segments >= 6, "{segments} segments");
    assert!(decoded <= 4, "{decoded} decodes for {segments} segments: no catching up");
    // Everything was transcribed: the finals cover the speech to its end.
    let last = of_type(&events, "transcript").last().unwrap()["t1_ms"].as_u64().unwrap();
    assert!(last >= 21_500, "the last final ends at {last} ms");
    // One decode after the audio ended, not a growing backlog of them.
    assert!(stop_took < Duration::from_secs(9), "the stream ended {stop_took:?} after its audio");
}

#[tokio::test]
async fn a_client_that_pauses_pushing_is_not_taken_for_behind() {
    // Real-time pushes with a 3 s gap in the pushing (in the pause after "fellow Americans"): the
    // stream is level with its audio throughout, so the speech after the gap still gets partials
    // (a stream behind its audio skips them) and its own final.
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let id = start(&c, json!({ "kind": "pcm_push" })).await;
    let audio = jfk();
    let send = async {
        for (i, part) in [&audio[..41_600], &audio[41_600..]].into_iter().enumerate() {
            if i == 1 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            push_realtime(&c, &id, part).await;
        }
        c.call("voice.transcribe_stream.stop", json!({ "session_id": id })).await.unwrap();
    };
    let ((), events) = tokio::join!(send, events_until_done(&c, &id));
    check_order(&events);
    let after_gap: Vec<_> =
        of_type(&events, "partial").into_iter().filter(|p| p["t0_ms"].as_u64().unwrap() >= 2_600).collect();
    assert!(!after_gap.is_empty(), "no partials after the gap: {events:?}");
    assert!(of_type(&events, "transcript").len() >= 2, "{events:?}");
}
