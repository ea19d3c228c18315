//! One voice stream: ONE task that owns its state (VAD, audio buffer, open segment, sequence
//! numbers) and takes commands over a channel (audio, stop, owner gone). It turns audio into
//! events for its sink (`sink.rs`), in order: `speech_start`, `partial`s while speech goes on,
//! `speech_end`, the final `transcript` (never revised), `level`s, and `done` last.
//!
//! Transcription runs on blocking threads, never on the runtime. Finals are transcribed in
//! order, one at a time; a partial is started only when no transcription of this stream is
//! running and enough new speech arrived (1.2 s of the segment for its first, then 500 ms, or
//! eight times the last partial's decode), so partials take about an eighth of the time at most
//! and, when compute is short, their cadence degrades, never the finals (the model's calls
//! also take turns, finals first: `engine.rs`).
//! A segment is cut at 20 s even if speech goes on.
//!
//! A final is decoded with the preceding finals' audio (up to CONTEXT_MS) as left context (and
//! again without it when that decode lost the new sentence: `text::lost_new_speech`) and
//! keeps only the words after theirs; a partial shows the words its last two guesses agreed on
//! (never revised within the segment) followed by the newest guess's tail (`agreement.rs`).

use std::sync::Arc;

use hark_audio::level::LevelMeter;
use hark_audio::vad::{Segmenter, VadConfig, VadEvent};
use hark_audio::{ms_to_samples, samples_to_ms};
use hark_protocol::voice::{DoneReason, VoiceEvent};
use hark_transcribe::text::{join, lost_new_speech, spoken_chars};
use hark_transcribe::{Options, TranscribeError, Transcriber, Transcript};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::agreement::Agreement;
use super::sink::EventSink;

/// Longest final segment; speech that goes on is cut here and continues in the next.
pub const MAX_SEGMENT_MS: u64 = 20_000;
/// New speech between two partials, at least...
pub const PARTIAL_EVERY_MS: u64 = 500;
/// ...and at least this many times the last partial's decode (its wait for the model
/// included): the cadence follows the machine's speed and load, so partials take at most about
/// an eighth of the time, wherever they run. Measured with `hark-bench accuracy` (BENCHMARKS.md,
/// "Partials that cost less"): with windows sized to the partial, finals plus partials went
/// from 3.4x to 2.1x the floor's compute on jfk.wav (16 partials -> 6-8) and from 5.3x to 3.4x
/// on a 6-sentence recording, partial lag p90 0.15-0.23 s either way.
const PARTIAL_COST_FACTOR: u64 = 8;
/// A segment's first partial waits for this much of its audio (the VAD's pre-roll included).
/// whisper makes little of less: traced in `hark-bench accuracy` on the 6-sentence recording,
/// the first partials, at 0.7 s, came out empty twice and as "F-", "Please." and "Fudge." for
/// sentences that began otherwise (one of six right, "It is"), at 64-145 ms each, a third of
/// the partials' compute; at 1.2-1.9 s they held the sentence's first words.
const PARTIAL_FIRST_MS: u64 = 1_200;
/// No partial is started once the speaker has paused this long.
const TRAILING_SILENCE_NO_PARTIAL_MS: u64 = 200;
/// Audio kept before an open segment (more than the VAD's pre-roll).
const KEEP_BEFORE_MS: u64 = 1_000;
/// A segment shorter than this is not finalized at its end: whisper decodes a lone short phrase
/// badly (on jfk.wav with tiny.en, "ask not" (1.5 s) alone came out as "S not."), so it waits
/// to be joined by the speech that follows... (Sentences of 2 s and more are finalized alone:
/// finals follow each pause.)
pub const MIN_FINAL_MS: u64 = 2_000;
/// ...unless the silence after it lasts this long.
pub const SHORT_SEGMENT_WAIT_MS: u64 = 2_000;
/// How far the stream may fall behind its audio (wall time since it was last level with its
/// audio, nothing queued, minus the audio taken since) before it catches up: while behind, an ended segment is not decoded alone but joined
/// with the speech that follows (up to MAX_SEGMENT_MS, or until a pause of SHORT_SEGMENT_WAIT_MS),
/// and no partials are started. Fewer, larger decodes cost less than one per segment (each pays
/// the encoder's minimum window), so the backlog shrinks instead of latency growing. A client
/// that pushes faster than real time is not behind while it keeps ahead of the wall clock; a file
/// read as fast as possible never is (`Stream::live`).
pub const CATCH_UP_LAG_MS: i64 = 1_500;

/// A final is decoded with the audio of the finals that started at most this long before it as
/// left context, and keeps only the words after theirs (`hark_transcribe::Context`). Measured
/// with `hark-bench accuracy` (BENCHMARKS.md): on the generated recordings WER 0.449 -> 0.408
/// (6 sentences) and 0.449 -> 0.357 (24); 10 s and 16 s of context did worse (0.388/0.444,
/// 0.612/0.429): a longer window makes tiny.en skip or repeat whole sentences. jfk.wav stays
/// word for word.
const CONTEXT_MS: u64 = 6_000;
/// Longest audio one final decodes, left context included (whisper's window is 30 s).
const MAX_WINDOW_MS: u64 = 28_000;

#[derive(Debug)]
pub enum Command {
    /// 16 kHz mono samples.
    Audio(Vec<f32>),
    /// Pushed samples holding their share of the stream's budget until they are taken.
    Pushed(Vec<f32>, tokio::sync::OwnedSemaphorePermit),
    /// Flush the open segment, send `done`, then answer.
    Stop(DoneReason, Option<oneshot::Sender<()>>),
    /// The source failed: flush the open segment, send `error`, then `done` (reason `error`).
    Fail { code: String, message: String },
}

pub struct Stream {
    pub id: String,
    /// Where its events (and, for a meeting, its audio) go.
    pub sink: Arc<dyn EventSink>,
    pub transcriber: Arc<dyn Transcriber>,
    pub options: Options,
    pub partials: bool,
    /// Whether the audio comes at real-time pace (devices, real-time files, pushed PCM), so the
    /// stream can fall behind it and catch up; a file read as fast as possible never does.
    pub live: bool,
}

struct State {
    stream: Stream,
    segmenter: Segmenter,
    meter: LevelMeter,
    /// Audio from sample `base` on.
    audio: Vec<f32>,
    base: u64,
    /// Samples received.
    pos: u64,
    /// Start of the open segment.
    open: Option<u64>,
    /// Where a short open segment's speech ended (it waits for more speech, see MIN_FINAL_MS).
    pending_end: Option<u64>,
    /// The latest finals, oldest first: (start, end, text), for left context and the prompt.
    finals: std::collections::VecDeque<(u64, u64, String)>,
    seq: u64,
    /// Sample position the last partial covered up to.
    partial_pos: u64,
    /// The partial being transcribed: (segment start, covered up to). Its result comes back on
    /// `partial_tx`; a result that no longer matches (the segment was finalized) is dropped.
    partial: Option<(u64, u64)>,
    partial_tx: mpsc::UnboundedSender<(u64, u64, Option<String>, std::time::Duration)>,
    /// How long the last partial took (see PARTIAL_COST_FACTOR).
    partial_took: std::time::Duration,
    /// The open segment's committed partial words (LocalAgreement-2).
    agreement: Agreement,
    /// The wall-clock instant audio time 0 corresponds to, re-anchored whenever the stream has
    /// caught up (nothing queued): how far behind its audio the stream is, with gaps in the
    /// audio (a client that paused pushing) never counted as falling behind.
    clock_zero: Option<std::time::Instant>,
}

/// Runs the stream until it is stopped or its commands end (owner gone).
pub async fn run(stream: Stream, mut commands: mpsc::Receiver<Command>, owner_gone: CancellationToken) {
    let (partial_tx, mut partial_rx) = mpsc::unbounded_channel();
    let mut s = State {
        stream,
        segmenter: Segmenter::new(VadConfig::default()),
        meter: LevelMeter::default(),
        audio: Vec::new(),
        base: 0,
        pos: 0,
        open: None,
        pending_end: None,
        finals: Default::default(),
        seq: 0,
        partial_pos: 0,
        partial: None,
        partial_tx,
        partial_took: std::time::Duration::ZERO,
        agreement: Agreement::default(),
        clock_zero: None,
    };
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Audio(samples)) => {
                    if commands.is_empty() {
                        s.caught_up(samples.len());
                    }
                    s.audio_in(&samples).await
                }
                Some(Command::Pushed(samples, budget)) => {
                    if commands.is_empty() {
                        s.caught_up(samples.len());
                    }
                    s.audio_in(&samples).await;
                    drop(budget); // taken: the client may push this much more
                }
                Some(Command::Stop(reason, reply)) => {
                    s.finish(reason).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(());
                    }
                    return;
                }
                Some(Command::Fail { code, message }) => {
                    s.finish_with_error(code, message).await;
                    return;
                }
                None => return, // the owner is gone: nobody to tell
            },
            () = owner_gone.cancelled() => return,
            Some((start, end, text, took)) = partial_rx.recv() => {
                s.partial_took = took;
                if s.partial == Some((start, end)) {
                    s.partial = None;
                    if s.open == Some(start)
                        && let Some(text) = text
                    {
                        let text = s.agreement.update(&text);
                        s.emit_partial(text, start, end);
                    }
                }
                s.maybe_start_partial();
            }
        }
    }
}

impl State {
    fn send(&self, event: VoiceEvent) {
        self.stream.sink.event(&self.stream.id, event);
    }

    fn slice(&self, from: u64, to: u64) -> Vec<f32> {
        let a = from.saturating_sub(self.base) as usize;
        let b = (to.saturating_sub(self.base) as usize).min(self.audio.len());
        self.audio.get(a.min(b)..b).map(<[f32]>::to_vec).unwrap_or_default()
    }

    /// Nothing is waiting behind this chunk of `samples`: once it is taken, the stream is level
    /// with its audio.
    fn caught_up(&mut self, samples: usize) {
        let audio = std::time::Duration::from_millis(samples_to_ms(self.pos + samples as u64));
        let now = std::time::Instant::now();
        self.clock_zero = Some(now.checked_sub(audio).unwrap_or(now));
    }

    /// Whether the stream is more than CATCH_UP_LAG_MS behind its audio: audio has been waiting
    /// since it was level, for longer than the audio it has taken since.
    fn behind(&self) -> bool {
        let Some(zero) = self.clock_zero.filter(|_| self.stream.live) else { return false };
        let lag = zero.elapsed().as_millis() as i64 - samples_to_ms(self.pos) as i64;
        lag > CATCH_UP_LAG_MS
    }

    async fn audio_in(&mut self, samples: &[f32]) {
        self.stream.sink.audio(samples);
        self.audio.extend_from_slice(samples);
        self.pos += samples.len() as u64;
        for level in self.meter.push(samples) {
            self.send(VoiceEvent::Level { rms: level.rms, peak: level.peak });
        }
        for event in self.segmenter.push(samples) {
            self.vad_event(event).await;
        }
        if let (Some(start), Some(end)) = (self.open, self.pending_end)
            && self.pos - end >= ms_to_samples(SHORT_SEGMENT_WAIT_MS)
        {
            (self.open, self.pending_end) = (None, None);
            self.final_for(start, end).await;
        }
        if let Some(start) = self.open
            && self.pending_end.is_none()
            && self.pos - start >= ms_to_samples(MAX_SEGMENT_MS)
        {
            self.final_for(start, self.pos).await;
            self.open = Some(self.pos);
            self.partial_pos = self.pos;
            self.agreement.reset();
        }
        self.maybe_start_partial();
        self.trim();
    }

    async fn vad_event(&mut self, event: VadEvent) {
        match event {
            VadEvent::Start { sample } => {
                // A short segment still waiting goes on with this speech.
                if self.pending_end.take().is_none() {
                    self.open = Some(sample);
                    self.partial_pos = sample;
                    self.agreement.reset();
                }
                self.send(VoiceEvent::SpeechStart { t_ms: samples_to_ms(sample) });
            }
            VadEvent::End { sample } => {
                self.send(VoiceEvent::SpeechEnd { t_ms: samples_to_ms(sample) });
                match self.open {
                    Some(start) if sample - start < ms_to_samples(MIN_FINAL_MS) => {
                        self.pending_end = Some(sample)
                    }
                    // Behind: join this segment with the speech that follows (catch up).
                    Some(_) if self.behind() => {
                        tracing::debug!(session = %self.stream.id, "behind its audio: joining segments");
                        self.pending_end = Some(sample)
                    }
                    Some(start) => {
                        self.open = None;
                        self.final_for(start, sample).await;
                    }
                    None => {}
                }
            }
        }
    }

    fn maybe_start_partial(&mut self) {
        let Some(start) = self.open else { return };
        if !self.stream.partials
            || self.partial.is_some()
            || self.pending_end.is_some() // no new speech since the last guess
            // The speaker has paused: a final may be near, and it must not share the CPU.
            || self.segmenter.trailing_silence() >= ms_to_samples(TRAILING_SILENCE_NO_PARTIAL_MS)
            || self.pos - self.partial_pos < ms_to_samples(self.partial_every_ms())
            // Behind its audio: compute goes to the finals.
            || self.behind()
        {
            return;
        }
        let (audio, end) = (self.slice(start, self.pos), self.pos);
        self.partial_pos = end;
        // The words committed so far are forced as the decode's start (a context of no audio):
        // only what follows them is decoded, a token at a time.
        let committed = self.agreement.committed();
        let context =
            (!committed.is_empty()).then(|| hark_transcribe::Context { ms: 0, text: committed.clone() });
        let options = hark_transcribe::Options { partial: true, context, ..self.stream.options.clone() };
        let (t, tx) = (self.stream.transcriber.clone(), self.partial_tx.clone());
        tokio::task::spawn_blocking(move || {
            let began = std::time::Instant::now();
            let text = match t.transcribe(&audio, &options) {
                Ok(tr) => {
                    Some(join([committed.as_str(), tr.text().as_str()].into_iter())).filter(|s| !s.is_empty())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "partial transcription failed");
                    None
                }
            };
            let _ = tx.send((start, end, text, began.elapsed()));
        });
        self.partial = Some((start, end));
    }

    /// New speech the next partial waits for.
    fn partial_every_ms(&self) -> u64 {
        if self.open == Some(self.partial_pos) {
            return PARTIAL_FIRST_MS; // the segment's first guess
        }
        PARTIAL_EVERY_MS.max(self.partial_took.as_millis() as u64 * PARTIAL_COST_FACTOR)
    }

    fn emit_partial(&self, text: String, start: u64, end: u64) {
        let (t0_ms, t1_ms) = (samples_to_ms(start), samples_to_ms(end));
        self.send(VoiceEvent::Partial { text, t0_ms, t1_ms, duration_ms: t1_ms - t0_ms });
    }

    /// Transcribes `[start, end)` and sends it as a final. A partial of the same segment still
    /// running is dropped (its result would come after the final).
    async fn final_for(&mut self, start: u64, end: u64) {
        if self.partial.is_some_and(|(s, _)| s == start) {
            self.partial = None; // its result, when it comes, is dropped
        }
        if start >= end {
            return;
        }
        let first = self
            .finals
            .iter()
            .rposition(|(s0, _, _)| {
                start - s0 > ms_to_samples(CONTEXT_MS) || end - s0 > ms_to_samples(MAX_WINDOW_MS)
            })
            .map_or(0, |i| i + 1);
        // Never before the audio still held (it always is: `trim` keeps it).
        let from = self.finals.get(first).map_or(start, |f| f.0).max(self.base);
        let audio = self.slice(from, end);
        let mut options = self.stream.options.clone();
        // Without the context: the new segment alone, the context's text as its prompt.
        let mut alone = None;
        // Not while the stream is behind its audio: a second decode would only grow the backlog.
        let redo = !self.behind();
        if from < start {
            let text = self.finals.range(first..).map(|f| f.2.as_str()).collect::<Vec<_>>().join(" ");
            let spoken = self.finals.range(first..).map(|f| samples_to_ms(f.1 - f.0)).sum::<u64>();
            let mut alone_options = options.clone();
            alone_options.prompt = alone_options.prompt.or_else(|| Some(text.clone()));
            alone = redo.then_some((alone_options, spoken, (start - from) as usize));
            options.context = Some(hark_transcribe::Context { ms: samples_to_ms(start - from), text });
        }
        // The prompt is the final before the context (unless the client gave one): measured on
        // the generated six-sentence recording without context, streaming WER 0.51 without a
        // prompt, 0.45 with the previous final; with context, no prompt made tiny.en repeat
        // the context (WER 1.47). The daemon carries this context, not whisper's state.
        if options.prompt.is_none() {
            options.prompt = first.checked_sub(1).and_then(|i| self.finals.get(i)).map(|f| f.2.clone());
        }
        let t = self.stream.transcriber.clone();
        let new_ms = samples_to_ms(end - start);
        let result = tokio::task::spawn_blocking(move || -> Result<Transcript, TranscribeError> {
            let took = std::time::Instant::now();
            let with_context = t.transcribe(&audio, &options)?;
            let (Some((alone_options, spoken, skip)), Some(context)) = (alone, &options.context) else {
                return Ok(with_context);
            };
            // Only a model well ahead of real time decodes twice (the first decode took under
            // half the new audio's length; tiny.en on 2 cores takes a tenth to a fifth), so the
            // second decode never puts a stream behind its audio.
            if took.elapsed().as_millis() as u64 * 2 >= new_ms {
                return Ok(with_context);
            }
            // A decode that ran the context into the new sentence and lost it is decoded again
            // without the context, and the version with more said is kept (`lost_new_speech`).
            // Measured with `hark-bench accuracy` (BENCHMARKS.md, "Finals that lost their
            // sentence"): WER 0.408 -> 0.327 on the 6-sentence recording, 0.423 -> 0.372 on the
            // 24-sentence one, jfk.wav word for word; 4 of 24 finals decoded twice.
            let text = with_context.text();
            if !lost_new_speech(&context.text, spoken, &text, new_ms) {
                return Ok(with_context);
            }
            let again = t.transcribe(&audio[skip..], &alone_options)?;
            tracing::debug!(with_context = %text, alone = %again.text(), "final decoded again without its context");
            Ok(if spoken_chars(&again.text()) > spoken_chars(&text) { again } else { with_context })
        })
        .await;
        match result {
            Ok(Ok(transcript)) => {
                let text = transcript.text();
                if text.is_empty() {
                    return; // no text from silence
                }
                let (t0_ms, t1_ms) = (samples_to_ms(start), samples_to_ms(end));
                let seq = self.seq;
                self.seq += 1;
                self.finals.push_back((start, end, text.clone()));
                if self.finals.len() > 4 {
                    self.finals.pop_front();
                }
                self.send(VoiceEvent::Transcript {
                    text,
                    t0_ms,
                    t1_ms,
                    duration_ms: t1_ms - t0_ms,
                    role: "unknown".into(),
                    seq,
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(session = %self.stream.id, error = %e, "transcription failed");
                self.send(VoiceEvent::Error { code: "transcription_failed".into(), message: e.to_string() });
            }
            Err(e) => tracing::error!(error = %e, "transcription task failed"),
        }
    }

    /// Drops audio no segment can need any more.
    fn trim(&mut self) {
        let mut keep_from = match self.open {
            Some(start) => start.min(self.pos.saturating_sub(ms_to_samples(KEEP_BEFORE_MS))),
            None => self.pos.saturating_sub(ms_to_samples(KEEP_BEFORE_MS)),
        };
        if let Some((s0, _, _)) = self.finals.front() {
            keep_from = keep_from.min((*s0).max(self.pos.saturating_sub(ms_to_samples(MAX_WINDOW_MS))));
        }
        if keep_from > self.base {
            let drop = ((keep_from - self.base) as usize).min(self.audio.len());
            self.audio.drain(..drop);
            self.base += drop as u64;
        }
    }

    /// Everything heard before the failure is still transcribed, then the error, then `done`.
    async fn finish_with_error(&mut self, code: String, message: String) {
        self.flush().await;
        self.send(VoiceEvent::Error { code, message });
        self.send(VoiceEvent::Done { reason: DoneReason::Error });
    }

    async fn finish(&mut self, reason: DoneReason) {
        self.flush().await;
        self.send(VoiceEvent::Done { reason });
    }

    /// Ends the open segment: its final, if it has speech.
    async fn flush(&mut self) {
        if let Some(VadEvent::End { sample }) = self.segmenter.finish() {
            self.send(VoiceEvent::SpeechEnd { t_ms: samples_to_ms(sample) });
            self.pending_end = Some(sample);
        }
        if let (Some(start), Some(end)) = (self.open.take(), self.pending_end.take()) {
            self.final_for(start, end).await;
        }
        self.partial = None;
    }
}
