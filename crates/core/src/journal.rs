//! The per-connection event journal `<data_dir>/journals/<session_id>.jsonl` (PROTOCOL §4): one
//! `{kind, action_id?, proposal_id?, data, timestamp}` per line. The file is created (0600) on the
//! first event, so a connection that only reads (or the 1,000th reconnect of a health check)
//! leaves no empty file behind. Lines are small appends; a failure to write is logged, never
//! fatal. Bounded: a line over 16 KiB has its `data` replaced by its size, a journal stops at
//! 16 MiB (with a last line saying so), and journals older than 30 days are pruned at start-up.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::proposal::JournalSink;

const MAX_DATA_BYTES: usize = 16 << 10;
const MAX_JOURNAL_BYTES: u64 = 16 << 20;
const KEEP: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

#[derive(Debug)]
struct Open {
    file: File,
    written: u64,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<Option<Open>>,
    full: std::sync::atomic::AtomicBool,
}

impl Journal {
    pub fn new(dir: PathBuf, session_id: &str) -> Self {
        let path = dir.join(format!("{}.jsonl", hark_protocol::ids::id_to_file_name(session_id)));
        Journal { path, file: Mutex::new(None), full: std::sync::atomic::AtomicBool::new(false) }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value) {
        if self.full.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let entry = |data: Value| {
            let mut entry =
                json!({ "kind": kind, "data": data, "timestamp": hark_protocol::time::now_rfc3339() });
            if let Some(a) = action_id {
                entry["action_id"] = json!(a);
            }
            if let Some(p) = proposal_id {
                entry["proposal_id"] = json!(p);
            }
            entry.to_string()
        };
        // Serialized once; only an oversized line is built again, with its data replaced by its size.
        let mut line = entry(data);
        if line.len() > MAX_DATA_BYTES + 512 {
            line = entry(json!({ "truncated": true, "bytes": line.len() }));
        }
        line.push('\n');
        let mut guard = crate::lock(&self.file);
        if guard.is_none() {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| options.open(&self.path));
            match opened {
                Ok(file) => *guard = Some(Open { file, written: 0 }),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot open the journal");
                    return;
                }
            }
        }
        let Some(open) = guard.as_mut() else { return };
        if open.written + line.len() as u64 > MAX_JOURNAL_BYTES {
            self.full.store(true, std::sync::atomic::Ordering::Relaxed);
            line = json!({ "kind": "journal_full", "data": { "max_bytes": MAX_JOURNAL_BYTES },
                "timestamp": hark_protocol::time::now_rfc3339() })
            .to_string()
                + "\n";
        }
        match open.file.write_all(line.as_bytes()) {
            Ok(()) => open.written += line.len() as u64,
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "cannot write the journal"),
        }
    }
}

/// Removes journals not written to for 30 days (start-up housekeeping).
pub fn prune(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > KEEP);
        if old && entry.path().extension().is_some_and(|e| e == "jsonl") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl JournalSink for Journal {
    fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value) {
        Journal::record(self, kind, action_id, proposal_id, data);
    }
}
