//! `hark transcribe FILE.wav`: one file to text, subtitles or JSON on stdout, with a progress
//! bar on stderr. Any WAV (rate, channels, sample format) is converted to 16 kHz mono first.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use hark_store::export::{self as format, Cue};
use hark_transcribe::{Options, Transcriber};

use crate::Location;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Txt,
    Srt,
    Vtt,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct TranscribeArgs {
    /// The WAV file to transcribe.
    file: PathBuf,
    /// A model file, or a name whose file is `<data dir>/models/ggml-<name>.bin` [default: $HARK_MODEL,
    /// else the default set with `hark models default`, else tiny.en].
    #[arg(long)]
    model: Option<String>,
    /// Spoken language (ISO 639-1), or `auto` to detect it. Never translated.
    #[arg(long, default_value = "en")]
    language: String,
    #[arg(long, value_enum, default_value = "txt")]
    format: Format,
    /// CPU threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    location: Location,
}

/// The model asked for: `--model`, else `$HARK_MODEL`, else the default set with
/// `hark models default` (`<data dir>/models/default`), else tiny.en.
pub fn wanted_model(model: Option<&str>, data_dir: &Path) -> String {
    let env = std::env::var("HARK_MODEL").ok().filter(|m| !m.is_empty());
    model
        .map(str::to_string)
        .or(env)
        .unwrap_or_else(|| crate::models::local_store(data_dir).default_or_fallback())
}

/// `--model` as a file: an existing path, else a name in the data dir's `models/`.
pub fn resolve_model(model: Option<&str>, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let wanted = wanted_model(model, data_dir);
    let as_path = PathBuf::from(&wanted);
    if as_path.exists() {
        return Ok(as_path);
    }
    let store = crate::models::local_store(data_dir);
    let named = store.path_of(&wanted);
    if named.exists() {
        return Ok(named);
    }
    if store.catalog_entry(&wanted).is_some() {
        bail!(
            "no model {wanted:?}: {} is not there yet (download it with `hark models pull {wanted}`, or pass --model PATH)",
            named.display()
        )
    }
    bail!(
        "no model {wanted:?}: it is neither a file nor {} (put a whisper ggml model there with `hark models import FILE`, or pass --model PATH)",
        named.display()
    )
}

pub fn run(args: TranscribeArgs) -> anyhow::Result<ExitCode> {
    let model = resolve_model(args.model.as_deref(), &args.location.data_dir())?;
    let (audio, _info) = hark_audio::wav::read_file_16k_mono(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let duration_ms = audio.len() as u64 * 1000 / 16_000;
    let transcriber = load(&model)?;
    let mut options = Options { language: args.language, ..Options::default() };
    if let Some(n) = args.threads {
        options.threads = n.max(1);
    }
    let bar = ProgressBar::new(std::io::stderr().is_terminal());
    let report = bar.clone();
    let started = Instant::now();
    // Long silences cut out first (whisper invents words for them): `hark_transcribe::pack`.
    let transcript = hark_transcribe::pack::transcribe_speech(
        &*transcriber,
        &audio,
        &options,
        Arc::new(move |p| report.show(p)),
    )
    .context("transcription failed")?;
    bar.done(started.elapsed().as_secs_f64(), duration_ms);
    // The one formatter meetings use too (`hark_store::export`).
    let cues: Vec<Cue> =
        transcript.segments.iter().map(|s| Cue::new(s.t0_ms, s.t1_ms, s.text.clone())).collect();
    let out = match args.format {
        Format::Txt => format::txt(&cues),
        Format::Srt => format::srt(&cues),
        Format::Vtt => format::vtt(&cues),
        Format::Json => format::transcribe_json(&cues, &transcript.language, duration_ms) + "\n",
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "whisper")]
fn load(model: &Path) -> anyhow::Result<Box<dyn Transcriber>> {
    Ok(Box::new(hark_transcribe::whisper::WhisperTranscriber::load(model)?))
}

#[cfg(not(feature = "whisper"))]
fn load(_model: &Path) -> anyhow::Result<Box<dyn Transcriber>> {
    bail!("this hark was built without whisper (cargo feature `whisper`)")
}

/// `transcribing [#########-----------]  45%` on stderr, redrawn in place on a terminal;
/// plain lines at 25% steps otherwise (logs stay readable).
#[derive(Clone)]
struct ProgressBar {
    tty: bool,
    last: Arc<std::sync::atomic::AtomicU32>,
}

impl ProgressBar {
    fn new(tty: bool) -> Self {
        ProgressBar { tty, last: Arc::new(std::sync::atomic::AtomicU32::new(u32::MAX)) }
    }

    fn show(&self, fraction: f32) {
        let pct = (fraction.clamp(0.0, 1.0) * 100.0).round() as u32;
        let step = if self.tty { pct } else { pct / 25 * 25 };
        if self.last.swap(step, std::sync::atomic::Ordering::Relaxed) == step {
            return;
        }
        let filled = (pct / 5) as usize;
        let line = format!("transcribing [{}{}] {pct:3}%", "#".repeat(filled), "-".repeat(20 - filled));
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { write!(err, "\r{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    fn done(&self, secs: f64, audio_ms: u64) {
        self.show(1.0);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = writeln!(err);
        }
        let _ = writeln!(err, "transcribed {:.1} s of audio in {secs:.2} s", audio_ms as f64 / 1000.0);
    }
}
