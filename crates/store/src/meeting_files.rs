//! The files of meetings and memory (PROTOCOL §16): create, read and rewrite a meeting's
//! metadata, read its revisions' transcripts, write a new revision, delete it, and keep the
//! memory facts. These files are the truth; `index.sqlite` is rebuilt from them.
//!
//! Every method that takes a meeting id checks it with `is_valid_meeting_id` before building a
//! path (defence in depth: the daemon checks it at the door too, but ids become paths).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use hark_protocol::ids::is_valid_meeting_id;
use hark_protocol::meeting::{MeetingMetadata, Segment};
use serde::{Deserialize, Serialize};

use crate::durable::{
    create_dir_new_private, create_dir_private, open_append_private, sync_dir, write_atomic,
};
use crate::layout::{Layout, METADATA_FILE};
use crate::transcript::{TranscriptWriter, encode_record, read_records};
use crate::{IoContext, Result, StoreError};

/// A memory fact (PROTOCOL §11 `memory.add_fact`), one CRC line of `memory/facts.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub fact_id: String,
    pub text: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was added (RFC 3339, UTC with millis as `hark_protocol::time` writes it).
    pub timestamp: String,
}

/// The meeting and memory files under one data dir.
#[derive(Debug, Clone)]
pub struct MeetingStore {
    layout: Layout,
}

impl MeetingStore {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        MeetingStore { layout: Layout::new(data_dir) }
    }

    pub fn data_dir(&self) -> &Path {
        self.layout.root()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Creates `meetings/<id>/` and its `audio/`, and writes `meeting.json`. An id that is
    /// already a directory is [`StoreError::Exists`] (ids are global, PROTOCOL §7).
    pub fn create(&self, metadata: &MeetingMetadata) -> Result<()> {
        let id = checked(&metadata.id)?;
        let meetings = self.layout.meetings_dir();
        create_dir_private(&meetings)?;
        let dir = self.layout.meeting_dir(id);
        match create_dir_new_private(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(StoreError::Exists(id.to_string())),
            Err(e) => return Err(StoreError::Io { path: dir, source: e }),
        }
        let filled = create_dir_private(&self.layout.audio_dir(id))
            .and_then(|()| sync_dir(&meetings))
            .and_then(|()| self.write_metadata(metadata));
        if filled.is_err() {
            // Not left half made: the id would be taken by a meeting `ids()` never lists.
            let _ = fs::remove_dir_all(&dir);
        }
        filled
    }

    /// Rewrites `meeting.json` atomically (temp file + fsync + rename + fsync of the directory).
    pub fn write_metadata(&self, metadata: &MeetingMetadata) -> Result<()> {
        let id = checked(&metadata.id)?;
        if !self.layout.meeting_dir(id).is_dir() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        // Infallible: a struct of strings, numbers and lists.
        let mut json = serde_json::to_vec_pretty(metadata).expect("metadata serializes");
        json.push(b'\n');
        write_atomic(&self.layout.metadata(id), &json)
    }

    /// `meeting.json`: [`StoreError::NotFound`] when missing, [`StoreError::Corrupt`] when it
    /// is not a `MeetingMetadata` or names another id.
    pub fn read_metadata(&self, id: &str) -> Result<MeetingMetadata> {
        let id = checked(id)?;
        let path = self.layout.metadata(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(StoreError::NotFound(id.to_string())),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let metadata: MeetingMetadata = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        if metadata.id != id {
            let reason = format!("names meeting {:?}", metadata.id);
            return Err(StoreError::Corrupt { path, reason });
        }
        Ok(metadata)
    }

    /// The ids of every meeting: directory names that are valid ids and hold a `meeting.json`,
    /// sorted. Anything else under `meetings/` (temp files, a directory being deleted, strays)
    /// is skipped.
    pub fn ids(&self) -> Result<Vec<String>> {
        let meetings = self.layout.meetings_dir();
        let entries = match fs::read_dir(&meetings) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Io { path: meetings, source: e }),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.at(&meetings)?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if is_valid_meeting_id(&name) && entry.path().join(METADATA_FILE).is_file() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The path of a revision's transcript (1: the live `transcript.jsonl`).
    pub fn transcript_path(&self, id: &str, revision: u32) -> Result<PathBuf> {
        let id = checked(id)?;
        if revision == 0 {
            return Err(StoreError::InvalidRevision(revision));
        }
        Ok(self.layout.transcript(id, revision))
    }

    /// Opens the live transcript (revision 1) for the recorder.
    pub fn open_live_transcript(&self, id: &str) -> Result<TranscriptWriter> {
        let path = self.transcript_path(id, 1)?;
        if !self.layout.meeting_dir(checked(id)?).is_dir() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        TranscriptWriter::open_append(&path)
    }

    /// A revision's segments: the lines that verify (bad lines are logged and skipped; only
    /// [`recover`](Self::recover) moves them aside). A missing live transcript is an empty
    /// one (no segment was written yet); a missing revision N >= 2 is
    /// [`StoreError::NotFound`], as is a missing meeting.
    pub fn read_segments(&self, id: &str, revision: u32) -> Result<Vec<Segment>> {
        let path = self.transcript_path(id, revision)?;
        if !path.exists() {
            if revision == 1 && self.layout.meeting_dir(id).is_dir() {
                return Ok(Vec::new());
            }
            return Err(StoreError::NotFound(format!("meeting {id} revision {revision}")));
        }
        let (segments, bad, _) = read_records(&path)?;
        for b in &bad {
            tracing::warn!(path = %path.display(), line = b.line_no, error = %b.error, "skipping a transcript line that does not verify");
        }
        Ok(segments)
    }

    /// Writes revision N >= 2 whole (temp file + rename), in the live transcript's line format.
    pub fn write_revision(&self, id: &str, revision: u32, segments: &[Segment]) -> Result<()> {
        if revision < 2 {
            return Err(StoreError::InvalidRevision(revision));
        }
        let path = self.transcript_path(id, revision)?;
        if !self.layout.meeting_dir(id).is_dir() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        write_atomic(&path, lines(segments).as_bytes())
    }

    /// Removes the meeting's directory tree. It is first renamed to a name no id can have
    /// (`.deleting-<id>`), so a crash mid-removal never leaves a half meeting that looks whole.
    pub fn delete(&self, id: &str) -> Result<()> {
        let id = checked(id)?;
        let dir = self.layout.meeting_dir(id);
        let trash = self.layout.meetings_dir().join(format!(".deleting-{id}"));
        // A leftover of an earlier interrupted delete of the same id.
        if trash.exists() {
            fs::remove_dir_all(&trash).at(&trash)?;
        }
        match fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(StoreError::NotFound(id.to_string())),
            Err(e) => return Err(StoreError::Io { path: dir, source: e }),
        }
        sync_dir(&self.layout.meetings_dir())?;
        fs::remove_dir_all(&trash).at(&trash)
    }

    /// `audio/<source>.wav`, the source name made a safe file name.
    pub fn wav_path(&self, id: &str, source_name: &str) -> Result<PathBuf> {
        Ok(self.layout.wav(checked(id)?, source_name))
    }

    /// Appends a fact to `memory/facts.jsonl` and fsyncs it before returning: facts are rare,
    /// and one acknowledged to an agent must survive a power cut.
    pub fn append_fact(&self, fact: &Fact) -> Result<()> {
        let dir = self.layout.memory_dir();
        create_dir_private(&dir)?;
        let path = self.layout.facts();
        let existed = path.exists();
        let mut f = open_append_private(&path)?;
        f.write_all(encode_record(fact).as_bytes()).at(&path)?;
        f.sync_data().at(&path)?;
        if !existed {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Every fact that verifies, in the order added (bad lines logged and skipped).
    pub fn read_facts(&self) -> Result<Vec<Fact>> {
        let path = self.layout.facts();
        if !path.exists() {
            return Ok(Vec::new());
        }
        let (facts, bad, _) = read_records(&path)?;
        for b in &bad {
            tracing::warn!(path = %path.display(), line = b.line_no, error = %b.error, "skipping a fact line that does not verify");
        }
        Ok(facts)
    }
}

/// Segments as transcript lines.
pub(crate) fn lines(segments: &[Segment]) -> String {
    segments.iter().map(encode_record).collect()
}

fn checked(id: &str) -> Result<&str> {
    if is_valid_meeting_id(id) { Ok(id) } else { Err(StoreError::InvalidId(id.to_string())) }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::transcript::tests::seg;
    use hark_protocol::meeting::{MeetingSource, MeetingStatus, Revision};
    use hark_protocol::voice::AudioSourceSpec;

    pub(crate) fn meta(id: &str, title: &str, started_at: &str) -> MeetingMetadata {
        MeetingMetadata {
            id: id.into(),
            title: title.into(),
            status: MeetingStatus::Recording,
            started_at: started_at.into(),
            ended_at: None,
            duration_ms: 0,
            sources: vec![
                MeetingSource {
                    spec: AudioSourceSpec::Mic { device: None, name: Some("mic".into()) },
                    role: "me".into(),
                },
                MeetingSource {
                    spec: AudioSourceSpec::System { name: Some("system".into()) },
                    role: "them".into(),
                },
            ],
            persist_audio: true,
            model: None,
            language: None,
            segment_count: 0,
            started_by: "test".into(),
            revision: 1,
            revisions: vec![Revision {
                revision: 1,
                model: None,
                created_at: started_at.into(),
                segment_count: 0,
            }],
            recovered: None,
        }
    }

    #[test]
    fn create_read_write_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        assert_eq!(store.ids().unwrap(), Vec::<String>::new());
        let mut m = meta("m1", "Standup", "2026-01-02T03:04:05.000Z");
        store.create(&m).unwrap();
        assert!(dir.path().join("meetings/m1/audio").is_dir());
        assert!(matches!(store.create(&m), Err(StoreError::Exists(_))));
        assert_eq!(store.read_metadata("m1").unwrap(), m);
        m.title = "Renamed".into();
        store.write_metadata(&m).unwrap();
        assert_eq!(store.read_metadata("m1").unwrap().title, "Renamed");
        assert_eq!(store.ids().unwrap(), vec!["m1".to_string()]);
        assert_eq!(store.read_segments("m1", 1).unwrap(), vec![]);
        assert!(matches!(store.read_segments("m1", 2), Err(StoreError::NotFound(_))));
        store.delete("m1").unwrap();
        assert!(!dir.path().join("meetings/m1").exists());
        assert!(matches!(store.read_metadata("m1"), Err(StoreError::NotFound(_))));
        assert!(matches!(store.delete("m1"), Err(StoreError::NotFound(_))));
        assert_eq!(store.ids().unwrap(), Vec::<String>::new());
        assert_eq!(fs::read_dir(dir.path().join("meetings")).unwrap().count(), 0, "no trash left");
    }

    #[test]
    fn ids_are_checked_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        for bad in ["..", ".", "a/b", "", "x:y"] {
            assert!(matches!(store.create(&meta(bad, "t", "x")), Err(StoreError::InvalidId(_))), "{bad}");
            assert!(matches!(store.read_metadata(bad), Err(StoreError::InvalidId(_))));
            assert!(matches!(store.read_segments(bad, 1), Err(StoreError::InvalidId(_))));
            assert!(matches!(store.delete(bad), Err(StoreError::InvalidId(_))));
            assert!(matches!(store.wav_path(bad, "mic"), Err(StoreError::InvalidId(_))));
        }
        assert!(!dir.path().join("meetings").exists() || store.ids().unwrap().is_empty());
    }

    #[test]
    fn ids_skip_strays_and_corrupt_metadata_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        store.create(&meta("good", "t", "2026-01-01T00:00:00.000Z")).unwrap();
        let meetings = dir.path().join("meetings");
        fs::create_dir_all(meetings.join("no-metadata")).unwrap();
        fs::create_dir_all(meetings.join(".deleting-x")).unwrap();
        fs::write(meetings.join("stray-file"), b"x").unwrap();
        // Only a temp file, as a crash during create's first write would leave.
        fs::create_dir_all(meetings.join("half")).unwrap();
        fs::write(meetings.join("half/meeting.json.tmp1-0"), b"{").unwrap();
        store.create(&meta("bad", "t", "2026-01-01T00:00:00.000Z")).unwrap();
        fs::write(meetings.join("bad/meeting.json"), b"{not json").unwrap();
        assert_eq!(store.ids().unwrap(), vec!["bad".to_string(), "good".to_string()]);
        assert!(matches!(store.read_metadata("bad"), Err(StoreError::Corrupt { .. })));
        assert!(matches!(store.read_metadata("half"), Err(StoreError::NotFound(_))));
        // meeting.json naming another id is corrupt too.
        fs::write(meetings.join("bad/meeting.json"), serde_json::to_vec(&meta("good", "t", "x")).unwrap())
            .unwrap();
        assert!(matches!(store.read_metadata("bad"), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn revisions() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        store.create(&meta("m", "t", "2026-01-01T00:00:00.000Z")).unwrap();
        let mut w = store.open_live_transcript("m").unwrap();
        w.append(&seg(0, "live one")).unwrap();
        w.sync().unwrap();
        let rev2 = vec![seg(0, "better one"), seg(1, "better two")];
        store.write_revision("m", 2, &rev2).unwrap();
        assert_eq!(store.read_segments("m", 1).unwrap(), vec![seg(0, "live one")]);
        assert_eq!(store.read_segments("m", 2).unwrap(), rev2);
        assert!(dir.path().join("meetings/m/transcript.r2.jsonl").is_file());
        assert!(matches!(store.write_revision("m", 1, &rev2), Err(StoreError::InvalidRevision(1))));
        assert!(matches!(store.read_segments("m", 0), Err(StoreError::InvalidRevision(0))));
        assert!(matches!(store.write_revision("nope", 2, &rev2), Err(StoreError::NotFound(_))));
        assert!(matches!(store.open_live_transcript("nope"), Err(StoreError::NotFound(_))));
        assert_eq!(store.wav_path("m", "my call").unwrap(), dir.path().join("meetings/m/audio/my_call.wav"));
    }

    #[test]
    fn facts_round_trip_and_skip_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        assert_eq!(store.read_facts().unwrap(), vec![]);
        let f1 = Fact {
            fact_id: "f1".into(),
            text: "Alice owns the budget".into(),
            subject: Some("alice".into()),
            tags: vec!["budget".into()],
            timestamp: "2026-01-01T00:00:00.000Z".into(),
        };
        let f2 = Fact { fact_id: "f2".into(), subject: None, tags: vec![], ..f1.clone() };
        store.append_fact(&f1).unwrap();
        let path = dir.path().join("memory/facts.jsonl");
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n").unwrap();
        store.append_fact(&f2).unwrap();
        assert_eq!(store.read_facts().unwrap(), vec![f1, f2]);
    }
}
