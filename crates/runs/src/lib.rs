//! Run traces (PROTOCOL §14): what an agent did, recorded as it goes, one append-only JSONL file
//! per run with a SHA-256 receipt chain over its records, so an agent or an auditor can check
//! that a trace was neither cut nor altered on disk.
//!
//! Blocking file I/O and in-memory state only: no tokio, no sockets. The daemon calls
//! [`RunBook`] from `spawn_blocking`, and owns subscriptions, notifications and the 250 ms grace
//! timer for dropped connections itself. Time is always passed in (`now_ms`, Unix milliseconds).
//!
//! # Files
//!
//! `<data_dir>/runs/<agent dir>/<run_id>.jsonl`, files 0600 and directories 0700 (Unix). The
//! agent dir is [`agent_dir_name`] of the agent id (bytes outside `[A-Za-z0-9_.-]`, `%`, and a
//! leading `.` become `%XX`; the empty id is `%`; names over 128 bytes end in `~` and a hash).
//! Run ids are minted here, `run-` and 32 lowercase hex digits; a run id from a client is only
//! looked up in memory, never joined into a path.
//!
//! One JSON object per line, each line written with a single `write_all` (line and `\n`
//! together) and flushed to the OS; the file is fsynced when the run starts, completes or is
//! marked incomplete:
//!
//! ```text
//! {"kind":"run","run_id":"run-…","agent_id":"…","intent":"…","started_at":1767225600000}
//! {"kind":"turn","index":0,"at":1767225600100,"record":{…},"digest":"<hex d_1>"}
//! …
//! {"kind":"turn","index":41,"at":…,"record":{…},"digest":"<hex d_42>"}
//! {"kind":"outcome","index":42,"at":…,"record":{"outcome":{"status":"ok",…}},"digest":"<hex d_43>"}
//! ```
//!
//! Line 0 is the header (`intent` cut at 16 KiB like every string; `agent_id` is the real id).
//! Each `turn` and `outcome` line is a *chain record*: `index` is 0-based and counts every chain
//! record (turns and the outcome), so the outcome's index is the number of turns; `at` is when it
//! was recorded (Unix ms); `record` is the record's canonical JSON, byte for byte; `digest` is
//! the chain after it (`d_(index+1)`). A run that ended without an outcome ends instead with
//!
//! ```text
//! {"kind":"incomplete","at":…,"reason":"connection closed","records":42,"digest":"<hex d_42>"}
//! ```
//!
//! which is not part of the chain: it *seals* it, saying how many records there were and the
//! last digest, so a file cut before this line no longer verifies even after a restart.
//!
//! A run's status is `open` (neither line yet), `completed` (its outcome record exists; the
//! outcome's own `status` field is reported separately as `outcome_status`) or `incomplete`.
//!
//! # Records and the receipt chain
//!
//! Record `n` (0-based) is, for a turn, the client's turn exactly as stored: the JSON object it
//! sent with every string value longer than 16,384 bytes cut to at most 16,384 bytes at a char
//! boundary (keys are never cut, nothing is appended). `runs.complete` appends one more record,
//! `{"outcome": <the outcome as stored>}` (cut the same way). The client's records *are* the
//! chain, so a client can compute every digest from what it sent.
//!
//! ```text
//! d_0     = SHA-256(run_id as UTF-8)
//! d_(n+1) = SHA-256(d_n || canonical(record n))      d_n as its 32 raw bytes, not hex
//! ```
//!
//! (PROTOCOL §14 writes `d_n = SHA-256(d_{n-1} || record n)` counting records from 1; here
//! records are counted from 0, as their `index` is, so record `n` is followed by `d_(n+1)`.)
//!
//! Digests are written as 64 lowercase hex digits. The `digest` of an accepted batch (and of
//! `runs.complete`, and of the stored line after record `n`) is `d_(n+1)` for its last record;
//! with no records it is `d_0`. Canonical JSON is compact, with object keys sorted by their
//! UTF-8 bytes at every level, strings escaped as serde_json escapes them (only `"`, `\` and
//! control chars; non-ASCII as raw UTF-8) and numbers as serde_json prints them: see
//! [`canonical`] for the exact rules.
//!
//! Verification re-reads the file and hashes each record's text as it is in the file (it is
//! never re-encoded first), so any edit inside a record, even one that leaves equivalent JSON,
//! breaks the chain at that record. It also checks the framing the chain does not cover: each
//! `index` equals the record's position, turns are objects, at most 2,000 turns, one outcome
//! and only last, nothing after the run ended, the seal, and that the file still holds as many
//! records as the daemon accepted, ending in the digest it handed out. `first_bad` is the index
//! of the first record that fails (for a file cut short: the first missing index; for a chain
//! recomputed consistently by someone else but ending in another digest than the receipt: the
//! last record, since only the latest digest is kept in memory). The `at` times and the header's
//! `intent`/`started_at` are not covered by the chain.
//!
//! # Limits
//!
//! - A batch is 1..=256 turns, each a JSON object nested at most 64 deep ([`MAX_DEPTH`]);
//!   otherwise the call fails with [`RunError::InvalidInput`] (invalid params).
//! - A turn whose canonical JSON, after the cuts, is over 256 KiB refuses its whole batch
//!   (`dropped: "turn_too_large"`).
//! - A run holds at most 2,000 turns (the outcome is not counted): a batch that would cross it is
//!   refused whole (`dropped: "run_turn_limit"`). The check and the append happen under one lock
//!   per run, so pipelined batches cannot slip past; other runs' appends go on meanwhile.
//! - Dropped reasons are checked in this order: `run_not_found`, `run_terminal`,
//!   `turn_too_large`, `run_turn_limit`; invalid input and ownership ([`RunError::Forbidden`])
//!   come before all of them.
//! - Retention: per agent at most 50 runs, the newest by last activity, and none inactive for
//!   more than 30 days; applied when the book opens and whenever the agent starts a run. Open runs
//!   are never removed.
//!
//! # Restarts
//!
//! [`RunBook::open`] loads every run's summary, truncating a torn last line first (no trailing
//! newline, or not parsable: a crash mid-append; a bad line elsewhere is a verification failure
//! and is left alone), adopts runs that were open when the daemon stopped as `incomplete`
//! (reason `"daemon restarted"`, `at` the time of the restart), then applies retention. Files
//! and directories that are not runs (a name other than `run-<32 hex>.jsonl`, no readable
//! header, a header naming another run, a second file for one run id, symlinks) are skipped with
//! a warning and left alone; a file holding nothing but a torn header (a crash inside
//! `runs.start`, before its caller got the id) is removed.

pub mod book;
pub mod canonical;
pub mod chain;
pub mod layout;
pub mod retention;
mod trace_file;

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

pub use book::RunBook;
pub use canonical::{MAX_DEPTH, MAX_RECORD_BYTES, MAX_STRING_BYTES};
pub use chain::ChainDigest;
pub use layout::{RUNS_DIR, agent_dir_name};
pub use retention::{MAX_RUNS_PER_AGENT, RETENTION_MS};

/// Turns one run holds at most (the outcome record is not counted).
pub const MAX_TURNS: u64 = 2000;

/// Turns one `runs.record_turns` call carries at most (and at least 1).
pub const MAX_BATCH: usize = 256;

/// Longest agent id accepted, in bytes (it is an identity, so it is refused rather than cut).
pub const MAX_AGENT_ID_BYTES: usize = 16 * 1024;

/// How long the daemon waits after a connection drops before its open runs are marked
/// incomplete (the daemon owns the timer; the value lives here with the other limits).
pub const INCOMPLETE_GRACE_MS: u64 = 250;

/// The reason adopted runs are marked incomplete with.
pub const REASON_DAEMON_RESTARTED: &str = "daemon restarted";

/// Everything the book can fail with. The daemon maps `InvalidInput` to -32602, `Forbidden` to
/// -32002, `NotFound` and `Terminal` to its "no such run" / conflict errors, and `Io` to an
/// internal error whose details go to the log.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad params: a batch of 0 or over 256 turns, a turn or outcome that is not an object, too
    /// deep, an outcome without a string `status`, an outcome over 256 KiB, an agent id over
    /// 16 KiB.
    #[error("invalid params: {0}")]
    InvalidInput(String),
    /// No such run (unknown, or removed by retention).
    #[error("no run {0:?}")]
    NotFound(String),
    /// The run belongs to another session.
    #[error("run {0} belongs to another session")]
    Forbidden(String),
    /// `complete` of a run that is already completed or incomplete.
    #[error("run {run_id} is already {status}")]
    Terminal { run_id: String, status: Status },
    /// A file that exists but cannot be read as what it should be.
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// A run's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Completed,
    Incomplete,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Completed => "completed",
            Status::Incomplete => "incomplete",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a batch was refused whole (`{ok: false, dropped}` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    RunNotFound,
    RunTerminal,
    RunTurnLimit,
    TurnTooLarge,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::RunNotFound => "run_not_found",
            DropReason::RunTerminal => "run_terminal",
            DropReason::RunTurnLimit => "run_turn_limit",
            DropReason::TurnTooLarge => "turn_too_large",
        }
    }
}

/// What a chain record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Turn,
    Outcome,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Turn => "turn",
            RecordKind::Outcome => "outcome",
        }
    }
}

/// One chain record as stored: `{index, kind, at, record, digest}`. `record` is the exact
/// canonical text that was hashed (serialized verbatim), `digest` the hex chain after it, so a
/// reader can check `digest = SHA-256(previous digest || record)` on what it receives.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRecord {
    pub index: u64,
    pub kind: RecordKind,
    pub at: u64,
    pub record: Box<RawValue>,
    pub digest: String,
}

impl StoredRecord {
    /// The record as a JSON value.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.record.get()).expect("a stored record is JSON")
    }

    /// The cursor after this record (its index + 1).
    pub fn cursor(&self) -> u64 {
        self.index + 1
    }
}

/// `runs.start`'s result: `{run_id, agent_id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub run_id: String,
    pub agent_id: String,
    /// Runs of this agent that retention removed on the way (not on the wire).
    #[serde(skip)]
    pub removed: Vec<String>,
}

/// An accepted batch. On the wire: `{run_id, base_index, count, digest, ok: true}`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub run_id: String,
    /// The index of the batch's first turn.
    pub base_index: u64,
    pub count: u64,
    /// The chain after the batch's last turn.
    pub digest: String,
    /// The batch as stored, for `runs.trace.event` (not in the result).
    pub records: Vec<StoredRecord>,
}

impl Recorded {
    /// The cursor after the batch: the index the next record gets.
    pub fn cursor(&self) -> u64 {
        self.base_index + self.count
    }
}

#[derive(Serialize)]
struct ReceiptWire<'a> {
    run_id: &'a str,
    base_index: u64,
    count: u64,
    digest: &'a str,
    ok: bool,
}

impl Serialize for Recorded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ReceiptWire {
            run_id: &self.run_id,
            base_index: self.base_index,
            count: self.count,
            digest: &self.digest,
            ok: true,
        }
        .serialize(s)
    }
}

/// `runs.record_turns`' result: accepted, or refused whole. Serializes as the wire result,
/// `{run_id, base_index, count, digest, ok: true}` or `{ok: false, dropped}`.
#[derive(Debug, Clone)]
pub enum RecordOutcome {
    Recorded(Recorded),
    Dropped(DropReason),
}

#[derive(Serialize)]
struct DroppedWire {
    ok: bool,
    dropped: DropReason,
}

impl Serialize for RecordOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RecordOutcome::Recorded(r) => r.serialize(s),
            RecordOutcome::Dropped(dropped) => DroppedWire { ok: false, dropped: *dropped }.serialize(s),
        }
    }
}

/// `runs.complete`'s result. On the wire: `{run_id, ok: true, digest}`.
#[derive(Debug, Clone)]
pub struct Completed {
    pub run_id: String,
    /// The final digest: the chain after the outcome record.
    pub digest: String,
    /// The outcome record as stored, for `runs.trace.event` (not in the result).
    pub record: StoredRecord,
}

#[derive(Serialize)]
struct CompletedWire<'a> {
    run_id: &'a str,
    ok: bool,
    digest: &'a str,
}

impl Serialize for Completed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        CompletedWire { run_id: &self.run_id, ok: true, digest: &self.digest }.serialize(s)
    }
}

/// `runs.subscribe`'s snapshot: `{turns_so_far, cursor, status}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub turns_so_far: u64,
    /// The number of chain records so far (turns and outcome): the index the next one gets.
    pub cursor: u64,
    pub status: Status,
}

/// One run in `runs.list`: `{run_id, agent_id, intent, status, outcome_status?, turns,
/// started_at, last_active_at, digest, verified, first_bad?}`. `verified`/`first_bad` are as of
/// the last full read of the file (when the book opened, or the last `get_trace`); a run started
/// by this daemon is `verified: true` until a read shows otherwise. `last_active_at` is the time
/// of the run's last record, or its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub agent_id: String,
    pub intent: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_status: Option<String>,
    pub turns: u64,
    pub started_at: u64,
    pub last_active_at: u64,
    pub digest: String,
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<u64>,
}

/// `runs.get_trace`'s result: `{run_id, agent_id, status, outcome_status?, records, cursor,
/// digest, verified, first_bad?}`. `records` are those from the asked cursor on; `cursor` is the
/// index after the file's last record; `digest` is the stored digest after the last record (`d_0`
/// with none). A trace that does not verify is still returned, with `verified: false`.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub run_id: String,
    pub agent_id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_status: Option<String>,
    pub records: Vec<StoredRecord>,
    pub cursor: u64,
    pub digest: String,
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<u64>,
}

/// What [`RunBook::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenReport {
    /// Runs loaded (before retention).
    pub loaded: usize,
    /// Runs that were open when the daemon stopped, now incomplete.
    pub adopted: usize,
    /// Files whose torn last line was cut away.
    pub truncated: usize,
    /// Runs removed by retention.
    pub removed: usize,
    /// Runs whose chain did not verify.
    pub unverified: usize,
    /// Files and directories under the runs dir that are not readable runs.
    pub skipped: usize,
}
