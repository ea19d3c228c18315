//! Live voice (PROTOCOL §6): the registry of voice streams, their sources (pushed PCM, WAV
//! files), and the one-shot `transcribe`. Each stream is one task (`session.rs`) fed through a
//! channel; the registry only routes commands to it and enforces ownership.
//!
//! Capture from the microphone and system audio (cpal, PulseAudio/PipeWire monitors) is not in
//! this build: those sources pass the permission gate and are then refused with a clear error.

mod agreement;
pub mod engine;
pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hark_audio::pcm::{Downmixer, s16le_to_f32};
use hark_audio::resample::To16k;
use hark_protocol::RpcError;
use hark_protocol::voice::{AudioSourceSpec, DoneReason};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::connection::Connection;
use session::Command;

/// Streams one connection may run at once.
pub const MAX_STREAMS_PER_CONNECTION: usize = 8;
/// Commands queued for a stream before pushes wait (about 10 s of 20 ms chunks).
const COMMAND_QUEUE: usize = 512;

/// Turns a stream's input format into 16 kHz mono.
struct Converter {
    down: Downmixer,
    resample: To16k,
}

impl Converter {
    fn new(rate: u32, channels: u16) -> Result<Self, RpcError> {
        hark_audio::check_format(rate, channels as usize)
            .map_err(|e| RpcError::invalid_params("audio_source", e.to_string()))?;
        let resample = To16k::new(rate)
            .map_err(|e| RpcError::invalid_params("audio_source.sample_rate", e.to_string()))?;
        Ok(Converter { down: Downmixer::new(channels as usize), resample })
    }

    fn convert(&mut self, interleaved: &[f32]) -> Vec<f32> {
        let mono = self.down.push(interleaved);
        let mut out = Vec::with_capacity(mono.len());
        if let Err(e) = self.resample.push(&mono, &mut out) {
            tracing::warn!(error = %e, "resampling failed");
        }
        out
    }
}

struct Entry {
    owner: String,
    source: AudioSourceSpec,
    started_at: String,
    commands: mpsc::Sender<Command>,
    /// `None` for sources the daemon reads itself (files).
    converter: Option<Mutex<Converter>>,
}

#[derive(Default)]
pub struct VoiceStreams {
    streams: Mutex<HashMap<String, Arc<Entry>>>,
}

impl std::fmt::Debug for VoiceStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VoiceStreams")
    }
}

impl VoiceStreams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        crate::lock(&self.streams)
    }

    fn get_owned(&self, conn: &Connection, id: &str) -> Result<Arc<Entry>, RpcError> {
        let entry = self.lock().get(id).cloned().ok_or_else(|| RpcError::not_found("session", id))?;
        if entry.owner != conn.session_id && !conn.is_host() {
            return Err(RpcError::forbidden("forbidden: this voice session belongs to another connection"));
        }
        Ok(entry)
    }

    /// Registers and starts a stream (its id already checked and unused).
    pub fn start(
        self: &Arc<Self>,
        conn: &Arc<Connection>,
        id: String,
        source: AudioSourceSpec,
        stream: session::Stream,
    ) -> Result<(), RpcError> {
        let converter = match &source {
            AudioSourceSpec::PcmPush { sample_rate, channels, .. } => {
                Some(Mutex::new(Converter::new(*sample_rate, *channels)?))
            }
            AudioSourceSpec::File { .. } => None,
            AudioSourceSpec::Mic { .. } | AudioSourceSpec::System { .. } => {
                return Err(RpcError::invalid_params(
                    "audio_source.kind",
                    "microphone and system-audio capture are not available in this build of the daemon yet",
                ));
            }
        };
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        {
            let mut streams = self.lock();
            if streams.contains_key(&id) {
                return Err(RpcError::conflict(format!("voice session {id} already exists")));
            }
            if streams.values().filter(|e| e.owner == conn.session_id).count() >= MAX_STREAMS_PER_CONNECTION {
                return Err(RpcError::busy(format!(
                    "at most {MAX_STREAMS_PER_CONNECTION} voice sessions per connection"
                )));
            }
            let entry = Entry {
                owner: conn.session_id.clone(),
                source: source.clone(),
                started_at: hark_protocol::time::now_rfc3339(),
                commands: tx.clone(),
                converter,
            };
            streams.insert(id.clone(), Arc::new(entry));
        }
        let registry = self.clone();
        let task_id = id.clone();
        tokio::spawn(async move {
            session::run(stream, rx).await;
            registry.lock().remove(&task_id);
        });
        if let AudioSourceSpec::File { path, realtime, .. } = source {
            tokio::spawn(feed_file(path, realtime, tx, conn.clone(), id));
        }
        Ok(())
    }

    /// `voice.transcribe_stream.push`: decodes, converts, queues. Returns the samples taken
    /// (in the session's own rate and channels, as pushed).
    pub async fn push(&self, conn: &Connection, id: &str, pcm: &[u8]) -> Result<usize, RpcError> {
        let entry = self.get_owned(conn, id)?;
        let Some(converter) = &entry.converter else {
            return Err(RpcError::invalid_params(
                "session_id",
                "this session reads its own audio (not a pcm_push source)",
            ));
        };
        let samples = s16le_to_f32(pcm).map_err(|e| RpcError::invalid_params("pcm_b64", e.to_string()))?;
        let mono16k = crate::lock(converter).convert(&samples);
        entry
            .commands
            .send(Command::Audio(mono16k))
            .await
            .map_err(|_| RpcError::conflict(format!("voice session {id} has ended")))?;
        Ok(samples.len())
    }

    /// `voice.transcribe_stream.stop`: answers after the final transcript and `done`.
    pub async fn stop(&self, conn: &Connection, id: &str) -> Result<(), RpcError> {
        let entry = self.get_owned(conn, id)?;
        let (tx, rx) = oneshot::channel();
        entry
            .commands
            .send(Command::Stop(DoneReason::Stopped, Some(tx)))
            .await
            .map_err(|_| RpcError::conflict(format!("voice session {id} has already ended")))?;
        rx.await.map_err(|_| RpcError::conflict(format!("voice session {id} has already ended")))
    }

    /// `voice.sessions.list`: the caller's own; the host sees all.
    pub fn list(&self, conn: &Connection) -> Value {
        let sessions: Vec<Value> = self
            .lock()
            .iter()
            .filter(|(_, e)| conn.is_host() || e.owner == conn.session_id)
            .map(|(id, e)| json!({ "session_id": id, "source": e.source, "started_at": e.started_at, "owner": e.owner }))
            .collect();
        json!({ "sessions": sessions })
    }

    pub fn exists(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Part of the connection cleanup path: its streams end (their commands close).
    pub fn release_owner(&self, session_id: &str) {
        self.lock().retain(|_, e| e.owner != session_id);
    }
}

/// Reads a WAV file and feeds it to its stream: at real-time pace in 20 ms chunks, or as fast
/// as the stream takes it. Ends the stream with `source_ended`.
async fn feed_file(
    path: String,
    realtime: bool,
    tx: mpsc::Sender<Command>,
    conn: Arc<Connection>,
    id: String,
) {
    let read =
        tokio::task::spawn_blocking(move || hark_audio::wav::read_file_16k_mono(std::path::Path::new(&path)))
            .await;
    let audio = match read {
        Ok(Ok((audio, _))) => audio,
        Ok(Err(e)) => {
            let event = json!({ "type": "error", "code": "source_failed", "message": e.to_string() });
            conn.send(&hark_protocol::jsonrpc::notification(
                "voice.event",
                json!({ "session_id": id, "event": event }),
            ));
            let _ = tx.send(Command::Stop(DoneReason::Error, None)).await;
            return;
        }
        Err(_) => return,
    };
    let chunk = if realtime { 320 } else { 16_000 };
    let mut next = tokio::time::Instant::now();
    for piece in audio.chunks(chunk) {
        if tx.send(Command::Audio(piece.to_vec())).await.is_err() {
            return;
        }
        if realtime {
            next += std::time::Duration::from_millis(20);
            tokio::time::sleep_until(next).await;
        }
    }
    let _ = tx.send(Command::Stop(DoneReason::SourceEnded, None)).await;
}
