//! Meeting methods (PROTOCOL §7): `meeting.start/stop/list/get/search/export/update/delete`
//! and `meeting.retranscribe` (the second pass); `meeting.audio` (not in PROTOCOL: the window's
//! playback of kept audio, see [`audio`]).
//! The running meetings and the stored ones are in [`crate::meetings`]; this file checks
//! params, asks the permission gate, and starts a meeting's sources as voice streams.
//!
//! Decided here where PROTOCOL is silent: a meeting id is minted as 12 hex chars; the default
//! title is "Meeting <date> <time>" (UTC); source names must be unique within a meeting and at
//! most 32 characters of `[A-Za-z0-9._-]` (they become WAV file names); at most
//! `MAX_SOURCES` sources; `list`'s `limit` defaults to 50 (at most 500) and `search`'s to 20
//! (at most 200); a running meeting's `get` returns the segments stored so far.

use std::sync::Arc;

use hark_audio::source::AudioSource;
use hark_protocol::ids::is_valid_meeting_id;
use hark_protocol::meeting::{
    AudioParams, AudioResult, DeleteResult, ExportParams, ExportResult, GetParams, GetResult, ListParams,
    ListResult, MeetingIdParams, MeetingMetadata, MeetingSource, MeetingStatus, RetranscribeParams,
    RetranscribeProgress, RetranscribeResult, Revision, SearchParams, SearchResult, SourceObject,
    StartParams, StartResult, UpdateParams,
};
use hark_protocol::time::now_rfc3339;
use hark_protocol::voice::AudioSourceSpec;
use hark_protocol::{ErrorCode, RpcError};
use serde_json::{Value, json};

use super::voice::{chosen_model, open_source, options};
use super::{Reply, blocking, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;
use crate::meetings::{MAX_SOURCES, StopRules, store_error};
use crate::permissions::gate;
use crate::voice::session::Stream;

const MEETING_ID_RULE: &str = "must match ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$";

fn check_meeting_id(field: &str, id: &str) -> Result<(), RpcError> {
    if is_valid_meeting_id(id) { Ok(()) } else { Err(RpcError::invalid_params(field, MEETING_ID_RULE)) }
}

/// One `sources` entry: `"mic"`, `"system"`, or an `AudioSourceSpec` object with an optional
/// `role`; its name defaulted and its role decided (PROTOCOL §7).
fn parse_source(i: usize, value: &Value) -> Result<MeetingSource, RpcError> {
    let field = format!("sources[{i}]");
    let (mut spec, role) = match value {
        Value::String(s) if s == "mic" => (AudioSourceSpec::Mic { device: None, name: None }, None),
        Value::String(s) if s == "system" => (AudioSourceSpec::System { name: None }, None),
        Value::String(_) => {
            return Err(RpcError::invalid_params(&field, "expected \"mic\", \"system\" or a source object"));
        }
        Value::Object(_) => {
            let o: SourceObject = serde_json::from_value(value.clone())
                .map_err(|e| RpcError::invalid_params(&field, e.to_string()))?;
            (o.spec, o.role)
        }
        _ => return Err(RpcError::invalid_params(&field, "expected a string or an object")),
    };
    let name = spec.name().unwrap_or(match &spec {
        AudioSourceSpec::PcmPush { .. } => "push",
        other => other.kind(),
    });
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(RpcError::invalid_params(
            &format!("{field}.name"),
            "1 to 32 characters of A-Z a-z 0-9 . _ -",
        ));
    }
    let name = name.to_string();
    spec.set_name(name);
    let role = match (&spec, role) {
        (_, Some(r)) if r.is_empty() || r.len() > 32 => {
            return Err(RpcError::invalid_params(&format!("{field}.role"), "1 to 32 characters"));
        }
        (AudioSourceSpec::Mic { .. } | AudioSourceSpec::System { .. }, Some(_)) => {
            return Err(RpcError::invalid_params(
                &format!("{field}.role"),
                "mic is always \"me\" and system \"them\"; role is for pcm_push and file sources",
            ));
        }
        (_, Some(r)) => r,
        (AudioSourceSpec::Mic { .. }, None) => "me".into(),
        (AudioSourceSpec::System { .. }, None) => "them".into(),
        (_, None) => "unknown".into(),
    };
    if let AudioSourceSpec::File { path, .. } = &spec
        && !std::path::Path::new(path).is_file()
    {
        return Err(RpcError::invalid_params(&format!("{field}.path"), format!("no such file: {path}")));
    }
    Ok(MeetingSource { spec, role })
}

fn parse_sources(values: &[Value]) -> Result<Vec<MeetingSource>, RpcError> {
    if values.is_empty() || values.len() > MAX_SOURCES {
        return Err(RpcError::invalid_params("sources", format!("1 to {MAX_SOURCES} sources")));
    }
    let mut sources: Vec<MeetingSource> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let s = parse_source(i, v)?;
        if sources.iter().any(|o| o.name() == s.name()) {
            return Err(RpcError::invalid_params(
                &format!("sources[{i}].name"),
                format!("another source is already named {:?}", s.name()),
            ));
        }
        sources.push(s);
    }
    Ok(sources)
}

/// Opened readers are closed on a blocking thread (closing a device may wait).
fn close_readers(readers: Vec<Option<Box<dyn AudioSource>>>) {
    tokio::task::spawn_blocking(move || drop(readers));
}

pub async fn start(daemon: &Arc<Daemon>, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: StartParams = parse(params)?;
    let id = match p.id {
        Some(id) => {
            check_meeting_id("id", &id)?;
            id
        }
        None => crate::mint_id(),
    };
    if p.title.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(RpcError::invalid_params("title", "at most 256 bytes"));
    }
    let mut sources = parse_sources(&p.sources)?;
    // What the call leaves out, the person's settings decide.
    let settings = daemon.settings.get();
    let language = p.language.clone().or_else(|| Some(settings.language.clone()).filter(|l| l != "en"));
    let persist_audio = p.persist_audio.unwrap_or(settings.keep_audio);
    // Per source: its microphone is the one chosen in Settings (not one the call named).
    let mut from_settings = vec![false; sources.len()];
    for (s, chosen) in sources.iter_mut().zip(&mut from_settings) {
        if let AudioSourceSpec::Mic { device: device @ None, .. } = &mut s.spec
            && let Some(d) = &settings.input_device
        {
            *device = Some(d.clone());
            *chosen = true;
        }
    }
    let stream_ids: Vec<String> = sources.iter().map(|s| format!("meeting:{id}:{}", s.name())).collect();
    daemon.meetings.check_free(&id)?;
    daemon.voice.check_can_start_all(caller, &stream_ids)?;
    let model_path = chosen_model(daemon, p.model.as_deref(), "model")?;
    let options = options(language.clone(), None)?;
    if sources.iter().any(|s| s.spec.needs_microphone()) {
        let preview = json!({ "id": id, "title": p.title, "sources": sources });
        gate(daemon, caller, "microphone", "meeting.start", preview).await?;
    }
    let mut transcribers = Vec::new();
    for _ in &sources {
        // The daemon's model is shared; the fake gives each stream its own numbering.
        let field = model_path.as_deref().map(|p| (p, "model"));
        transcribers.push(daemon.engine.get_model(&daemon.admission, field).await?);
    }
    // Every source opens before anything is created: a meeting whose microphone cannot open
    // leaves nothing behind.
    daemon.meetings.check_free(&id)?;
    let mut readers = Vec::new();
    for (s, chosen) in sources.iter_mut().zip(&from_settings) {
        let mut opened = open_source(daemon, &s.spec).await;
        if opened.is_err()
            && *chosen
            && let AudioSourceSpec::Mic { device, .. } = &mut s.spec
        {
            // The microphone chosen in Settings is gone (unplugged): the system default it is.
            tracing::warn!(
                device = device.as_deref().unwrap_or(""),
                "the microphone chosen in Settings did not open; recording from the default one"
            );
            *device = None;
            opened = open_source(daemon, &s.spec).await;
        }
        match opened {
            Ok(r) => readers.push(r),
            Err(e) => {
                close_readers(readers);
                return Err(e);
            }
        }
    }
    let started_at = now_rfc3339();
    let title = p
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| format!("Meeting {} {}", &started_at[..10], &started_at[11..16]));
    let metadata = MeetingMetadata {
        id: id.clone(),
        title: title.clone(),
        status: MeetingStatus::Recording,
        started_at: started_at.clone(),
        ended_at: None,
        duration_ms: 0,
        sources: sources.clone(),
        persist_audio,
        model: p.model.clone(),
        language,
        segment_count: 0,
        started_by: caller.display_name(),
        revision: 1,
        revisions: vec![Revision {
            revision: 1,
            model: p.model.clone(),
            created_at: started_at.clone(),
            segment_count: 0,
        }],
        recovered: None,
    };
    // From here on the meeting is made in a task of its own: a request aborted now (its
    // connection gone) never leaves a recorder without its streams, nor a device open.
    let (daemon, caller) = (daemon.clone(), caller.clone());
    let made = tokio::spawn(async move {
        let rules = StopRules { stop_on_disconnect: p.stop_on_disconnect, auto_stop: settings.auto_stop() };
        let made = make_meeting(&daemon, &caller, metadata, rules, readers, transcribers, options).await;
        if made.is_ok() && caller.gone.is_cancelled() {
            // The starter left while its meeting was being made: what the cleanup path would
            // have done (it ran before the meeting was registered).
            crate::caller::OwnedBySession::release_session(&*daemon.meetings, &caller.session_id);
        }
        made
    });
    made.await.map_err(|_| RpcError::internal())??;
    reply(&StartResult { id, title, started_at, voice_session_ids: stream_ids })
}

/// Creates the meeting (files, recorder) and starts one voice stream per source.
async fn make_meeting(
    daemon: &Arc<Daemon>,
    caller: &Caller,
    metadata: MeetingMetadata,
    rules: StopRules,
    readers: Vec<Option<Box<dyn AudioSource>>>,
    transcribers: Vec<Arc<dyn hark_transcribe::Transcriber>>,
    options: hark_transcribe::Options,
) -> Result<(), RpcError> {
    let id = metadata.id.clone();
    let sources = metadata.sources.clone();
    let stream_ids: Vec<String> = sources.iter().map(|s| format!("meeting:{id}:{}", s.name())).collect();
    let (meetings, who, ids) = (daemon.meetings.clone(), caller.clone(), stream_ids.clone());
    let created = tokio::task::spawn_blocking(move || meetings.create(metadata, &who, rules, ids))
        .await
        .map_err(|_| RpcError::internal())?;
    let sinks = match created {
        Ok(sinks) => sinks,
        Err(e) => {
            close_readers(readers);
            return Err(e);
        }
    };
    let parts = sources.iter().zip(readers).zip(sinks).zip(transcribers).zip(&stream_ids);
    let mut rest = Vec::new();
    let mut failed = None;
    for ((((source, reader), sink), transcriber), sid) in parts {
        if failed.is_some() {
            rest.push(reader);
            continue;
        }
        let stream = Stream {
            id: sid.clone(),
            sink,
            transcriber,
            options: options.clone(),
            partials: true,
            live: !matches!(source.spec, AudioSourceSpec::File { realtime: false, .. }),
        };
        if let Err(e) =
            daemon.voice.start(caller, sid.clone(), source.spec.clone(), reader, stream, Some(id.clone()))
        {
            failed = Some(e);
        }
    }
    let Some(e) = failed else {
        tracing::info!(meeting = %id, sources = stream_ids.len(), "meeting started");
        return Ok(());
    };
    close_readers(rest);
    tracing::warn!(meeting = %id, error = %e.message, "a meeting source did not start; the meeting is abandoned");
    daemon.meetings.stop_unchecked(&id).await;
    let meetings = daemon.meetings.clone();
    let _ = tokio::task::spawn_blocking(move || meetings.delete(&id, None)).await;
    Err(e)
}

pub async fn stop(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let MeetingIdParams { meeting_id } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    reply(&daemon.meetings.stop(caller, &meeting_id).await?)
}

/// Reading transcripts needs the `transcripts` permission (the host is exempt).
async fn may_read(daemon: &Daemon, caller: &Caller, method: &str, preview: Value) -> Result<(), RpcError> {
    gate(daemon, caller, "transcripts", method, preview).await.map(|_| ())
}

pub async fn list(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: ListParams = parse(params)?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > 500 {
        return Err(RpcError::invalid_params("limit", "1 to 500"));
    }
    let query = p.query.filter(|q| !q.trim().is_empty());
    may_read(daemon, caller, "meeting.list", json!({ "query": query })).await?;
    let (index, offset) = (daemon.meetings.index.clone(), p.offset.unwrap_or(0));
    let (mut meetings, total) =
        blocking(move || crate::lock(&index).list(limit, offset, query.as_deref()).map_err(store_error))
            .await?;
    // A running meeting's live figures (segment count, duration) are the recorder's.
    for m in &mut meetings {
        if let Some(live) = daemon.meetings.running(&m.id) {
            *m = live;
        }
    }
    reply(&ListResult { meetings, total })
}

/// The metadata and the segments of `revision` (default: the latest).
async fn load(
    daemon: &Daemon,
    id: &str,
    revision: Option<u32>,
) -> Result<(MeetingMetadata, u32, Vec<hark_protocol::meeting::Segment>), RpcError> {
    let live = daemon.meetings.running(id);
    let (store, id) = (daemon.meetings.store.clone(), id.to_string());
    blocking(move || {
        let metadata = match live {
            Some(m) => m,
            None => store.read_metadata(&id).map_err(store_error)?,
        };
        let revision = revision.unwrap_or(metadata.revision);
        if !metadata.revisions.iter().any(|r| r.revision == revision) {
            return Err(RpcError::new(
                ErrorCode::NotFound,
                format!("meeting {id} has no revision {revision}"),
            )
            .with_data(json!({ "field": "revision", "reason": "not found" })));
        }
        let segments = store.read_segments(&id, revision).map_err(store_error)?;
        Ok((metadata, revision, segments))
    })
    .await
}

pub async fn get(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let GetParams { meeting_id, revision } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    may_read(daemon, caller, "meeting.get", json!({ "meeting_id": meeting_id })).await?;
    let (metadata, revision, segments) = load(daemon, &meeting_id, revision).await?;
    reply(&GetResult { metadata, revision, segments })
}

pub async fn search(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let SearchParams { query, limit } = parse(params)?;
    let limit = limit.unwrap_or(20);
    if limit == 0 || limit > 200 {
        return Err(RpcError::invalid_params("limit", "1 to 200"));
    }
    if query.len() > 1024 {
        return Err(RpcError::invalid_params("query", "at most 1024 bytes"));
    }
    may_read(daemon, caller, "meeting.search", json!({ "query": query })).await?;
    let index = daemon.meetings.index.clone();
    let hits = blocking(move || crate::lock(&index).search(&query, limit).map_err(store_error)).await?;
    reply(&SearchResult { hits })
}

pub async fn export(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let ExportParams { meeting_id, format, revision } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    may_read(daemon, caller, "meeting.export", json!({ "meeting_id": meeting_id, "format": format })).await?;
    let (metadata, _, segments) = load(daemon, &meeting_id, revision).await?;
    let content = hark_store::export::export(&metadata, &segments, format);
    reply(&ExportResult { format, content })
}

/// Renaming: PROTOCOL does not say who may. A title is part of the person's record, so the host
/// may, and a client only with the `transcripts` permission (the same gate as reading it).
pub async fn update(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let UpdateParams { meeting_id, title } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    if title.trim().is_empty() || title.len() > 256 {
        return Err(RpcError::invalid_params("title", "1 to 256 bytes, not blank"));
    }
    may_read(daemon, caller, "meeting.update", json!({ "meeting_id": meeting_id, "title": title })).await?;
    reply(&daemon.meetings.rename(&meeting_id, title, caller.agent_id.as_deref()).await?)
}

pub async fn delete(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    super::host::require_host(caller)?;
    let MeetingIdParams { meeting_id } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    let (meetings, by) = (daemon.meetings.clone(), caller.agent_id.clone());
    blocking(move || meetings.delete(&meeting_id, by.as_deref())).await?;
    reply(&DeleteResult { deleted: true })
}

/// The default and the largest chunk `meeting.audio` returns (base64 makes it a third bigger
/// on the wire; 2 MiB stays well inside the connection's 8 MiB queue).
pub const AUDIO_CHUNK: u64 = 1 << 20;
pub const AUDIO_CHUNK_MAX: u64 = 2 << 20;

/// `meeting.audio`: a chunk of a source's kept WAV, for the window's player. Not in PROTOCOL
/// (which has no way to read audio back); decided here:
/// - the host only: audio is more than its transcript (a voice, the room), and no permission
///   covers reading it;
/// - chunks of at most 2 MiB by offset, so a long meeting never makes one huge message and the
///   window can show progress; the bytes are the file's, header included;
/// - a meeting still recording is -32012 (its file grows and its header lags by up to a
///   second), like a meeting that did not keep its audio or a source whose file is missing;
///   an unknown meeting or source is -32010.
pub async fn audio(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    use base64::Engine as _;
    use std::io::{Read, Seek, SeekFrom};
    super::host::require_host(caller)?;
    let AudioParams { meeting_id, source, offset, length } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    let offset = offset.unwrap_or(0);
    let length = length.unwrap_or(AUDIO_CHUNK);
    if length == 0 || length > AUDIO_CHUNK_MAX {
        return Err(RpcError::invalid_params("length", format!("1 to {AUDIO_CHUNK_MAX} bytes")));
    }
    if daemon.meetings.running(&meeting_id).is_some() {
        return Err(RpcError::conflict(format!("meeting {meeting_id} is recording: stop it first")));
    }
    let store = daemon.meetings.store.clone();
    blocking(move || {
        let metadata = store.read_metadata(&meeting_id).map_err(store_error)?;
        if !metadata.sources.iter().any(|s| s.name() == source) {
            return Err(RpcError::not_found(
                "source",
                &format!("{source} (meeting {meeting_id} has no such source)"),
            ));
        }
        if !metadata.persist_audio {
            return Err(RpcError::conflict(format!(
                "meeting {meeting_id} did not keep its audio (persist_audio: false)"
            )));
        }
        let path = store.wav_path(&meeting_id, &source).map_err(store_error)?;
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RpcError::conflict(format!("the audio of source {source:?} is missing")));
            }
            Err(e) => {
                tracing::warn!(wav = %path.display(), error = %e, "cannot open a meeting's audio");
                return Err(RpcError::internal());
            }
        };
        let read = |file: &mut std::fs::File| -> std::io::Result<(u64, Vec<u8>)> {
            let total = file.metadata()?.len();
            let mut data = Vec::new();
            if offset < total {
                file.seek(SeekFrom::Start(offset))?;
                file.take(length).read_to_end(&mut data)?;
            }
            Ok((total, data))
        };
        let (total_bytes, data) = read(&mut file).map_err(|e| {
            tracing::warn!(wav = %path.display(), error = %e, "cannot read a meeting's audio");
            RpcError::internal()
        })?;
        if offset > total_bytes {
            return Err(RpcError::invalid_params("offset", format!("0 to {total_bytes} (the file's size)")));
        }
        reply(&AudioResult {
            meeting_id,
            source,
            offset,
            length: data.len() as u64,
            total_bytes,
            data_b64: base64::engine::general_purpose::STANDARD.encode(&data),
            content_type: "audio/wav".into(),
            sample_rate: hark_audio::SAMPLE_RATE,
            channels: 1,
            // s16 mono at 16 kHz: 32 bytes a millisecond after the 44-byte header.
            duration_ms: total_bytes.saturating_sub(44) / 32,
        })
    })
    .await
}

/// `meeting.retranscribe`: the second pass (`meetings::second_pass`). The starter (the same
/// agent or client id) or the host; a non-host also needs `transcripts`. Behind an admission
/// permit; `meeting.retranscribe_progress` notifications go to the caller meanwhile (at most
/// about 4 a second, and a last one).
pub async fn retranscribe(
    daemon: &Arc<Daemon>,
    caller: &Caller,
    params: Option<Value>,
) -> Result<Reply, RpcError> {
    use crate::meetings::second_pass;
    let RetranscribeParams { meeting_id, model } = parse(params)?;
    check_meeting_id("meeting_id", &meeting_id)?;
    may_read(daemon, caller, "meeting.retranscribe", json!({ "meeting_id": meeting_id, "model": model }))
        .await?;
    if let Some(live) = daemon.meetings.running(&meeting_id) {
        return Err(RpcError::conflict(format!("meeting {} is recording: stop it first", live.id)));
    }
    let (store, id) = (daemon.meetings.store.clone(), meeting_id.clone());
    let metadata = blocking(move || store.read_metadata(&id).map_err(store_error)).await?;
    if !caller.is_host() && caller.display_name() != metadata.started_by {
        return Err(RpcError::forbidden(
            "forbidden: only the meeting's starter or the host may transcribe it again",
        ));
    }
    let sources = second_pass::sources_of(&daemon.meetings, &metadata)?;
    let model_path = chosen_model(daemon, model.as_deref(), "model")?;
    let options = options(metadata.language.clone(), None)?;
    let transcriber =
        daemon.engine.get_model(&daemon.admission, model_path.as_deref().map(|p| (p, "model"))).await?;
    // Both are moved into the work below: a caller that leaves does not free them early.
    let one = daemon.meetings.begin_second_pass(&meeting_id)?;
    let permit = daemon.admission.acquire().await?;
    tracing::info!(meeting = %meeting_id, model = transcriber.name(), "second pass started");
    let (to, id) = (caller.outbox.clone(), meeting_id.clone());
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    let progress: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(move |done_ms, total_ms| {
        let mut last = crate::lock(&last);
        if done_ms < total_ms && last.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(250)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        let note = RetranscribeProgress { meeting_id: id.clone(), done_ms, total_ms };
        to.push_text(
            hark_protocol::jsonrpc::notification("meeting.retranscribe_progress", json!(note)).to_string(),
        );
    });
    // The revision records the model that made it (the daemon's own has a name too).
    let model = Some(transcriber.name().to_string());
    let (meetings, id, name) = (daemon.meetings.clone(), meeting_id.clone(), model.clone());
    let metadata = blocking(move || {
        let (_one, _permit) = (one, permit);
        let segments = second_pass::transcribe_sources(&sources, &transcriber, &options, progress)?;
        second_pass::save_revision(&meetings, &id, name, &segments)
    })
    .await?;
    tracing::info!(meeting = %meeting_id, revision = metadata.revision, segments = metadata.segment_count, "second pass stored");
    daemon.meetings.announce_update(&metadata, "revision", caller.agent_id.as_deref());
    reply(&RetranscribeResult {
        meeting_id,
        revision: metadata.revision,
        model,
        segment_count: metadata.segment_count,
    })
}
