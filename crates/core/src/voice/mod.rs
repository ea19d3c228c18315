//! Live voice (PROTOCOL §6): the registry of voice streams and their sources. Each stream is one
//! task (`session.rs`) fed through a channel; the registry only routes commands to it and
//! enforces ownership. Pushed PCM comes in through `push`; sources the daemon reads itself
//! (microphone, system audio, WAV files) are moved in by a pump thread (`capture.rs`).

mod agreement;
pub mod capture;
pub mod engine;
pub mod session;
pub mod sink;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hark_audio::source::{AudioSource, PushConverter};
use hark_protocol::RpcError;
use hark_protocol::voice::{AudioSourceSpec, DoneReason};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, OwnedBySession};
use session::Command;

/// Streams one connection may run at once.
pub const MAX_STREAMS_PER_CONNECTION: usize = 8;
/// Commands queued for a stream before pushes wait (about 10 s of 20 ms chunks).
const COMMAND_QUEUE: usize = 512;
/// Pushed audio a stream holds before pushes wait, in 16 kHz samples (30 s, 1.9 MB): the
/// queue's bound in bytes, whatever the size of the frames a client pushes.
pub const PUSH_BUDGET_SAMPLES: usize = 30 * 16_000;

struct Entry {
    owner: String,
    source: AudioSourceSpec,
    started_at: String,
    commands: mpsc::Sender<Command>,
    /// `None` for sources the daemon reads itself (devices, files).
    converter: Option<Mutex<PushConverter>>,
    /// Pushed samples queued and not yet taken, at most [`PUSH_BUDGET_SAMPLES`].
    budget: Arc<tokio::sync::Semaphore>,
    /// Audio the capture device had to drop because the stream fell behind (ms).
    dropped_ms: Arc<AtomicU64>,
    /// Ends the stream when its owner is gone (a source's pump still holds a command sender).
    owner_gone: CancellationToken,
    /// Tells this stream's entry from a later one that reuses its id.
    generation: u64,
    /// Set for a meeting's streams: they outlive their starter's connection (a meeting goes on
    /// recording, PROTOCOL §4) and are stopped only through their meeting.
    meeting: Option<String>,
}

/// Why `conn` may not start a stream `id` now: the id is taken, or the connection has its limit.
fn refusal(streams: &HashMap<String, Arc<Entry>>, conn: &Caller, id: &str) -> Option<RpcError> {
    if streams.contains_key(id) {
        return Some(RpcError::conflict(format!("voice session {id} already exists")));
    }
    let own = streams.values().filter(|e| e.owner == conn.session_id).count();
    (own >= MAX_STREAMS_PER_CONNECTION).then(|| {
        RpcError::busy(format!("at most {MAX_STREAMS_PER_CONNECTION} voice sessions per connection"))
    })
}

#[derive(Default)]
pub struct VoiceStreams {
    streams: Mutex<HashMap<String, Arc<Entry>>>,
    generations: AtomicU64,
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

    fn get_owned(&self, conn: &Caller, id: &str) -> Result<Arc<Entry>, RpcError> {
        let entry = self.lock().get(id).cloned().ok_or_else(|| RpcError::not_found("session", id))?;
        if entry.owner != conn.session_id && !conn.is_host() {
            return Err(RpcError::forbidden("forbidden: this voice session belongs to another connection"));
        }
        Ok(entry)
    }

    /// Whether `conn` may start a stream `id` now (checked again by `start`): called before a
    /// device is opened, so a stream that would be refused never turns the microphone on.
    pub fn check_can_start(&self, conn: &Caller, id: &str) -> Result<(), RpcError> {
        refusal(&self.lock(), conn, id).map_or(Ok(()), Err)
    }

    /// Whether `conn` may start all of `ids` now (a meeting's sources): each id free, and room
    /// for all of them within the connection's limit.
    pub fn check_can_start_all(&self, conn: &Caller, ids: &[String]) -> Result<(), RpcError> {
        let streams = self.lock();
        for id in ids {
            if let Some(e) = refusal(&streams, conn, id) {
                return Err(e);
            }
        }
        let own = streams.values().filter(|e| e.owner == conn.session_id).count();
        if own + ids.len() > MAX_STREAMS_PER_CONNECTION {
            return Err(RpcError::busy(format!(
                "at most {MAX_STREAMS_PER_CONNECTION} voice sessions per connection ({own} running)"
            )));
        }
        Ok(())
    }

    /// Registers and starts a stream. `reader` is the opened source for kinds the daemon reads
    /// itself; `pcm_push` has none. A refused reader is closed on a blocking thread (closing a
    /// device may wait). `meeting`: the meeting the stream records for (it then outlives its
    /// starter's connection).
    pub fn start(
        self: &Arc<Self>,
        conn: &Caller,
        id: String,
        source: AudioSourceSpec,
        reader: Option<Box<dyn AudioSource>>,
        stream: session::Stream,
        meeting: Option<String>,
    ) -> Result<(), RpcError> {
        let started = self.start_inner(conn, id, source, reader, stream, meeting);
        started.map_err(|(e, reader)| {
            if let Some(reader) = reader {
                tokio::task::spawn_blocking(move || drop(reader));
            }
            e
        })
    }

    fn start_inner(
        self: &Arc<Self>,
        conn: &Caller,
        id: String,
        source: AudioSourceSpec,
        reader: Option<Box<dyn AudioSource>>,
        stream: session::Stream,
        meeting: Option<String>,
    ) -> Result<(), (RpcError, Option<Box<dyn AudioSource>>)> {
        let converter = match (&source, &reader) {
            (AudioSourceSpec::PcmPush { sample_rate, channels, .. }, None) => {
                match PushConverter::new(*sample_rate, *channels as usize) {
                    Ok(c) => Some(Mutex::new(c)),
                    Err(e) => return Err((RpcError::invalid_params("audio_source", e.to_string()), reader)),
                }
            }
            (AudioSourceSpec::PcmPush { .. }, Some(_)) | (_, None) => {
                return Err((
                    RpcError::invalid_params("audio_source", "this source cannot be opened"),
                    reader,
                ));
            }
            (_, Some(_)) => None,
        };
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let dropped_ms = Arc::new(AtomicU64::new(0));
        let owner_gone = CancellationToken::new();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        {
            let mut streams = self.lock();
            if let Some(e) = refusal(&streams, conn, &id) {
                return Err((e, reader));
            }
            let entry = Entry {
                owner: conn.session_id.clone(),
                source: source.clone(),
                started_at: hark_protocol::time::now_rfc3339(),
                commands: tx.clone(),
                converter,
                budget: Arc::new(tokio::sync::Semaphore::new(PUSH_BUDGET_SAMPLES)),
                dropped_ms: dropped_ms.clone(),
                owner_gone: owner_gone.clone(),
                generation,
                meeting,
            };
            streams.insert(id.clone(), Arc::new(entry));
        }
        let registry = self.clone();
        let task_id = id.clone();
        tokio::spawn(async move {
            session::run(stream, rx, owner_gone).await;
            registry.remove_own(&task_id, generation);
        });
        if let Some(reader) = reader
            && let Err(e) = capture::spawn_pump(reader, tx, dropped_ms)
        {
            tracing::error!(error = %e, "cannot start an audio source thread");
            self.remove_own(&id, generation); // its commands close: the stream task ends
            return Err((RpcError::internal(), None));
        }
        Ok(())
    }

    /// Removes `id` if it is still the entry of the given generation (a stream that ended late
    /// never removes a newer stream that reused its id).
    fn remove_own(&self, id: &str, generation: u64) {
        let mut streams = self.lock();
        if streams.get(id).is_some_and(|e| e.generation == generation) {
            streams.remove(id);
        }
    }

    /// `voice.transcribe_stream.push`: decodes, converts, queues. Returns the samples taken
    /// (in the session's own rate and channels, as pushed).
    pub async fn push(&self, conn: &Caller, id: &str, pcm: &[u8]) -> Result<usize, RpcError> {
        let entry = self.get_owned(conn, id)?;
        let Some(converter) = &entry.converter else {
            return Err(RpcError::invalid_params(
                "session_id",
                "this session reads its own audio (not a pcm_push source)",
            ));
        };
        let (mono16k, samples) = crate::lock(converter)
            .push(pcm)
            .map_err(|e| RpcError::invalid_params("pcm_b64", e.to_string()))?;
        let ended = || RpcError::conflict(format!("voice session {id} has ended"));
        // Waits while the stream holds its budget of pushed audio: a client pushing faster than
        // the stream takes it is slowed down, its audio is never dropped.
        let share = mono16k.len().clamp(1, PUSH_BUDGET_SAMPLES) as u32;
        let budget = entry.budget.clone().acquire_many_owned(share).await.map_err(|_| ended())?;
        entry.commands.send(Command::Pushed(mono16k, budget)).await.map_err(|_| ended())?;
        Ok(samples)
    }

    /// `voice.transcribe_stream.stop`: answers after the final transcript and `done`. A
    /// meeting's stream is stopped with its meeting (`meeting.stop`), never alone.
    pub async fn stop(&self, conn: &Caller, id: &str) -> Result<(), RpcError> {
        let entry = self.get_owned(conn, id)?;
        if let Some(meeting) = &entry.meeting {
            return Err(RpcError::conflict(format!(
                "voice session {id} records meeting {meeting}: stop it with meeting.stop"
            )));
        }
        Self::stop_entry(&entry, id).await
    }

    /// Stops a meeting's stream (its meeting's recorder does this): the final transcript of
    /// buffered speech and `done` have been sent when it returns. A stream already gone is fine.
    pub async fn stop_meeting_stream(&self, id: &str) {
        let entry = self.lock().get(id).cloned();
        if let Some(entry) = entry {
            let _ = Self::stop_entry(&entry, id).await;
        }
    }

    async fn stop_entry(entry: &Entry, id: &str) -> Result<(), RpcError> {
        let (tx, rx) = oneshot::channel();
        entry
            .commands
            .send(Command::Stop(DoneReason::Stopped, Some(tx)))
            .await
            .map_err(|_| RpcError::conflict(format!("voice session {id} has already ended")))?;
        rx.await.map_err(|_| RpcError::conflict(format!("voice session {id} has already ended")))
    }

    /// `voice.sessions.list`: the caller's own; the host sees all.
    pub fn list(&self, conn: &Caller) -> Value {
        let sessions: Vec<Value> = self
            .lock()
            .iter()
            .filter(|(_, e)| conn.is_host() || e.owner == conn.session_id)
            .map(|(id, e)| {
                json!({
                    "session_id": id, "source": e.source, "started_at": e.started_at, "owner": e.owner,
                    // Hark's addition: audio a capture device dropped because the stream fell behind.
                    "dropped_ms": e.dropped_ms.load(Ordering::Relaxed),
                })
            })
            .collect();
        json!({ "sessions": sessions })
    }
}

impl OwnedBySession for VoiceStreams {
    /// Part of the cleanup path: its streams end (their commands close); a meeting's streams
    /// go on (the meeting decides, `stop_on_disconnect`).
    fn release_session(&self, session_id: &str) {
        self.lock().retain(|_, e| {
            let keep = e.owner != session_id || e.meeting.is_some();
            if !keep {
                e.owner_gone.cancel();
            }
            keep
        });
    }
}
