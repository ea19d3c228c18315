//! Streaming accuracy and compute against the floor, one whisper-rs `full()` over the whole file
//! (same model, same threads, greedy, language `en`), all in one run:
//!
//! - floor: `full()` over the file; its wall time is the compute floor.
//! - streaming, partials off: the file fed to a daemon stream as fast as the stream takes it
//!   (`"realtime": false`), so the finals do not depend on this machine's speed: the VAD cuts
//!   the same segments and each final decodes the same audio with the same prompt.
//! - streaming, partials on (`--partials`): the file fed at real-time pace, so partials come at
//!   the default cadence; their cost depends on how fast this machine decodes.
//!
//! Compute = the transcriber's busy time (the sum of its calls' wall times, finals and partials
//! apart) divided by the floor's `full()` time. WER = word error rate of the finals, joined,
//! against the reference (`--reference`, or the `manifest.tsv` next to the audio that
//! `scripts/gen-speech.sh` writes, or jfk.wav's words). Partial churn = words of a partial that
//! the next partial of the same segment no longer starts with, per partial. Partial lag (real
//! time only) = when a partial arrived, less the stream's start and the audio time it covers.
//! Sentence-end lag (real time only) = when a final arrived, less the stream's start and the
//! end of the last word it holds: the latest sentence end of `manifest.tsv` inside the final's
//! span (500 ms of slack), or without a manifest the final's own end (the VAD's, which is a
//! little after the last word, so that lag reads a little short). Word-shown lag (real time,
//! with a manifest) = for each word spoken, how long after it was said the reader first saw
//! text covering it: the earliest partial or final whose span holds the moment the word ended,
//! less that moment. The manifest times sentences, not words, so each sentence's words are
//! taken as evenly spaced over it. This is what a slower partial cadence costs the reader; a
//! partial's own lag above does not see it.
//!
//! `HARK_BENCH_TRACE=1` prints each transcriber call to stderr (partial or final, its audio's
//! length, its context, its time, its text) and each final as it arrives.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hark_core::config::TranscriberChoice;
use hark_test_support::TestDaemon;
use hark_transcribe::text::{wer, words};
use hark_transcribe::whisper::WhisperTranscriber;
use hark_transcribe::{Options, TranscribeError, Transcriber, Transcript};
use serde_json::json;
use whisper_rs::{WhisperContext, WhisperContextParameters};

#[derive(clap::Args, Debug)]
pub struct AccuracyArgs {
    /// The whisper ggml model [default: $HARK_TEST_MODEL].
    #[arg(long)]
    model: Option<PathBuf>,
    /// WAV files [default: tests/fixtures/audio/jfk.wav].
    #[arg(long)]
    audio: Vec<PathBuf>,
    /// The words spoken (one file only) [default: manifest.tsv beside the audio, or jfk.wav's].
    #[arg(long)]
    reference: Option<String>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also stream at real-time pace with partials on (takes the audio's length in real time).
    #[arg(long)]
    partials: bool,
    /// Floor and partials-off stream, alternating; busy times are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Wall time spent in the transcriber, finals and partials apart.
#[derive(Debug)]
struct Timed {
    inner: WhisperTranscriber,
    final_ns: AtomicU64,
    partial_ns: AtomicU64,
    partial_calls: AtomicU64,
}

impl Timed {
    fn take(&self) -> (f64, f64, u64) {
        let s = |a: &AtomicU64| a.swap(0, Ordering::Relaxed) as f64 / 1e9;
        (s(&self.final_ns), s(&self.partial_ns), self.partial_calls.swap(0, Ordering::Relaxed))
    }
}

impl Transcriber for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn transcribe(&self, audio: &[f32], options: &Options) -> Result<Transcript, TranscribeError> {
        let t = Instant::now();
        let out = self.inner.transcribe(audio, options);
        let ns = t.elapsed().as_nanos() as u64;
        if std::env::var_os("HARK_BENCH_TRACE").is_some() {
            // Each call: what it was given, what it said, what it took.
            let context = options.context.as_ref().map(|c| (c.ms, words(&c.text).len()));
            let text = out.as_ref().map(|t| t.text()).unwrap_or_default();
            eprintln!(
                "call {} {:.2} s, context (ms, words) {context:?}, {:.0} ms: {text:?}",
                if options.partial { "partial" } else { "final" },
                audio.len() as f64 / 16_000.0,
                ns as f64 / 1e6
            );
        }
        if options.partial {
            self.partial_ns.fetch_add(ns, Ordering::Relaxed);
            self.partial_calls.fetch_add(1, Ordering::Relaxed);
        } else {
            self.final_ns.fetch_add(ns, Ordering::Relaxed);
        }
        out
    }
}

fn reference_for(audio: &Path, given: Option<&String>) -> String {
    if let Some(r) = given {
        return r.clone();
    }
    let manifest = audio.with_file_name("manifest.tsv");
    match std::fs::read_to_string(&manifest) {
        Ok(m) => m.lines().filter_map(|l| l.split('\t').nth(2)).collect::<Vec<_>>().join(" "),
        Err(_) => crate::transcribe::JFK.to_string(),
    }
}

struct StreamOut {
    finals: Vec<String>,
    partials: usize,
    /// Words retracted between consecutive partials of one segment.
    retracted: usize,
    /// Each partial's lag: received, minus the stream's start plus the audio time it covers
    /// (meaningful at real-time pace only).
    partial_lags: Vec<f64>,
    /// Each final's lag after the end of the last word it holds (see the module's doc).
    final_lags: Vec<f64>,
    /// Every partial and final as (t0, t1, received), seconds from the stream's start.
    shown: Vec<(f64, f64, f64)>,
}

/// Each sentence of the `manifest.tsv` beside `audio` as (start, end, words), in seconds.
fn sentences(audio: &Path) -> Vec<(f64, f64, usize)> {
    let manifest = std::fs::read_to_string(audio.with_file_name("manifest.tsv")).unwrap_or_default();
    manifest
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (start, end) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some((start, end, words(f.next()?).len()))
        })
        .collect()
}

/// Word-shown lags (see the module's doc): for each word of `sentences`, the earliest of
/// `shown` whose span holds the moment it ended, less that moment; a word nothing covered
/// (a final that left it out, and no partial showed it) is not counted.
fn word_lags(sentences: &[(f64, f64, usize)], shown: &[(f64, f64, f64)]) -> Vec<f64> {
    let mut lags = Vec::new();
    for &(start, end, n) in sentences {
        for i in 1..=n {
            let said = start + (end - start) * i as f64 / n as f64;
            // 0.3 s of slack at the start: the VAD's segment can begin a little after the word.
            let first = shown
                .iter()
                .filter(|&&(t0, t1, _)| t0 - 0.3 <= said && said <= t1)
                .map(|&(_, _, at)| at)
                .reduce(f64::min);
            if let Some(at) = first {
                lags.push(at - said);
            }
        }
    }
    lags
}

/// The `q` quantile of `v` (nearest rank), or None when empty.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied()
}

fn p50_p90(v: &[f64]) -> String {
    match (quantile(v, 0.5), quantile(v, 0.9)) {
        (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
        _ => "-".into(),
    }
}

async fn stream(t: Arc<Timed>, audio: &Path, realtime: bool, partials: bool) -> Result<StreamOut, String> {
    let ends: Vec<f64> = sentences(audio).iter().map(|s| s.1).collect();
    let loader: hark_core::config::ModelLoader =
        Arc::new(move |_: &Path| Ok(t.clone() as Arc<dyn Transcriber>));
    let path = PathBuf::from("model");
    let d = TestDaemon::start_with(move |c| c.transcriber = TranscriberChoice::Model { path, loader }).await;
    let c = d.client().await;
    let source = json!({ "kind": "file", "path": audio.display().to_string(), "realtime": realtime });
    c.call(
        "voice.transcribe_stream.start",
        json!({ "audio_source": source, "options": { "partials": partials } }),
    )
    .await
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut out = StreamOut {
        finals: Vec::new(),
        partials: 0,
        retracted: 0,
        partial_lags: Vec::new(),
        final_lags: Vec::new(),
        shown: Vec::new(),
    };
    let mut last_partial: Option<(u64, Vec<String>)> = None;
    while let Some(m) = c.next_method("voice.event", Duration::from_secs(120)).await {
        let e = &m["params"]["event"];
        match e["type"].as_str() {
            Some("partial") => {
                out.partials += 1;
                let t1 = e["t1_ms"].as_f64().unwrap_or(0.0) / 1000.0;
                let at = started.elapsed().as_secs_f64();
                out.partial_lags.push(at - t1);
                out.shown.push((e["t0_ms"].as_f64().unwrap_or(0.0) / 1000.0, t1, at));
                let (t0, w) = (e["t0_ms"].as_u64().unwrap_or(0), words(e["text"].as_str().unwrap_or("")));
                if let Some((prev_t0, prev)) = &last_partial
                    && *prev_t0 == t0
                {
                    let same = prev.iter().zip(&w).take_while(|(a, b)| a == b).count();
                    out.retracted += prev.len() - same;
                }
                last_partial = Some((t0, w));
            }
            Some("transcript") => {
                if std::env::var_os("HARK_BENCH_TRACE").is_some() {
                    eprintln!("final {}-{} ms: {}", e["t0_ms"], e["t1_ms"], e["text"]);
                }
                let span = |k: &str| e[k].as_f64().unwrap_or(0.0) / 1000.0;
                let (t0, t1) = (span("t0_ms"), span("t1_ms"));
                let said = ends.iter().copied().filter(|&x| x > t0 && x <= t1 + 0.5).reduce(f64::max);
                let at = started.elapsed().as_secs_f64();
                out.final_lags.push(at - said.unwrap_or(t1));
                out.shown.push((t0, t1, at));
                out.finals.push(e["text"].as_str().unwrap_or_default().to_string());
                last_partial = None;
            }
            Some("done") => break,
            _ => {}
        }
    }
    d.stop().await;
    Ok(out)
}

pub fn run(args: AccuracyArgs) -> Result<(), String> {
    let model = args
        .model
        .or_else(|| std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from))
        .ok_or("pass --model (or set HARK_TEST_MODEL)")?;
    let files =
        if args.audio.is_empty() { vec![PathBuf::from("tests/fixtures/audio/jfk.wav")] } else { args.audio };
    hark_transcribe::whisper::install_logging();
    let mut cp = WhisperContextParameters::default();
    cp.use_gpu(false);
    let ctx = WhisperContext::new_with_params(&model, cp).map_err(|e| e.to_string())?;
    let timed = Arc::new(Timed {
        inner: WhisperTranscriber::load(&model).map_err(|e| e.to_string())?,
        final_ns: AtomicU64::new(0),
        partial_ns: AtomicU64::new(0),
        partial_calls: AtomicU64::new(0),
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    println!("## Streaming accuracy and compute vs one whisper-rs full() (the floor)\n");
    println!(
        "- Model {} ({}); {} threads for the floor and for the daemon's calls; greedy; language en. Floor: one `full()` over the whole file, whisper.cpp's defaults. Streaming: the daemon's voice stream fed the file as fast as it takes it with partials off; at real-time pace with partials on (default cadence). Busy = wall time inside the transcriber's calls; floor and partials-off figures are medians of {} alternating runs.\n",
        timed.inner.info().name,
        model.display(),
        args.threads,
        args.runs
    );
    println!(
        "| audio | path | busy s (finals + partials) | / floor | WER | finals | partials | churn words/partial | partial lag p50 / p90 s | sentence-end lag p50 / p90 s | word-shown lag p50 / p90 s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut texts = Vec::new();
    for audio_path in &files {
        let (audio, _) = hark_audio::wav::read_file_16k_mono(audio_path).map_err(|e| e.to_string())?;
        let reference = reference_for(audio_path, args.reference.as_ref());
        let name = format!(
            "{} ({:.1} s)",
            audio_path.file_name().unwrap_or_default().to_string_lossy(),
            audio.len() as f64 / 16_000.0
        );
        crate::transcribe::floor(&ctx, &audio[..audio.len().min(16_000 * 5)], args.threads)?; // warm-up
        let (mut floor_s, mut off_s) = (Vec::new(), Vec::new());
        let (mut floor_text, mut off) = (String::new(), None);
        for _ in 0..args.runs.max(1) {
            let t = Instant::now();
            floor_text = crate::transcribe::floor(&ctx, &audio, args.threads)?;
            floor_s.push(t.elapsed().as_secs_f64());
            timed.take();
            let out = rt.block_on(stream(timed.clone(), audio_path, false, false))?;
            off_s.push(timed.take().0);
            off = Some(out);
        }
        let floor_s = median(floor_s);
        println!(
            "| {name} | floor: full() | {floor_s:.2} | - | {:.3} | - | - | - | - | - | - |",
            wer(&reference, &floor_text)
        );
        texts.push((format!("{name}, floor"), floor_text));
        let mut rows = vec![("streaming, partials off", off.ok_or("no run")?, median(off_s), 0.0, 0)];
        if args.partials {
            timed.take();
            let out = rt.block_on(stream(timed.clone(), audio_path, true, true))?;
            let (f, p, calls) = timed.take();
            rows.push(("streaming, partials on, real time", out, f, p, calls));
        }
        for (label, out, f, p, calls) in rows {
            let churn = if out.partials == 0 { 0.0 } else { out.retracted as f64 / out.partials as f64 };
            let joined = out.finals.join(" ");
            let lag = p50_p90(&out.partial_lags);
            // Fed faster than real time, the finals' arrival says nothing of lag.
            let real_time = label.contains("real time");
            let final_lag = if real_time { p50_p90(&out.final_lags) } else { "-".into() };
            let word_lag =
                if real_time { p50_p90(&word_lags(&sentences(audio_path), &out.shown)) } else { "-".into() };
            println!(
                "| {name} | {label} | {:.2} ({f:.2} + {p:.2}) | **{:.2}x** | {:.3} | {} | {} ({calls} calls) | {churn:.2} | {lag} | {final_lag} | {word_lag} |",
                f + p,
                (f + p) / floor_s,
                wer(&reference, &joined),
                out.finals.len(),
                out.partials,
            );
            texts.push((format!("{name}, {label}"), joined));
        }
    }
    println!();
    for (label, text) in texts {
        println!("- {label}: {}", text.trim());
    }
    Ok(())
}
