//! `models.pull`'s download: HTTP GET of `<base URL>/ggml-<name>.bin` into
//! `models/.partial/ggml-<name>.bin.part`, resumed with `Range: bytes=<part length>-`, hashed as
//! it is written, and linked into `models/` only once the SHA-256 is the catalog's.
//!
//! - A cut connection, a timeout or a cancel leaves the part for the next pull to resume.
//! - A server that ignores Range (200 instead of 206), or answers 206 from another offset or
//!   416, gets the part truncated and a fresh download.
//! - More bytes than the catalog's size are never written; a mismatch deletes the part.
//! - The part is locked (`File::try_lock`) while a download runs, so a second pull of the same
//!   name, from this daemon or from `hark models pull` in another process, gets a clear
//!   "already under way" instead of two writers in one file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use hark_protocol::models::Installed;
use sha2::{Digest, Sha256};

use super::{ModelStore, ModelsError, hex, io};

/// At most this often a progress report (plus a last one at the end).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// A server that sends nothing for this long is treated as a cut connection.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

struct Throttle<'a> {
    report: &'a mut dyn FnMut(u64, u64),
    last: Option<Instant>,
    total: u64,
}

impl Throttle<'_> {
    fn tick(&mut self, bytes: u64) {
        if self.last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
            self.last = Some(Instant::now());
            (self.report)(bytes, self.total);
        }
    }
    fn last(&mut self, bytes: u64) {
        (self.report)(bytes, self.total);
    }
}

/// What one HTTP exchange left behind.
enum Attempt {
    /// The part now holds `total` bytes.
    Complete,
    /// The server refused the range (416) or answered from another offset: start over.
    Restart,
}

pub(super) fn pull(
    store: &ModelStore,
    name: &str,
    progress: &mut dyn FnMut(u64, u64),
    cancelled: &dyn Fn() -> bool,
) -> Result<Installed, ModelsError> {
    super::check_name(name)?;
    let entry = store.catalog_entry(name).cloned().ok_or_else(|| ModelsError::NotInCatalog(name.into()))?;
    let mut progress = Throttle { report: progress, last: None, total: entry.size_bytes };
    if store.is_installed(name) {
        let sha = store.installed_sha256(name)?;
        if sha != entry.sha256 {
            return Err(ModelsError::AlreadyInstalled(
                name.into(),
                " from another file than the catalog's (remove it first to pull it)",
            ));
        }
        progress.last(entry.size_bytes);
        return Ok(Installed {
            name: name.into(),
            path: store.path_of(name).display().to_string(),
            sha256: sha,
        });
    }
    let partial = store.partial_dir();
    std::fs::create_dir_all(&partial).map_err(io(format!("cannot create {}", partial.display())))?;
    let part_path = store.part_path(name);
    let mut part = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part_path)
        .map_err(io(format!("cannot open {}", part_path.display())))?;
    match part.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(ModelsError::PullInProgress(name.into())),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io(format!("cannot lock {}", part_path.display()))(e));
        }
    }
    if !still_at(&part, &part_path) {
        // Another pull finished (or failed) and unlinked the part between our open and our
        // lock: what we hold is a deleted file. Its result is there now; the caller retries.
        return Err(ModelsError::PullInProgress(name.into()));
    }
    let result = fill(store, name, &entry, &mut part, &mut progress, cancelled);
    if result.is_err() && part.metadata().is_ok_and(|m| m.len() == 0) {
        // Nothing fetched (a 404, a refused connection): no empty part is left behind.
        let _ = std::fs::remove_file(&part_path);
    }
    let hasher = result?;
    part.sync_all().map_err(io(format!("cannot write {}", part_path.display())))?;
    let actual = hex(&hasher.finalize());
    if actual != entry.sha256 {
        // Deleted while still locked, so no other pull resumes from these bytes.
        let _ = std::fs::remove_file(&part_path);
        return Err(ModelsError::Checksum { name: name.into(), expected: entry.sha256, actual });
    }
    let installed = store.link_in(&part_path, name, &actual);
    let _ = std::fs::remove_file(&part_path);
    progress.last(entry.size_bytes);
    installed
}

/// Whether `path` still names the open file `file` (not unlinked or replaced since it was opened).
#[cfg(unix)]
fn still_at(file: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere there is no inode to compare: the path still existing is the best check here.
#[cfg(not(unix))]
fn still_at(_: &File, path: &std::path::Path) -> bool {
    path.exists()
}

/// Brings the part to the catalog's size, resuming from what it holds; returns the hasher that
/// has seen every byte of it.
fn fill(
    store: &ModelStore,
    name: &str,
    entry: &super::CatalogEntry,
    part: &mut File,
    progress: &mut Throttle<'_>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Sha256, ModelsError> {
    let part_path = store.part_path(name);
    // Bytes a previous pull left: hash them first, so the digest covers the whole file.
    let mut hasher = Sha256::new();
    let mut have =
        hash_existing(part, &mut hasher).map_err(io(format!("cannot read {}", part_path.display())))?;
    if have > entry.size_bytes {
        have = restart(part, &mut hasher).map_err(io("cannot truncate the partial download"))?;
    }
    let url = store.url_of(name);
    let agent = ureq::AgentBuilder::new().timeout_connect(CONNECT_TIMEOUT).timeout_read(READ_TIMEOUT).build();
    // Two exchanges at most: a resume the server refuses, then one from scratch.
    let mut restarted = false;
    while have < entry.size_bytes {
        match fetch(&agent, &url, name, part, &mut hasher, &mut have, entry.size_bytes, progress, cancelled)?
        {
            Attempt::Complete => break,
            Attempt::Restart if !restarted => {
                restarted = true;
                have = restart(part, &mut hasher).map_err(io("cannot truncate the partial download"))?;
            }
            Attempt::Restart => {
                return Err(ModelsError::Download {
                    name: name.into(),
                    reason: "the server does not serve the file from the start either".into(),
                    bytes: have,
                    total: entry.size_bytes,
                });
            }
        }
    }
    Ok(hasher)
}

fn hash_existing(part: &mut File, hasher: &mut Sha256) -> std::io::Result<u64> {
    part.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = part.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

fn restart(part: &mut File, hasher: &mut Sha256) -> std::io::Result<u64> {
    part.set_len(0)?;
    part.seek(SeekFrom::Start(0))?;
    *hasher = Sha256::new();
    Ok(0)
}

/// The start offset of a `Content-Range: bytes START-END/TOTAL` header.
fn range_start(header: Option<&str>) -> Option<u64> {
    header?.trim().strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

#[allow(clippy::too_many_arguments)]
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    name: &str,
    part: &mut File,
    hasher: &mut Sha256,
    have: &mut u64,
    total: u64,
    progress: &mut Throttle<'_>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Attempt, ModelsError> {
    let failed =
        |reason: String, bytes: u64| ModelsError::Download { name: name.into(), reason, bytes, total };
    let mut request = agent.get(url);
    if *have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, _)) => return Ok(Attempt::Restart),
        Err(ureq::Error::Status(status, _)) => return Err(ModelsError::Remote { url: url.into(), status }),
        Err(ureq::Error::Transport(t)) => return Err(failed(t.to_string(), *have)),
    };
    match response.status() {
        206 if range_start(response.header("Content-Range")) == Some(*have) => {}
        206 => return Ok(Attempt::Restart),
        // The whole file: a first request, or a server that ignores Range (then this body
        // replaces the part).
        200 => {
            if *have > 0 {
                *have = restart(part, hasher).map_err(io("cannot truncate the partial download"))?;
            }
        }
        other => return Err(ModelsError::Remote { url: url.into(), status: other }),
    }
    part.seek(SeekFrom::Start(*have)).map_err(io("cannot seek in the partial download"))?;
    let mut body = response.into_reader();
    let mut buf = vec![0u8; 64 << 10];
    progress.tick(*have);
    loop {
        if cancelled() {
            let _ = part.flush();
            return Err(ModelsError::Cancelled(name.into()));
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(e.to_string(), *have)),
        };
        // Never more than the catalog's size on disk, whatever the server sends.
        let n = n.min((total - *have) as usize);
        part.write_all(&buf[..n]).map_err(io("cannot write the partial download"))?;
        hasher.update(&buf[..n]);
        *have += n as u64;
        progress.tick(*have);
        if *have == total {
            return Ok(Attempt::Complete);
        }
    }
    Err(failed("the connection ended early".into(), *have))
}
