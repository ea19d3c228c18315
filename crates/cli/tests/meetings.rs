//! Meetings through a real `hark serve` process: killed with SIGKILL at pseudo-random points of
//! a running meeting, 20 times, and stopped with SIGTERM. After a SIGKILL the restarted daemon
//! says `interrupted`, and every segment whose `transcript` event a client received is in
//! `transcript.jsonl`, in `meeting.get` and in search; the WAV opens with `hound` and
//! `sox --info` and holds the audio pushed up to about a second before the kill. After a
//! SIGTERM the meeting is `stopped`, never `interrupted`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hark_test_support::Client;
use serde_json::{Value, json};

const HARK: &str = env!("CARGO_BIN_EXE_hark");

struct Served {
    child: Child,
    url: String,
    host_token: String,
}

fn serve(root: &Path) -> Served {
    let mut child = Command::new(HARK)
        .env("HARK_RUNTIME_DIR", root.join("run"))
        .env_remove("HARK_PORT")
        .env_remove("HARK_DATA_DIR")
        .args(["serve", "--port", "0", "--transcriber", "fake", "--data-dir"])
        .arg(root.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hark serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("ready line");
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
    let host_token = std::fs::read_to_string(ready["host_token_file"].as_str().unwrap()).unwrap();
    Served { child, url: ready["ws_url"].as_str().unwrap().to_string(), host_token: host_token.trim().into() }
}

async fn host(s: &Served) -> Client {
    let c = Client::connect_tcp(&s.url).await.expect("connect");
    c.call("session.auth", json!({ "host_token": s.host_token })).await.expect("host auth");
    c
}

fn jfk() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/audio/jfk.wav");
    hark_audio::wav::read_file_16k_mono(&path).unwrap().0
}

fn b64(samples: &[f32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hark_audio::pcm::f32_to_s16le(samples))
}

fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "hark serve did not exit after {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
}

/// What the client saw before the kill: the finals (seq, text) and, per push acknowledged,
/// when and how many samples the daemon had taken in total.
#[derive(Default)]
struct Seen {
    finals: Vec<(u64, String)>,
    acked: Vec<(Instant, u64)>,
}

/// Pushes jfk.wav over and over at twice real time in 100 ms pieces, collecting finals, until
/// `kill_after`; then SIGKILLs the daemon.
async fn record_then_kill(s: &mut Served, id: &str, kill_after: Duration) -> (Seen, Instant) {
    let c = host(s).await;
    let r = c.call("meeting.start", json!({ "id": id, "sources": [{ "kind": "pcm_push" }] })).await.unwrap();
    let stream = r["voice_session_ids"][0].as_str().unwrap().to_string();
    let audio = jfk();
    let mut seen = Seen::default();
    let (start, mut total, mut next) = (Instant::now(), 0u64, tokio::time::Instant::now());
    'push: for piece in audio.chunks(1_600).cycle() {
        if start.elapsed() >= kill_after {
            break 'push;
        }
        c.call("voice.transcribe_stream.push", json!({ "session_id": stream, "pcm_b64": b64(piece) }))
            .await
            .unwrap();
        total += piece.len() as u64;
        seen.acked.push((Instant::now(), total));
        while let Some(m) = c.next_method("voice.event", Duration::ZERO).await {
            let e = &m["params"]["event"];
            if e["type"] == "transcript" {
                seen.finals.push((e["seq"].as_u64().unwrap(), e["text"].as_str().unwrap().to_string()));
            }
        }
        next += Duration::from_millis(50);
        tokio::time::sleep_until(next).await;
    }
    let killed = Instant::now();
    signal(&s.child, "-KILL");
    wait_exit(&mut s.child, "SIGKILL");
    // Events the socket had delivered before the kill were seen too.
    while let Some(m) = c.next_method("voice.event", Duration::from_millis(50)).await {
        let e = &m["params"]["event"];
        if e["type"] == "transcript" {
            seen.finals.push((e["seq"].as_u64().unwrap(), e["text"].as_str().unwrap().to_string()));
        }
    }
    (seen, killed)
}

fn sox_info_samples(wav: &Path) -> u64 {
    let out = Command::new("sox").arg("--info").arg("-s").arg(wav).output().expect("sox --info");
    assert!(out.status.success(), "sox --info {}: {}", wav.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_meeting_never_loses_a_segment_a_client_has_seen() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut previous: Option<(String, Seen, Instant)> = None;
    let mut finals_checked = 0;
    for round in 0..=20u64 {
        let mut s = serve(root.path());
        if let Some((id, seen, killed)) = previous.take() {
            let c = host(&s).await;
            let got = c.call("meeting.get", json!({ "meeting_id": id })).await.unwrap();
            assert_eq!(got["metadata"]["status"], "interrupted", "round {round}: {}", got["metadata"]);
            assert!(
                got["metadata"]["recovered"]["recovered_at"].is_string(),
                "round {round}: {}",
                got["metadata"]
            );
            if round == 20 {
                let (ok, out, err) = hark_cmd(root.path(), &["meetings", "show", &id]);
                assert!(
                    ok && out.contains("\n  recovered 20") && out.contains("after a crash: "),
                    "{out}{err}"
                );
            }
            let stored: Vec<(u64, String)> = got["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["seq"].as_u64().unwrap(), s["text"].as_str().unwrap().to_string()))
                .collect();
            for f in &seen.finals {
                assert!(stored.contains(f), "round {round}: seen {f:?} is not stored: {stored:?}");
            }
            finals_checked += seen.finals.len();
            let lines =
                std::fs::read_to_string(data.join(format!("meetings/{id}/transcript.jsonl"))).unwrap();
            for (seq, text) in &seen.finals {
                assert!(
                    lines.contains(&format!("\"seq\":{seq},")) && lines.contains(text.as_str()),
                    "round {round}"
                );
            }
            let hits = c.call("meeting.search", json!({ "query": "speech", "limit": 200 })).await.unwrap();
            let hits: Vec<u64> = hits["hits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|h| h["meeting_id"] == json!(id))
                .map(|h| h["seq"].as_u64().unwrap())
                .collect();
            for (seq, _) in &seen.finals {
                assert!(hits.contains(seq), "round {round}: seq {seq} not found by search: {hits:?}");
            }
            let wav = data.join(format!("meetings/{id}/audio/push.wav"));
            let samples =
                hound::WavReader::open(&wav).unwrap_or_else(|e| panic!("round {round}: {e}")).len() as u64;
            assert_eq!(sox_info_samples(&wav), samples, "round {round}");
            let second_before = killed - Duration::from_secs(1);
            let due = seen.acked.iter().rev().find(|(t, _)| *t <= second_before).map_or(0, |(_, n)| *n);
            assert!(
                samples >= due,
                "round {round}: the WAV holds {samples} samples, {due} were pushed a second before the kill"
            );
            c.close().await;
        }
        if round == 20 {
            // Not a test that cannot fail: most rounds were killed after finals were seen.
            assert!(finals_checked >= 30, "only {finals_checked} finals were seen before the kills");
            signal(&s.child, "-TERM");
            assert!(wait_exit(&mut s.child, "SIGTERM").success());
            break;
        }
        let id = format!("crash-{round}");
        // 2 to 9 s into the meeting (4 to 18 s of audio, up to about 7 finals), spread over
        // the rounds.
        let kill_after = Duration::from_millis(2_000 + (round * 1_637) % 7_000);
        let (seen, killed) = record_then_kill(&mut s, &id, kill_after).await;
        previous = Some((id, seen, killed));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_meeting_leaves_it_stopped() {
    let root = tempfile::tempdir().unwrap();
    let mut s = serve(root.path());
    let c = host(&s).await;
    // Two sources, and stop_on_disconnect (as `hark record` starts them): the connection's
    // cleanup and the shutdown both stop the meeting, and neither may leave it half stopped.
    let sources = json!([{ "kind": "pcm_push" }, { "kind": "pcm_push", "name": "other" }]);
    c.call("meeting.start", json!({ "id": "term", "sources": sources, "stop_on_disconnect": true }))
        .await
        .unwrap();
    for piece in jfk().chunks(1_600) {
        for stream in ["meeting:term:push", "meeting:term:other"] {
            c.call("voice.transcribe_stream.push", json!({ "session_id": stream, "pcm_b64": b64(piece) }))
                .await
                .unwrap();
        }
    }
    signal(&s.child, "-TERM");
    assert!(wait_exit(&mut s.child, "SIGTERM").success());
    let meta: Value =
        serde_json::from_slice(&std::fs::read(root.path().join("data/meetings/term/meeting.json")).unwrap())
            .unwrap();
    assert_eq!(meta["status"], "stopped", "{meta}");
    assert!(
        meta["segment_count"].as_u64().unwrap() >= 2,
        "the speech buffered at SIGTERM was stored: {meta}"
    );
    for source in ["push", "other"] {
        let wav: PathBuf = root.path().join(format!("data/meetings/term/audio/{source}.wav"));
        assert_eq!(hound::WavReader::open(&wav).unwrap().len() as usize, jfk().len(), "{source}");
    }
    let s = serve(root.path());
    let c = host(&s).await;
    let got = c.call("meeting.get", json!({ "meeting_id": "term" })).await.unwrap();
    assert_eq!(got["metadata"]["status"], "stopped");
    assert_eq!(got["segments"].as_array().unwrap().len() as u64, meta["segment_count"].as_u64().unwrap());
    let mut child = s.child;
    signal(&child, "-TERM");
    wait_exit(&mut child, "SIGTERM");
}

fn hark_cmd(root: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(HARK)
        .env("HARK_RUNTIME_DIR", root.join("run"))
        .env("HARK_TRANSCRIBER", "fake")
        .env("HARK_PORT", "0")
        .env_remove("HARK_DATA_DIR")
        .args(args)
        .arg("--data-dir")
        .arg(root.join("data"))
        .output()
        .expect("run hark");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hark_record_and_hark_meetings_through_the_daemon_and_on_the_files() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let (ok, _, err) = hark_cmd(r, &["record", "--source", "/no/such.wav"]);
    assert!(!ok && err.contains("--source"), "{err}");
    let jfk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/audio/jfk.wav");
    // No daemon running: `hark record` starts one in its own process for the recording, which
    // takes the data dir like `hark serve` and is gone afterwards.
    let (ok, out, err) = hark_cmd(r, &["record", "--source", jfk.to_str().unwrap(), "--title", "Embedded"]);
    assert!(ok && err.contains("started one in this process"), "{out}{err}");
    let embedded_id = out.lines().last().unwrap().to_string();
    assert!(out.lines().count() >= 3, "{out}");
    assert!(!r.join("run/daemon.json").exists(), "the embedded daemon removed its discovery file");
    let (ok, out, _) = hark_cmd(r, &["meetings", "show", &embedded_id]);
    assert!(ok && out.contains("Embedded") && out.contains("Stopped"), "{out}");
    let (ok, _, _) = hark_cmd(r, &["meetings", "delete", &embedded_id]);
    assert!(ok);

    let mut s = serve(r);
    let (ok, out, err) =
        hark_cmd(r, &["record", "--source", jfk.to_str().unwrap(), "--title", "From a file"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let id = lines.last().unwrap().to_string();
    assert!(lines.len() >= 3, "finals, then the id: {out}");
    assert!(lines[0].starts_with("[00:00:00] unknown: speech 1 ("), "{out}");

    let (ok, out, err) = hark_cmd(r, &["meetings", "list"]);
    assert!(ok && out.contains(&id) && out.contains("From a file") && out.contains("stopped"), "{out}{err}");
    let (ok, out, _) = hark_cmd(r, &["meetings", "search", "speech"]);
    assert!(ok && out.lines().count() == lines.len() - 1 && out.contains(&id) && out.contains('['), "{out}");
    assert!(out.lines().all(|l| l.contains("  From a file: ")), "each hit names its meeting: {out}");
    let (ok, out, _) = hark_cmd(r, &["meetings", "export", &id, "--format", "srt"]);
    assert!(ok && out.starts_with("1\n00:00:00,"), "{out}");
    let (ok, out, _) = hark_cmd(r, &["meetings", "rename", &id, "Renamed"]);
    assert!(ok && out.trim() == "Renamed", "{out}");
    let (ok, out, err) = hark_cmd(r, &["meetings", "retranscribe", &id]);
    assert!(ok && out.contains(&format!("revision 2 of {id}: 1 segments (fake)")), "{out}{err}");
    let (ok, _, err) = hark_cmd(r, &["meetings", "reindex"]);
    assert!(!ok && err.contains("daemon is running"), "{err}");
    signal(&s.child, "-TERM");
    assert!(wait_exit(&mut s.child, "SIGTERM").success());

    // No daemon: the same commands on the files.
    let (ok, out, err) = hark_cmd(r, &["meetings", "list"]);
    assert!(ok && out.contains(&id) && out.contains("Renamed"), "{out}{err}");
    let (ok, out, _) = hark_cmd(r, &["meetings", "show", &id, "--revision", "1"]);
    assert!(ok && out.contains("Renamed") && out.contains("speech 1 ("), "{out}");
    let (ok, out, _) = hark_cmd(r, &["meetings", "show", &id]);
    assert!(ok && out.contains("revision  2 of 2") && out.contains("speech 1 (11.0 s)"), "{out}");
    std::fs::write(r.join("data/index.sqlite"), b"garbage").unwrap();
    let (ok, out, err) = hark_cmd(r, &["meetings", "reindex"]);
    assert!(ok && out.contains("reindexed 1 meetings, 1 segments"), "{out}{err}");
    let (ok, out, _) = hark_cmd(r, &["meetings", "search", "speech"]);
    assert!(ok && out.contains(&id) && out.contains("  Renamed: "), "{out}");
    let (ok, _, err) = hark_cmd(r, &["meetings", "show", "../etc"]);
    assert!(!ok && err.contains("not a meeting id"), "{err}");
    let (ok, _, err) = hark_cmd(r, &["meetings", "delete", &id]);
    assert!(ok, "{err}");
    let (ok, _, err) = hark_cmd(r, &["meetings", "list"]);
    assert!(ok && err.contains("no meetings"), "{err}");
}
