//! The person's settings (`<data_dir>/settings.json`, 0600): loaded at start, changed by the host
//! with `settings.update`, written by the disk writer thread in the order the changes were made,
//! and announced with a `settings.changed` host event. The daemon follows `language`,
//! `keep_audio` and `input_device` (a meeting's defaults), `auto_stop_minutes` (a meeting's
//! silence guard, read when it starts) and `model_keep_alive_minutes` (the model reaper);
//! the desktop shell follows the rest (`port` at its next start, `start_at_login`,
//! `global_shortcut`, `notifications`, `system_audio` for click-to-record).
//!
//! An unreadable file is moved aside (never overwritten unseen) and the defaults apply.

use std::path::{Path, PathBuf};

use hark_protocol::RpcError;
use hark_protocol::settings::Settings;
use serde_json::{Map, Value};

pub fn settings_file(data_dir: &Path) -> PathBuf {
    data_dir.join("settings.json")
}

/// Reads the settings file under `data_dir` without moving anything (the desktop shell reads
/// `port` before the daemon starts): the defaults when it is missing or unreadable.
pub fn read(data_dir: &Path) -> Settings {
    std::fs::read(settings_file(data_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    /// The settings now; its receivers see every change (the model reaper waits on one).
    current: tokio::sync::watch::Sender<Settings>,
    disk: crate::disk::DiskWriter,
}

impl SettingsStore {
    pub fn load(data_dir: &Path, disk: crate::disk::DiskWriter) -> Self {
        let path = settings_file(data_dir);
        let current = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Settings>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    let aside = crate::runtime_files::move_aside(&path);
                    tracing::warn!(path = %path.display(), error = %e, aside = %aside.display(), "settings file unreadable; moved aside, defaults apply");
                    Settings::default()
                }
            },
            Err(_) => Settings::default(),
        };
        SettingsStore { path, current: tokio::sync::watch::Sender::new(current), disk }
    }

    pub fn get(&self) -> Settings {
        self.current.borrow().clone()
    }

    /// A receiver that sees every change from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Settings> {
        self.current.subscribe()
    }

    /// Applies `update` as a whole (or nothing, with the first bad key's error) and queues the
    /// file's rewrite; returns the settings after it.
    pub fn update(&self, update: &Map<String, Value>) -> Result<Settings, RpcError> {
        let mut outcome = Err(RpcError::internal());
        self.current.send_if_modified(|current| match current.updated(update) {
            Ok(next) => {
                // Under the watch's lock: two updates reach the file in the order they applied.
                let json = serde_json::to_vec_pretty(&next).expect("settings serialize");
                self.disk.replace(self.path.clone(), json);
                let changed = *current != next;
                *current = next.clone();
                outcome = Ok(next);
                changed
            }
            Err(e) => {
                outcome = Err(e);
                false
            }
        });
        outcome
    }
}
