//! ONE recorder per running meeting: a thread that owns the meeting's files (its
//! `transcript.jsonl`, its WAVs, its `meeting.json`) and takes everything over one channel: the
//! audio and events of the meeting's voice streams (through [`MeetingSink`]), renames, and the
//! order to finish. Nobody else writes a running meeting's files.
//!
//! Durability order (PROTOCOL §16): a final segment's line is written to `transcript.jsonl` (it
//! reaches the OS) before its `transcript` event goes to anyone; the file is fsynced at least
//! every second and at the end; WAV headers are refreshed about every second. Then the segment
//! is indexed (a cache: a failure there is logged, never lost data) and fanned out: as a
//! `voice.event` to the starter and to host subscribers, and as a `meeting.segment` host event.
//! Events reach everyone in the order the streams produced them, because they all pass through
//! this one channel.
//!
//! The recorder finishes when every source has said `done` (a stop, a file that ended, a lost
//! device) or when told to: WAVs finalized, transcript fsynced, `meeting.json` rewritten with
//! its final status, the `meeting.stopped` host event (with its `reason`: `stopped`,
//! `sources_ended` or `auto_stop`), and the final metadata published.
//!
//! The auto-stop guard (the `auto_stop_minutes` setting, read when the meeting starts) is for
//! forgotten recordings: when no source has had speech (a VAD start, a partial, a final) for that
//! long, wall-clock time, and none is open now, the recorder asks for the meeting to be stopped
//! like `meeting.stop` would. A meeting still reading a file source is never auto-stopped (the
//! file is read as fast as it can be; its silences are not the person's).

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hark_audio::wav::WavWriter;
use hark_protocol::meeting::{MeetingMetadata, MeetingStatus, Segment};
use hark_protocol::time::now_rfc3339;
use hark_protocol::voice::{DoneReason, VoiceEvent};
use hark_store::{Index, MeetingStore, TranscriptWriter};
use serde_json::json;
use tokio::sync::{oneshot, watch};

use super::echo::EchoFilter;
use crate::caller::Outbox;
use crate::host::HostState;
use crate::voice::sink::{EventSink, send_voice_event};

pub(crate) enum Msg {
    Audio {
        source: usize,
        samples: Vec<f32>,
    },
    Event {
        source: usize,
        event: VoiceEvent,
    },
    Rename {
        title: String,
        reply: oneshot::Sender<MeetingMetadata>,
    },
    /// Finish now, whatever the sources said (their streams have been stopped).
    Finish,
}

/// What the rest of the daemon may read of a running meeting.
pub(crate) struct Shared {
    pub metadata: Mutex<MeetingMetadata>,
    /// The starter's outbox while it is connected (the cleanup path clears it).
    pub starter: Mutex<Option<Arc<dyn Outbox>>>,
    /// The final metadata, once the recorder has finished.
    pub finished: watch::Sender<Option<MeetingMetadata>>,
}

/// A meeting stream's sink: hands its audio and events to the recorder, in order.
pub(crate) struct MeetingSink {
    pub tx: Mutex<Sender<Msg>>,
    pub source: usize,
}

impl EventSink for MeetingSink {
    fn event(&self, _stream_id: &str, event: VoiceEvent) {
        let _ = crate::lock(&self.tx).send(Msg::Event { source: self.source, event });
    }
    fn audio(&self, samples: &[f32]) {
        let _ = crate::lock(&self.tx).send(Msg::Audio { source: self.source, samples: samples.to_vec() });
    }
}

pub(crate) struct Recorder {
    pub shared: Arc<Shared>,
    pub store: MeetingStore,
    pub index: Arc<Mutex<Index>>,
    pub host: Arc<HostState>,
    pub starter_session: String,
    pub transcript: TranscriptWriter,
    /// One per source; `None` when audio is not kept.
    pub wavs: Vec<Option<WavWriter>>,
    /// `meeting:<id>:<source>`, per source.
    pub stream_ids: Vec<String>,
    /// The silence after which the meeting stops by itself, and what stops it.
    pub auto_stop: Option<(Duration, Box<dyn Fn() + Send>)>,
}

/// Why a meeting ended (`meeting.stopped`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    /// `meeting.stop`, the tray, a starter that left with `stop_on_disconnect`, shutdown.
    Stopped,
    /// Every source ended by itself (a file read to its end, a lost device).
    SourcesEnded,
    /// The auto-stop guard: silence on every source for `auto_stop_minutes`.
    AutoStop,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::Stopped => "stopped",
            EndReason::SourcesEnded => "sources_ended",
            EndReason::AutoStop => "auto_stop",
        }
    }
}

/// How often the recorder wakes with nothing to do, to fsync what is due.
const TICK: Duration = Duration::from_millis(250);

struct State {
    samples: Vec<u64>,
    done: Vec<bool>,
    next_seq: u64,
    echo: EchoFilter,
    /// Per source: speech is open (a VAD start without its end yet).
    speaking: Vec<bool>,
    /// The last sign of speech on any source (or the start).
    last_voice: Instant,
    /// A stop was asked for (a `Stopped` done or `Finish` seen), or the guard fired.
    reason: Option<EndReason>,
}

impl Recorder {
    /// Starts the recorder's thread. Whatever happens on it (a panic included), the meeting's
    /// end is published and `on_finished` (the registry forgetting it) runs, so no stop waits
    /// forever.
    pub fn spawn(self, rx: Receiver<Msg>, on_finished: Box<dyn FnOnce() + Send>) -> std::io::Result<()> {
        let id = crate::lock(&self.shared.metadata).id.clone();
        let (shared, host) = (self.shared.clone(), self.host.clone());
        std::thread::Builder::new().name(format!("hark-meeting-{id}")).spawn(move || {
            let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || self.run(rx)));
            let (metadata, reason, silence) = match ended {
                Ok(ended) => ended,
                Err(_) => {
                    tracing::error!(meeting = %id, "the meeting's recorder panicked; its files are recovered at the next start");
                    (crate::lock(&shared.metadata).clone(), EndReason::Stopped, None)
                }
            };
            // Forgotten first, then published: whoever sees the end can act on the stored meeting.
            on_finished();
            *crate::lock(&shared.metadata) = metadata.clone();
            shared.finished.send_replace(Some(metadata.clone()));
            let message = match silence {
                Some(after) => format!(
                    "meeting {:?} stopped by itself after {} of silence",
                    metadata.title,
                    describe_minutes(after)
                ),
                None => format!("meeting {:?} stopped", metadata.title),
            };
            let mut payload = json!({ "meeting_id": id, "meeting": metadata, "reason": reason.as_str() });
            if let Some(after) = silence {
                payload["silence_ms"] = json!(after.as_millis() as u64);
            }
            host.emit("meeting.stopped", None, message, payload);
        })?;
        Ok(())
    }

    fn meeting_id(&self) -> String {
        crate::lock(&self.shared.metadata).id.clone()
    }

    /// Runs to the meeting's end; returns its final metadata, why it ended, and the silence
    /// that stopped it when the guard did.
    fn run(mut self, rx: Receiver<Msg>) -> (MeetingMetadata, EndReason, Option<Duration>) {
        let n = self.stream_ids.len();
        let mut state = State {
            samples: vec![0; n],
            done: vec![false; n],
            next_seq: 0,
            echo: EchoFilter::default(),
            speaking: vec![false; n],
            last_voice: Instant::now(),
            reason: None,
        };
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Msg::Audio { source, samples }) => {
                    state.samples[source] += samples.len() as u64;
                    if let Some(Some(wav)) = self.wavs.get_mut(source)
                        && let Err(e) = wav.write(&samples)
                    {
                        tracing::error!(meeting = %self.meeting_id(), error = %e, "cannot write the meeting's audio");
                        self.wavs[source] = None; // the transcript goes on; the audio file stays valid up to here
                    }
                }
                Ok(Msg::Event { source, event }) => {
                    let done = matches!(event, VoiceEvent::Done { .. });
                    match &event {
                        VoiceEvent::SpeechStart { .. } => state.speaking[source] = true,
                        VoiceEvent::SpeechEnd { .. } => state.speaking[source] = false,
                        VoiceEvent::Done { reason: DoneReason::Stopped } => {
                            state.reason.get_or_insert(EndReason::Stopped);
                        }
                        _ => {}
                    }
                    if matches!(
                        event,
                        VoiceEvent::SpeechStart { .. }
                            | VoiceEvent::SpeechEnd { .. }
                            | VoiceEvent::Partial { .. }
                            | VoiceEvent::Transcript { .. }
                    ) {
                        state.last_voice = Instant::now();
                    }
                    self.on_event(&mut state, source, event);
                    if done {
                        state.done[source] = true;
                        if state.done.iter().all(|d| *d) {
                            break;
                        }
                    }
                }
                Ok(Msg::Rename { title, reply }) => {
                    let metadata = {
                        let mut m = crate::lock(&self.shared.metadata);
                        m.title = title;
                        m.clone()
                    };
                    self.save_metadata(&metadata);
                    let _ = reply.send(metadata);
                }
                Ok(Msg::Finish) | Err(RecvTimeoutError::Disconnected) => {
                    state.reason.get_or_insert(EndReason::Stopped);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.guard_silence(&mut state);
            if let Err(e) = self.transcript.sync_if_due() {
                tracing::error!(meeting = %self.meeting_id(), error = %e, "cannot fsync the transcript");
            }
        }
        let silence = (state.reason == Some(EndReason::AutoStop))
            .then(|| self.auto_stop.as_ref().map(|(after, _)| *after))
            .flatten();
        let reason = state.reason.unwrap_or(EndReason::SourcesEnded);
        (self.finish(&state), reason, silence)
    }

    /// The auto-stop guard: asks for the stop once, when every source has been silent long enough.
    fn guard_silence(&self, state: &mut State) {
        let Some((after, stop)) = &self.auto_stop else { return };
        if state.reason.is_some() || state.speaking.iter().any(|s| *s) || state.last_voice.elapsed() < *after
        {
            return;
        }
        let reading_a_file = {
            let m = crate::lock(&self.shared.metadata);
            m.sources.iter().zip(&state.done).any(|(s, done)| {
                !done && matches!(s.spec, hark_protocol::voice::AudioSourceSpec::File { .. })
            })
        };
        if reading_a_file {
            return;
        }
        tracing::info!(meeting = %self.meeting_id(), silent_s = after.as_secs(), "no speech on any source for the auto-stop time: stopping the meeting");
        state.reason = Some(EndReason::AutoStop);
        stop();
    }

    fn on_event(&mut self, state: &mut State, source: usize, event: VoiceEvent) {
        let stream_id = self.stream_ids[source].clone();
        let VoiceEvent::Transcript { text, t0_ms, t1_ms, .. } = event else {
            self.fan_out(&stream_id, &event);
            return;
        };
        let (source_name, role) = {
            let m = crate::lock(&self.shared.metadata);
            let s = &m.sources[source];
            (s.name().to_string(), s.role.clone())
        };
        if state.echo.is_echo(&role, t0_ms, t1_ms, &text) {
            tracing::debug!(meeting = %self.meeting_id(), %text, "a microphone segment repeats system audio: not stored");
            return;
        }
        let segment = Segment {
            seq: state.next_seq,
            source: source_name,
            role: role.clone(),
            t0_ms,
            t1_ms,
            timestamp: now_rfc3339(),
            text,
        };
        // First the file: what anyone is told of must survive a crash of the process.
        if let Err(e) = self.transcript.append(&segment) {
            tracing::error!(meeting = %self.meeting_id(), error = %e, "cannot append to the transcript");
            let error = VoiceEvent::Error {
                code: "storage_failed".into(),
                message: "the transcript could not be written".into(),
            };
            self.fan_out(&stream_id, &error);
            return;
        }
        state.next_seq += 1;
        state.echo.stored(&role, t0_ms, t1_ms, &segment.text);
        let meeting_id = {
            let mut m = crate::lock(&self.shared.metadata);
            m.segment_count += 1;
            let count = m.segment_count;
            if let Some(r) = m.revisions.first_mut() {
                r.segment_count = count;
            }
            m.duration_ms = m.duration_ms.max(t1_ms);
            m.id.clone()
        };
        if let Err(e) = crate::lock(&self.index).add_segment(&meeting_id, &segment) {
            tracing::warn!(meeting = %meeting_id, error = %e, "cannot index a segment (the index is rebuilt from the files at the next start)");
        }
        let event = VoiceEvent::Transcript {
            text: segment.text.clone(),
            t0_ms,
            t1_ms,
            duration_ms: t1_ms.saturating_sub(t0_ms),
            role,
            seq: segment.seq,
        };
        self.fan_out(&stream_id, &event);
        self.host.emit(
            "meeting.segment",
            None,
            format!("{}: {}", segment.source, segment.text),
            json!({ "meeting_id": meeting_id, "segment": segment }),
        );
    }

    /// A `voice.event` to the starter and to every host subscriber (once each).
    fn fan_out(&self, stream_id: &str, event: &VoiceEvent) {
        if let Some(starter) = crate::lock(&self.shared.starter).as_ref() {
            send_voice_event(&**starter, stream_id, event);
        }
        self.host.for_each_subscriber(|sub| {
            if sub.session_id != self.starter_session {
                send_voice_event(&*sub.outbox, stream_id, event);
            }
        });
    }

    fn save_metadata(&self, metadata: &MeetingMetadata) {
        if let Err(e) = self.store.write_metadata(metadata) {
            tracing::error!(meeting = %metadata.id, error = %e, "cannot write meeting.json");
        }
        if let Err(e) = crate::lock(&self.index).upsert_meeting(metadata) {
            tracing::warn!(meeting = %metadata.id, error = %e, "cannot index the meeting");
        }
    }

    /// Makes the files final and returns the final metadata (published by `spawn`).
    fn finish(mut self, state: &State) -> MeetingMetadata {
        let id = self.meeting_id();
        for (i, wav) in self.wavs.iter_mut().enumerate() {
            if let Some(w) = wav.take()
                && let Err(e) = w.finalize()
            {
                tracing::error!(meeting = %id, source = i, error = %e, "cannot finalize a WAV file");
            }
        }
        if let Err(e) = self.transcript.sync() {
            tracing::error!(meeting = %id, error = %e, "cannot fsync the transcript");
        }
        let audio_ms = state.samples.iter().copied().max().unwrap_or(0) * 1000 / 16_000;
        // The live metadata keeps saying `recording` until the meeting is gone from the
        // registry: a reader never sees `stopped` for a meeting that would still refuse a
        // second pass or a delete.
        let mut metadata = crate::lock(&self.shared.metadata).clone();
        metadata.status = MeetingStatus::Stopped;
        metadata.ended_at = Some(now_rfc3339());
        metadata.duration_ms = metadata.duration_ms.max(audio_ms);
        self.save_metadata(&metadata);
        tracing::info!(meeting = %id, segments = metadata.segment_count, "meeting stopped");
        metadata
    }
}

/// "15 minutes", "90 seconds": the guard's time as the person set it.
fn describe_minutes(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 120 && s % 60 == 0 => format!("{} minutes", s / 60),
        60 => "1 minute".into(),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_minutes;
    use std::time::Duration;

    #[test]
    fn the_guard_s_time_reads_as_the_person_set_it() {
        let d = |s| describe_minutes(Duration::from_secs(s));
        assert_eq!(
            [d(900), d(60), d(90), d(1), d(0)],
            ["15 minutes", "1 minute", "90 seconds", "1 second", "0 seconds"]
        );
    }
}
