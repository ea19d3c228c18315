//! The second pass (PROTOCOL §7 `meeting.retranscribe`): a stopped or interrupted meeting whose
//! audio was kept is transcribed again from its WAVs through the one-shot path (whisper.cpp's
//! full-file mode, seeking over the whole audio), with any installed model, and stored as a new
//! revision (`transcript.r<N>.jsonl`, written whole by temp file + rename). Revision 1, the live
//! transcript, is never changed; the index and memory move to the new revision.
//!
//! The sources are transcribed one after the other, each whole; their segments are merged in
//! time order and numbered from 0, and the echo rule of the live path applies (`echo.rs`; here
//! every `them` segment is known before any `me` one is judged, so both orders are caught).

use std::path::PathBuf;
use std::sync::Arc;

use hark_protocol::RpcError;
use hark_protocol::meeting::{MeetingMetadata, Revision, Segment};
use hark_protocol::time::now_rfc3339;
use hark_transcribe::{Options, Transcriber};

use super::echo::EchoFilter;
use super::{Meetings, store_error};

/// One source's audio file and what its segments are labelled with.
pub(crate) struct SourceAudio {
    pub name: String,
    pub role: String,
    pub wav: PathBuf,
}

/// Where a second pass may start: the meeting is not recording and kept its audio.
pub(crate) fn sources_of(meetings: &Meetings, m: &MeetingMetadata) -> Result<Vec<SourceAudio>, RpcError> {
    if m.status == hark_protocol::meeting::MeetingStatus::Recording {
        return Err(RpcError::conflict(format!("meeting {} is recording: stop it first", m.id)));
    }
    if !m.persist_audio {
        return Err(RpcError::conflict(format!(
            "meeting {} did not keep its audio (persist_audio: false): nothing to transcribe again",
            m.id
        )));
    }
    m.sources
        .iter()
        .map(|s| {
            let wav = meetings.store.wav_path(&m.id, s.name()).map_err(store_error)?;
            if !wav.is_file() {
                return Err(RpcError::conflict(format!("the audio of source {:?} is missing", s.name())));
            }
            Ok(SourceAudio { name: s.name().to_string(), role: s.role.clone(), wav })
        })
        .collect()
}

/// Transcribes every source's WAV (blocking: run on a blocking thread). `progress(done_ms,
/// total_ms)` is called as it goes.
pub(crate) fn transcribe_sources(
    sources: &[SourceAudio],
    transcriber: &Arc<dyn Transcriber>,
    options: &Options,
    progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
) -> Result<Vec<Segment>, RpcError> {
    // s16 mono at 16 kHz: 32 bytes a millisecond after the 44-byte header.
    let lengths: Vec<u64> = sources
        .iter()
        .map(|s| std::fs::metadata(&s.wav).map_or(0, |m| m.len().saturating_sub(44) / 32))
        .collect();
    let total_ms: u64 = lengths.iter().sum();
    let mut found: Vec<(usize, hark_transcribe::Segment)> = Vec::new();
    let mut done_ms = 0;
    for (i, source) in sources.iter().enumerate() {
        let (audio, _) = hark_audio::wav::read_file_16k_mono(&source.wav).map_err(|e| {
            tracing::warn!(wav = %source.wav.display(), error = %e, "cannot read a meeting's audio");
            RpcError::conflict(format!("the audio of source {:?} cannot be read", source.name))
        })?;
        let base = done_ms;
        let this = lengths[i];
        let (bar, total) = (progress.clone(), total_ms);
        let report: hark_transcribe::Progress =
            Arc::new(move |p: f32| bar(base + (p.clamp(0.0, 1.0) as f64 * this as f64) as u64, total));
        // Long silences cut out first (whisper invents words for them): `hark_transcribe::pack`.
        let transcript = hark_transcribe::pack::transcribe_speech(&**transcriber, &audio, options, report)
            .map_err(|e| {
                tracing::warn!(error = %e, "a second pass failed");
                RpcError::internal()
            })?;
        done_ms += this;
        progress(done_ms, total_ms);
        found.extend(transcript.segments.into_iter().map(|s| (i, s)));
    }
    // Time order across sources; the echo rule with every `them` segment known first.
    found.sort_by_key(|(i, s)| (s.t0_ms, *i));
    let mut echo = EchoFilter::default();
    for (i, s) in &found {
        echo.stored(&sources[*i].role, s.t0_ms, s.t1_ms, &s.text);
    }
    let timestamp = now_rfc3339();
    let segments = found
        .into_iter()
        .filter(|(i, s)| !echo.is_echo(&sources[*i].role, s.t0_ms, s.t1_ms, &s.text))
        .enumerate()
        .map(|(seq, (i, s))| Segment {
            seq: seq as u64,
            source: sources[i].name.clone(),
            role: sources[i].role.clone(),
            t0_ms: s.t0_ms,
            t1_ms: s.t1_ms,
            timestamp: timestamp.clone(),
            text: s.text,
        })
        .collect();
    Ok(segments)
}

/// Stores `segments` as the meeting's next revision: the file, then `meeting.json`, then the
/// index (blocking). Returns the new metadata.
pub(crate) fn save_revision(
    meetings: &Meetings,
    id: &str,
    model: Option<String>,
    segments: &[Segment],
) -> Result<MeetingMetadata, RpcError> {
    let _one = crate::lock(&meetings.stored);
    let mut m = meetings.store.read_metadata(id).map_err(store_error)?;
    let revision = m.revisions.iter().map(|r| r.revision).max().unwrap_or(1) + 1;
    meetings.store.write_revision(id, revision, segments).map_err(store_error)?;
    m.revisions.push(Revision {
        revision,
        model,
        created_at: now_rfc3339(),
        segment_count: segments.len() as u64,
    });
    m.revision = revision;
    m.segment_count = segments.len() as u64;
    meetings.store.write_metadata(&m).map_err(store_error)?;
    let mut index = crate::lock(&meetings.index);
    if let Err(e) = index.replace_segments(id, segments).and_then(|()| index.upsert_meeting(&m)) {
        tracing::warn!(meeting = %id, error = %e, "cannot index a new revision (the index is reconciled at the next start)");
    }
    Ok(m)
}
