//! Meetings (PROTOCOL §7) and memory (§11): metadata, segments, revisions, and every method's
//! params and results. `meeting.start`'s `sources` are parsed by the daemon entry by entry (a
//! string or an `AudioSourceSpec` object with an optional `role`) so each error names its index.

use serde::{Deserialize, Serialize};

use crate::voice::AudioSourceSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    Recording,
    Stopped,
    Interrupted,
}

/// One source of a meeting as stored and reported: the spec it was started with (its `name`
/// always set) and the role its segments carry (`me` for the microphone, `them` for system
/// audio, the object's `role` or `unknown` otherwise). Serialized flat:
/// `{"kind":"mic","name":"mic","role":"me"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingSource {
    #[serde(flatten)]
    pub spec: AudioSourceSpec,
    pub role: String,
}

impl MeetingSource {
    /// The source's name: `mic`, `system`, or the object's `name` (default `push` / `file`).
    pub fn name(&self) -> &str {
        self.spec.name().unwrap_or(self.spec.kind())
    }
}

/// One revision of a meeting's transcript (1 is the live one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub revision: u32,
    /// The model that produced it (`None`: the daemon's own, or the fake transcriber).
    #[serde(default)]
    pub model: Option<String>,
    pub created_at: String,
    pub segment_count: u64,
}

/// `MeetingMetadata` (PROTOCOL §7), also the content of `meeting.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingMetadata {
    pub id: String,
    pub title: String,
    pub status: MeetingStatus,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub duration_ms: u64,
    pub sources: Vec<MeetingSource>,
    pub persist_audio: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub segment_count: u64,
    /// Who started it: the agent id, else the client id, else the connection's session id.
    pub started_by: String,
    /// The latest revision (what `meeting.get` returns by default).
    pub revision: u32,
    pub revisions: Vec<Revision>,
    /// Set when a crash interrupted the meeting and the daemon recovered it at its next start
    /// (Hark's own field: what the `meeting.recovered` event said, kept with the meeting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Recovery>,
}

/// What recovering an interrupted meeting did (`MeetingMetadata::recovered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// When (RFC 3339): the daemon's start after the crash.
    pub recovered_at: String,
    /// Transcript lines that could not be read back, set aside in `transcript.jsonl.broken`.
    pub broken_lines: u64,
    /// Audio files whose header or length was repaired.
    pub wavs_fixed: u64,
    /// Audio files too short or malformed to repair, set aside as `<name>.wav.broken`.
    pub wavs_moved_aside: u64,
}

/// `Segment` (PROTOCOL §7): one final line of a meeting's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Meeting-wide, from 0, in the order segments were stored.
    pub seq: u64,
    /// The source's name (`mic`, `system`, ...).
    pub source: String,
    pub role: String,
    pub t0_ms: u64,
    pub t1_ms: u64,
    /// When it was stored (RFC 3339).
    pub timestamp: String,
    pub text: String,
}

// ---- params and results ----

/// `meeting.start`; `sources` is checked entry by entry by the daemon.
#[derive(Debug, Clone, Deserialize)]
pub struct StartParams {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub sources: Vec<serde_json::Value>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// `None`: the `keep_audio` setting.
    #[serde(default)]
    pub persist_audio: Option<bool>,
    #[serde(default)]
    pub stop_on_disconnect: bool,
}

/// A `sources` entry given as an object: an `AudioSourceSpec` plus an optional `role`.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceObject {
    #[serde(flatten)]
    pub spec: AudioSourceSpec,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartResult {
    pub id: String,
    pub title: String,
    pub started_at: String,
    pub voice_session_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MeetingIdParams {
    pub meeting_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
    /// Keeps meetings whose title or transcript matches (full-text, as `meeting.search`).
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResult {
    pub meetings: Vec<MeetingMetadata>,
    pub total: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GetParams {
    pub meeting_id: String,
    #[serde(default)]
    pub revision: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetResult {
    pub metadata: MeetingMetadata,
    pub revision: u32,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchParams {
    pub query: String,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub meeting_id: String,
    /// The meeting's title (Hark's own field; absent from other daemons).
    #[serde(default)]
    pub title: String,
    pub seq: u64,
    pub t0_ms: u64,
    pub text: String,
    /// The matching words in context, marked `[` `]`.
    pub snippet: String,
    /// The same snippet as pieces, each a match or not (Hark's own field): unlike `snippet`'s
    /// brackets, which the text may contain too, nothing here needs parsing. Absent when the
    /// daemon could not tell (a text with the private-use characters the index marks with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet_parts: Option<Vec<SnippetPart>>,
    /// Higher is better (the negated bm25 rank).
    pub score: f64,
}

/// A piece of a search snippet: `text` as it is in the segment (with the `…` cut marks), `match`
/// when it is one of the query's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    pub text: String,
    #[serde(rename = "match")]
    pub is_match: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Md,
    Txt,
    Srt,
    Vtt,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExportParams {
    pub meeting_id: String,
    pub format: ExportFormat,
    #[serde(default)]
    pub revision: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportResult {
    pub format: ExportFormat,
    pub content: String,
}

/// `meeting.audio` (host only): one chunk of a source's kept WAV file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioParams {
    pub meeting_id: String,
    pub source: String,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub length: Option<u64>,
}

/// The bytes `[offset, offset + length)` of the WAV file (its header included at offset 0), so
/// the chunks of `0..total_bytes` in order are a playable `audio/wav`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioResult {
    pub meeting_id: String,
    pub source: String,
    pub offset: u64,
    pub length: u64,
    pub total_bytes: u64,
    pub data_b64: String,
    pub content_type: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetranscribeParams {
    pub meeting_id: String,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetranscribeResult {
    pub meeting_id: String,
    pub revision: u32,
    pub model: Option<String>,
    pub segment_count: u64,
}

/// `meeting.retranscribe_progress` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetranscribeProgress {
    pub meeting_id: String,
    pub done_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UpdateParams {
    pub meeting_id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteResult {
    pub deleted: bool,
}

// ---- memory (§11) ----

#[derive(Debug, Clone, Deserialize)]
pub struct AddFactParams {
    pub text: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddFactResult {
    pub fact_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MemoryQueryParams {
    pub query: String,
    #[serde(default)]
    pub k: Option<u32>,
    #[serde(default)]
    pub meeting_id: Option<String>,
    /// RFC 3339: only what was stored at or after it.
    #[serde(default)]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    Segment,
    Fact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryHit {
    pub kind: MemoryKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t0_ms: Option<u64>,
    pub timestamp: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryQueryResult {
    pub results: Vec<MemoryHit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactCount {
    pub facts: u64,
    pub segments: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sources_serialize_flat_and_round_trip() {
        let s = MeetingSource {
            spec: AudioSourceSpec::Mic { device: None, name: Some("mic".into()) },
            role: "me".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v, json!({"kind": "mic", "name": "mic", "role": "me"}));
        assert_eq!(serde_json::from_value::<MeetingSource>(v).unwrap(), s);
        let o: SourceObject =
            serde_json::from_value(json!({"kind": "pcm_push", "name": "call", "role": "them"})).unwrap();
        assert_eq!(o.role.as_deref(), Some("them"));
        assert_eq!(o.spec.name(), Some("call"));
    }

    #[test]
    fn export_formats() {
        assert_eq!(serde_json::from_value::<ExportFormat>(json!("vtt")).unwrap(), ExportFormat::Vtt);
        assert!(serde_json::from_value::<ExportFormat>(json!("pdf")).is_err());
    }
}
