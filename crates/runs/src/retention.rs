//! Which runs an agent keeps: at most [`MAX_RUNS_PER_AGENT`], the newest by last activity, and
//! none whose last activity is more than [`RETENTION_MS`] (30 days) before now. Open runs are
//! never removed (they still count towards the 50, so an agent with many open runs keeps fewer
//! finished ones). A pure decision; the book deletes.

/// Runs kept per agent.
pub const MAX_RUNS_PER_AGENT: usize = 50;

/// 30 days in milliseconds: a run whose last activity is older than this is removed.
pub const RETENTION_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// One run of an agent, as retention sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub run_id: String,
    pub open: bool,
    pub last_active_at: u64,
    pub started_at: u64,
}

/// The run ids to remove from one agent's `runs`.
pub fn select(mut runs: Vec<Candidate>, now_ms: u64) -> Vec<String> {
    // Newest first; ties by start, then id, so the choice never depends on scan order.
    runs.sort_by(|a, b| {
        (b.last_active_at, b.started_at, &b.run_id).cmp(&(a.last_active_at, a.started_at, &a.run_id))
    });
    runs.into_iter()
        .enumerate()
        .filter(|(rank, run)| {
            !run.open
                && (*rank >= MAX_RUNS_PER_AGENT || now_ms.saturating_sub(run.last_active_at) > RETENTION_MS)
        })
        .map(|(_, run)| run.run_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: usize, open: bool, at: u64) -> Candidate {
        Candidate { run_id: format!("r{id:03}"), open, last_active_at: at, started_at: at }
    }

    #[test]
    fn keeps_the_newest_fifty() {
        let now = 10 * RETENTION_MS;
        let runs: Vec<_> = (0..55).map(|i| run(i, false, now - 1000 + i as u64)).collect();
        let mut removed = select(runs, now);
        removed.sort();
        assert_eq!(removed, ["r000", "r001", "r002", "r003", "r004"]);
    }

    #[test]
    fn removes_runs_older_than_thirty_days_but_never_open_ones() {
        let now = 10 * RETENTION_MS;
        let runs = vec![
            run(0, false, now - RETENTION_MS),     // exactly 30 days: kept
            run(1, false, now - RETENTION_MS - 1), // older: removed
            run(2, true, 0),                       // open: kept however old
            run(3, false, now),
        ];
        assert_eq!(select(runs, now), ["r001"]);
    }

    #[test]
    fn open_runs_count_but_stay() {
        let now = 10 * RETENTION_MS;
        let mut runs: Vec<_> = (0..50).map(|i| run(i, true, now - 100 + i as u64)).collect();
        runs.push(run(99, false, now)); // the newest, yet rank 0 is fine
        runs.push(run(98, false, 1)); // rank 51: removed (also old)
        runs.push(run(97, true, 0)); // open at rank 52: kept
        assert_eq!(select(runs, now), ["r098"]);
    }
}
