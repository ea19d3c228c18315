//! Where everything lives under the data dir (PROTOCOL §16). Pure path joining: callers check
//! meeting ids with `hark_protocol::ids::is_valid_meeting_id` before a path is built from one
//! ([`crate::MeetingStore`] does), and source names go through [`source_file_name`].
//!
//! ```text
//! meetings/<id>/meeting.json              metadata, rewritten by temp file + fsync + rename
//! meetings/<id>/transcript.jsonl          revision 1 (live), one CRC-checked Segment per line
//! meetings/<id>/transcript.jsonl.broken   lines recovery could not verify (kept, never deleted)
//! meetings/<id>/transcript.r<N>.jsonl     revision N >= 2, written whole
//! meetings/<id>/audio/<source>.wav        16 kHz mono s16
//! index.sqlite                            the search index and memory: a cache of the files
//! memory/facts.jsonl                      memory facts, CRC-checked lines (Hark's addition)
//! ```
//!
//! `memory/facts.jsonl` is not in PROTOCOL §16: facts would otherwise live only in
//! `index.sqlite`, which is a cache that is thrown away and rebuilt when it is corrupt or its
//! schema changes. With the facts in a file of their own, a rebuilt index loses nothing.

use std::path::{Path, PathBuf};

pub const MEETINGS_DIR: &str = "meetings";
pub const METADATA_FILE: &str = "meeting.json";
pub const LIVE_TRANSCRIPT_FILE: &str = "transcript.jsonl";
pub const BROKEN_SUFFIX: &str = ".broken";
pub const AUDIO_DIR: &str = "audio";
pub const INDEX_FILE: &str = "index.sqlite";
pub const MEMORY_DIR: &str = "memory";
pub const FACTS_FILE: &str = "facts.jsonl";

/// Longest file-name stem a source name becomes: far below any file system's 255-byte limit,
/// with room for `.wav.broken`.
const MAX_SOURCE_FILE_STEM: usize = 100;

/// The paths under one data dir.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meetings_dir(&self) -> PathBuf {
        self.root.join(MEETINGS_DIR)
    }

    pub fn meeting_dir(&self, id: &str) -> PathBuf {
        self.meetings_dir().join(id)
    }

    pub fn metadata(&self, id: &str) -> PathBuf {
        self.meeting_dir(id).join(METADATA_FILE)
    }

    /// Revision 1 is `transcript.jsonl`, revision N >= 2 `transcript.r<N>.jsonl`.
    pub fn transcript(&self, id: &str, revision: u32) -> PathBuf {
        let name = if revision <= 1 {
            LIVE_TRANSCRIPT_FILE.to_string()
        } else {
            format!("transcript.r{revision}.jsonl")
        };
        self.meeting_dir(id).join(name)
    }

    /// Where recovery keeps the live transcript's lines that did not verify.
    pub fn broken_transcript(&self, id: &str) -> PathBuf {
        self.meeting_dir(id).join(format!("{LIVE_TRANSCRIPT_FILE}{BROKEN_SUFFIX}"))
    }

    pub fn audio_dir(&self, id: &str) -> PathBuf {
        self.meeting_dir(id).join(AUDIO_DIR)
    }

    pub fn wav(&self, id: &str, source_name: &str) -> PathBuf {
        self.audio_dir(id).join(format!("{}.wav", source_file_name(source_name)))
    }

    pub fn index(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    pub fn memory_dir(&self) -> PathBuf {
        self.root.join(MEMORY_DIR)
    }

    pub fn facts(&self) -> PathBuf {
        self.memory_dir().join(FACTS_FILE)
    }
}

/// A source name as a file-name stem: every char outside `[A-Za-z0-9._-]` becomes `_`, and so
/// does a leading `.` (so the result is never `.`, `..` or a hidden file); empty becomes `_`.
/// Distinct names can map to one stem (`a b`, `a_b`): the daemon keeps a meeting's source names
/// distinct after this mapping.
pub fn source_file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(MAX_SOURCE_FILE_STEM)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.replace_range(..out.len().min(1), "_");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_safe_file_names() {
        assert_eq!(source_file_name("mic"), "mic");
        assert_eq!(source_file_name("call-1.b_c"), "call-1.b_c");
        assert_eq!(source_file_name("a/b\\c d:é"), "a_b_c_d__");
        assert_eq!(source_file_name("."), "_");
        assert_eq!(source_file_name(".."), "_.");
        assert_eq!(source_file_name(".hidden"), "_hidden");
        assert_eq!(source_file_name(""), "_");
        assert_eq!(source_file_name(&"x".repeat(300)).len(), MAX_SOURCE_FILE_STEM);
    }

    #[test]
    fn paths() {
        let l = Layout::new("/d");
        assert_eq!(l.metadata("m1"), Path::new("/d/meetings/m1/meeting.json"));
        assert_eq!(l.transcript("m1", 1), Path::new("/d/meetings/m1/transcript.jsonl"));
        assert_eq!(l.transcript("m1", 3), Path::new("/d/meetings/m1/transcript.r3.jsonl"));
        assert_eq!(l.broken_transcript("m1"), Path::new("/d/meetings/m1/transcript.jsonl.broken"));
        assert_eq!(l.wav("m1", "../x"), Path::new("/d/meetings/m1/audio/_._x.wav"));
        assert_eq!(l.index(), Path::new("/d/index.sqlite"));
        assert_eq!(l.facts(), Path::new("/d/memory/facts.jsonl"));
    }
}
