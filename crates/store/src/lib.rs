//! Hark's meeting store (PROTOCOL §7, §11, §16): the files under the data dir that are the truth
//! (meeting metadata, CRC-checked transcripts, WAVs, memory facts), their crash recovery, the
//! SQLite full-text index that is a rebuildable cache of them, and the one transcript formatter.
//!
//! Blocking and socket-free on purpose: the daemon calls it from its recorder thread and from
//! `spawn_blocking`, so "domain state never holds a connection" is a compile-time fact.
//!
//! Start-up order the daemon is expected to follow: [`MeetingStore::recover`] every id from
//! [`MeetingStore::ids`] (it fixes `recording` meetings and removes temp files), then
//! [`Index::open`] (which rebuilds from the now-consistent files when it must).

pub mod chats;
pub mod durable;
pub mod export;
pub mod index;
pub mod layout;
pub mod meeting_files;
mod query;
pub mod recover;
pub mod transcript;

use std::io;
use std::path::{Path, PathBuf};

pub use chats::ChatLog;
pub use export::{Cue, export};
pub use index::{Index, OpenReport, SCHEMA_VERSION};
pub use layout::{Layout, source_file_name};
pub use meeting_files::{Fact, MeetingStore};
pub use recover::{Recovered, WavFix, fix_wav};
pub use transcript::{
    BadLine, LineError, TranscriptRead, TranscriptWriter, decode_line, encode_line, read_transcript,
};

/// Everything the store can fail with. The daemon maps these to protocol errors (`NotFound` to
/// "no such meeting", `InvalidId` / `EmptyQuery` to invalid params, the rest to internal errors
/// whose details go to the log).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not `^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$`: ids become paths, so this is checked here too.
    #[error("invalid meeting id {0:?}")]
    InvalidId(String),
    #[error("meeting {0} already exists")]
    Exists(String),
    /// A meeting, or one of its revisions, that is not there.
    #[error("not found: {0}")]
    NotFound(String),
    /// Revision 0 does not exist, and revision 1 (the live transcript) is never rewritten.
    #[error("invalid revision {0}")]
    InvalidRevision(u32),
    /// A file that exists but cannot be read as what it should be.
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A search text with no words in it.
    #[error("the query has no words to search for")]
    EmptyQuery,
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("index: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches the path an I/O error happened on (an `io::Error` alone says "No such file").
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| StoreError::Io { path: path.to_path_buf(), source })
    }
}
