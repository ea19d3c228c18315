//! The files a running daemon owns: the data-dir and runtime-dir locks (one daemon per data dir),
//! the per-launch token and the host token (0600, written atomically), and the discovery file.
//! [`RuntimeFiles::remove`] undoes all of it on clean exit; a second daemon that fails to take a
//! lock touches nothing.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::paths::{self, RuntimePaths};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeFilesError {
    #[error(
        "another hark daemon is already running with {what} {path} (pid {pid}); stop it first or pick another --data-dir"
    )]
    AlreadyRunning { what: &'static str, path: PathBuf, pid: String },
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: PathBuf, source: std::io::Error },
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeFilesError {
    let path = path.to_path_buf();
    move |source| RuntimeFilesError::Io { context, path, source }
}

/// `daemon.json` and the ready line (PROTOCOL §1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Discovery {
    pub pid: u32,
    pub version: String,
    pub ws_url: String,
    pub socket: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub host_token_file: Option<PathBuf>,
    pub data_dir: PathBuf,
}

/// The tokens of this launch; `None` under `--no-auth`.
#[derive(Clone)]
pub struct Tokens {
    pub client: String,
    pub host: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

/// A fresh token: 32 random bytes, base64url without padding (43 chars).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Holds the locks for as long as the daemon runs.
#[derive(Debug)]
pub struct RuntimeFiles {
    pub paths: RuntimePaths,
    pub tokens: Option<Tokens>,
    _data_lock: File,
    _runtime_lock: File,
}

impl RuntimeFiles {
    /// Takes the locks, then (only then) writes fresh tokens and removes a stale socket.
    pub fn acquire(data_dir: &Path, runtime_dir: &Path, auth: bool) -> Result<Self, RuntimeFilesError> {
        create_private_dir(data_dir, "cannot create the data dir")?;
        create_private_dir(runtime_dir, "cannot create the runtime dir")?;
        let paths = RuntimePaths::new(runtime_dir.to_path_buf());
        let data_lock = take_lock(&paths::data_lock(data_dir), "data dir", data_dir, &paths)?;
        let runtime_lock = take_lock(&paths.lock(), "runtime dir", runtime_dir, &paths)?;
        let tokens = if auth {
            let tokens = Tokens { client: new_token(), host: new_token() };
            write_private_atomic(&paths.token(), tokens.client.as_bytes())?;
            write_private_atomic(&paths.host_token(), tokens.host.as_bytes())?;
            Some(tokens)
        } else {
            // Stale token files from an earlier launch would mislead clients.
            let _ = fs::remove_file(paths.token());
            let _ = fs::remove_file(paths.host_token());
            None
        };
        let _ = fs::remove_file(paths.socket()); // a crashed daemon's socket; we hold the lock
        Ok(RuntimeFiles { paths, tokens, _data_lock: data_lock, _runtime_lock: runtime_lock })
    }

    pub fn write_discovery(&self, discovery: &Discovery) -> Result<(), RuntimeFilesError> {
        let json = serde_json::to_vec(discovery).expect("discovery serializes");
        write_private_atomic(&self.paths.discovery(), &json)
    }

    /// Clean exit: token files, socket and discovery file go; the locks are released on drop.
    /// Also runs on drop, so a start-up that fails half-way leaves nothing behind.
    pub fn remove(&self) {
        for path in [self.paths.token(), self.paths.host_token(), self.paths.socket(), self.paths.discovery()]
        {
            let _ = fs::remove_file(path);
        }
    }
}

impl Drop for RuntimeFiles {
    fn drop(&mut self) {
        self.remove();
    }
}

fn take_lock(
    lock_path: &Path,
    what: &'static str,
    dir: &Path,
    runtime: &RuntimePaths,
) -> Result<File, RuntimeFilesError> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // The lock file stays after exit (removing it would race a starting daemon); it is empty.
    let file = options.open(lock_path).map_err(io("cannot open the lock file", lock_path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => {
            let pid = read_discovery(&runtime.discovery())
                .map(|d| d.pid.to_string())
                .unwrap_or_else(|| "unknown".into());
            Err(RuntimeFilesError::AlreadyRunning { what, path: dir.to_path_buf(), pid })
        }
        Err(TryLockError::Error(e)) => Err(io("cannot lock", lock_path)(e)),
    }
}

pub fn read_discovery(path: &Path) -> Option<Discovery> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Creates `dir` (and parents) and makes it 0700: transcripts, journals and tokens live there.
pub fn create_private_dir(dir: &Path, context: &'static str) -> Result<(), RuntimeFilesError> {
    fs::create_dir_all(dir).map_err(io(context, dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io("cannot make this directory private (0700)", dir))?;
    }
    Ok(())
}

/// Writes `bytes` to a temp file created 0600 beside `path`, fsyncs it and renames it into place,
/// so a reader never sees a partial file and the content is never world-readable.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), RuntimeFilesError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut file = opts.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io("cannot write", path)(e)
    })
}

/// Moves an unreadable JSON file aside (`<name>.json.corrupt-<ms>`), never deleting it: the
/// grants and the settings both do this before starting from their defaults.
pub fn move_aside(path: &Path) -> PathBuf {
    let aside = path.with_extension(format!("json.corrupt-{}", hark_protocol::time::now_millis()));
    let _ = std::fs::rename(path, &aside);
    aside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_chars() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(t, new_token());
    }

    #[test]
    fn second_acquire_fails_and_touches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
        let first = RuntimeFiles::acquire(&data, &run, true).unwrap();
        let token = fs::read_to_string(first.paths.token()).unwrap();
        let err = RuntimeFiles::acquire(&data, &run, true).unwrap_err();
        assert!(matches!(err, RuntimeFilesError::AlreadyRunning { .. }), "{err}");
        assert_eq!(fs::read_to_string(first.paths.token()).unwrap(), token);
        // Another data dir sharing the runtime dir would clobber the first one's files: refused too.
        let err = RuntimeFiles::acquire(&tmp.path().join("other"), &run, true).unwrap_err();
        assert!(err.to_string().contains("runtime dir"), "{err}");
        assert_eq!(fs::read_to_string(first.paths.token()).unwrap(), token);
        drop(first);
        RuntimeFiles::acquire(&data, &run, true).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_modes() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let files = RuntimeFiles::acquire(&tmp.path().join("d"), &tmp.path().join("r"), true).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.paths.dir), 0o700);
        assert_eq!(mode(&files.paths.token()), 0o600);
        assert_eq!(mode(&files.paths.host_token()), 0o600);
    }
}
