//! [`RunBook`]: every run the daemon knows, in memory, over their files.
//!
//! Locking: the index (`run_id -> run`) has one mutex, held only to look up, insert or remove
//! entries, never during file I/O. Each run has its own mutex, held across everything that must
//! be atomic for that run: the terminal and 2,000-turn checks, the file append and the count and
//! digest update (and a verifying read, so it never sees half an append). Nothing takes the index
//! lock while holding a run's lock.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use serde_json::value::RawValue;

use crate::canonical::{self, MAX_STRING_BYTES, RecordError, cut_string};
use crate::chain::ChainDigest;
use crate::layout::{self, agent_dir_name, create_dir_private, is_run_id, run_file_name};
use crate::retention::{self, Candidate};
use crate::trace_file;
use crate::{
    Completed, DropReason, MAX_AGENT_ID_BYTES, MAX_BATCH, MAX_TURNS, OpenReport, REASON_DAEMON_RESTARTED,
    RecordKind, RecordOutcome, Recorded, RunError, Snapshot, Started, Status, StoredRecord, Summary, Trace,
};

/// Every run, with its state, over the files under one runs dir.
#[derive(Debug)]
pub struct RunBook {
    dir: PathBuf,
    runs: Mutex<HashMap<String, Arc<Run>>>,
}

#[derive(Debug)]
struct Run {
    run_id: String,
    agent_id: String,
    intent: String,
    started_at: u64,
    /// The session that started it; `None` for runs loaded at start-up (all terminal by then).
    owner: Option<String>,
    path: PathBuf,
    state: Mutex<RunState>,
}

#[derive(Debug)]
struct RunState {
    status: Status,
    outcome_status: Option<String>,
    turns: u64,
    /// Chain records (turns and the outcome): the index the next one gets.
    records: u64,
    /// Hex of the chain after the last record.
    digest: String,
    last_active_at: u64,
    /// The file's length: an append that fails is cut back to it.
    len: u64,
    verified: bool,
    first_bad: Option<u64>,
    /// Removed by retention: the entry may still be held by a caller.
    removed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under a lock leaves nothing half-written in memory that matters more than
    // refusing every later call would.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.to_path_buf(), source }
}

impl RunBook {
    /// Opens the runs dir (`<data_dir>/runs`, created 0700 when missing): loads every run,
    /// cutting a torn last line away first, adopts runs left open as `incomplete` (reason
    /// `"daemon restarted"`), then applies retention per agent. Files and directories that
    /// are not runs are skipped with a warning; only the runs dir itself failing is an error.
    pub fn open(runs_dir: impl Into<PathBuf>, now_ms: u64) -> Result<(RunBook, OpenReport), RunError> {
        let dir = runs_dir.into();
        create_dir_private(&dir).map_err(io_at(&dir))?;
        let mut report = OpenReport::default();
        let mut runs = HashMap::new();
        for agent_dir in read_dir_paths(&dir)? {
            // Symlinks are not followed: retention deletes files, and only ever under `dir`.
            if !is_real(&agent_dir, fs::FileType::is_dir) {
                tracing::warn!(path = %agent_dir.display(), "not a run directory; skipped");
                report.skipped += 1;
                continue;
            }
            let files = match read_dir_paths(&agent_dir) {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable run directory; skipped");
                    report.skipped += 1;
                    continue;
                }
            };
            for path in files {
                match load_run(&path, now_ms, &mut report) {
                    Ok(Some(run)) => {
                        if runs.contains_key(&run.run_id) {
                            tracing::warn!(path = %path.display(), "a second file for one run id; skipped");
                            report.skipped += 1;
                        } else {
                            runs.insert(run.run_id.clone(), Arc::new(run));
                        }
                    }
                    Ok(None) => report.skipped += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "an unreadable run file; skipped");
                        report.skipped += 1;
                    }
                }
            }
        }
        report.loaded = runs.len();
        let mut agents: Vec<String> = runs.values().map(|r| r.agent_id.clone()).collect();
        agents.sort();
        agents.dedup();
        let book = RunBook { dir, runs: Mutex::new(runs) };
        for agent in agents {
            report.removed += book.apply_retention(&agent, now_ms).len();
        }
        tracing::info!(?report, "run traces loaded");
        Ok((book, report))
    }

    /// The runs dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `runs.start`: a new open run of `agent_id`, owned by `owner` (the daemon's session id),
    /// its header written and fsynced. Then retention for the agent (the new run counts).
    /// The intent is cut at 16 KiB like every string; an agent id over 16 KiB is refused.
    pub fn start(&self, owner: &str, agent_id: &str, intent: &str, now_ms: u64) -> Result<Started, RunError> {
        if agent_id.len() > MAX_AGENT_ID_BYTES {
            return Err(RunError::InvalidInput(format!("agent_id is over {MAX_AGENT_ID_BYTES} bytes")));
        }
        let mut intent = intent.to_string();
        cut_string(&mut intent, MAX_STRING_BYTES);
        let run_id = layout::new_run_id();
        let agent_dir = self.dir.join(agent_dir_name(agent_id));
        let new_dir = !agent_dir.is_dir();
        create_dir_private(&agent_dir).map_err(io_at(&agent_dir))?;
        if new_dir {
            layout::sync_dir(&self.dir).map_err(io_at(&self.dir))?;
        }
        let path = agent_dir.join(run_file_name(&run_id));
        let header = trace_file::header_line(&run_id, agent_id, &intent, now_ms);
        let written = (|| {
            let mut f = layout::create_new_private(&path)?;
            f.write_all(&header)?;
            f.sync_all()?;
            layout::sync_dir(&agent_dir)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(RunError::Io { path, source: e });
        }
        let run = Run {
            run_id: run_id.clone(),
            agent_id: agent_id.to_string(),
            intent,
            started_at: now_ms,
            owner: Some(owner.to_string()),
            path,
            state: Mutex::new(RunState {
                status: Status::Open,
                outcome_status: None,
                turns: 0,
                records: 0,
                digest: ChainDigest::genesis(&run_id).to_hex(),
                last_active_at: now_ms,
                len: header.len() as u64,
                verified: true,
                first_bad: None,
                removed: false,
            }),
        };
        lock(&self.runs).insert(run_id.clone(), Arc::new(run));
        let removed = self.apply_retention(agent_id, now_ms);
        Ok(Started { run_id, agent_id: agent_id.to_string(), removed })
    }

    /// `runs.record_turns`: appends `turns` (1..=256 JSON objects) to the run, all or nothing.
    ///
    /// Errors (invalid input, then [`RunError::Forbidden`] for a session that does not own
    /// the run) come first; then the batch may be dropped whole, checked in this order:
    /// `run_not_found`, `run_terminal`, `turn_too_large`, `run_turn_limit`.
    pub fn record_turns(
        &self,
        owner: &str,
        run_id: &str,
        turns: Vec<Value>,
        now_ms: u64,
    ) -> Result<RecordOutcome, RunError> {
        if turns.is_empty() || turns.len() > MAX_BATCH {
            return Err(RunError::InvalidInput(format!(
                "turns must hold 1 to {MAX_BATCH} turns, not {}",
                turns.len()
            )));
        }
        // The costly part (cuts, canonical JSON) happens before any lock.
        let mut prepared = Vec::with_capacity(turns.len());
        let mut too_large = false;
        for (i, turn) in turns.into_iter().enumerate() {
            match canonical::prepare_record(turn) {
                Ok(text) => prepared.push(raw(text)),
                Err(RecordError::TooLarge) => too_large = true,
                Err(e) => return Err(RunError::InvalidInput(format!("turns[{i}]: {e}"))),
            }
        }
        let Some(run) = self.get(run_id) else { return Ok(RecordOutcome::Dropped(DropReason::RunNotFound)) };
        run.check_owner(owner)?;
        let mut st = lock(&run.state);
        if st.removed {
            return Ok(RecordOutcome::Dropped(DropReason::RunNotFound));
        }
        if st.status != Status::Open {
            return Ok(RecordOutcome::Dropped(DropReason::RunTerminal));
        }
        if too_large {
            return Ok(RecordOutcome::Dropped(DropReason::TurnTooLarge));
        }
        let count = prepared.len() as u64;
        if st.turns + count > MAX_TURNS {
            return Ok(RecordOutcome::Dropped(DropReason::RunTurnLimit));
        }
        let base_index = st.records;
        let mut chain = run.tip(&st)?;
        let mut bytes = Vec::new();
        let mut records = Vec::with_capacity(prepared.len());
        for (i, record) in prepared.into_iter().enumerate() {
            chain = chain.next(record.get().as_bytes());
            let digest = chain.to_hex();
            let index = base_index + i as u64;
            trace_file::push_record_line(&mut bytes, RecordKind::Turn, index, now_ms, record.get(), &digest);
            records.push(StoredRecord { index, kind: RecordKind::Turn, at: now_ms, record, digest });
        }
        run.append(&mut st, &bytes, false)?;
        st.turns += count;
        st.records += count;
        st.digest = chain.to_hex();
        st.last_active_at = st.last_active_at.max(now_ms);
        Ok(RecordOutcome::Recorded(Recorded {
            run_id: run.run_id.clone(),
            base_index,
            count,
            digest: st.digest.clone(),
            records,
        }))
    }

    /// `runs.complete` (owner only): appends the chain record `{"outcome": outcome}` and fsyncs.
    /// `outcome` must be an object with a string `status` (strings cut like a turn's, at most
    /// 256 KiB and 63 deep inside the wrapper). A run already completed or incomplete is
    /// [`RunError::Terminal`]; an unknown one [`RunError::NotFound`].
    pub fn complete(
        &self,
        owner: &str,
        run_id: &str,
        outcome: Value,
        now_ms: u64,
    ) -> Result<Completed, RunError> {
        let Some(mut outcome_status) = outcome.get("status").and_then(Value::as_str).map(str::to_string)
        else {
            return Err(RunError::InvalidInput("outcome must be an object with a string status".into()));
        };
        cut_string(&mut outcome_status, MAX_STRING_BYTES);
        let mut wrapped = serde_json::Map::new();
        wrapped.insert("outcome".into(), outcome);
        let text = canonical::prepare_record(Value::Object(wrapped))
            .map_err(|e| RunError::InvalidInput(format!("outcome: {e}")))?;
        let record = raw(text);
        let Some(run) = self.get(run_id) else { return Err(RunError::NotFound(run_id.to_string())) };
        run.check_owner(owner)?;
        let mut st = lock(&run.state);
        if st.removed {
            return Err(RunError::NotFound(run_id.to_string()));
        }
        if st.status != Status::Open {
            return Err(RunError::Terminal { run_id: run.run_id.clone(), status: st.status });
        }
        let index = st.records;
        let chain = run.tip(&st)?.next(record.get().as_bytes());
        let digest = chain.to_hex();
        let mut bytes = Vec::new();
        trace_file::push_record_line(&mut bytes, RecordKind::Outcome, index, now_ms, record.get(), &digest);
        run.append(&mut st, &bytes, true)?;
        st.status = Status::Completed;
        st.outcome_status = Some(outcome_status);
        st.records += 1;
        st.digest = digest.clone();
        st.last_active_at = st.last_active_at.max(now_ms);
        Ok(Completed {
            run_id: run.run_id.clone(),
            digest: digest.clone(),
            record: StoredRecord { index, kind: RecordKind::Outcome, at: now_ms, record, digest },
        })
    }

    /// Marks an open run incomplete (appends the sealed `incomplete` line and fsyncs). True when
    /// it did; false when the run is unknown or already terminal (so calling it twice is fine).
    /// The reason is cut at 16 KiB.
    pub fn mark_incomplete(&self, run_id: &str, reason: &str, now_ms: u64) -> Result<bool, RunError> {
        let Some(run) = self.get(run_id) else { return Ok(false) };
        let mut st = lock(&run.state);
        if st.removed || st.status != Status::Open {
            return Ok(false);
        }
        let mut reason = reason.to_string();
        cut_string(&mut reason, MAX_STRING_BYTES);
        let line = trace_file::incomplete_line(now_ms, &reason, st.records, &st.digest);
        run.append(&mut st, &line, true)?;
        st.status = Status::Incomplete;
        Ok(true)
    }

    /// The open runs `owner` started, sorted: the daemon calls this when a session's connection
    /// drops, waits the 250 ms grace, then calls [`RunBook::mark_incomplete`] for each.
    pub fn owner_gone(&self, owner: &str) -> Vec<String> {
        let mut open: Vec<String> = self
            .all()
            .into_iter()
            .filter(|r| r.owner.as_deref() == Some(owner))
            .filter(|r| {
                let st = lock(&r.state);
                !st.removed && st.status == Status::Open
            })
            .map(|r| r.run_id.clone())
            .collect();
        open.sort();
        open
    }

    /// `runs.subscribe`'s snapshot, `None` for an unknown run.
    pub fn snapshot(&self, run_id: &str) -> Option<Snapshot> {
        let run = self.get(run_id)?;
        let st = lock(&run.state);
        (!st.removed).then(|| Snapshot { turns_so_far: st.turns, cursor: st.records, status: st.status })
    }

    /// One run's summary, `None` for an unknown run.
    pub fn summary(&self, run_id: &str) -> Option<Summary> {
        self.get(run_id).and_then(|r| r.summary())
    }

    /// `runs.list`: the runs of `agent_id` (of every agent with `None`), newest first by last
    /// activity. `verified` is as of the last full read of each file.
    pub fn list(&self, agent_id: Option<&str>) -> Vec<Summary> {
        let mut out: Vec<Summary> = self
            .all()
            .into_iter()
            .filter(|r| agent_id.is_none_or(|a| a == r.agent_id))
            .filter_map(|r| r.summary())
            .collect();
        out.sort_by(|a, b| {
            (b.last_active_at, b.started_at, &b.run_id).cmp(&(a.last_active_at, a.started_at, &a.run_id))
        });
        out
    }

    /// `runs.get_trace`: re-reads the run's file and verifies the whole chain from `d_0`, and
    /// that the file still ends where the daemon's own count and digest say; returns the records
    /// from `cursor` on. A trace that does not verify is still returned (`verified: false`,
    /// `first_bad`) and logged; the result also becomes the run's `verified` in [`RunBook::list`].
    pub fn get_trace(&self, run_id: &str, cursor: u64) -> Result<Trace, RunError> {
        let run = self.get(run_id).ok_or_else(|| RunError::NotFound(run_id.to_string()))?;
        let mut st = lock(&run.state);
        if st.removed {
            return Err(RunError::NotFound(run_id.to_string()));
        }
        let mut scan = trace_file::scan(&run.path, &run.run_id, Some(cursor)).map_err(io_at(&run.path))?;
        // What the file should hold, by the daemon's own count and receipts.
        let missing = if scan.count != st.records {
            Some(scan.count.min(st.records))
        } else {
            (scan.digest != st.digest).then(|| scan.count.saturating_sub(1))
        };
        if let Some(index) = missing {
            scan.bad(index);
        }
        st.verified = scan.first_bad.is_none();
        st.first_bad = scan.first_bad;
        if let Some(first_bad) = scan.first_bad {
            tracing::warn!(run_id = %run.run_id, path = %run.path.display(), first_bad, "a run trace does not verify");
        }
        Ok(Trace {
            run_id: run.run_id.clone(),
            agent_id: run.agent_id.clone(),
            status: st.status,
            outcome_status: st.outcome_status.clone(),
            records: scan.records,
            cursor: scan.count,
            digest: scan.digest,
            verified: st.verified,
            first_bad: st.first_bad,
        })
    }

    fn get(&self, run_id: &str) -> Option<Arc<Run>> {
        lock(&self.runs).get(run_id).cloned()
    }

    fn all(&self) -> Vec<Arc<Run>> {
        lock(&self.runs).values().cloned().collect()
    }

    /// Removes the agent's runs retention no longer keeps (files deleted), returning their ids.
    fn apply_retention(&self, agent_id: &str, now_ms: u64) -> Vec<String> {
        let runs: Vec<Arc<Run>> = self.all().into_iter().filter(|r| r.agent_id == agent_id).collect();
        let candidates = runs
            .iter()
            .filter_map(|r| {
                let st = lock(&r.state);
                (!st.removed).then(|| Candidate {
                    run_id: r.run_id.clone(),
                    open: st.status == Status::Open,
                    last_active_at: st.last_active_at,
                    started_at: r.started_at,
                })
            })
            .collect();
        let chosen = retention::select(candidates, now_ms);
        let mut removed = Vec::new();
        for run in runs.iter().filter(|r| chosen.contains(&r.run_id)) {
            let mut st = lock(&run.state);
            if st.removed || st.status == Status::Open {
                continue;
            }
            match fs::remove_file(&run.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %run.path.display(), error = %e, "could not remove an expired run");
                    continue;
                }
            }
            st.removed = true;
            removed.push(run.run_id.clone());
        }
        if !removed.is_empty() {
            let mut index = lock(&self.runs);
            for id in &removed {
                index.remove(id);
            }
            tracing::info!(agent_id, removed = removed.len(), "old runs removed");
        }
        removed
    }
}

/// Canonical JSON is valid JSON, so this cannot fail.
fn raw(text: String) -> Box<RawValue> {
    RawValue::from_string(text).expect("canonical JSON is valid JSON")
}

impl Run {
    fn check_owner(&self, owner: &str) -> Result<(), RunError> {
        match &self.owner {
            Some(o) if o != owner => Err(RunError::Forbidden(self.run_id.clone())),
            _ => Ok(()),
        }
    }

    fn tip(&self, st: &RunState) -> Result<ChainDigest, RunError> {
        ChainDigest::from_hex(&st.digest).ok_or_else(|| RunError::Corrupt {
            path: self.path.clone(),
            reason: "the run's last digest is not hex".into(),
        })
    }

    /// One `write_all` of `bytes` (whole lines), flushed to the OS, fsynced when `sync`. A write
    /// that fails is cut back to the previous length, so a later append never follows half a line.
    fn append(&self, st: &mut RunState, bytes: &[u8], sync: bool) -> Result<(), RunError> {
        let mut file = layout::open_append(&self.path).map_err(io_at(&self.path))?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.flush())
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            if let Err(cut) = file.set_len(st.len) {
                tracing::warn!(path = %self.path.display(), error = %cut, "could not cut a failed append back");
            }
            return Err(RunError::Io { path: self.path.clone(), source: e });
        }
        st.len += bytes.len() as u64;
        Ok(())
    }

    fn summary(&self) -> Option<Summary> {
        let st = lock(&self.state);
        (!st.removed).then(|| Summary {
            run_id: self.run_id.clone(),
            agent_id: self.agent_id.clone(),
            intent: self.intent.clone(),
            status: st.status,
            outcome_status: st.outcome_status.clone(),
            turns: st.turns,
            started_at: self.started_at,
            last_active_at: st.last_active_at,
            digest: st.digest.clone(),
            verified: st.verified,
            first_bad: st.first_bad,
        })
    }
}

/// True when `path` itself (not a symlink's target) is of the kind `is` tests.
fn is_real(path: &Path, is: fn(&fs::FileType) -> bool) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| is(&m.file_type()))
}

fn read_dir_paths(dir: &Path) -> Result<Vec<PathBuf>, RunError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        paths.push(entry.map_err(io_at(dir))?.path());
    }
    paths.sort();
    Ok(paths)
}

/// Loads one file as a run (`None`, with a warning, when it is not one), cutting a torn last
/// line away and adopting it as incomplete when it was left open.
fn load_run(path: &Path, now_ms: u64, report: &mut OpenReport) -> Result<Option<Run>, RunError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let run_id = match name.strip_suffix(&format!(".{}", layout::RUN_FILE_EXT)) {
        Some(stem) if is_run_id(stem) && is_real(path, fs::FileType::is_file) => stem.to_string(),
        _ => {
            tracing::warn!(path = %path.display(), "not a run file; skipped");
            return Ok(None);
        }
    };
    let mut scan = trace_file::scan(path, &run_id, None).map_err(io_at(path))?;
    if scan.torn_tail == Some(0) {
        // Only a torn header: the crash came inside `start`, before its caller got the id.
        tracing::warn!(path = %path.display(), "a run file with only a torn header; removed");
        fs::remove_file(path).map_err(io_at(path))?;
        report.truncated += 1;
        return Ok(None);
    }
    if let Some(offset) = scan.torn_tail {
        tracing::warn!(path = %path.display(), offset, "a torn last line cut away");
        let file = layout::open_append(path).map_err(io_at(path))?;
        file.set_len(offset).and_then(|()| file.sync_all()).map_err(io_at(path))?;
        report.truncated += 1;
        scan = trace_file::scan(path, &run_id, None).map_err(io_at(path))?;
    }
    let header = match scan.header.take() {
        Some(h) if h.run_id == run_id => h,
        _ => {
            tracing::warn!(path = %path.display(), "a run file without its header; skipped");
            return Ok(None);
        }
    };
    let run = Run {
        run_id,
        agent_id: header.agent_id,
        intent: header.intent,
        started_at: header.started_at,
        owner: None,
        path: path.to_path_buf(),
        state: Mutex::new(RunState {
            status: scan.status,
            outcome_status: scan.outcome_status,
            turns: scan.turns,
            records: scan.count,
            digest: scan.digest,
            last_active_at: scan.last_active_at,
            len: scan.len,
            verified: scan.first_bad.is_none(),
            first_bad: scan.first_bad,
            removed: false,
        }),
    };
    if let Some(first_bad) = scan.first_bad {
        tracing::warn!(path = %path.display(), first_bad, "a run trace does not verify");
        report.unverified += 1;
    }
    if scan.status == Status::Open {
        let mut st = lock(&run.state);
        let line = trace_file::incomplete_line(now_ms, REASON_DAEMON_RESTARTED, st.records, &st.digest);
        run.append(&mut st, &line, true)?;
        st.status = Status::Incomplete;
        drop(st);
        report.adopted += 1;
    }
    Ok(Some(run))
}
