//! CPU time of this process's threads by name prefix (Linux `/proc/self/task`), so a benchmark can
//! say how much CPU the server side and the load generator each spent per operation.
//!
//! Uses `/proc/self/task/<tid>/schedstat` (nanoseconds on CPU) where the kernel has it, else
//! utime + stime from `stat` (clock ticks, assumed 100 Hz: USER_HZ on every Linux port we run on).
//! Elsewhere every reading is `None` and the CPU columns say "n/a".

use std::time::Duration;

/// Total on-CPU time of the threads whose name (`comm`, at most 15 bytes) starts with `prefix`.
pub fn threads_cpu(prefix: &str) -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = Duration::ZERO;
    let mut any = false;
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        if let Some(t) = schedstat(&dir).or_else(|| stat_ticks(&dir)) {
            total += t;
            any = true;
        }
    }
    any.then_some(total)
}

fn schedstat(dir: &std::path::Path) -> Option<Duration> {
    let text = std::fs::read_to_string(dir.join("schedstat")).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn stat_ticks(dir: &std::path::Path) -> Option<Duration> {
    let text = std::fs::read_to_string(dir.join("stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The 1-, 5- and 15-minute load averages, as the kernel prints them.
pub fn loadavg() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
