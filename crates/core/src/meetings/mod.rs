//! Meetings (PROTOCOL §7, §16): the registry of running meetings, and the stored ones.
//!
//! A running meeting is ONE recorder thread (`recorder.rs`) that owns its files; each of its
//! sources is a voice stream `meeting:<id>:<source>` whose sink hands audio and events to that
//! recorder. RPC calls (and, later, the tray) only send it commands: stop its streams, rename,
//! finish. Stored meetings live in `hark_store` (files are the truth, `index.sqlite` a cache);
//! this module serializes the few rewrites of a stopped meeting (rename, delete) with one lock.
//!
//! At start-up every meeting still marked `recording` (the daemon died under it) is recovered
//! (`MeetingStore::recover`): torn lines set aside, WAV headers fixed, status `interrupted`, a
//! `meeting.recovered` host event. At shutdown every running meeting is stopped cleanly first.

pub(crate) mod echo;
pub(crate) mod recorder;
pub(crate) mod second_pass;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hark_protocol::meeting::MeetingMetadata;
use hark_protocol::{ErrorCode, RpcError};
use hark_store::{Index, MeetingStore, StoreError};
use serde_json::json;
use tokio::sync::oneshot;

use crate::caller::{Caller, OwnedBySession};
use crate::host::HostState;
use crate::voice::VoiceStreams;
use crate::voice::sink::EventSink;
use recorder::{MeetingSink, Msg, Recorder, Shared};

/// Meetings running at once (each holds its sources' streams and a thread).
pub const MAX_ACTIVE: usize = 8;
/// Sources one meeting may have.
pub const MAX_SOURCES: usize = 4;

/// When a running meeting stops by itself (besides its sources all ending).
#[derive(Debug, Clone, Copy, Default)]
pub struct StopRules {
    /// When the starter's connection closes (`meeting.start`'s `stop_on_disconnect`).
    pub stop_on_disconnect: bool,
    /// After this much silence on every source (the `auto_stop_minutes` setting).
    pub auto_stop: Option<Duration>,
}

struct Active {
    shared: Arc<Shared>,
    tx: Mutex<std::sync::mpsc::Sender<Msg>>,
    starter_session: String,
    stop_on_disconnect: bool,
    stream_ids: Vec<String>,
    stopping: AtomicBool,
}

pub struct Meetings {
    pub store: MeetingStore,
    pub index: Arc<Mutex<Index>>,
    host: Arc<HostState>,
    voice: Arc<VoiceStreams>,
    active: Mutex<HashMap<String, Arc<Active>>>,
    /// Serializes rewrites of stopped meetings (rename, delete, a new revision) so two never
    /// interleave.
    stored: Arc<Mutex<()>>,
    /// Meetings being transcribed again (one second pass per meeting at a time).
    retranscribing: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Meetings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meetings")
    }
}

/// A store error as the RPC error a client gets (details logged, never leaked).
pub fn store_error(e: StoreError) -> RpcError {
    match e {
        StoreError::NotFound(what) => RpcError::new(ErrorCode::NotFound, format!("{what} not found")),
        StoreError::InvalidId(_) => {
            RpcError::invalid_params("meeting_id", "must match ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
        }
        StoreError::Exists(id) => RpcError::conflict(format!("meeting {id} already exists")),
        StoreError::InvalidRevision(n) => RpcError::invalid_params("revision", format!("no revision {n}")),
        StoreError::EmptyQuery => RpcError::invalid_params("query", "needs at least one word"),
        other => {
            tracing::error!(error = %other, "meeting storage failed");
            RpcError::internal()
        }
    }
}

impl Meetings {
    /// Opens the store and the index (rebuilt when missing, corrupt or of an older schema) and
    /// recovers meetings a crash left `recording`.
    pub fn open(
        data_dir: &std::path::Path,
        host: Arc<HostState>,
        voice: Arc<VoiceStreams>,
    ) -> Result<Meetings, StoreError> {
        let store = MeetingStore::new(data_dir);
        let mut recovered = Vec::new();
        for id in store.ids()? {
            match store.recover(&id) {
                Ok(Some(r)) => recovered.push(r),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(meeting = %id, error = %e, "cannot recover a meeting; left as it is")
                }
            }
        }
        let (mut index, report) = Index::open(&store.layout().index(), &store)?;
        if report.rebuilt {
            tracing::info!(
                reason = report.reason.as_deref().unwrap_or(""),
                "meeting index rebuilt from the files"
            );
        }
        for r in recovered {
            let m = &r.metadata;
            // What the crash left in the index may lack the last lines: take the file's.
            let segments = store.read_segments(&m.id, m.revision)?;
            index.upsert_meeting(m)?;
            index.replace_segments(&m.id, &segments)?;
            tracing::warn!(meeting = %m.id, segments = m.segment_count, broken_lines = r.broken_lines,
                wavs_fixed = r.wavs_fixed, "recovered a meeting interrupted by a crash");
            host.emit(
                "meeting.recovered",
                None,
                format!("meeting {:?} was interrupted and has been recovered", m.title),
                json!({ "meeting_id": m.id, "meeting": m, "broken_lines": r.broken_lines }),
            );
        }
        Ok(Meetings {
            store,
            index: Arc::new(Mutex::new(index)),
            host,
            voice,
            active: Mutex::default(),
            stored: Arc::default(),
            retranscribing: Mutex::default(),
        })
    }

    /// Whether a stored meeting (its `meeting.json`) has this id.
    fn is_stored(&self, id: &str) -> bool {
        hark_protocol::ids::is_valid_meeting_id(id) && self.store.layout().metadata(id).exists()
    }

    fn active(&self, id: &str) -> Option<Arc<Active>> {
        crate::lock(&self.active).get(id).cloned()
    }

    /// The running meetings' metadata (`host.subscribe`'s `meetings_active`).
    pub fn active_list(&self) -> Vec<MeetingMetadata> {
        crate::lock(&self.active).values().map(|a| crate::lock(&a.shared.metadata).clone()).collect()
    }

    /// The live metadata of a running meeting.
    pub fn running(&self, id: &str) -> Option<MeetingMetadata> {
        self.active(id).map(|a| crate::lock(&a.shared.metadata).clone())
    }

    /// Whether the id is free: not running, not stored.
    pub fn check_free(&self, id: &str) -> Result<(), RpcError> {
        if self.active(id).is_some() || self.is_stored(id) {
            return Err(RpcError::conflict(format!("meeting {id} already exists")));
        }
        if crate::lock(&self.active).len() >= MAX_ACTIVE {
            return Err(RpcError::busy(format!("at most {MAX_ACTIVE} meetings record at once")));
        }
        Ok(())
    }

    /// Creates a meeting on disk and starts its recorder; returns one sink per source. Blocking
    /// (file creation): call on a blocking thread of the daemon's runtime.
    pub fn create(
        self: &Arc<Self>,
        metadata: MeetingMetadata,
        caller: &Caller,
        rules: StopRules,
        stream_ids: Vec<String>,
    ) -> Result<Vec<Arc<dyn EventSink>>, RpcError> {
        let id = metadata.id.clone();
        // Under the same lock as `delete`, so a delete never removes a meeting being created.
        let _one = crate::lock(&self.stored);
        self.store.create(&metadata).map_err(store_error)?;
        let started = self.start_recorder(metadata, caller, rules, stream_ids);
        if started.is_err() {
            let _ = self.store.delete(&id);
            let _ = crate::lock(&self.index).delete_meeting(&id);
        }
        started
    }

    fn start_recorder(
        self: &Arc<Self>,
        metadata: MeetingMetadata,
        caller: &Caller,
        rules: StopRules,
        stream_ids: Vec<String>,
    ) -> Result<Vec<Arc<dyn EventSink>>, RpcError> {
        let id = metadata.id.clone();
        let transcript = self.store.open_live_transcript(&id).map_err(store_error)?;
        let mut wavs = Vec::new();
        for source in &metadata.sources {
            wavs.push(if metadata.persist_audio {
                let path = self.store.wav_path(&id, source.name()).map_err(store_error)?;
                Some(hark_audio::wav::WavWriter::create(&path).map_err(|e| {
                    tracing::error!(meeting = %id, error = %e, "cannot create a WAV file");
                    RpcError::internal()
                })?)
            } else {
                None
            });
        }
        crate::lock(&self.index).upsert_meeting(&metadata).map_err(store_error)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            metadata: Mutex::new(metadata),
            starter: Mutex::new(Some(caller.outbox.clone())),
            finished: tokio::sync::watch::channel(None).0,
        });
        let active = Arc::new(Active {
            shared: shared.clone(),
            tx: Mutex::new(tx.clone()),
            starter_session: caller.session_id.clone(),
            stop_on_disconnect: rules.stop_on_disconnect,
            stream_ids: stream_ids.clone(),
            stopping: AtomicBool::new(false),
        });
        // The guard stops the meeting the way `meeting.stop` does, from the recorder's thread.
        let auto_stop = match (rules.auto_stop, tokio::runtime::Handle::try_current()) {
            (Some(after), Ok(runtime)) => {
                let (voice, active, id) = (self.voice.clone(), Arc::downgrade(&active), id.clone());
                let stop = move || {
                    if let Some(active) = active.upgrade() {
                        let _in_runtime = runtime.enter();
                        begin_stop(&voice, &id, &active);
                    }
                };
                Some((after, Box::new(stop) as Box<dyn Fn() + Send>))
            }
            _ => None,
        };
        {
            let mut running = crate::lock(&self.active);
            if running.contains_key(&id) {
                return Err(RpcError::conflict(format!("meeting {id} already exists")));
            }
            running.insert(id.clone(), active);
        }
        // Before any source runs, so no `meeting.segment` or `meeting.stopped` precedes it.
        let live = crate::lock(&shared.metadata).clone();
        self.host.emit(
            "meeting.started",
            caller.agent_id.as_deref(),
            format!("meeting {:?} started", live.title),
            json!({ "meeting_id": id, "meeting": live }),
        );
        let registry = Arc::downgrade(self);
        let forget = id.clone();
        let recorder = Recorder {
            shared,
            store: self.store.clone(),
            index: self.index.clone(),
            host: self.host.clone(),
            starter_session: caller.session_id.clone(),
            transcript,
            wavs,
            stream_ids: stream_ids.clone(),
            auto_stop,
        };
        let forget = Box::new(move || {
            if let Some(r) = registry.upgrade() {
                crate::lock(&r.active).remove(&forget);
            }
        });
        if let Err(e) = recorder.spawn(rx, forget) {
            tracing::error!(error = %e, "cannot start a meeting's recorder thread");
            crate::lock(&self.active).remove(&id);
            return Err(RpcError::internal());
        }
        Ok((0..stream_ids.len())
            .map(|source| Arc::new(MeetingSink { tx: Mutex::new(tx.clone()), source }) as Arc<dyn EventSink>)
            .collect())
    }

    /// Stops a running meeting: its streams end (each flushes its last final), then its
    /// recorder finishes. The starter and the host may stop it.
    pub async fn stop(&self, caller: &Caller, id: &str) -> Result<MeetingMetadata, RpcError> {
        let Some(active) = self.active(id) else {
            return Err(match self.is_stored(id) {
                true => RpcError::conflict(format!("meeting {id} is not recording (already stopped)")),
                false => RpcError::not_found("meeting", id),
            });
        };
        if !caller.is_host() && caller.session_id != active.starter_session {
            return Err(RpcError::forbidden("forbidden: only the meeting's starter or the host may stop it"));
        }
        Ok(stop_active(&self.voice, id, active).await)
    }

    /// Stops a running meeting whoever asks (the daemon cleaning up a meeting that failed to
    /// start); nothing when it is not running.
    pub(crate) async fn stop_unchecked(&self, id: &str) {
        if let Some(active) = self.active(id) {
            stop_active(&self.voice, id, active).await;
        }
    }

    /// Tells host subscribers that a meeting changed (`meeting.updated`): `change` is `renamed`
    /// or `revision` (a second pass stored a new one). `by` is the caller's agent id.
    pub(crate) fn announce_update(&self, metadata: &MeetingMetadata, change: &str, by: Option<&str>) {
        self.host.emit(
            "meeting.updated",
            by,
            format!("meeting {:?} {change}", metadata.title),
            json!({ "meeting_id": metadata.id, "meeting": metadata, "change": change }),
        );
    }

    /// Renames a meeting (then `meeting.updated`): through its recorder while it runs, else in
    /// its files.
    pub async fn rename(
        &self,
        id: &str,
        title: String,
        by: Option<&str>,
    ) -> Result<MeetingMetadata, RpcError> {
        let metadata = self.rename_inner(id, title).await?;
        self.announce_update(&metadata, "renamed", by);
        Ok(metadata)
    }

    async fn rename_inner(&self, id: &str, title: String) -> Result<MeetingMetadata, RpcError> {
        if let Some(active) = self.active(id) {
            let (reply, answer) = oneshot::channel();
            let sent = crate::lock(&active.tx).send(Msg::Rename { title: title.clone(), reply }).is_ok();
            if sent && let Ok(metadata) = answer.await {
                return Ok(metadata);
            }
            // It finished meanwhile: its files are final now; rename them below.
        }
        let (store, index, stored, id) =
            (self.store.clone(), self.index.clone(), self.stored.clone(), id.to_string());
        let renamed = tokio::task::spawn_blocking(move || {
            let _one = crate::lock(&stored);
            let mut metadata = store.read_metadata(&id).map_err(store_error)?;
            metadata.title = title;
            store.write_metadata(&metadata).map_err(store_error)?;
            crate::lock(&index).upsert_meeting(&metadata).map_err(store_error)?;
            Ok(metadata)
        });
        renamed.await.map_err(|_| RpcError::internal())?
    }

    /// Marks a second pass of `id` as running; the guard unmarks it.
    pub(crate) fn begin_second_pass(self: &Arc<Self>, id: &str) -> Result<SecondPassGuard, RpcError> {
        if !crate::lock(&self.retranscribing).insert(id.to_string()) {
            return Err(RpcError::conflict(format!("meeting {id} is already being transcribed again")));
        }
        Ok(SecondPassGuard { meetings: self.clone(), id: id.to_string() })
    }

    /// Deletes a stored meeting (files and index), then `meeting.deleted`. A running one must be
    /// stopped first. `by` is the caller's agent id.
    pub fn delete(&self, id: &str, by: Option<&str>) -> Result<(), RpcError> {
        if self.active(id).is_some() {
            return Err(RpcError::conflict(format!("meeting {id} is recording: stop it first")));
        }
        if crate::lock(&self.retranscribing).contains(id) {
            return Err(RpcError::conflict(format!(
                "meeting {id} is being transcribed again: try once it is done"
            )));
        }
        let _one = crate::lock(&self.stored);
        if !self.is_stored(id) {
            return Err(RpcError::not_found("meeting", id));
        }
        self.store.delete(id).map_err(store_error)?;
        let indexed = crate::lock(&self.index).delete_meeting(id).map_err(store_error);
        // The files are gone whatever the index says: the window must forget the meeting.
        self.host.emit("meeting.deleted", by, format!("meeting {id} deleted"), json!({ "meeting_id": id }));
        indexed.map(|_| ())
    }

    /// Stops every running meeting (daemon shutdown), each within `deadline`.
    pub async fn stop_all(&self, deadline: Duration) {
        let running: Vec<(String, Arc<Active>)> =
            crate::lock(&self.active).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let stops = running.into_iter().map(|(id, active)| async move {
            match tokio::time::timeout(deadline, stop_active(&self.voice, &id, active)).await {
                Ok(m) => {
                    tracing::info!(meeting = %id, segments = m.segment_count, "meeting stopped for shutdown")
                }
                Err(_) => tracing::error!(meeting = %id, "meeting did not stop within the shutdown deadline"),
            }
        });
        futures_util::future::join_all(stops).await;
    }
}

impl OwnedBySession for Meetings {
    /// A departed starter's meetings keep recording unless started with `stop_on_disconnect`;
    /// either way it is no longer sent their events.
    fn release_session(&self, session_id: &str) {
        let theirs: Vec<(String, Arc<Active>)> = crate::lock(&self.active)
            .iter()
            .filter(|(_, a)| a.starter_session == session_id)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (id, active) in theirs {
            *crate::lock(&active.shared.starter) = None;
            if active.stop_on_disconnect {
                tracing::info!(meeting = %id, "stopping the meeting: its starter disconnected (stop_on_disconnect)");
                begin_stop(&self.voice, &id, &active);
            }
        }
    }
}

/// A second pass in progress (see `Meetings::begin_second_pass`).
pub(crate) struct SecondPassGuard {
    meetings: Arc<Meetings>,
    id: String,
}

impl Drop for SecondPassGuard {
    fn drop(&mut self) {
        crate::lock(&self.meetings.retranscribing).remove(&self.id);
    }
}

/// Starts stopping a running meeting, once: its streams end one by one (each flushes its last
/// final through the recorder), then the recorder is told to finish. Runs as a task of its own,
/// so a caller that goes away (its request aborted) never leaves a meeting half stopped.
fn begin_stop(voice: &Arc<VoiceStreams>, id: &str, active: &Arc<Active>) {
    if active.stopping.swap(true, Ordering::AcqRel) {
        return;
    }
    let (voice, active, id) = (voice.clone(), active.clone(), id.to_string());
    tokio::spawn(async move {
        for stream in &active.stream_ids {
            voice.stop_meeting_stream(stream).await;
        }
        let _ = crate::lock(&active.tx).send(Msg::Finish);
        tracing::debug!(meeting = %id, "the meeting's streams are stopped");
    });
}

/// Stops a running meeting (or joins the stop under way) and waits for its final metadata.
async fn stop_active(voice: &Arc<VoiceStreams>, id: &str, active: Arc<Active>) -> MeetingMetadata {
    begin_stop(voice, id, &active);
    let mut finished = active.shared.finished.subscribe();
    let metadata = finished.wait_for(Option::is_some).await.map(|m| m.clone());
    // The recorder always publishes before it ends (a panic included), so the sender is
    // never dropped first; were it, the last live metadata is the best answer left.
    metadata.ok().flatten().unwrap_or_else(|| crate::lock(&active.shared.metadata).clone())
}
