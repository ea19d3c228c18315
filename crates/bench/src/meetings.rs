//! Meetings, each figure against its floor in the same run:
//!
//! - search: `meeting.search` through a daemon (host client, WebSocket round trip) over a
//!   generated corpus (default 1,000 meetings of 100 segments), vs the same query run directly
//!   on the same SQLite file in this process (`hark_store::Index::search` on its own
//!   connection: the floor);
//! - append: storing a final segment as a meeting does (CRC line written straight to the OS,
//!   fsync at most once a second, index insert) vs writing the same lines to a plain file;
//! - latency: audio pushed -> `transcript` received with the fake transcriber, for a plain voice
//!   stream and for a meeting's stream (the recorder's file write, index insert and fan-out on
//!   the path), same audio, same JSON pushes, alternating runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hark_protocol::meeting::{MeetingMetadata, MeetingSource, MeetingStatus, Revision, Segment};
use hark_protocol::voice::AudioSourceSpec;
use hark_store::{Index, MeetingStore};
use hark_test_support::{Client, TestDaemon};
use serde_json::json;

use crate::pct;

#[derive(clap::Args, Debug)]
pub struct MeetingsArgs {
    /// Meetings in the generated corpus.
    #[arg(long, default_value_t = 1_000)]
    meetings: usize,
    /// Segments per generated meeting.
    #[arg(long, default_value_t = 100)]
    segments: usize,
    /// Searches per query and path.
    #[arg(long, default_value_t = 20)]
    reps: usize,
    /// Segments appended in the append benchmark.
    #[arg(long, default_value_t = 5_000)]
    appends: usize,
    /// Latency runs per path (plain stream, meeting).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A WAV file for the latency benchmark [default: tests/fixtures/audio/jfk.wav].
    #[arg(long)]
    audio: Option<PathBuf>,
}

/// Words of meeting talk; a segment is 8 to 20 of them, drawn with a fixed seed.
const VOCABULARY: &[&str] = &[
    "we",
    "should",
    "ship",
    "the",
    "release",
    "on",
    "friday",
    "budget",
    "review",
    "customer",
    "latency",
    "database",
    "migration",
    "roadmap",
    "quarter",
    "hiring",
    "design",
    "feedback",
    "launch",
    "metrics",
    "onboarding",
    "pricing",
    "contract",
    "deadline",
    "backlog",
    "sprint",
    "bug",
    "crash",
    "report",
    "team",
    "meeting",
    "agenda",
    "action",
    "item",
    "follow",
    "up",
    "next",
    "week",
    "monday",
    "security",
    "audit",
    "invoice",
    "marketing",
    "campaign",
    "server",
    "outage",
    "recovery",
    "plan",
    "decision",
    "vote",
];
/// Rare words planted in a few segments, so some queries are selective.
const RARE: &[&str] = &["kubernetes", "zeppelin", "quinoa", "halibut"];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sentence(rng: &mut Lcg) -> String {
    let n = 8 + rng.below(13);
    let mut words: Vec<&str> = (0..n).map(|_| VOCABULARY[rng.below(VOCABULARY.len())]).collect();
    if rng.below(500) == 0 {
        words[0] = RARE[rng.below(RARE.len())];
    }
    words.join(" ")
}

fn metadata(i: usize, segments: u64) -> MeetingMetadata {
    let started_at = format!("2026-{:02}-{:02}T{:02}:00:00.000Z", 1 + i / 300 % 12, 1 + i / 12 % 28, i % 24);
    MeetingMetadata {
        id: format!("m{i:05}"),
        title: format!("Meeting {i}"),
        status: MeetingStatus::Stopped,
        started_at: started_at.clone(),
        ended_at: Some(started_at.clone()),
        duration_ms: segments * 5_000,
        sources: vec![MeetingSource {
            spec: AudioSourceSpec::Mic { device: None, name: Some("mic".into()) },
            role: "me".into(),
        }],
        persist_audio: false,
        model: None,
        language: Some("en".into()),
        segment_count: segments,
        started_by: "bench".into(),
        revision: 1,
        revisions: vec![Revision {
            revision: 1,
            model: None,
            created_at: started_at,
            segment_count: segments,
        }],
    }
}

fn segment(seq: u64, text: String) -> Segment {
    Segment {
        seq,
        source: "mic".into(),
        role: "me".into(),
        t0_ms: seq * 5_000,
        t1_ms: seq * 5_000 + 4_000,
        timestamp: "2026-01-01T00:00:00.000Z".into(),
        text,
    }
}

/// Writes the corpus as the daemon would (files), then builds the index from them.
fn generate(data: &Path, meetings: usize, per: usize) -> Result<Duration, String> {
    let store = MeetingStore::new(data);
    let mut rng = Lcg(42);
    for i in 0..meetings {
        let m = metadata(i, per as u64);
        store.create(&m).map_err(|e| e.to_string())?;
        let mut w = store.open_live_transcript(&m.id).map_err(|e| e.to_string())?;
        for seq in 0..per as u64 {
            w.append(&segment(seq, sentence(&mut rng))).map_err(|e| e.to_string())?;
        }
        w.sync().map_err(|e| e.to_string())?;
    }
    let t = Instant::now();
    let (_, report) = Index::open(&store.layout().index(), &store).map_err(|e| e.to_string())?;
    if !report.rebuilt {
        return Err("the index was expected to be built from the files".into());
    }
    Ok(t.elapsed())
}

pub fn run(args: MeetingsArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    println!("## Meetings: search, append, live latency (each against its floor, same run)\n");
    search(&rt, &args)?;
    append(args.appends)?;
    latency(&rt, &args)?;
    Ok(())
}

fn search(rt: &tokio::runtime::Runtime, args: &MeetingsArgs) -> Result<(), String> {
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = root.path().join("data");
    let build = generate(&data, args.meetings, args.segments)?;
    let store = MeetingStore::new(&data);
    let (floor_index, _) = Index::open(&store.layout().index(), &store).map_err(|e| e.to_string())?;
    let queries = [
        "budget",
        "release friday",
        "kubernetes",
        "customer latency",
        "plan",
        "zeppelin",
        "migr",
        "security audit report",
    ];
    let (mut floor, mut daemon) = (Vec::new(), Vec::new());
    let hits = rt.block_on(async {
        let d = TestDaemon::start_in(root.path(), |_| {}).await;
        let host = d.host().await;
        let mut hits = Vec::new();
        for q in queries {
            let n = floor_index.search(q, 20).map_err(|e| e.to_string())?.len();
            hits.push((q, n));
            for _ in 0..args.reps {
                let t = Instant::now();
                floor_index.search(q, 20).map_err(|e| e.to_string())?;
                floor.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let r = host
                    .call("meeting.search", json!({ "query": q, "limit": 20 }))
                    .await
                    .map_err(|e| e.to_string())?;
                daemon.push(t.elapsed().as_secs_f64() * 1000.0);
                if r["hits"].as_array().map_or(0, Vec::len) != n {
                    return Err(format!("the daemon and the floor disagree on {q:?}"));
                }
            }
        }
        d.stop().await;
        Ok::<_, String>(hits)
    })?;
    floor.sort_by(f64::total_cmp);
    daemon.sort_by(f64::total_cmp);
    println!(
        "### meeting.search\n\n- Corpus: {} meetings x {} segments = {} segments (8-20 words each, 50-word vocabulary, a few rare words); index built from the files in {:.2} s.\n- Queries (hits, limit 20): {}; {} searches per query and path.\n- Floor: `hark_store::Index::search` on the same SQLite file in this process. Daemon: `meeting.search` from a host client over the WebSocket.\n",
        args.meetings,
        args.segments,
        args.meetings * args.segments,
        build.as_secs_f64(),
        hits.iter().map(|(q, n)| format!("{q:?} ({n})")).collect::<Vec<_>>().join(", "),
        args.reps
    );
    println!("| path | n | p50 ms | p99 ms | max ms | goal |\n|---|---:|---:|---:|---:|---|");
    for (name, v, goal) in
        [("floor: SQLite directly", &floor, "-"), ("meeting.search via the daemon", &daemon, "p50 < 10 ms")]
    {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {goal} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!();
    Ok(())
}

fn append(n: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut rng = Lcg(7);
    let segments: Vec<Segment> = (0..n as u64).map(|seq| segment(seq, sentence(&mut rng))).collect();
    let lines: Vec<String> = segments.iter().map(hark_store::encode_line).collect();
    // Floor: the same lines, one write each, to a plain file.
    let t = Instant::now();
    let mut plain = std::fs::File::create(dir.path().join("plain.jsonl")).map_err(|e| e.to_string())?;
    for l in &lines {
        plain.write_all(l.as_bytes()).map_err(|e| e.to_string())?;
    }
    plain.sync_all().map_err(|e| e.to_string())?;
    let floor = t.elapsed();
    // A meeting's path: the CRC line straight to the OS (fsync when a second has passed), then
    // the index insert, as the recorder does for every final.
    let data = dir.path().join("data");
    let store = MeetingStore::new(&data);
    let m = metadata(0, 0);
    store.create(&m).map_err(|e| e.to_string())?;
    let (mut index, _) = Index::open(&store.layout().index(), &store).map_err(|e| e.to_string())?;
    index.upsert_meeting(&m).map_err(|e| e.to_string())?;
    let mut w = store.open_live_transcript(&m.id).map_err(|e| e.to_string())?;
    let (mut each, t) = (Vec::with_capacity(n), Instant::now());
    for s in &segments {
        let one = Instant::now();
        w.append(s).map_err(|e| e.to_string())?;
        index.add_segment(&m.id, s).map_err(|e| e.to_string())?;
        each.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    w.sync().map_err(|e| e.to_string())?;
    let stored = t.elapsed();
    each.sort_by(f64::total_cmp);
    println!("### Segment append\n\n- {n} segments (one final each), written back to back.\n");
    println!("| path | segments/s | per segment µs (mean) | p99 ms |\n|---|---:|---:|---:|");
    println!(
        "| floor: the same lines to a plain file | {:.0} | {:.1} | - |",
        n as f64 / floor.as_secs_f64(),
        floor.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "| meeting: CRC line + fsync cadence + index | {:.0} | {:.1} | {:.3} |",
        n as f64 / stored.as_secs_f64(),
        stored.as_secs_f64() * 1e6 / n as f64,
        pct(&each, 0.99)
    );
    println!("\nA meeting stores a final every few seconds; this is how far that is from being a cost.\n");
    Ok(())
}

fn latency(rt: &tokio::runtime::Runtime, args: &MeetingsArgs) -> Result<(), String> {
    let path = args.audio.clone().unwrap_or_else(|| PathBuf::from("tests/fixtures/audio/jfk.wav"));
    let (audio, _) = hark_audio::wav::read_file_16k_mono(&path).map_err(|e| e.to_string())?;
    let (mut plain, mut meeting) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        plain.extend(rt.block_on(one_latency_run(&audio, false))?);
        meeting.extend(rt.block_on(one_latency_run(&audio, true))?);
    }
    plain.sort_by(f64::total_cmp);
    meeting.sort_by(f64::total_cmp);
    println!(
        "### Live latency with and without recording (fake transcriber)\n\n- {} ({:.1} s) pushed as JSON `voice.transcribe_stream.push` notifications of 20 ms at real time; {} runs each, alternating. Figure: the end of a final's audio (its `t1_ms`, on the push clock) -> its `transcript` received; this includes the VAD's hangover, the same for both.\n",
        path.display(),
        audio.len() as f64 / 16_000.0,
        args.runs
    );
    println!("| stream | finals | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|");
    for (name, v) in [("floor: plain voice stream", &plain), ("meeting stream (stored, indexed)", &meeting)] {
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!();
    Ok(())
}

/// One stream of `audio` at real time; for each final, the lag from the moment its last sample
/// was pushed to the event's arrival.
async fn one_latency_run(audio: &[f32], meeting: bool) -> Result<Vec<f64>, String> {
    let d = TestDaemon::start().await;
    let c: Client = d.host().await;
    let id = if meeting {
        let r = c
            .call("meeting.start", json!({ "sources": [{ "kind": "pcm_push" }], "persist_audio": true }))
            .await
            .map_err(|e| e.to_string())?;
        r["voice_session_ids"][0].as_str().unwrap_or_default().to_string()
    } else {
        let r = c
            .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "pcm_push" } }))
            .await
            .map_err(|e| e.to_string())?;
        r["session_id"].as_str().unwrap_or_default().to_string()
    };
    let started = Instant::now();
    let feed = async {
        let mut next = tokio::time::Instant::now();
        for piece in audio.chunks(320) {
            let b64 = base64_encode(&hark_audio::pcm::f32_to_s16le(piece));
            let note = json!({ "jsonrpc": "2.0", "method": "voice.transcribe_stream.push", "params": { "session_id": id, "pcm_b64": b64 } });
            let _ = c.send_json(&note).await;
            next += Duration::from_millis(20);
            tokio::time::sleep_until(next).await;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await; // the last segment's hangover
    };
    let collect = async {
        let mut lags = Vec::new();
        while let Some(m) = c.next_method("voice.event", Duration::from_secs(3)).await {
            let e = &m["params"]["event"];
            if e["type"] == "transcript" {
                let end = Duration::from_millis(e["t1_ms"].as_u64().unwrap_or(0));
                lags.push((started.elapsed().as_secs_f64() - end.as_secs_f64()) * 1000.0);
            }
        }
        lags
    };
    let ((), lags) = tokio::join!(feed, collect);
    d.stop().await;
    Ok(lags)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
