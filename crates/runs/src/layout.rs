//! Where a run lives, `<runs_dir>/<agent dir>/<run_id>.jsonl`, and how the two names in that
//! path are made safe: run ids are minted here (a client's run id is only ever looked up in the
//! in-memory index, never joined into a path, so `../x` is simply an unknown run), and the agent
//! id, which a client chooses, goes through [`agent_dir_name`].
//!
//! Also the private file system helpers: files are created 0600 and directories 0700 (on Unix;
//! elsewhere the modes are skipped).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// The directory under the data dir that holds every run: `<data_dir>/runs`.
pub const RUNS_DIR: &str = "runs";

/// The extension of a run's file.
pub const RUN_FILE_EXT: &str = "jsonl";

const RUN_ID_PREFIX: &str = "run-";

/// Longest agent directory name; a longer encoding is cut and ends in a hash of the whole id.
pub const MAX_AGENT_DIR_NAME: usize = 128;

/// A fresh run id: `run-` and the 32 lowercase hex digits of a random (v4) UUID.
pub fn new_run_id() -> String {
    format!("{RUN_ID_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// True for exactly the shape [`new_run_id`] mints. Files named otherwise are not runs.
pub fn is_run_id(id: &str) -> bool {
    id.strip_prefix(RUN_ID_PREFIX)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The directory name for an agent id a client chose. Injective, and safe on any file system:
///
/// - the bytes `[A-Za-z0-9_.-]` stay, except a leading `.` (so never `.`, `..` or hidden);
/// - every other byte, `%` included, becomes `%XX` (uppercase hex), so `/`, `\`, NUL and all
///   non-ASCII bytes are encoded;
/// - the empty id becomes `%` (which no other id encodes to: `%` is always followed by two hex
///   digits otherwise);
/// - an encoding over [`MAX_AGENT_DIR_NAME`] bytes is cut to 111 bytes and gets `~` and the first
///   16 hex digits of the SHA-256 of the whole id appended (`~` is never part of an encoding, so
///   these cannot collide with uncut names).
///
/// The run's header keeps the real agent id; this name is only where its files go.
pub fn agent_dir_name(agent_id: &str) -> String {
    let mut out = String::with_capacity(agent_id.len());
    for (i, b) in agent_id.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        return "%".to_string();
    }
    if out.len() > MAX_AGENT_DIR_NAME {
        let hash = Sha256::digest(agent_id.as_bytes());
        let suffix: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        out.truncate(MAX_AGENT_DIR_NAME - 1 - suffix.len());
        out.push('~');
        out.push_str(&suffix);
    }
    out
}

/// `<run_id>.jsonl`.
pub fn run_file_name(run_id: &str) -> String {
    format!("{run_id}.{RUN_FILE_EXT}")
}

/// `create_dir_all` with mode 0700 for every directory it creates.
pub(crate) fn create_dir_private(dir: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `path` (mode 0600), failing when it exists.
pub(crate) fn create_new_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Opens an existing file for appending.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Makes a directory entry durable. A no-op where directories cannot be opened (Windows).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids() {
        let id = new_run_id();
        assert!(is_run_id(&id), "{id}");
        assert_eq!(id.len(), 36);
        assert_ne!(new_run_id(), id);
        for bad in ["", "run-", "../x", "run-0123", &format!("run-{}", "A".repeat(32)), &format!("{id}x")] {
            assert!(!is_run_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn agent_dir_names() {
        assert_eq!(agent_dir_name("claude-code_1.2"), "claude-code_1.2");
        assert_eq!(agent_dir_name("../x"), "%2E.%2Fx");
        assert_eq!(agent_dir_name("a/b"), "a%2Fb");
        assert_eq!(agent_dir_name(".."), "%2E.");
        assert_eq!(agent_dir_name("."), "%2E");
        assert_eq!(agent_dir_name(".hidden"), "%2Ehidden");
        assert_eq!(agent_dir_name(""), "%");
        assert_eq!(agent_dir_name("%"), "%25");
        assert_eq!(agent_dir_name("a\0b"), "a%00b");
        assert_eq!(agent_dir_name("é"), "%C3%A9");
        assert_eq!(agent_dir_name("a\\b c"), "a%5Cb%20c");
        let long = agent_dir_name(&"x".repeat(1000));
        assert_eq!(long.len(), MAX_AGENT_DIR_NAME);
        assert!(long.starts_with(&"x".repeat(111)) && long.as_bytes()[111] == b'~');
        assert_ne!(long, agent_dir_name(&"x".repeat(999)));
        assert_eq!(agent_dir_name(&"x".repeat(MAX_AGENT_DIR_NAME)), "x".repeat(MAX_AGENT_DIR_NAME));
        assert_ne!(agent_dir_name("a/b"), agent_dir_name("a%2Fb"));
    }
}
