//! Helpers shared by the integration tests, including an independent implementation of the
//! canonical JSON and the receipt chain (recursive, by the documented rules), so the tests do
//! not check the crate against itself.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use hark_runs::{RecordOutcome, Recorded, RunBook};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// 2026-01-01T00:00:00Z.
pub const T0: u64 = 1_767_225_600_000;
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;

pub fn open(runs: &Path, now_ms: u64) -> RunBook {
    RunBook::open(runs, now_ms).unwrap().0
}

pub fn recorded(outcome: RecordOutcome) -> Recorded {
    match outcome {
        RecordOutcome::Recorded(r) => r,
        RecordOutcome::Dropped(d) => panic!("dropped: {d:?}"),
    }
}

/// Every file under `root`, recursively.
pub fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { stack.push(path) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

/// The file of `run_id` under the runs dir.
pub fn run_file(runs: &Path, run_id: &str) -> PathBuf {
    let name = format!("{run_id}.jsonl");
    let found: Vec<_> =
        all_files(runs).into_iter().filter(|p| p.file_name().unwrap() == name.as_str()).collect();
    assert_eq!(found.len(), 1, "{run_id}: {found:?}");
    found.into_iter().next().unwrap()
}

pub fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The documented canonical JSON, written independently: recursive, keys sorted by bytes.
pub fn canon(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let inner: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), canon(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        other => serde_json::to_string(other).unwrap(),
    }
}

/// The documented string cut, applied to every string value (not keys), recursively.
pub fn cut(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let mut end = s.len().min(16384);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Value::String(s[..end].to_string())
        }
        Value::Array(a) => Value::Array(a.iter().map(cut).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), cut(v))).collect()),
        other => other.clone(),
    }
}

/// `d_0 .. d_n` as hex for `records` (the values as sent; cut and canonicalized here).
pub fn chain(run_id: &str, records: &[Value]) -> Vec<String> {
    let mut d: [u8; 32] = Sha256::digest(run_id.as_bytes()).into();
    let mut out = vec![hex(&d)];
    for r in records {
        let mut h = Sha256::new();
        h.update(d);
        h.update(canon(&cut(r)).as_bytes());
        d = h.finalize().into();
        out.push(hex(&d));
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
