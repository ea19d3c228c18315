//! The transcription seam. [`Transcriber`] turns 16 kHz mono audio into text with timestamps;
//! [`fake::FakeTranscriber`] is the deterministic stand-in of PROTOCOL §6.2 (tests, demos, no
//! model); [`whisper::WhisperTranscriber`] (feature `whisper`) runs whisper.cpp. Models are
//! checked by [`ggml::inspect`] before whisper.cpp ever sees them, so a truncated or foreign
//! file is a clear error, never a crash. [`pack::transcribe_speech`] is the one-shot entry point
//! (long silences cut out first); `quantize` (feature `whisper`) writes quantized models;
//! [`gate::Gated`] makes a model's calls take turns, finals first.
//!
//! Calls are blocking and CPU-heavy: run them on a worker thread, never on the async runtime.

pub mod fake;
pub mod gate;
pub mod ggml;
pub mod pack;
#[cfg(feature = "whisper")]
pub mod quantize;
pub mod text;
#[cfg(feature = "whisper")]
pub mod whisper;

/// What the crate's tests share: the real model (when `HARK_TEST_MODEL` names it) and jfk.wav.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::path::{Path, PathBuf};

    /// The words of jfk.wav.
    pub const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

    /// The real tiny.en model, or `None` (saying the test is skipped) when it is not there.
    pub fn model() -> Option<PathBuf> {
        let m = std::env::var_os("HARK_TEST_MODEL").map(PathBuf::from).filter(|p| p.exists());
        if m.is_none() {
            eprintln!("skipped: HARK_TEST_MODEL is not set (the real tiny.en model)");
        }
        m
    }

    /// A file of `shared/fixtures/models` (the weightless `for-tests-*` stubs), or `None` where
    /// that directory is absent (a clone without `shared/`).
    pub fn shared_model(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/models").join(name);
        p.exists().then_some(p)
    }

    /// jfk.wav as 16 kHz mono samples.
    pub fn jfk() -> Vec<f32> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/audio/jfk.wav");
        hark_audio::wav::read_file_16k_mono(&path).unwrap().0
    }
}

/// What to transcribe and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// ISO 639-1 code; explicit, never auto-detected unless asked (`"auto"`).
    pub language: String,
    /// Translate to English instead of transcribing (never on unless asked).
    pub translate: bool,
    /// Words to bias the decoder with (names, jargon).
    pub prompt: Option<String>,
    /// CPU threads for one call.
    pub threads: usize,
    /// This call is a partial guess at a segment still open (a final for it follows).
    pub partial: bool,
    /// The audio starts with speech transcribed already: it is decoded as left context for
    /// what follows (whisper does much better on a short phrase with the speech before it),
    /// and only the words after it are returned.
    pub context: Option<Context>,
}

/// Left context at the start of the audio given. Its text is forced as the start of the
/// transcript (whisper decodes on from it); with `ms: 0` it is text only: a partial's words
/// committed already, which the audio starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// How much of the audio it is.
    pub ms: u64,
    /// What it said (its final text, or a partial's committed words).
    pub text: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            language: "en".into(),
            translate: false,
            prompt: None,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            partial: false,
            context: None,
        }
    }
}

/// One piece of text on the audio timeline (milliseconds from the start of the audio given).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub t0_ms: u64,
    pub t1_ms: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    pub segments: Vec<Segment>,
    pub language: String,
}

impl Transcript {
    /// The segments' text joined with single spaces.
    pub fn text(&self) -> String {
        text::join(self.segments.iter().map(|s| s.text.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error("model file {path}: {reason}")]
    BadModel { path: String, reason: String },
    #[error("language {0:?} is not one whisper knows")]
    Language(String),
    #[error("transcription failed: {0}")]
    Failed(String),
}

/// Speech to text. Implementations are shared between sessions (`Send + Sync`); a call holds
/// whatever per-call state it needs.
pub trait Transcriber: Send + Sync {
    /// A name for logs and `server.info` (the model's, for whisper).
    fn name(&self) -> &str;

    /// Transcribes `audio` (16 kHz mono f32). Silence gives an empty transcript, not an error.
    fn transcribe(&self, audio: &[f32], options: &Options) -> Result<Transcript, TranscribeError>;

    /// Like [`transcribe`](Self::transcribe), reporting progress (0.0 to 1.0) as it goes.
    fn transcribe_with_progress(
        &self,
        audio: &[f32],
        options: &Options,
        progress: Progress,
    ) -> Result<Transcript, TranscribeError> {
        let out = self.transcribe(audio, options);
        progress(1.0);
        out
    }
}

/// A progress callback; may be called from a worker thread.
pub type Progress = std::sync::Arc<dyn Fn(f32) + Send + Sync>;
