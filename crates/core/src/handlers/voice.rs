//! Voice methods (PROTOCOL §6): `voice.transcribe_stream.start/push/stop`, `voice.sessions.list`,
//! `voice.devices.list`, and the one-shot `transcribe`. A stream (`options.model`) or a call
//! (`model`) may name an installed model instead of the daemon's own.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use hark_audio::source::{AudioSource, FileSource, SourceError};
use hark_protocol::voice::{
    AudioSourceSpec, DeviceInfo, DevicesResult, PushParams, PushResult, SessionParams, StartParams,
    StartResult, StopResult, TranscribeParams, TranscribeResult, TranscribeSegment,
};
use hark_protocol::{ErrorCode, RpcError};
use hark_transcribe::Options;
use serde_json::{Value, json};

use super::{Reply, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;
use crate::voice::session::Stream;

pub(crate) fn options(language: Option<String>, prompt: Option<String>) -> Result<Options, RpcError> {
    let mut o = Options::default();
    if let Some(l) = language {
        if l.is_empty() || l.len() > 8 {
            return Err(RpcError::invalid_params(
                "language",
                "an ISO 639-1 code such as \"en\", or \"auto\"",
            ));
        }
        o.language = l;
    }
    if prompt.as_ref().is_some_and(|p| p.len() > 1024) {
        return Err(RpcError::invalid_params("prompt", "at most 1024 bytes"));
    }
    o.prompt = prompt;
    Ok(o)
}

/// A stream's or a call's own model: the name of an installed model (`models.list`), never a
/// path (an agent must not make whisper.cpp open arbitrary files). `None`: the daemon's model.
pub(crate) fn chosen_model(
    daemon: &Daemon,
    name: Option<&str>,
    field: &str,
) -> Result<Option<PathBuf>, RpcError> {
    let Some(name) = name else { return Ok(None) };
    if daemon.engine.model_path().is_none() {
        return Err(RpcError::invalid_params(
            field,
            "this daemon runs the fake transcriber (hark serve --transcriber fake): no models to choose",
        ));
    }
    crate::models::check_name(name).map_err(|e| RpcError::invalid_params(field, e.to_string()))?;
    if !daemon.models.is_installed(name) {
        return Err(RpcError::new(
            ErrorCode::NotFound,
            format!("model {name:?} is not installed (models.pull or models.import it first)"),
        )
        .with_data(json!({ "field": field, "reason": "not found" })));
    }
    Ok(Some(daemon.models.path_of(name)))
}

pub async fn start(daemon: &Arc<Daemon>, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let params: StartParams = parse(params)?;
    let id = match params.session_id {
        Some(id) if !hark_protocol::ids::is_valid_agent_id(&id) => {
            return Err(RpcError::invalid_params(
                "session_id",
                "must match ^[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127}$",
            ));
        }
        Some(id) => id,
        // 32 hex chars: the id binary audio frames carry (PROTOCOL §6.4).
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    // Before the person is asked anything; again below, before a device opens (the gate may wait).
    daemon.voice.check_can_start(conn, &id)?;
    let model = chosen_model(daemon, params.options.model.as_deref(), "options.model")?;
    if let AudioSourceSpec::File { path, .. } = &params.audio_source
        && !std::path::Path::new(path).is_file()
    {
        return Err(RpcError::invalid_params("audio_source.path", format!("no such file: {path}")));
    }
    if params.audio_source.needs_microphone() {
        let preview = json!({ "audio_source": params.audio_source });
        crate::permissions::gate(daemon, conn, "microphone", "voice.transcribe_stream.start", preview)
            .await?;
    }
    let options = options(params.options.language, params.options.prompt)?;
    let transcriber =
        daemon.engine.get_model(&daemon.admission, model.as_deref().map(|p| (p, "options.model"))).await?;
    // Opened last, once everything else is known to work: a device is not opened for a stream
    // that would fail anyway.
    daemon.voice.check_can_start(conn, &id)?;
    let reader = open_source(daemon, &params.audio_source).await?;
    let stream = Stream {
        id: id.clone(),
        sink: Arc::new(crate::voice::sink::OwnerSink(conn.outbox.clone())),
        transcriber,
        options,
        partials: params.options.partials.unwrap_or(true),
        live: !matches!(params.audio_source, AudioSourceSpec::File { realtime: false, .. }),
    };
    daemon.voice.start(conn, id.clone(), params.audio_source, reader, stream, None)?;
    reply(&StartResult { session_id: id })
}

/// Opens a source the daemon reads itself (on a blocking thread: devices and files may block).
pub(crate) async fn open_source(
    daemon: &Daemon,
    spec: &AudioSourceSpec,
) -> Result<Option<Box<dyn AudioSource>>, RpcError> {
    let backend = daemon.config.capture.clone();
    let open: Box<dyn FnOnce() -> Result<Box<dyn AudioSource>, SourceError> + Send> = match spec.clone() {
        AudioSourceSpec::PcmPush { .. } => return Ok(None),
        AudioSourceSpec::File { path, realtime, .. } => Box::new(move || {
            Ok(Box::new(FileSource::open(std::path::Path::new(&path), realtime)?) as Box<dyn AudioSource>)
        }),
        AudioSourceSpec::Mic { device, .. } => Box::new(move || backend.open_mic(device)),
        AudioSourceSpec::System { .. } => Box::new(move || backend.open_system()),
    };
    let opened = tokio::task::spawn_blocking(open).await.map_err(|_| RpcError::internal())?;
    opened.map(Some).map_err(|e| {
        tracing::info!(source = spec.kind(), error = %e, "an audio source did not open");
        crate::voice::capture::open_error(e)
    })
}

pub async fn push(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let PushParams { session_id, pcm_b64 } = parse(params)?;
    let pcm = base64::engine::general_purpose::STANDARD
        .decode(pcm_b64.as_bytes())
        .map_err(|e| RpcError::invalid_params("pcm_b64", format!("not base64: {e}")))?;
    let samples = daemon.voice.push(conn, &session_id, &pcm).await?;
    reply(&PushResult { accepted: true, samples })
}

pub async fn stop(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let SessionParams { session_id } = parse(params)?;
    daemon.voice.stop(conn, &session_id).await?;
    reply(&StopResult { session_id, stopped: true })
}

pub fn sessions(daemon: &Daemon, conn: &Caller) -> Result<Reply, RpcError> {
    reply(&daemon.voice.list(conn))
}

/// The capture backend's input devices (monitors left out: `system` covers them) and whether
/// system audio can be captured now. No sound system is an empty list, not an error.
pub async fn devices(daemon: &Daemon) -> Result<Reply, RpcError> {
    let backend = daemon.config.capture.clone();
    let (inputs, system_capture) =
        tokio::task::spawn_blocking(move || (backend.inputs(), backend.system_capture()))
            .await
            .map_err(|_| RpcError::internal())?;
    let inputs = inputs.unwrap_or_else(|e| {
        tracing::info!(error = %e, "no audio inputs");
        Vec::new()
    });
    let inputs = inputs
        .into_iter()
        .map(|d| DeviceInfo { id: d.id, name: d.name, default: d.default, sample_rates: d.sample_rates })
        .collect();
    reply(&DevicesResult { inputs, system_capture })
}

/// One-shot transcription of a WAV (bytes or a path), behind an admission permit.
pub async fn transcribe(daemon: &Daemon, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: TranscribeParams = parse(params)?;
    let model = chosen_model(daemon, p.model.as_deref(), "model")?;
    let wav = match (p.audio_b64, p.path) {
        (Some(b64), None) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| RpcError::invalid_params("audio_b64", format!("not base64: {e}")))?,
        (None, Some(path)) => tokio::fs::read(&path)
            .await
            .map_err(|e| RpcError::invalid_params("path", format!("cannot read {path}: {e}")))?,
        _ => return Err(RpcError::invalid_params("audio_b64", "exactly one of audio_b64 and path")),
    };
    let options = options(p.language, None)?;
    let transcriber =
        daemon.engine.get_model(&daemon.admission, model.as_deref().map(|p| (p, "model"))).await?;
    let _permit = daemon.admission.acquire().await?;
    let (transcript, duration_ms) = tokio::task::spawn_blocking(move || {
        let (audio, _) = hark_audio::wav::read_16k_mono(std::io::Cursor::new(wav))
            .map_err(|e| RpcError::invalid_params("audio", e.to_string()))?;
        let duration_ms = audio.len() as u64 * 1000 / 16_000;
        // Long silences cut out first (whisper invents words for them): `hark_transcribe::pack`.
        use hark_transcribe::pack::transcribe_speech;
        let t = transcribe_speech(&*transcriber, &audio, &options, Arc::new(|_| {})).map_err(|e| {
            tracing::warn!(error = %e, "transcription failed");
            RpcError::internal()
        })?;
        Ok::<_, RpcError>((t, duration_ms))
    })
    .await
    .map_err(|_| RpcError::internal())??;
    let segments = transcript
        .segments
        .iter()
        .map(|s| TranscribeSegment { t0_ms: s.t0_ms, t1_ms: s.t1_ms, text: s.text.clone() })
        .collect();
    reply(&TranscribeResult { text: transcript.text(), language: transcript.language, duration_ms, segments })
}
