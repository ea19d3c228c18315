//! whisper.cpp through whisper-rs: greedy decoding, explicit language, no carried context,
//! blanks and non-speech tokens suppressed, the encoder window sized to the audio
//! (`audio_ctx`), and a hallucination guard on every segment.

use std::path::{Path, PathBuf};

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

use crate::ggml::{self, ModelInfo};
use crate::{Options, Segment, TranscribeError, Transcriber, Transcript, text};

/// whisper's encoder sees 30 s (1500 frames of 20 ms) at most.
const MAX_AUDIO_CTX: i32 = 1500;

/// The floor every transcription figure is measured against: one `full()` over all of `audio`
/// with whisper.cpp's defaults (30 s windows, temperature fallback, carried context), greedy,
/// English, `threads` threads. Not a path Hark transcribes with; the benchmarks and the tests
/// that hold Hark to "no worse than the model given the whole file" run it.
pub fn floor_full(ctx: &WhisperContext, audio: &[f32], threads: usize) -> Result<String, String> {
    let mut state = ctx.create_state().map_err(|e| e.to_string())?;
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some("en"));
    params.set_n_threads(threads as i32);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    state.full(params, audio).map_err(|e| e.to_string())?;
    let text: Vec<String> =
        state.as_iter().map(|s| s.to_str_lossy().map(|t| t.to_string()).unwrap_or_default()).collect();
    Ok(text.join(" "))
}

/// The parameters every call of Hark's own starts from: greedy, the language given (none for
/// "auto"), no carried context, blanks and non-speech tokens suppressed, `window` frames of
/// encoder, quiet.
fn full_params(options: &Options, window: i32) -> FullParams<'_, '_> {
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language((options.language != "auto").then_some(options.language.as_str()));
    params.set_translate(options.translate);
    params.set_no_context(true);
    params.set_suppress_blank(true);
    params.set_suppress_nst(true);
    params.set_n_threads(options.threads.clamp(1, 64) as i32);
    params.set_audio_ctx(window);
    // No temperature fallback: whisper.cpp otherwise re-decodes up to five times at rising
    // temperatures when a decode looks unsure, which made a 3.4 s final take 4-7 s in the
    // streaming benchmark. One bounded decode per call; the hallucination guard catches what
    // the fallback would have retried.
    params.set_temperature_inc(0.0);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    params
}

/// whisper.cpp encodes every window whole, 30 s of audio, even the last of a long recording
/// that holds only its last few seconds (the 92 s benchmark recording's fourth window holds
/// about 5 s). Its loop starts each window where the last decoded segment ended; just before
/// the encoder runs for a window that holds the rest of the audio, and that rest is short
/// enough for a smaller window ([`last_window::stops_before`]), this stops the loop there, and
/// [`WhisperTranscriber::run`] decodes the rest with a window sized to it, as any audio of a
/// window or less is. Every earlier window is whisper.cpp's own, so its words are unchanged
/// (BENCHMARKS.md, "The last window sized to what is left").
#[allow(unsafe_code)]
mod last_window {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// Whether the loop stops before a window starting at mel frame `seek` (10 ms frames) of
    /// `frames`: when a window sized to the rest is smaller than 30 s (so the rest fits one).
    pub fn stops_before(frames: i64, seek: i64) -> bool {
        let rest = frames - seek;
        rest > 0 && super::audio_ctx_for(rest as usize * 160, 0) < super::MAX_AUDIO_CTX
    }

    /// What the encoder callback reads and writes: the audio's length, and where the loop was
    /// stopped (-1 while it runs).
    pub struct Stop {
        frames: i64,
        seek: AtomicI64,
    }

    impl Stop {
        pub fn new(samples: usize) -> Stop {
            Stop { frames: samples as i64 / 160, seek: AtomicI64::new(-1) }
        }

        /// Sets the callback on `params`. The `Stop` must stay where it is (not moved) and
        /// alive until the `full()` they go to has returned.
        pub fn install(&self, params: &mut whisper_rs::FullParams<'_, '_>) {
            let me: *const Stop = self;
            // SAFETY: the callback only reads `*me` (through a shared reference; the one field
            // it writes is atomic) and the segment count and times of the state whisper.cpp
            // hands it; `run` keeps the Stop in place until `full()` has returned, and
            // whisper.cpp calls the callback only from within `full()`, on its own thread.
            unsafe {
                params.set_start_encoder_callback(Some(before_encoder));
                params.set_start_encoder_callback_user_data(me as *mut std::ffi::c_void);
            }
        }

        /// The mel frame the loop stopped at, if it was stopped.
        pub fn stopped_at(&self) -> Option<i64> {
            let seek = self.seek.load(Ordering::Relaxed);
            (seek >= 0).then_some(seek)
        }
    }

    /// whisper.cpp's `encoder_begin_callback`: false stops the loop before this window. The
    /// window starts where the last segment ended (its end is whisper.cpp's `seek`).
    unsafe extern "C" fn before_encoder(
        _ctx: *mut whisper_rs_sys::whisper_context,
        state: *mut whisper_rs_sys::whisper_state,
        user: *mut std::ffi::c_void,
    ) -> bool {
        // SAFETY: `user` is the Stop `install` set, alive for the whole `full()`; `state` is the
        // state whisper.cpp is decoding with, and n - 1 is a segment it holds.
        let me = unsafe { &*(user as *const Stop) };
        let n = unsafe { whisper_rs_sys::whisper_full_n_segments_from_state(state) };
        if n == 0 {
            return true;
        }
        let seek = unsafe { whisper_rs_sys::whisper_full_get_segment_t1_from_state(state, n - 1) };
        if !stops_before(me.frames, seek) {
            return true;
        }
        me.seek.store(seek, Ordering::Relaxed);
        false
    }
}

/// How many times a test's calls stopped whisper.cpp before a last window.
#[cfg(test)]
static LAST_WINDOWS_STOPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub struct WhisperTranscriber {
    ctx: WhisperContext,
    info: ModelInfo,
    path: PathBuf,
    /// Tokens a decode after forced text never picks (see [`WhisperTranscriber::suppressed`]).
    suppressed: std::sync::OnceLock<Vec<bool>>,
    /// Decoding states left by earlier calls, for the next (see [`WhisperTranscriber::state`]).
    idle: std::sync::Mutex<Vec<WhisperState>>,
}

/// Decoding states kept between calls. One is enough: a stream's finals and partials take
/// turns (`gate.rs`); a call beside them (a file) makes its own.
const IDLE_STATES: usize = 1;

/// A decoding state lent by [`WhisperTranscriber::state`], given back when dropped.
struct Lent<'a> {
    state: Option<WhisperState>,
    idle: &'a std::sync::Mutex<Vec<WhisperState>>,
}

impl std::ops::Deref for Lent<'_> {
    type Target = WhisperState;
    fn deref(&self) -> &WhisperState {
        self.state.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut WhisperState {
        self.state.as_mut().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_STATES
            && let Some(state) = self.state.take()
        {
            idle.push(state);
        }
    }
}

impl std::fmt::Debug for WhisperTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTranscriber")
            .field("model", &self.info.name)
            .field("path", &self.path)
            .finish()
    }
}

/// Routes whisper.cpp's chatter into `tracing` (once per process).
pub fn install_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(whisper_rs::install_logging_hooks);
}

/// What the linked whisper.cpp was built with, as whisper.cpp prints it ("WHISPER : COREML = 0
/// | ... CPU : SSE3 = 1 | ... | LLAMAFILE = 1 | ..."): the CPU features its kernels use and
/// whether llamafile's matrix kernels are in (`.cargo/config.toml` turns them on; they run the
/// encoder 1.6-1.7x faster, BENCHMARKS.md). Logged when a model loads.
pub fn engine_features() -> String {
    // whisper.cpp rebuilds one static string on each call: not to be read by two threads at once.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    whisper_rs::print_system_info().trim().to_string()
}

/// The encoder window for `samples` of audio: the audio plus half again and 2 s of margin, in
/// 20 ms frames, and never under 10 s. A window sized to the audio is several times cheaper
/// than whisper's fixed 30 s; the margin and the floor keep the decoder from running away on a
/// window cut too tight (PEERS-MEASURED.md: 4 s for a 2.7 s utterance broke it; here a 5.6 s
/// window for a 2.4 s phrase decoded it twice over: "And so my fellow Americans. And so my
/// fellow Americans.").
///
/// Left context (`context` samples at the start, transcribed already) gets no half-again: the
/// margin guards the new phrase, and the context's words are known, so it is counted once. With
/// 6 s of context before a 2.5 s sentence that is 11.75 s instead of 14.75 s. Measured with
/// `hark-bench accuracy` (BENCHMARKS.md): the same finals word for word on jfk.wav and both
/// generated recordings, and the 24-sentence recording's finals about 11% cheaper (busy 9.1-9.4 s
/// -> 8.2 s, 1.8x -> 1.6x the floor). Cutting the margin on the whole window instead (factor 1.0
/// or 1.2) broke jfk.wav ("As what you can do").
pub fn audio_ctx_for(samples: usize, context: usize) -> i32 {
    let secs = samples as f64 / 16_000.0;
    let context = context.min(samples) as f64 / 16_000.0;
    ((((secs - context) * 1.5 + 2.0 + context) * 50.0).ceil() as i32).clamp(MIN_AUDIO_CTX, MAX_AUDIO_CTX)
}

/// 10 s.
const MIN_AUDIO_CTX: i32 = 500;

/// The encoder window for a partial of `samples`: the audio plus a fifth and 1 s, at least 3 s.
/// A partial is a guess the final replaces, so it takes the risk the finals' 10 s floor guards
/// against; the runaways a tight window can start are cut by [`partial_max_tokens`]. Measured
/// with `hark-bench accuracy` on jfk.wav (2 cores, 2 threads): a partial of 0.5-5 s cost
/// 0.24-0.28 s with the 10 s window, 0.07-0.20 s with this one (BENCHMARKS.md, "Partials that
/// cost less").
pub fn partial_window(samples: usize) -> i32 {
    let secs = samples as f64 / 16_000.0;
    (((secs * 1.2 + 1.0) * 50.0).ceil() as i32).clamp(150, MAX_AUDIO_CTX)
}

/// Most tokens a partial of `samples` decodes: 6 a second and 8 more (speech runs at about 4 a
/// second). Tokens are most of a partial's cost (8-9 ms each on tiny.en, 2 cores, where the
/// whole 3 s encoder window takes about 50 ms), so a guess running away to whisper's own limit
/// of 220 would cost as much as a dozen that do not.
pub fn partial_max_tokens(samples: usize) -> i32 {
    (samples as f64 / 16_000.0 * 6.0 + 8.0) as i32
}

impl WhisperTranscriber {
    /// Checks the file's structure first (a truncated or foreign file never reaches
    /// whisper.cpp), then loads it on the CPU.
    pub fn load(path: &Path) -> Result<Self, TranscribeError> {
        let info = ggml::inspect(path)?;
        install_logging();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(path, params).map_err(|e| TranscribeError::BadModel {
            path: path.display().to_string(),
            reason: format!("whisper.cpp could not load it: {e}"),
        })?;
        tracing::debug!(model = %info.name, engine = %engine_features(), "whisper model loaded");
        Ok(WhisperTranscriber {
            ctx,
            info,
            path: path.to_path_buf(),
            suppressed: Default::default(),
            idle: Default::default(),
        })
    }

    /// A decoding state for one call: one an earlier call left, or a new one. whisper.cpp
    /// allocates a state's buffers when it is made (about 145 MB for tiny.en, most of it the
    /// decoder's compute buffer) and frees them with it, and the allocator hands such blocks
    /// back to the system, so a new state per call paid for its pages again each time: on a
    /// partial of 1.5 s (a 3 s window, 7 tokens, 2 cores) 77-117 ms with a new state, 57-70 ms
    /// with one kept (BENCHMARKS.md, "A decoding state kept between calls"). `full()` starts
    /// every call afresh (its results, the mel, the decoders; `no_context` clears the carried
    /// prompt), as whisper.cpp's own tools reuse one state for every file. The kept state
    /// lives as long as the model is loaded.
    fn state(&self) -> Result<Lent<'_>, TranscribeError> {
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let state = match kept {
            Some(state) => state,
            None => self.ctx.create_state().map_err(|e| TranscribeError::Failed(e.to_string()))?,
        };
        Ok(Lent { state: Some(state), idle: &self.idle })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// [`floor_full`] with this model.
    pub fn floor(&self, audio: &[f32], threads: usize) -> Result<String, String> {
        floor_full(&self.ctx, audio, threads)
    }

    /// For each token id, whether [`Self::decode_after_context`] skips it: every special and
    /// timestamp token but the end of text, and text tokens holding a symbol whisper uses for
    /// non-speech ("♪", "[Music]", "(laughs)", "*"), as whisper.cpp's own `suppress_nst` does for
    /// the decodes it runs. Built once per model (a scan of the vocabulary). A symbol spelled
    /// in byte tokens gets through; the non-speech guard on the decoded text catches it.
    fn suppressed(&self) -> &[bool] {
        self.suppressed.get_or_init(|| {
            let eot = self.ctx.token_eot();
            (0..self.ctx.n_vocab())
                .map(|id| {
                    if id >= eot {
                        return id != eot;
                    }
                    let piece = self.ctx.token_to_bytes(id).map(String::from_utf8_lossy).unwrap_or_default();
                    piece.contains([
                        '♪', '♩', '♫', '♬', '[', ']', '(', ')', '{', '}', '<', '>', '*', '#', '~', '|',
                    ])
                })
                .collect()
        })
    }

    /// A final's words after its left context (or a partial's after its committed words, a
    /// context of no audio), decoded with the context's text forced as the start of the
    /// transcript (OpenAI whisper's `prefix`, which whisper.cpp's `full()` lacks): the encoder
    /// runs once over the whole window (a `full()` of one token), then the decoder takes
    /// [prompt, start of transcript, the context's text] as one batch and goes on greedily from
    /// there, so only the new words are decoded a token at a time, and the decoder cannot run
    /// the context into the new sentence and lose it. `None` when the language is "auto" (the
    /// old path then runs). The text guards (non-speech, runaway) run on what comes out;
    /// whisper's no-speech rule does not: it is one figure for the whole window, and with the
    /// context's speech in the window it hardly ever fired on the old path either.
    fn decode_after_context(
        &self,
        audio: &[f32],
        options: &Options,
        window: i32,
        context: &crate::Context,
    ) -> Result<Option<String>, TranscribeError> {
        let failed = |e: whisper_rs::WhisperError| TranscribeError::Failed(e.to_string());
        let lang_id = match options.language.as_str() {
            "auto" => return Ok(None),
            code => whisper_rs::get_lang_id(code).ok_or_else(|| TranscribeError::Language(code.into()))?,
        };
        let threads = options.threads.clamp(1, 64);
        let ctx = &self.ctx;
        let mut state = self.state()?;
        let mut params = full_params(options, window);
        params.set_no_timestamps(true);
        params.set_single_segment(true);
        params.set_max_tokens(1);
        state.full(params, audio).map_err(failed)?; // the encoder's output, for the decodes below
        let n_text_ctx = ctx.n_text_ctx().max(8) as usize;
        let mut tokens = Vec::new();
        if let Some(prompt) = options.prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            let prompt = ctx.tokenize(&format!(" {prompt}"), n_text_ctx).map_err(failed)?;
            tokens.push(ctx.token_prev());
            tokens.extend_from_slice(&prompt[prompt.len().saturating_sub(n_text_ctx / 2 - 1)..]);
        }
        tokens.push(ctx.token_sot());
        if ctx.is_multilingual() {
            tokens.push(ctx.token_lang(lang_id));
            tokens.push(if options.translate { ctx.token_translate() } else { ctx.token_transcribe() });
        }
        tokens.push(ctx.token_not());
        let forced = ctx.tokenize(&format!(" {}", context.text.trim()), n_text_ctx).map_err(failed)?;
        // The forced text never takes more than a quarter of the decoder's context.
        tokens.extend_from_slice(&forced[forced.len().saturating_sub(n_text_ctx / 4)..]);
        // All but the last token as one batch; the last alone, as `get_logits` reads the first
        // row of a batch's logits, and whisper.cpp writes only the last one's.
        let (last, batch) = tokens.split_last().expect("at least the start-of-transcript token");
        state.decode(batch, 0, threads).map_err(failed)?;
        state.decode(&[*last], batch.len(), threads).map_err(failed)?;
        let new_secs = audio.len().saturating_sub((context.ms * 16) as usize) as f64 / 16_000.0;
        let most = ((new_secs * 6.0 + 10.0) as usize).min(n_text_ctx.saturating_sub(tokens.len() + 1));
        let (eot, suppressed) = (ctx.token_eot(), self.suppressed());
        let blank = ctx.tokenize(" ", 4).map_err(failed)?;
        let mut bytes = Vec::new();
        for (i, n_past) in (tokens.len()..).take(most).enumerate() {
            let logits = state.get_logits().map_err(failed)?;
            let next = logits
                .iter()
                .enumerate()
                .filter(|&(id, _)| !suppressed.get(id).copied().unwrap_or(true))
                .filter(|&(id, _)| i > 0 || !blank.contains(&(id as i32)))
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(eot, |(id, _)| id as i32);
            if next == eot {
                break;
            }
            bytes.extend_from_slice(ctx.token_to_bytes(next).map_err(failed)?);
            state.decode(&[next], n_past, threads).map_err(failed)?;
        }
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        Ok(Some(if text::is_non_speech(&text) || text::is_runaway(&text, 4) { String::new() } else { text }))
    }

    fn run(
        &self,
        audio: &[f32],
        options: &Options,
        window: i32,
        progress: Option<Box<dyn FnMut(i32)>>,
    ) -> Result<Vec<Segment>, TranscribeError> {
        let failed = |e: whisper_rs::WhisperError| TranscribeError::Failed(e.to_string());
        let mut state = self.state()?;
        let mut params = full_params(options, window);
        if options.partial {
            // Text only, as one segment: a partial's words are shown, never its timestamps,
            // and timestamp tokens cost as much to decode as words.
            params.set_no_timestamps(true);
            params.set_single_segment(true);
            params.set_max_tokens(partial_max_tokens(audio.len()));
        }
        if let Some(prompt) = &options.prompt {
            params.set_initial_prompt(prompt);
        }
        if let Some(progress) = progress {
            params.set_progress_callback_safe(progress);
        }
        // Longer than a window: whisper.cpp's loop stops before a short last window, which
        // is decoded below with a window sized to it (see `last_window`).
        let stop = last_window::Stop::new(audio.len());
        if !options.partial && audio.len() > 30 * 16_000 {
            stop.install(&mut params);
        }
        state.full(params, audio).map_err(failed)?;
        let eot = self.ctx.token_eot();
        let mut segments = Vec::new();
        for segment in state.as_iter() {
            let text = segment.to_str_lossy().map_err(failed)?.trim().to_string();
            // whisper's own rule for silence: high no-speech probability AND low confidence.
            let logprobs: Vec<f32> = (0..segment.n_tokens())
                .filter_map(|i| segment.get_token(i))
                .filter(|t| t.token_id() < eot)
                .map(|t| t.token_data().plog)
                .collect();
            let avg_logprob =
                if logprobs.is_empty() { 0.0 } else { logprobs.iter().sum::<f32>() / logprobs.len() as f32 };
            let silence = segment.no_speech_probability() > 0.6 && avg_logprob < -1.0;
            if silence || text::is_non_speech(&text) || text::is_runaway(&text, 4) {
                tracing::debug!(%text, no_speech = segment.no_speech_probability(), avg_logprob, "segment dropped");
                continue;
            }
            // Timestamps are in 10 ms units.
            let t0_ms = segment.start_timestamp().max(0) as u64 * 10;
            let t1_ms = segment.end_timestamp().max(0) as u64 * 10;
            segments.push(Segment { t0_ms, t1_ms, text });
        }
        if let Some(seek) = stop.stopped_at() {
            #[cfg(test)]
            LAST_WINDOWS_STOPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(state); // back to the pool, for the call below
            let from = (seek as usize * 160).min(audio.len());
            let rest = &audio[from..];
            let offset = from as u64 * 1000 / 16_000;
            let window = audio_ctx_for(rest.len(), 0);
            for s in self.run(rest, options, window, None)? {
                segments.push(Segment { t0_ms: s.t0_ms + offset, t1_ms: s.t1_ms + offset, text: s.text });
            }
        }
        Ok(segments)
    }
}

impl Transcriber for WhisperTranscriber {
    fn name(&self) -> &str {
        &self.info.name
    }

    fn transcribe(&self, audio: &[f32], options: &Options) -> Result<Transcript, TranscribeError> {
        self.transcribe_with_progress(audio, options, std::sync::Arc::new(|_| {}))
    }

    fn transcribe_with_progress(
        &self,
        audio: &[f32],
        options: &Options,
        progress: crate::Progress,
    ) -> Result<Transcript, TranscribeError> {
        if options.language != "auto" && whisper_rs::get_lang_id(&options.language).is_none() {
            return Err(TranscribeError::Language(options.language.clone()));
        }
        if self.info.english_only && !matches!(options.language.as_str(), "en" | "auto") {
            return Err(TranscribeError::Language(format!(
                "{} (this model, {}, is English-only)",
                options.language, self.info.name
            )));
        }
        if audio.is_empty() {
            return Ok(Transcript { segments: vec![], language: options.language.clone() });
        }
        // Up to one window (30 s): one decode, its window sized to the audio. Longer audio (a
        // file, a meeting's second pass) goes to whisper.cpp whole, in one `full()`: it seeks
        // window by window itself, starting each where the last decoded segment ended, so no
        // word is cut at a fixed boundary. (Cutting at every 30 s, as this did before, lost or
        // garbled the words across each cut: on an 81 s recording WER 0.157 against 0.132 for
        // one `full()`, and 1.32x its time.)
        let context = options.context.as_ref().map_or(0, |c| (c.ms * 16) as usize);
        let window = match audio.len() {
            n if n > 30 * 16_000 => MAX_AUDIO_CTX,
            n if options.partial => partial_window(n),
            n => audio_ctx_for(n, context),
        };
        // A final's left context, or a partial's committed words (a context of no audio).
        if let Some(context) = &options.context
            && audio.len() <= 30 * 16_000
            && let Some(text) = self.decode_after_context(audio, options, window, context)?
        {
            progress(1.0);
            let t1_ms = audio.len() as u64 * 1000 / 16_000;
            let segments =
                if text.is_empty() { vec![] } else { vec![Segment { t0_ms: context.ms, t1_ms, text }] };
            return Ok(Transcript { segments, language: options.language.clone() });
        }
        let report = progress.clone();
        let on_progress = Box::new(move |p: i32| report(p as f32 / 100.0));
        let mut segments = self.run(audio, options, window, Some(on_progress))?;
        if audio.len() > 30 * 16_000 {
            // whisper's last window may run past the audio's end.
            let end_ms = audio.len() as u64 * 1000 / 16_000;
            for s in &mut segments {
                s.t1_ms = s.t1_ms.min(end_ms);
                s.t0_ms = s.t0_ms.min(s.t1_ms);
            }
        }
        progress(1.0);
        if let Some(context) = &options.context {
            // One segment: the new words, after the context's (see `text::after_context`).
            let joined = text::join(segments.iter().map(|s| s.text.as_str()));
            let t1_ms = segments.last().map_or(0, |s| s.t1_ms).max(context.ms);
            let text = text::after_context(&context.text, &joined);
            segments = if text::is_non_speech(&text) {
                vec![]
            } else {
                vec![Segment { t0_ms: context.ms, t1_ms, text }]
            };
        }
        Ok(Transcript { segments, language: options.language.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{JFK_TEXT, jfk, model};
    use crate::text::words;

    #[test]
    fn windows() {
        assert_eq!(audio_ctx_for(16_000 * 27 / 10, 0), MIN_AUDIO_CTX); // 2.7 s -> the 10 s floor
        assert_eq!(audio_ctx_for(16_000 * 11, 0), 925); // 11 s -> 18.5 s
        assert_eq!(audio_ctx_for(16_000 * 30, 0), MAX_AUDIO_CTX);
        // 6 s of context before 2.5 s of new speech: 6 + 2.5 * 1.5 + 2 = 11.75 s, not 14.75 s.
        assert_eq!(audio_ctx_for(16_000 * 85 / 10, 16_000 * 6), 588);
        assert_eq!(audio_ctx_for(16_000 * 85 / 10, 0), 738);
        // Context alone is never counted past the audio.
        assert_eq!(audio_ctx_for(16_000 * 12, 16_000 * 20), 700);
        assert_eq!(partial_window(8_000), 150); // 0.5 s -> the 3 s floor
        assert_eq!(partial_window(16_000 * 5), 350); // 5 s -> 7 s
        assert_eq!(partial_window(16_000 * 30), MAX_AUDIO_CTX);
        assert_eq!(partial_max_tokens(16_000 * 2), 20);
    }

    #[test]
    fn the_loop_stops_only_before_a_short_last_window() {
        use last_window::stops_before;
        // 92 s (9200 frames): a window from 87 s holds 5 s, sized to 10 s: stop.
        assert!(stops_before(9_200, 8_700));
        // From 62 s, 30 s are left: a whole window anyway; from 60 s, more than a window.
        assert!(!stops_before(9_200, 6_200) && !stops_before(9_200, 6_000));
        // 18.6 s left still fits a smaller window; 18.7 s does not (x1.5 + 2 s = 30 s).
        assert!(stops_before(9_200, 9_200 - 1_860) && !stops_before(9_200, 9_200 - 1_870));
        assert!(!stops_before(9_200, 9_200));
    }

    /// `.cargo/config.toml` builds ggml with llamafile's matrix kernels; a build that lost them
    /// (the setting gone, a cached whisper.cpp built without it) runs the encoder 1.6-1.7x slower.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn whisper_cpp_is_built_with_llamafiles_matrix_kernels() {
        let features = engine_features();
        // whisper-rs-sys reruns its build only for the variables it names, not GGML_*: a target
        // dir that built it before the setting keeps the old build until it is cleaned.
        assert!(
            features.contains("LLAMAFILE = 1"),
            "whisper.cpp without llamafile's kernels (run `cargo clean -p whisper-rs-sys`): {features}"
        );
    }

    /// `.cargo/config.toml` builds ggml for x86-64-v3, not for the CPU it was built on: a build
    /// with AVX-512 (ggml's `-march=native` on an AVX-512 machine) dies of SIGILL on any CPU
    /// without it, and one that lost AVX2 would run several times slower.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn whisper_cpp_is_built_for_x86_64_v3_not_for_this_cpu() {
        let features = engine_features();
        let on = |name: &str| features.contains(&format!(" {name} = 1"));
        let clean = "scripts/ggml-settings.sh cleans a target dir built under other settings";
        assert!(!features.contains("AVX512"), "whisper.cpp built with AVX-512 ({clean}): {features}");
        for needed in ["AVX", "AVX2", "FMA", "F16C", "BMI2"] {
            assert!(on(needed), "whisper.cpp built without {needed} ({clean}): {features}");
        }
    }

    #[test]
    fn jfk_word_for_word_and_silence_gives_nothing() {
        let Some(path) = model() else { return };
        let t = WhisperTranscriber::load(&path).unwrap();
        let out = t.transcribe(&jfk(), &Options { threads: 2, ..Options::default() }).unwrap();
        assert_eq!(words(&out.text()), words(JFK_TEXT), "{}", out.text());
        assert!(out.segments.first().unwrap().t0_ms < 1_000 && out.segments.last().unwrap().t1_ms > 9_000);
        let silence =
            t.transcribe(&vec![0.0; 16_000 * 5], &Options { threads: 2, ..Options::default() }).unwrap();
        assert_eq!(silence.text(), "", "no text from silence");
        let e = t.transcribe(&jfk(), &Options { language: "de".into(), ..Options::default() }).unwrap_err();
        assert!(e.to_string().contains("English-only"), "{e}");
    }

    #[test]
    fn a_kept_state_decodes_as_a_new_one() {
        // Calls of every kind on one transcriber (so each after the first reuses the state the
        // last left) give what they give on a transcriber of their own (a new state each).
        let Some(path) = model() else { return };
        let kept = WhisperTranscriber::load(&path).unwrap();
        let forced = crate::Context { ms: 0, text: "And so my fellow Americans,".into() };
        let context = crate::Context { ms: 3_600, text: "And so my fellow Americans.".into() };
        let calls: Vec<(Vec<f32>, Options)> = vec![
            (jfk(), Options { threads: 2, ..Options::default() }),
            (
                jfk()[..16_000 * 7].to_vec(),
                Options { threads: 2, partial: true, context: Some(forced), ..Options::default() },
            ),
            (jfk()[..16_000 * 3].to_vec(), Options { threads: 2, partial: true, ..Options::default() }),
            (jfk(), Options { threads: 2, context: Some(context), ..Options::default() }),
            (jfk(), Options { threads: 2, prompt: Some("Kennedy".into()), ..Options::default() }),
        ];
        for (audio, options) in &calls {
            let fresh = WhisperTranscriber::load(&path).unwrap().transcribe(audio, options).unwrap();
            assert_eq!(kept.transcribe(audio, options).unwrap(), fresh, "{options:?}");
        }
        assert_eq!(kept.idle.lock().unwrap().len(), IDLE_STATES, "the state is kept for the next call");
    }

    #[test]
    fn a_final_after_context_holds_only_the_new_words() {
        // jfk.wav's first 3.6 s ("And so my fellow Americans,") as left context, its text forced
        // as the transcript's start: only what follows comes back, once, word for word.
        let Some(path) = model() else { return };
        let t = WhisperTranscriber::load(&path).unwrap();
        let context = crate::Context { ms: 3_600, text: "And so my fellow Americans.".into() };
        let options = Options { threads: 2, context: Some(context), ..Options::default() };
        let out = t.transcribe(&jfk(), &options).unwrap();
        let rest = "ask not what your country can do for you, ask what you can do for your country.";
        assert_eq!(words(&out.text()), words(rest), "{}", out.text());
        assert_eq!(out.segments.len(), 1);
        assert_eq!((out.segments[0].t0_ms, out.segments[0].t1_ms), (3_600, jfk().len() as u64 / 16));
        // Nothing new after the context: nothing comes back (the forced text is not repeated).
        let context = crate::Context { ms: 11_000, text: JFK_TEXT.into() };
        let mut padded = jfk();
        padded.extend(vec![0.0; 16_000]);
        let options = Options { threads: 2, context: Some(context), ..Options::default() };
        assert_eq!(t.transcribe(&padded, &options).unwrap().text(), "");
    }

    #[test]
    fn a_partial_goes_on_from_its_committed_words() {
        // A partial of jfk.wav's first 7 s whose first words are committed already: they are
        // forced, and only what follows them is decoded.
        let Some(path) = model() else { return };
        let t = WhisperTranscriber::load(&path).unwrap();
        let forced = crate::Context { ms: 0, text: "And so my fellow Americans,".into() };
        let options = Options { threads: 2, partial: true, context: Some(forced), ..Options::default() };
        let out = t.transcribe(&jfk()[..16_000 * 7], &options).unwrap();
        let w = words(&out.text());
        assert!(w.starts_with(&words("ask not what your")), "{}", out.text());
        assert!(!w.contains(&"fellow".to_string()), "{}", out.text());
    }

    #[test]
    fn the_decoder_after_context_never_picks_special_timestamp_or_non_speech_tokens() {
        let Some(path) = model() else { return };
        let t = WhisperTranscriber::load(&path).unwrap();
        let (mask, eot) = (t.suppressed(), t.ctx.token_eot());
        assert_eq!(mask.len(), t.ctx.n_vocab() as usize);
        assert!(!mask[eot as usize], "the end of text stays");
        for special in [t.ctx.token_sot(), t.ctx.token_not(), t.ctx.token_beg(), t.ctx.token_beg() + 100] {
            assert!(mask[special as usize], "{special}");
        }
        let id = |text: &str| t.ctx.tokenize(text, 8).unwrap();
        for word in [" country", " Americans", ".", ","] {
            assert!(id(word).iter().all(|&i| !mask[i as usize]), "{word:?} is suppressed");
        }
        // (A "♪" that whisper.cpp's tokenizer splits into bytes is not caught here; the
        // non-speech guard on the text is.)
        for noise in [" (", " [", "*", " #"] {
            assert!(id(noise).iter().any(|&i| mask[i as usize]), "{noise:?} is not suppressed");
        }
    }

    #[test]
    fn long_silences_are_cut_out_and_give_no_words() {
        // jfk.wav, 20 s of silence, jfk.wav: `pack::transcribe_speech` cuts the silence out (on
        // a recording with two such silences whisper given the whole file invented sentences
        // for them: BENCHMARKS.md) and loses no word for it: both copies word for word, each
        // in its place on the recording's timeline.
        let Some(path) = model() else { return };
        let t = WhisperTranscriber::load(&path).unwrap();
        let jfk = jfk();
        let audio: Vec<f32> = [&jfk[..], &vec![0.0; 16_000 * 20], &jfk].concat();
        let out = crate::pack::transcribe_speech(
            &t,
            &audio,
            &Options { threads: 2, ..Options::default() },
            std::sync::Arc::new(|_| {}),
        )
        .unwrap();
        assert_eq!(words(&out.text()), words(&format!("{JFK_TEXT} {JFK_TEXT}")), "{}", out.text());
        let second = jfk.len() as u64 * 1000 / 16_000 + 20_000;
        let (before, after): (Vec<_>, Vec<_>) = out.segments.iter().partition(|s| s.t0_ms < second - 10_000);
        assert!(!before.is_empty() && !after.is_empty(), "{:?}", out.segments);
        assert!(before.iter().all(|s| s.t1_ms <= 11_100), "{before:?}");
        // A span starts up to 1 s before its speech (the VAD's pre-roll and the cut's pad).
        assert!(after.iter().all(|s| s.t0_ms >= second - 1_000), "{after:?}");
    }

    /// The 24 sentences of `scripts/gen-speech.sh DIR 4` (92 s, two voices, 1.2 s pauses), or
    /// `None` (saying why) where espeak-ng or sox is missing: (samples, the words spoken).
    fn long_generated_recording() -> Option<(Vec<f32>, String)> {
        let dir = tempfile::tempdir().unwrap();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gen-speech.sh");
        let out = std::process::Command::new("bash").arg(&script).arg(dir.path()).arg("4").output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: scripts/gen-speech.sh failed (espeak-ng and sox installed?): {out:?}");
            return None;
        }
        let manifest = std::fs::read_to_string(dir.path().join("manifest.tsv")).unwrap();
        let reference: Vec<&str> = manifest.lines().filter_map(|l| l.split('\t').nth(2)).collect();
        let audio = hark_audio::wav::read_file_16k_mono(&dir.path().join("speech.wav")).unwrap().0;
        Some((audio, reference.join(" ")))
    }

    #[test]
    fn a_long_recording_reads_at_least_as_well_as_one_full_over_it() {
        // What `hark transcribe`, the transcribe RPC and the second pass run, against the floor
        // (one `full()`, whisper.cpp's defaults) on continuous speech longer than a window:
        // the same words as the floor in every benchmark run (WER 0.291 here; a fixed 30 s cut,
        // before, gave 0.157 against 0.132 on the recording). One word of slack.
        let Some(path) = model() else { return };
        let Some((audio, reference)) = long_generated_recording() else { return };
        let t = WhisperTranscriber::load(&path).unwrap();
        let options = Options { threads: 2, ..Options::default() };
        let stopped = || LAST_WINDOWS_STOPPED.load(std::sync::atomic::Ordering::Relaxed);
        let before = stopped();
        let out = crate::pack::transcribe_speech(&t, &audio, &options, std::sync::Arc::new(|_| {})).unwrap();
        let after = stopped();
        let hark = out.text();
        let floor = floor_full(&t.ctx, &audio, 2).unwrap();
        let (w_hark, w_floor) = (text::wer(&reference, &hark), text::wer(&reference, &floor));
        eprintln!("92 s generated recording: Hark WER {w_hark:.3}, one full() {w_floor:.3}");
        assert!(w_hark <= w_floor + 0.006, "Hark {w_hark:.3} vs the floor {w_floor:.3}: {hark}");
        // The last window was decoded on its own (it holds about 5 s): its words are there, on
        // the recording's timeline, after the rest.
        assert!(after > before, "whisper.cpp's loop was not stopped before the last window");
        let end_ms = audio.len() as u64 * 1000 / 16_000;
        let last = out.segments.last().unwrap();
        assert!(last.t1_ms <= end_ms && last.t1_ms + 3_000 > end_ms, "{:?}", out.segments);
        assert!(out.segments.windows(2).all(|w| w[0].t0_ms <= w[1].t0_ms), "{:?}", out.segments);
        let w = words(&out.text());
        assert!(w[w.len() - 4..].contains(&"lemons".to_string()), "{}", out.text());
    }

    #[test]
    fn bad_model_files_are_clear_errors() {
        if let Some(stub) = crate::fixtures::shared_model("for-tests-ggml-tiny.en.bin") {
            let e = WhisperTranscriber::load(&stub).unwrap_err().to_string();
            assert!(e.contains("no weights"), "{e}");
        }
        let e = WhisperTranscriber::load(Path::new("/nonexistent/model.bin")).unwrap_err().to_string();
        assert!(e.contains("cannot open"), "{e}");
    }
}
