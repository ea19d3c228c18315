//! `hark-bench`: Hark's benchmarks, each with its floor measured in the same process and run
//! (PRODUCT.md "Performance targets"; the numbers go to BENCHMARKS.md).
//!
//! - `hark-bench rpc`: JSON-RPC round trips on loopback with 1, 8 and 64 clients, Hark vs a bare
//!   tokio-tungstenite echo server (the floor).
//! - `hark-bench transcribe`: one-shot transcription, Hark's whisper path vs one whisper-rs
//!   `full()` over the whole file (the floor).
//!
//! Run with `cargo run --release -p hark-bench -- rpc --help`.

mod cpu;
mod rpc;
mod stream;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rpc(args) => rpc::run(args),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Stream(args) => stream::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hark-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
