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

/// The most common words of meeting talk, most frequent first; a generated tail of pseudo-words
/// follows them (`vocabulary`).
const COMMON: &[&str] = &[
    "the",
    "we",
    "to",
    "and",
    "that",
    "is",
    "it",
    "of",
    "on",
    "for",
    "this",
    "so",
    "can",
    "next",
    "week",
    "team",
    "should",
    "release",
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
    "meeting",
    "agenda",
    "action",
    "item",
    "follow",
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
/// Words in the vocabulary: about what a year of one person's meetings uses.
const VOCABULARY: usize = 4_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

/// The common words, then pseudo-words made of syllables, to `VOCABULARY` words.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ter", "van", "sor", "pel", "dun", "ri", "ba", "nex", "tol", "gra", "fi", "mon",
        "que",
    ];
    let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
    let mut i = 0usize;
    while words.len() < VOCABULARY {
        let n = SYLLABLES.len();
        words.push(format!("{}{}{}", SYLLABLES[i % n], SYLLABLES[i / n % n], SYLLABLES[i / (n * n) % n]));
        i += 1;
    }
    words
}

/// Zipf's law over the vocabulary (rank r drawn with weight 1/r^1.07, as in English text):
/// cumulative weights for sampling by binary search.
fn zipf_table(n: usize) -> Vec<f64> {
    let mut acc = 0.0;
    let mut table: Vec<f64> = (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(1.07);
            acc
        })
        .collect();
    for w in &mut table {
        *w /= acc;
    }
    table
}

fn sentence(rng: &mut Lcg, words: &[String], zipf: &[f64]) -> String {
    let n = 8 + rng.below(13);
    let mut out: Vec<&str> = (0..n)
        .map(|_| {
            let u = rng.unit();
            words[zipf.partition_point(|w| *w < u).min(words.len() - 1)].as_str()
        })
        .collect();
    if rng.below(500) == 0 {
        out[0] = RARE[rng.below(RARE.len())];
    }
    out.join(" ")
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
        recovered: None,
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
    let (words, zipf) = (vocabulary(), zipf_table(VOCABULARY));
    for i in 0..meetings {
        let m = metadata(i, per as u64);
        store.create(&m).map_err(|e| e.to_string())?;
        let mut w = store.open_live_transcript(&m.id).map_err(|e| e.to_string())?;
        for seq in 0..per as u64 {
            w.append(&segment(seq, sentence(&mut rng, &words, &zipf))).map_err(|e| e.to_string())?;
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
    let words = vocabulary();
    // Typical queries: content words (ranks 20 to 2,000 of the vocabulary), pairs, a rare word,
    // a prefix being typed. The broadest: the most common word, in most segments (a query of
    // "the"), reported apart: ranking costs per match, and it matches most of the corpus.
    let typical: Vec<String> = vec![
        words[19].clone(),
        words[45].clone(),
        words[300].clone(),
        words[1_500].clone(),
        format!("{} {}", words[17], words[18]),
        format!("{} {}", words[47], words[120]),
        "kubernetes".into(),
        words[25][..4].to_string(),
    ];
    let broadest = vec![words[0].clone()];
    let total_segments = (args.meetings * args.segments) as f64;
    let d = rt.block_on(TestDaemon::start_in(root.path(), |_| {}));
    let host = rt.block_on(d.host());
    println!(
        "### meeting.search\n\n- Corpus: {} meetings x {} segments = {} segments of 8-20 words drawn by Zipf's law (exponent 1.07) from a {VOCABULARY}-word vocabulary (meeting words first, then pseudo-words), a few rare words planted; index built from the files in {:.2} s.\n- Floor: `hark_store::Index::search` on the same SQLite file in this process, its own connection. Daemon: `meeting.search` from a host client over the WebSocket. {} searches per query and path, alternating; limit 20.\n",
        args.meetings,
        args.segments,
        args.meetings * args.segments,
        build.as_secs_f64(),
        args.reps
    );
    println!("| queries | path | n | p50 ms | p99 ms | max ms | goal |\n|---|---|---:|---:|---:|---:|---|");
    for (group, queries) in [("typical", &typical), ("broadest", &broadest)] {
        let (mut floor, mut daemon, mut described) = (Vec::new(), Vec::new(), Vec::new());
        for q in queries.iter() {
            let n = floor_index.search(q, 20).map_err(|e| e.to_string())?.len();
            let matches = floor_index.search(q, 200_000).map_err(|e| e.to_string())?.len();
            described.push(format!("{q:?} ({:.2}% of segments)", matches as f64 * 100.0 / total_segments));
            for _ in 0..args.reps {
                let t = Instant::now();
                floor_index.search(q, 20).map_err(|e| e.to_string())?;
                floor.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let r = rt
                    .block_on(host.call("meeting.search", json!({ "query": q, "limit": 20 })))
                    .map_err(|e| e.to_string())?;
                daemon.push(t.elapsed().as_secs_f64() * 1000.0);
                if r["hits"].as_array().map_or(0, Vec::len) != n {
                    return Err(format!("the daemon and the floor disagree on {q:?}"));
                }
            }
        }
        floor.sort_by(f64::total_cmp);
        daemon.sort_by(f64::total_cmp);
        let goal = if group == "typical" { "p50 < 10 ms" } else { "-" };
        for (name, v, goal) in
            [("floor: SQLite directly", &floor, "-"), ("meeting.search via the daemon", &daemon, goal)]
        {
            println!(
                "| {group} | {name} | {} | {:.2} | {:.2} | {:.2} | {goal} |",
                v.len(),
                pct(v, 0.5),
                pct(v, 0.99),
                v.last().copied().unwrap_or(f64::NAN)
            );
        }
        eprintln!("{group}: {}", described.join(", "));
        println!("\n{group} queries: {}\n", described.join(", "));
    }
    rt.block_on(d.stop());
    Ok(())
}

fn append(n: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut rng = Lcg(7);
    let (words, zipf) = (vocabulary(), zipf_table(VOCABULARY));
    let segments: Vec<Segment> =
        (0..n as u64).map(|seq| segment(seq, sentence(&mut rng, &words, &zipf))).collect();
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
