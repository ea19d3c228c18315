//! The voice pipeline's own overhead, with the fake transcriber (no model, ~0 compute): a WAV
//! file pushed in 20 ms binary frames to a daemon in this process; for each final, the time
//! from sending the frame whose audio let the VAD end the segment (the hangover already waited
//! out) to the `transcript` event's arrival. Which frame that is, is found by running the same
//! VAD over the same frames offline first, so the figure excludes the hangover exactly.
//! Floor, in the same run and connection: a JSON-RPC round trip (`admission.status`) sent
//! right after each such frame, the cost of crossing the WebSocket and back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hark_audio::vad::{Segmenter, VadConfig, VadEvent};
use hark_audio::{ms_to_samples, samples_to_ms};
use hark_core::voice::session::MIN_FINAL_MS;
use hark_test_support::TestDaemon;
use serde_json::json;

use crate::pct;
use hark_protocol::voice::audio_frame;

#[derive(clap::Args, Debug)]
pub struct OverheadArgs {
    /// A WAV file [default: tests/fixtures/audio/jfk.wav].
    #[arg(long)]
    audio: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Push speed, in multiples of real time.
    #[arg(long, default_value_t = 4.0)]
    speed: f64,
}

const FRAME: usize = 320;

pub fn run(args: OverheadArgs) -> Result<(), String> {
    let path = args.audio.unwrap_or_else(|| PathBuf::from("tests/fixtures/audio/jfk.wav"));
    let (audio, _) = hark_audio::wav::read_file_16k_mono(&path).map_err(|e| e.to_string())?;
    // What the daemon will see: s16 samples.
    let pcm = hark_audio::pcm::f32_to_s16le(&audio);
    let seen = hark_audio::pcm::s16le_to_f32(&pcm).map_err(|e| e.to_string())?;
    // Segment end (ms) -> the frame whose push makes the VAD end it (segments the daemon
    // finalizes at once: MIN_FINAL_MS and longer).
    let mut trigger = HashMap::new();
    let mut vad = Segmenter::new(VadConfig::default());
    let mut start = 0;
    for (k, frame) in seen.chunks(FRAME).enumerate() {
        for e in vad.push(frame) {
            match e {
                VadEvent::Start { sample } => start = sample,
                VadEvent::End { sample } if sample - start >= ms_to_samples(MIN_FINAL_MS) => {
                    trigger.insert(samples_to_ms(sample), k);
                }
                VadEvent::End { .. } => {}
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (mut lags, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        let (l, f) = rt.block_on(one_run(&pcm, &trigger, args.speed))?;
        lags.extend(l);
        floors.extend(f);
    }
    lags.sort_by(f64::total_cmp);
    floors.sort_by(f64::total_cmp);
    println!("## Voice pipeline overhead (fake transcriber)\n");
    println!(
        "- Audio: {} ({:.1} s, {} segments finalized at their end) pushed in 20 ms binary frames at {}x real time; {} runs; partials on. Overhead: the frame that lets the VAD end a segment sent -> its `transcript` received (the VAD hangover excluded). Floor: an `admission.status` round trip sent right after that frame on the same connection.\n",
        path.display(),
        audio.len() as f64 / 16_000.0,
        trigger.len(),
        args.speed,
        args.runs
    );
    println!("| measure | n | p50 ms | p99 ms | max ms | goal |");
    println!("|---|---:|---:|---:|---:|---|");
    for (name, v, goal) in
        [("floor: JSON-RPC round trip", &floors, "-"), ("audio pushed -> transcript", &lags, "p99 < 20 ms")]
    {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {goal} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

async fn one_run(
    pcm: &[u8],
    trigger: &HashMap<u64, usize>,
    speed: f64,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let d = TestDaemon::start().await;
    let c = d.client().await;
    let r = c
        .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "pcm_push" } }))
        .await
        .map_err(|e| e.to_string())?;
    let id = r["session_id"].as_str().unwrap_or_default().to_string();
    if audio_frame(&id, 0, &[]).is_none() {
        return Err(format!("session id {id:?} is not 32 hex chars: no binary frames"));
    }
    let triggers: std::collections::HashSet<usize> = trigger.values().copied().collect();
    let sent = std::sync::Mutex::new(HashMap::new());
    let feed = async {
        let mut floors = Vec::new();
        let step = Duration::from_secs_f64(0.020 / speed);
        let mut next = tokio::time::Instant::now();
        for (k, piece) in pcm.chunks(FRAME * 2).enumerate() {
            let Some(frame) = audio_frame(&id, k as u64, piece) else { break };
            if triggers.contains(&k) {
                sent.lock().unwrap_or_else(|e| e.into_inner()).insert(k, Instant::now());
                let _ = c.send_binary(frame).await;
                let t = Instant::now();
                let _ = c.call("admission.status", json!({})).await;
                floors.push(t.elapsed().as_secs_f64() * 1000.0);
            } else {
                let _ = c.send_binary(frame).await;
            }
            next += step;
            tokio::time::sleep_until(next).await;
        }
        let _ = c.call("voice.transcribe_stream.stop", json!({ "session_id": id })).await;
        floors
    };
    let collect = async {
        let mut lags = Vec::new();
        while let Some(m) = c.next_method("voice.event", Duration::from_secs(60)).await {
            let now = Instant::now();
            let e = &m["params"]["event"];
            match e["type"].as_str() {
                Some("transcript") => {
                    let k = e["t1_ms"].as_u64().and_then(|t1| trigger.get(&t1));
                    if let Some(at) =
                        k.and_then(|k| sent.lock().unwrap_or_else(|e| e.into_inner()).get(k).copied())
                    {
                        lags.push(now.duration_since(at).as_secs_f64() * 1000.0);
                    }
                }
                Some("done") => break,
                _ => {}
            }
        }
        lags
    };
    let (floors, lags) = tokio::join!(feed, collect);
    d.stop().await;
    Ok((lags, floors))
}
