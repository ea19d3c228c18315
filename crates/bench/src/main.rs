//! `hark-bench`: Hark's benchmarks, each with its floor measured in the same process and run
//! (PRODUCT.md "Performance targets"; the numbers go to BENCHMARKS.md).
//!
//! - `hark-bench rpc`: JSON-RPC round trips on loopback with 1, 8 and 64 clients, Hark vs a bare
//!   tokio-tungstenite echo server (the floor).
//! - `hark-bench transcribe`: one-shot transcription, Hark's whisper path vs one whisper-rs
//!   `full()` over the whole file (the floor).
//! - `hark-bench stream`: live streaming latency at real-time pace.
//! - `hark-bench accuracy`: streaming WER and transcriber compute vs one `full()` (the floor).
//! - `hark-bench overhead`: the voice pipeline's latency with the fake transcriber.
//! - `hark-bench meetings`: `meeting.search` over 100,000 segments vs SQLite directly, segment
//!   append vs a plain file, live latency with and without recording.
//! - `hark-bench surfaces`: A2UI validation per message vs serializing it, and `a2ui.event`
//!   fan-out to 50 subscribers vs `host.event`'s.
//!
//! - `hark-bench keep-alive`: resident memory before the model's first use (the floor), loaded,
//!   and after the `model_keep_alive_minutes` setting released it.
//!
//! - `hark-bench idle`: an idle daemon's context switches a second with one idle host client
//!   (the desktop tray's) vs none (the floor).
//!
//! Run with `cargo run --release -p hark-bench -- rpc --help`.

mod accuracy;
mod cpu;
mod idle;
mod keepalive;
mod meetings;
mod overhead;
mod rpc;
mod stream;
mod surfaces;
mod transcribe;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "hark-bench", about = "Hark benchmarks, each against its floor in the same run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// RPC round trips: Hark vs a bare tokio-tungstenite echo server (the floor).
    Rpc(rpc::RpcArgs),
    /// One-shot transcription: Hark vs one whisper-rs full() over the file (the floor).
    Transcribe(transcribe::TranscribeArgs),
    /// Live streaming latency at real-time pace with the real model.
    Stream(stream::StreamArgs),
    /// Streaming WER and compute: daemon streams vs one whisper-rs full() over the file (the floor).
    Accuracy(accuracy::AccuracyArgs),
    /// Voice pipeline overhead with the fake transcriber vs a JSON-RPC round trip (the floor).
    Overhead(overhead::OverheadArgs),
    /// Meetings: search vs SQLite directly, append vs a plain file, latency with/without recording.
    Meetings(meetings::MeetingsArgs),
    /// Agent surfaces: A2UI validation vs serializing, fan-out vs host.notify's (the floors).
    Surfaces(surfaces::SurfacesArgs),
    /// Model keep-alive: RSS before the first use (the floor), loaded, and released.
    KeepAlive(keepalive::KeepAliveArgs),
    /// Idle wake-ups: context switches a second with one idle host client vs none (the floor).
    Idle(idle::IdleArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rpc(args) => rpc::run(args),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Stream(args) => stream::run(args),
        Command::Accuracy(args) => accuracy::run(args),
        Command::Overhead(args) => overhead::run(args),
        Command::Meetings(args) => meetings::run(args),
        Command::Surfaces(args) => surfaces::run(args),
        Command::KeepAlive(args) => keepalive::run(args),
        Command::Idle(args) => idle::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hark-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `p` percentile (0 to 1) of sorted figures, nearest rank; NaN when there are none.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
