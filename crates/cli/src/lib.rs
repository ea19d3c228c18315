//! The `hark` command line, as a library: `src/main.rs` only calls [`main`]. Commands: `serve` (the
//! headless daemon), `token` (what an agent needs to connect), `status` (the running daemon's
//! `server.info`, read with the host token), `transcribe` (a WAV file to text), `models` (list,
//! pull, import, remove, default: works on the data dir directly), `meetings` (past meetings,
//! through the daemon or on the files) and `record` (click-to-record).
//!
//! The desktop app (`src-tauri/`) links this library for [`serve`]'s configuration
//! ([`serve::default_config`]: flags' defaults, `HARK_*` variables, the whisper loader) and
//! logging ([`serve::init_logging`]), so the daemon it runs in-process is configured exactly as
//! `hark serve` would be on the same data dir.

mod client;
mod meetings;
mod models;
pub mod serve;
mod status;
mod transcribe;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "hark", version, about = "Local meeting transcription and a safe door for local agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the daemon keeps its files; shared by every subcommand so they find each other.
#[derive(clap::Args, Debug, Clone)]
pub struct Location {
    /// Data root (default: $HARK_DATA_DIR, else the platform data dir).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl Location {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(hark_core::paths::default_data_dir)
    }
    pub fn runtime_dir(&self) -> PathBuf {
        hark_core::paths::runtime_dir_for(&self.data_dir())
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon headless (no window).
    Serve(serve::ServeArgs),
    /// Transcribe a WAV file (text, SRT, WebVTT or JSON on stdout; progress on stderr).
    Transcribe(transcribe::TranscribeArgs),
    /// Past meetings: list, show, search, export, rename, delete, retranscribe, reindex.
    Meetings(meetings::MeetingsArgs),
    /// Record a meeting (mic by default) until Ctrl-C, printing the transcript as it lands.
    Record(meetings::RecordArgs),
    /// Whisper models: list, pull (download), import, remove, default.
    Models(models::ModelsArgs),
    /// Print what an agent needs to connect (shell-evaluable: `eval "$(hark token)"`).
    Token {
        #[command(flatten)]
        location: Location,
    },
    /// Show the running daemon's status.
    Status {
        #[command(flatten)]
        location: Location,
        /// Print the raw server.info JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the command line and runs the command: the whole `hark` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token { location } => status::token(&location),
        Command::Transcribe(args) => transcribe::run(args),
        Command::Models(args) => models::run(args),
        Command::Meetings(args) => meetings::run(args),
        Command::Record(args) => meetings::record(args),
        Command::Status { location, json } => status::status(&location, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hark: {e:#}");
            ExitCode::FAILURE
        }
    }
}
