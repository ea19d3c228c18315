//! Where Hark keeps things (PROTOCOL §1, §16): the data root, the runtime dir, and the files in
//! them. The CLI and the daemon resolve them with the same functions so `hark token` finds what
//! `hark serve` wrote.

use std::path::{Path, PathBuf};

pub const DEFAULT_PORT: u16 = 9470;

/// `$HARK_DATA_DIR`, else the platform data dir (`~/.local/share/hark`, ...).
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HARK_DATA_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    platform_data_dir().join("hark")
}

fn platform_data_dir() -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        home().join("Library/Application Support")
    } else if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from).unwrap_or_else(home)
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home().join(".local/share"))
    }
}

/// `$HARK_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/hark`, else `<data_dir>/run`.
pub fn runtime_dir_for(data_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("HARK_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("hark");
    }
    data_dir.join("run")
}

/// The files of one running daemon inside its runtime dir.
#[derive(Debug, Clone)]
pub struct RuntimePaths {
    pub dir: PathBuf,
}

impl RuntimePaths {
    pub fn new(dir: PathBuf) -> Self {
        RuntimePaths { dir }
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("daemon.sock")
    }
    pub fn discovery(&self) -> PathBuf {
        self.dir.join("daemon.json")
    }
    pub fn token(&self) -> PathBuf {
        self.dir.join("auth-token")
    }
    pub fn host_token(&self) -> PathBuf {
        self.dir.join("host-token")
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("daemon.lock")
    }
}

/// Files under the data root.
pub fn data_lock(data_dir: &Path) -> PathBuf {
    data_dir.join("daemon.lock")
}
pub fn journals_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journals")
}
pub fn grants_file(data_dir: &Path) -> PathBuf {
    data_dir.join("grants.json")
}
pub fn models_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models")
}
