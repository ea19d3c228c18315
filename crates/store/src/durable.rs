//! Writing files so that a crash leaves either the old content or the new, never a mix, and
//! creating files and directories private to the user (transcripts are personal data).
//!
//! The temp files are named `<name>.tmp<pid>-<n>` next to their target; [`is_temp_name`]
//! recognises exactly that shape so recovery can remove leftovers without touching anything else.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{IoContext, Result};

/// Distinguishes temp files of concurrent writers in one process (the pid covers processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const TEMP_MARKER: &str = ".tmp";

/// Replaces `path` with `bytes`: a temp file in the same directory (so the rename cannot cross
/// file systems), written and fsynced, renamed over `path`, then the directory fsynced so the
/// rename itself survives a power cut. On any error the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{name}{TEMP_MARKER}{}-{n}", std::process::id()));
    let written = (|| {
        let mut f = create_new_private(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        drop(f);
        fs::rename(&tmp, path).at(path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}

/// True for a name [`write_atomic`] gives its temp files: `<anything>.tmp<digits>-<digits>`.
pub fn is_temp_name(name: &str) -> bool {
    let Some(at) = name.rfind(TEMP_MARKER) else { return false };
    let Some((pid, n)) = name[at + TEMP_MARKER.len()..].split_once('-') else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    at > 0 && digits(pid) && digits(n)
}

/// Makes a directory entry (a created or renamed file) durable. A no-op where directories
/// cannot be opened (Windows), whose file systems journal the entry themselves.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// `create_dir_all` with mode 0700 on Unix for every directory it creates.
pub fn create_dir_private(dir: &Path) -> Result<()> {
    dir_builder(true).create(dir).at(dir)
}

/// Creates exactly `dir` (mode 0700), failing with `AlreadyExists` when it is there.
pub(crate) fn create_dir_new_private(dir: &Path) -> std::io::Result<()> {
    dir_builder(false).create(dir)
}

fn dir_builder(recursive: bool) -> DirBuilder {
    let mut b = DirBuilder::new();
    b.recursive(recursive);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b
}

/// Opens `path` for appending, creating it (mode 0600) when missing.
pub fn open_append_private(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.append(true).create(true);
    private(&mut o);
    o.open(path).at(path)
}

fn create_new_private(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    private(&mut o);
    o.open(path).at(path)
}

fn private(o: &mut OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(o, 0o600);
    #[cfg(not(unix))]
    let _ = o;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meeting.json");
        write_atomic(&p, b"old content that is longer").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("meeting.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn files_and_dirs_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_dir_private(&sub).unwrap();
        let p = sub.join("f");
        write_atomic(&p, b"x").unwrap();
        let q = sub.join("g");
        open_append_private(&q).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&q), 0o600);
    }

    #[test]
    fn temp_names() {
        assert!(is_temp_name("meeting.json.tmp123-0"));
        assert!(is_temp_name("transcript.r2.jsonl.tmp9-41"));
        assert!(!is_temp_name("meeting.json"));
        assert!(!is_temp_name("meeting.json.tmp"));
        assert!(!is_temp_name("meeting.json.tmp12"));
        assert!(!is_temp_name(".tmp1-2"));
        assert!(!is_temp_name("notes.tmpx-1"));
    }
}
