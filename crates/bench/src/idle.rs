//! An idle daemon's wake-ups: the context switches of this process's threads over a quiet window, with no client connected (the floor, the same daemon
//! in the same run) and with one idle host client that has called `host.subscribe`, the way the
//! desktop app's tray holds its connection for as long as the app runs. The daemon and the
//! client share this process, as they do in the desktop app.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct IdleArgs {
    /// Seconds each window lasts.
    #[arg(long, default_value_t = 20.0)]
    window_s: f64,
    /// Windows of each kind, alternated.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Each live thread's voluntary plus involuntary context switches so far (`/proc/self/task`).
fn switches() -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let n: u64 = status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.insert(task.file_name().to_string_lossy().into_owned(), n);
    }
    out
}

/// Switches a second over the window: per thread, its count at the end less its count at the
/// start (0 for a thread born meanwhile). A thread that ends within the window takes its
/// switches with it; an idle daemon starts none.
async fn window(seconds: f64) -> f64 {
    let (before, t) = (switches(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let after = switches();
    let delta: u64 = after.iter().map(|(tid, n)| n - before.get(tid).copied().unwrap_or(0).min(*n)).sum();
    delta as f64 / t.elapsed().as_secs_f64()
}

pub fn run(args: IdleArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let d = hark_test_support::TestDaemon::start().await;
        // Let start-up work (the index, the first timers) settle before any window.
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!("| window ({} s each) | context switches / s |", args.window_s);
        println!("|---|---:|");
        let (mut floor, mut held) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            floor.push(window(args.window_s).await);
            println!("| no client (the floor) | {:.2} |", floor.last().unwrap());
            let host = d.host().await;
            host.call("host.subscribe", json!({})).await.map_err(|e| e.to_string())?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            held.push(window(args.window_s).await);
            println!("| one idle host client | {:.2} |", held.last().unwrap());
            host.close().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "\nmean: {:.2}/s with no client, {:.2}/s with one idle host client ({:+.2}/s)",
            mean(&floor),
            mean(&held),
            mean(&held) - mean(&floor)
        );
        Ok(())
    })
}
