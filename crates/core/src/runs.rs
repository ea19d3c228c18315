//! Run tracing (PROTOCOL §14) in the daemon: the [`hark_runs::RunBook`] (blocking, its files
//! and receipts), who may read which run, `runs.trace.event` subscribers, and the 250 ms grace
//! after an owner leaves before its open runs become `incomplete`.
//!
//! Events go out in record order: batches of one run may finish their appends in any order
//! relative to each other's notifications, so each run has a small publisher that holds a
//! batch until every earlier record was published. A subscriber's snapshot `cursor` is the
//! publisher's: it gets every record from there on, and `runs.get_trace` gives what came before.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hark_runs::{RunBook, Snapshot, Status, StoredRecord};
use serde_json::{Value, json};

use crate::caller::{Caller, OwnedBySession};

/// The agent id of runs started without one by a client that claimed none.
pub const DEFAULT_AGENT: &str = "anonymous";

/// `runs.trace.event`, written straight from the stored record (its text is what was hashed).
#[derive(serde::Serialize)]
struct TraceEvent<'a> {
    jsonrpc: &'static str,
    method: &'static str,
    params: TraceEventParams<'a>,
}

#[derive(serde::Serialize)]
struct TraceEventParams<'a> {
    run_id: &'a str,
    record: Option<&'a StoredRecord>,
    cursor: u64,
    status: Status,
}

#[derive(Default)]
struct Publisher {
    /// The index of the next record subscribers get.
    next: u64,
    /// Records that finished before an earlier one, by index.
    held: BTreeMap<u64, (StoredRecord, Status)>,
    subscribers: HashMap<String, Caller>,
}

impl Publisher {
    fn send(&self, run_id: &str, record: Option<&StoredRecord>, cursor: u64, status: Status) {
        if self.subscribers.is_empty() {
            return;
        }
        let event = TraceEvent {
            jsonrpc: "2.0",
            method: "runs.trace.event",
            params: TraceEventParams { run_id, record, cursor, status },
        };
        let Ok(note) = serde_json::to_string(&event) else { return };
        for s in self.subscribers.values() {
            s.outbox.push_text(note.clone());
        }
    }
}

pub struct Runs {
    pub book: Arc<RunBook>,
    /// Which session started a run (in this process): it may read it whatever its agent id.
    started_by: Mutex<HashMap<String, String>>,
    publishers: Arc<Mutex<HashMap<String, Publisher>>>,
    grace: Duration,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runs")
    }
}

impl Runs {
    pub fn new(book: RunBook, grace: Duration) -> Self {
        Runs { book: Arc::new(book), started_by: Mutex::default(), publishers: Arc::default(), grace }
    }

    /// A run was started by `session_id`; `removed` are the runs retention deleted for it.
    pub fn started(&self, run_id: &str, session_id: &str, removed: &[String]) {
        let mut started_by = crate::lock(&self.started_by);
        started_by.insert(run_id.to_string(), session_id.to_string());
        let mut publishers = crate::lock(&self.publishers);
        publishers.entry(run_id.to_string()).or_default();
        for gone in removed {
            started_by.remove(gone);
            publishers.remove(gone);
        }
    }

    /// A host reads every run; a client the runs of the agent id it claimed (never the shared
    /// default's: anyone could claim `anonymous`) and those it started.
    pub fn visible(&self, caller: &Caller, run_id: &str, agent_id: &str) -> bool {
        caller.is_host()
            || (agent_id != DEFAULT_AGENT && caller.agent_id.as_deref() == Some(agent_id))
            || crate::lock(&self.started_by).get(run_id).is_some_and(|s| *s == caller.session_id)
    }

    /// Publishes a batch (or an outcome) in record order.
    pub fn publish(&self, run_id: &str, records: Vec<StoredRecord>, status: Status) {
        let mut publishers = crate::lock(&self.publishers);
        let publisher = publishers.entry(run_id.to_string()).or_default();
        for record in records {
            publisher.held.insert(record.index, (record, status));
        }
        while let Some(entry) = publisher.held.first_entry() {
            if *entry.key() != publisher.next {
                break;
            }
            let (record, status) = entry.remove();
            publisher.next = record.index + 1;
            publisher.send(run_id, Some(&record), publisher.next, status);
            if status != Status::Open && publisher.subscribers.is_empty() {
                publishers.remove(run_id); // finished and unwatched: nothing more to order
                return;
            }
        }
    }

    /// Subscribes `caller` to a run; the snapshot's cursor is where its events start.
    pub fn subscribe(&self, run_id: &str, caller: &Caller, snapshot: Snapshot) -> Value {
        let mut publishers = crate::lock(&self.publishers);
        let publisher = publishers
            .entry(run_id.to_string())
            .or_insert_with(|| Publisher { next: snapshot.cursor, ..Default::default() });
        publisher.subscribers.insert(caller.session_id.clone(), caller.clone());
        json!({ "turns_so_far": snapshot.turns_so_far, "cursor": publisher.next, "status": snapshot.status })
    }

    pub fn unsubscribe(&self, run_id: &str, session_id: &str) -> bool {
        crate::lock(&self.publishers)
            .get_mut(run_id)
            .is_some_and(|p| p.subscribers.remove(session_id).is_some())
    }
}

/// Tells a run's subscribers its status changed without a record (`incomplete`).
fn status_changed(publishers: &Mutex<HashMap<String, Publisher>>, run_id: &str, status: Status) {
    let mut publishers = crate::lock(publishers);
    if let Some(p) = publishers.get(run_id) {
        p.send(run_id, None, p.next, status);
        if p.subscribers.is_empty() {
            publishers.remove(run_id);
        }
    }
}

impl OwnedBySession for Runs {
    /// Part of the cleanup path: its subscriptions end; its open runs become `incomplete` after
    /// the grace period (PROTOCOL §14: 250 ms), and their subscribers are told.
    fn release_session(&self, session_id: &str) {
        for p in crate::lock(&self.publishers).values_mut() {
            p.subscribers.remove(session_id);
        }
        // Only that connection could read a run through having started it.
        crate::lock(&self.started_by).retain(|_, s| s != session_id);
        let open = self.book.owner_gone(session_id);
        if open.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (book, grace, publishers) = (self.book.clone(), self.grace, self.publishers.clone());
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            let marked = tokio::task::spawn_blocking(move || {
                let now = hark_protocol::time::now_millis();
                open.into_iter()
                    .filter(|id| match book.mark_incomplete(id, "connection closed", now) {
                        Ok(marked) => marked,
                        Err(e) => {
                            tracing::warn!(run = %id, error = %e, "cannot mark a run incomplete");
                            false
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for id in marked {
                status_changed(&publishers, &id, Status::Incomplete);
            }
        });
    }
}
