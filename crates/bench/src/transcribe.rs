//! One-shot transcription: Hark (`pack::transcribe_speech`: long silences cut, then the whisper
//! path), Hark's whisper path alone (`WhisperTranscriber`: window sized to the audio,
//! hallucination guard) and the floor, one whisper-rs `full()` over the whole file with
//! whisper.cpp's defaults (30 s window), same model, same threads, greedy, language `en`.
//! Reports wall time per call (model loaded, median of `--runs`) and word error rate against a
//! reference text.

use std::path::PathBuf;
use std::time::Instant;

use hark_transcribe::text::wer;
use hark_transcribe::whisper::WhisperTranscriber;
use hark_transcribe::{Options, Transcriber};
use whisper_rs::{WhisperContext, WhisperContextParameters};

#[derive(clap::Args, Debug)]
pub struct TranscribeArgs {
    /// The whisper ggml model [default: $HARK_TEST_MODEL].
    #[arg(long)]
    model: Option<PathBuf>,
    /// A WAV file [default: tests/fixtures/audio/jfk.wav].
    #[arg(long)]
    audio: Option<PathBuf>,
    /// The words spoken, for the word error rate [default: jfk.wav's].
    #[arg(long)]
    reference: Option<String>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also time the meeting second pass (`meeting.retranscribe` through an in-process daemon,
    /// after recording the file as a meeting), `--runs` times.
    #[arg(long)]
    second_pass: bool,
    /// Then run the peer on the same file (`scripts/bench-peer.sh`: faster-whisper from a venv,
    /// `--runs` times each) and `hark transcribe` as a whole process (the `hark` binary beside
    /// this one), and print Hark's time over each peer row.
    #[arg(long)]
    peer: bool,
}

pub(crate) const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) use hark_transcribe::whisper::floor_full as floor;

pub fn run(args: TranscribeArgs) -> Result<(), String> {
    let model = args
        .model
        .or_else(|| std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from))
        .ok_or("pass --model (or set HARK_TEST_MODEL)")?;
    let audio_path = args.audio.unwrap_or_else(|| PathBuf::from("tests/fixtures/audio/jfk.wav"));
    let reference = args.reference.unwrap_or_else(|| JFK.to_string());
    let (audio, _) = hark_audio::wav::read_file_16k_mono(&audio_path).map_err(|e| e.to_string())?;
    hark_transcribe::whisper::install_logging();
    let mut cp = WhisperContextParameters::default();
    cp.use_gpu(false);
    let ctx = WhisperContext::new_with_params(&model, cp).map_err(|e| e.to_string())?;
    let hark = WhisperTranscriber::load(&model).map_err(|e| e.to_string())?;
    let options = Options { threads: args.threads, ..Options::default() };
    let (mut t_floor, mut t_hark, mut t_pack) = (Vec::new(), Vec::new(), Vec::new());
    let (mut text_floor, mut text_hark, mut text_pack) = (String::new(), String::new(), String::new());
    let packed = |a: &[f32]| {
        hark_transcribe::pack::transcribe_speech(&hark, a, &options, std::sync::Arc::new(|_| {}))
            .map_err(|e| e.to_string())
    };
    floor(&ctx, &audio, args.threads)?; // warm-up, both
    hark.transcribe(&audio, &options).map_err(|e| e.to_string())?;
    packed(&audio)?;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        text_pack = packed(&audio)?.text();
        t_pack.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        text_floor = floor(&ctx, &audio, args.threads)?;
        t_floor.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        text_hark = hark.transcribe(&audio, &options).map_err(|e| e.to_string())?.text();
        t_hark.push(t.elapsed().as_secs_f64());
    }
    let secs = audio.len() as f64 / 16_000.0;
    let mf = median(t_floor.clone());
    println!("## One-shot transcription: Hark vs one whisper-rs full() (the floor)\n");
    println!(
        "- Audio: {} ({secs:.1} s); model {} ({}); {} threads; greedy; language en; {} runs, alternating, after one warm-up each; model loaded.",
        audio_path.display(),
        hark.info().name,
        model.display(),
        args.threads,
        args.runs
    );
    println!(
        "- Floor: `full()` with whisper.cpp's defaults (30 s window). Hark's whisper path: `WhisperTranscriber` (window sized to the audio, no carried context, blank and non-speech suppression, hallucination guard). Hark: `pack::transcribe_speech` (silences of 3 s or more cut out by the VAD, each span through the whisper path), what `hark transcribe`, the `transcribe` RPC and the second pass run.\n"
    );
    println!("| path | wall s (median) | min | max | real-time factor | WER | Hark/floor time |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // One table row: median, min and max wall, real-time factor, WER, and the time against the
    // floor's median (`-` for the floor itself).
    let row = |label: &str, times: &[f64], text: &str, vs_floor: bool| {
        let m = median(times.to_vec());
        let min = times.iter().cloned().fold(f64::MAX, f64::min);
        let max = times.iter().cloned().fold(0.0, f64::max);
        let ratio = if vs_floor { format!("**{:.2}x**", m / mf) } else { "-".to_string() };
        println!(
            "| {label} | {m:.3} | {min:.3} | {max:.3} | {:.3} | {:.3} | {ratio} |",
            m / secs,
            wer(&reference, text)
        );
    };
    row("floor: full()", &t_floor, &text_floor, false);
    row("Hark's whisper path alone (no silence cut)", &t_hark, &text_hark, true);
    row("Hark (`hark transcribe`: long silences cut, then the whisper path)", &t_pack, &text_pack, true);
    if args.second_pass {
        let (times, text) = second_pass(&model, &audio_path, args.runs.max(1))?;
        row("second pass: meeting.retranscribe", &times, &text, true);
        println!(
            "\n(The second pass: the file recorded as a meeting through a daemon in this process, then `meeting.retranscribe` timed from the request to its reply: reading the kept WAV, the one-shot path, writing the revision and the index.)"
        );
    }
    println!(
        "\nFloor text: {}\n\nWhisper path text: {}\n\nHark text: {}",
        text_floor.trim(),
        text_hark.trim(),
        text_pack.trim()
    );
    if args.peer {
        let hark_whole = whole_process(&model, &audio_path, args.threads, args.runs.max(1))?;
        let hark_in_process = (median(t_pack), wer(&reference, &text_pack));
        peer(&audio_path, &reference, (args.runs.max(1), args.threads), hark_in_process, hark_whole)?;
    }
    Ok(())
}

/// `hark transcribe` as a fresh process, `runs` times: (median wall s, text of the last run).
fn whole_process(
    model: &std::path::Path,
    audio: &std::path::Path,
    threads: usize,
    runs: usize,
) -> Result<(f64, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let hark = exe.with_file_name("hark");
    if !hark.exists() {
        return Err(format!("--peer: no {} (cargo build --release -p hark-cli)", hark.display()));
    }
    let (mut times, mut text) = (Vec::new(), String::new());
    for _ in 0..runs {
        let t = Instant::now();
        let out = std::process::Command::new(&hark)
            .arg("transcribe")
            .arg("--model")
            .arg(model)
            .args(["--threads", &threads.to_string()])
            .arg(audio)
            .output()
            .map_err(|e| format!("{}: {e}", hark.display()))?;
        times.push(t.elapsed().as_secs_f64());
        if !out.status.success() {
            return Err(format!("hark transcribe failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        text = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    Ok((median(times), text))
}

/// Runs `scripts/bench-peer.sh` on the same file (its own table goes to stdout as it comes),
/// then prints Hark's in-process and whole-process times over each of the peer's rows.
fn peer(
    audio: &std::path::Path,
    reference: &str,
    (runs, threads): (usize, usize),
    (hark_s, hark_wer): (f64, f64),
    (whole_s, whole_text): (f64, String),
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let json_path = dir.path().join("peer.json");
    println!();
    let status = std::process::Command::new("bash")
        .arg("scripts/bench-peer.sh")
        .arg("--audio")
        .arg(audio)
        .args(["--reference", reference, "--runs", &runs.to_string()])
        .args(["--threads", &threads.to_string(), "--json"])
        .arg(&json_path)
        .status()
        .map_err(|e| format!("scripts/bench-peer.sh: {e} (run from the repository root)"))?;
    if !status.success() {
        return Err(format!("scripts/bench-peer.sh failed ({status})"));
    }
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&json_path).map_err(|e| format!("{}: {e}", json_path.display()))?,
    )
    .map_err(|e| format!("the peer's JSON: {e}"))?;
    let rows = report["rows"].as_array().ok_or("the peer's JSON has no rows")?;
    println!("\n## Hark against the peer, same file, same run (Hark first, then the peer)\n");
    println!("| Hark | its wall s | WER | peer | peer wall s | peer WER | Hark / peer |");
    println!("|---|---:|---:|---|---:|---:|---:|");
    let whole_wer = wer(reference, &whole_text);
    for r in rows {
        let (path, peer_s) =
            (r["path"].as_str().unwrap_or("?"), r["wall_median"].as_f64().unwrap_or(f64::NAN));
        let peer_wer = r["wer"].as_f64().unwrap_or(f64::NAN);
        let (label, s, w) = if path.ends_with("whole process") {
            ("`hark transcribe`, whole process", whole_s, whole_wer)
        } else {
            ("Hark in process (cut + whisper path)", hark_s, hark_wer)
        };
        println!(
            "| {label} | {s:.3} | {w:.3} | {path} | {peer_s:.3} | {peer_wer:.3} | **{:.2}x** |",
            s / peer_s
        );
    }
    Ok(())
}

/// Records `audio` as a meeting (file source, read as fast as possible), then times
/// `meeting.retranscribe` `runs` times; returns the times and the last revision's text.
fn second_pass(
    model: &std::path::Path,
    audio: &std::path::Path,
    runs: usize,
) -> Result<(Vec<f64>, String), String> {
    use hark_core::config::TranscriberChoice;
    use serde_json::json;
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let loader: hark_core::config::ModelLoader =
            Arc::new(
                |p: &std::path::Path| Ok(Arc::new(WhisperTranscriber::load(p)?) as Arc<dyn Transcriber>),
            );
        let path = model.to_path_buf();
        let d = hark_test_support::TestDaemon::start_with(|c| {
            c.transcriber = TranscriberChoice::Model { path, loader }
        })
        .await;
        let host = d.host().await;
        let source = json!({ "kind": "file", "path": audio.display().to_string(), "realtime": false });
        host.call("meeting.start", json!({ "id": "bench", "sources": [source] }))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let m = host
                .call("meeting.get", json!({ "meeting_id": "bench" }))
                .await
                .map_err(|e| e.to_string())?;
            if m["metadata"]["status"] != "recording" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            host.call_timeout(
                "meeting.retranscribe",
                json!({ "meeting_id": "bench" }),
                std::time::Duration::from_secs(600),
            )
            .await
            .map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64());
        }
        let got =
            host.call("meeting.get", json!({ "meeting_id": "bench" })).await.map_err(|e| e.to_string())?;
        let text: Vec<&str> =
            got["segments"].as_array().into_iter().flatten().filter_map(|s| s["text"].as_str()).collect();
        d.stop().await;
        Ok((times, text.join(" ")))
    })
}
