//! The per-connection event journal `<data_dir>/journals/<session_id>.jsonl` (PROTOCOL §4): one
//! `{kind, action_id?, proposal_id?, data, timestamp}` per line. The file is created (0600) on the
//! first event, so a connection that only reads (or the 1,000th reconnect of a health check)
//! leaves no empty file behind. Lines are small appends; a failure to write is logged, never
//! fatal. Bounded: a line over 16 KiB has its `data` replaced by its size, a journal stops at
//! 16 MiB (with a last line saying so), and journals older than 30 days are pruned at start-up.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::disk::DiskWriter;
use crate::proposal::JournalSink;

const MAX_DATA_BYTES: usize = 16 << 10;
const MAX_JOURNAL_BYTES: u64 = 16 << 20;
const KEEP: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// One connection's journal. Lines are built here and written by the daemon's disk writer
/// thread ([`crate::disk`]), in order, never on the runtime.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    writer: DiskWriter,
    /// Bytes queued so far (the 16 MiB cap is applied here, where the lines are made).
    written: AtomicU64,
    full: AtomicBool,
}

impl Journal {
    pub fn new(writer: DiskWriter, dir: PathBuf, session_id: &str) -> Self {
        let path = dir.join(format!("{}.jsonl", hark_protocol::ids::id_to_file_name(session_id)));
        Journal { path, writer, written: AtomicU64::new(0), full: AtomicBool::new(false) }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value) {
        if self.full.load(Ordering::Relaxed) {
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
        let before = self.written.fetch_add(line.len() as u64, Ordering::Relaxed);
        if before + line.len() as u64 > MAX_JOURNAL_BYTES {
            if self.full.swap(true, Ordering::Relaxed) {
                return;
            }
            line = json!({ "kind": "journal_full", "data": { "max_bytes": MAX_JOURNAL_BYTES },
                "timestamp": hark_protocol::time::now_rfc3339() })
            .to_string()
                + "\n";
        }
        self.writer.append(self.path.clone(), line.into_bytes());
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.written.load(Ordering::Relaxed) > 0 {
            self.writer.close(self.path.clone());
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
