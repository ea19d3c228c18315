//! The per-connection event journal `<data_dir>/journals/<session_id>.jsonl` (PROTOCOL §4): one
//! `{kind, action_id?, proposal_id?, data, timestamp}` per line. The file is created on the first
//! event, so a connection that only reads (or the 1,000th reconnect of a health check) leaves no
//! empty file behind. Lines are small appends; a failure to write is logged, never fatal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::proposal::JournalSink;

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Journal {
    pub fn new(dir: PathBuf, session_id: &str) -> Self {
        let path = dir.join(format!("{}.jsonl", hark_protocol::ids::id_to_file_name(session_id)));
        Journal { path, file: Mutex::new(None) }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value) {
        let mut entry =
            json!({ "kind": kind, "data": data, "timestamp": hark_protocol::time::now_rfc3339() });
        if let Some(a) = action_id {
            entry["action_id"] = json!(a);
        }
        if let Some(p) = proposal_id {
            entry["proposal_id"] = json!(p);
        }
        let mut line = entry.to_string();
        line.push('\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| OpenOptions::new().create(true).append(true).open(&self.path));
            match opened {
                Ok(f) => *guard = Some(f),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot open the journal");
                    return;
                }
            }
        }
        if let Some(file) = guard.as_mut()
            && let Err(e) = file.write_all(line.as_bytes())
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the journal");
        }
    }
}

impl JournalSink for Journal {
    fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value) {
        Journal::record(self, kind, action_id, proposal_id, data);
    }
}
