//! The model keep-alive: the daemon's resident memory before the model's first use (the floor,
//! measured in the same process and run), with the model loaded after a `transcribe`, and once
//! the `model_keep_alive_minutes` setting has released it. The daemon runs in this process
//! (`TestDaemon`) with the real whisper loader; RSS is this process's VmRSS.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hark_core::config::TranscriberChoice;
use hark_transcribe::Transcriber;
use hark_transcribe::whisper::WhisperTranscriber;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct KeepAliveArgs {
    /// The whisper ggml model [default: $HARK_TEST_MODEL].
    #[arg(long)]
    model: Option<PathBuf>,
    /// The audio to transcribe once [default: tests/fixtures/audio/jfk.wav].
    #[arg(long)]
    audio: Option<PathBuf>,
    /// The keep-alive to set, in seconds.
    #[arg(long, default_value_t = 3.0)]
    keep_alive_s: f64,
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

pub fn run(args: KeepAliveArgs) -> Result<(), String> {
    let model = args
        .model
        .or_else(|| std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from))
        .ok_or("no model: pass --model or set HARK_TEST_MODEL")?;
    let audio = args.audio.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/audio/jfk.wav")
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let loader: hark_core::config::ModelLoader =
            Arc::new(|p: &std::path::Path| Ok(Arc::new(WhisperTranscriber::load(p)?) as Arc<dyn Transcriber>));
        let path = model.clone();
        let d = hark_test_support::TestDaemon::start_with(|c| c.transcriber = TranscriberChoice::Model { path, loader })
            .await;
        let host = d.host().await;
        let minutes = args.keep_alive_s / 60.0;
        host.call("settings.update", json!({ "settings": { "model_keep_alive_minutes": minutes } }))
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let floor = rss_mib();
        let t = Instant::now();
        host.call_timeout("transcribe", json!({ "path": audio }), Duration::from_secs(300))
            .await
            .map_err(|e| e.to_string())?;
        let transcribe_s = t.elapsed().as_secs_f64();
        let loaded = rss_mib();
        let idle_from = Instant::now();
        while d.daemon.engine.is_loaded(&model) {
            if idle_from.elapsed() > Duration::from_secs_f64(args.keep_alive_s + 30.0) {
                return Err("the model was never released".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let released_after = idle_from.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let released = rss_mib();
        println!("| state | RSS (MiB) | vs the floor |");
        println!("|---|---|---|");
        println!("| before the first use (floor) | {floor:.1} | 1.00x |");
        println!(
            "| model loaded, after one `transcribe` ({transcribe_s:.1} s) | {loaded:.1} | {:.2}x |",
            loaded / floor
        );
        println!(
            "| released {released_after:.1} s after its last use (keep-alive {:.1} s) | {released:.1} | {:.2}x |",
            args.keep_alive_s,
            released / floor
        );
        Ok(())
    })
}
