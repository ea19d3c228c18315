//! Live streaming latency with the real model: jfk.wav (or another WAV) pushed at real-time pace
//! in 20 ms binary frames to a daemon in this process; every `voice.event` is timed on arrival.
//! Partial lag = arrival - the audio time its text covers up to; final lag = arrival - the end
//! of the audio the final covers. Audio time t is wall time `start + t` (real-time pacing).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hark_core::config::TranscriberChoice;
use hark_test_support::TestDaemon;
use serde_json::json;

use crate::pct;
use hark_protocol::voice::audio_frame;

#[derive(clap::Args, Debug)]
pub struct StreamArgs {
    /// The whisper ggml model [default: $HARK_TEST_MODEL].
    #[arg(long)]
    model: Option<PathBuf>,
    /// A WAV file [default: tests/fixtures/audio/jfk.wav].
    #[arg(long)]
    audio: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: StreamArgs) -> Result<(), String> {
    let model = args
        .model
        .or_else(|| std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from))
        .ok_or("pass --model (or set HARK_TEST_MODEL)")?;
    let audio_path = args.audio.unwrap_or_else(|| PathBuf::from("tests/fixtures/audio/jfk.wav"));
    let (audio, _) = hark_audio::wav::read_file_16k_mono(&audio_path).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (mut partial_lags, mut final_lags, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut partials_at, mut finals_at) = (Vec::new(), Vec::new());
    for run in 0..args.runs.max(1) {
        let (p, f, text) = rt.block_on(one_run(&model, &audio))?;
        eprintln!("run {}: {} partials, {} finals: {text}", run + 1, p.len(), f.len());
        partial_lags.extend(p.iter().map(|(_, lag)| lag));
        final_lags.extend(f.iter().map(|(_, lag)| lag));
        partials_at.extend(p);
        finals_at.extend(f);
        texts.push(text);
    }
    partial_lags.sort_by(f64::total_cmp);
    final_lags.sort_by(f64::total_cmp);
    println!("## Live streaming latency (real-time pace, real model)\n");
    println!(
        "- Audio: {} ({:.1} s) pushed in 20 ms binary frames at real-time pace; model {}; {} runs; default streaming policy (partials on).\n",
        audio_path.display(),
        audio.len() as f64 / 16_000.0,
        model.display(),
        args.runs
    );
    println!("| measure | n | p50 s | p90 s | max s | goal |");
    println!("|---|---:|---:|---:|---:|---|");
    let max = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
    println!(
        "| partial lag | {} | {:.2} | {:.2} | {:.2} | p90 <= 1.0 s |",
        partial_lags.len(),
        pct(&partial_lags, 0.5),
        pct(&partial_lags, 0.9),
        max(&partial_lags)
    );
    println!(
        "| final lag after the audio it covers | {} | {:.2} | {:.2} | {:.2} | <= 1.5 s after end of speech |",
        final_lags.len(),
        pct(&final_lags, 0.5),
        pct(&final_lags, 0.9),
        max(&final_lags)
    );
    if audio.len() > 16_000 * 120 {
        by_minute(&partials_at, &finals_at);
    }
    println!("\nFinals of the last run: {}", texts.last().cloned().unwrap_or_default());
    Ok(())
}

/// Drift: the lags of each minute of audio (by the audio time an event covers up to).
fn by_minute(partials: &[(f64, f64)], finals: &[(f64, f64)]) {
    let minutes = partials.iter().chain(finals).map(|(t, _)| (*t / 60.0) as usize).max().unwrap_or(0) + 1;
    let of_minute = |v: &[(f64, f64)], m: usize| {
        let mut lags: Vec<f64> =
            v.iter().filter(|(t, _)| (*t / 60.0) as usize == m).map(|(_, l)| *l).collect();
        lags.sort_by(f64::total_cmp);
        lags
    };
    println!("\n### Drift: lag per minute of audio\n");
    println!("| minute | partials | partial p50 s | partial p90 s | finals | final p50 s | final max s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for m in 0..minutes {
        let (p, f) = (of_minute(partials, m), of_minute(finals, m));
        println!(
            "| {} | {} | {:.2} | {:.2} | {} | {:.2} | {:.2} |",
            m + 1,
            p.len(),
            pct(&p, 0.5),
            pct(&p, 0.9),
            f.len(),
            pct(&f, 0.5),
            f.last().copied().unwrap_or(f64::NAN)
        );
    }
}

/// Partials and finals as (audio time covered up to, lag) in seconds, and the finals' text.
type Timed = (Vec<(f64, f64)>, Vec<(f64, f64)>, String);

async fn one_run(model: &std::path::Path, audio: &[f32]) -> Result<Timed, String> {
    let loader: hark_core::config::ModelLoader = Arc::new(|p: &std::path::Path| {
        let t = hark_transcribe::whisper::WhisperTranscriber::load(p)?;
        Ok(Arc::new(t) as Arc<dyn hark_transcribe::Transcriber>)
    });
    let path = model.to_path_buf();
    let d = TestDaemon::start_with(move |c| c.transcriber = TranscriberChoice::Model { path, loader }).await;
    let c = d.client().await;
    let r = c
        .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "pcm_push" } }))
        .await
        .map_err(|e| e.to_string())?;
    let id = r["session_id"].as_str().unwrap_or_default().to_string();
    if audio_frame(&id, 0, &[]).is_none() {
        return Err(format!("session id {id:?} is not 32 hex chars: no binary frames"));
    }
    let start = Instant::now();
    let feed = async {
        let mut next = tokio::time::Instant::now();
        for (seq, piece) in audio.chunks(320).enumerate() {
            let frame = audio_frame(&id, seq as u64, &hark_audio::pcm::f32_to_s16le(piece));
            let Some(frame) = frame else { break };
            let _ = c.send_binary(frame).await;
            next += Duration::from_millis(20);
            tokio::time::sleep_until(next).await;
        }
        // A second of trailing silence, as a pause after speech would give.
        for seq in 0..50u64 {
            let frame = audio_frame(&id, 1_000_000 + seq, &[0u8; 640]);
            let Some(frame) = frame else { break };
            let _ = c.send_binary(frame).await;
            next += Duration::from_millis(20);
            tokio::time::sleep_until(next).await;
        }
        let _ = c.call("voice.transcribe_stream.stop", json!({ "session_id": id })).await;
    };
    let collect = async {
        let (mut partials, mut finals, mut text) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(m) = c.next_method("voice.event", Duration::from_secs(60)).await {
            let e = &m["params"]["event"];
            let now = start.elapsed().as_secs_f64();
            let t1 = e["t1_ms"].as_f64().unwrap_or(0.0) / 1000.0;
            if std::env::var_os("HARK_BENCH_TRACE").is_some() && e["type"] != "level" {
                eprintln!("{now:7.3} s  {e}");
            }
            match e["type"].as_str() {
                Some("partial") => partials.push((t1, now - t1)),
                Some("transcript") => {
                    finals.push((t1, now - t1));
                    text.push(e["text"].as_str().unwrap_or_default().to_string());
                }
                Some("done") => break,
                _ => {}
            }
        }
        (partials, finals, text.join(" "))
    };
    let ((), out) = tokio::join!(feed, collect);
    d.stop().await;
    Ok(out)
}
