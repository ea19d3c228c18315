//! Ownership and terminal runs, ids that must not escape the runs dir, dropped connections,
//! restarts (adoption, torn lines), retention and file modes.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::*;
use hark_runs::{DropReason, RETENTION_MS, RecordOutcome, RunBook, RunError, Status, agent_dir_name};
use serde_json::json;

fn dropped(outcome: RecordOutcome) -> DropReason {
    match outcome {
        RecordOutcome::Dropped(d) => d,
        RecordOutcome::Recorded(r) => panic!("recorded: {r:?}"),
    }
}

#[test]
fn only_the_owner_records_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let book = open(&dir.path().join("runs"), T0);
    let id = book.start("owner", "a", "x", T0).unwrap().run_id;
    let r = book.record_turns("intruder", &id, vec![json!({"t": 1})], T0);
    assert!(matches!(r, Err(RunError::Forbidden(_))), "{r:?}");
    let r = book.complete("intruder", &id, json!({"status": "ok"}), T0);
    assert!(matches!(r, Err(RunError::Forbidden(_))), "{r:?}");
    assert_eq!(book.snapshot(&id).unwrap().turns_so_far, 0);
    recorded(book.record_turns("owner", &id, vec![json!({"t": 1})], T0).unwrap());
    book.complete("owner", &id, json!({"status": "ok"}), T0).unwrap();
}

#[test]
fn completed_and_incomplete_runs_are_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let done = book.start("s", "a", "x", T0).unwrap().run_id;
    book.complete("s", &done, json!({"status": "failed", "summary": "no"}), T0).unwrap();
    assert_eq!(dropped(book.record_turns("s", &done, vec![json!({})], T0).unwrap()), DropReason::RunTerminal);
    let again = book.complete("s", &done, json!({"status": "ok"}), T0);
    assert!(matches!(again, Err(RunError::Terminal { status: Status::Completed, .. })), "{again:?}");
    assert!(!book.mark_incomplete(&done, "late", T0).unwrap());
    let s = book.summary(&done).unwrap();
    assert_eq!((s.status, s.outcome_status.as_deref()), (Status::Completed, Some("failed")));

    let gone = book.start("s", "a", "y", T0).unwrap().run_id;
    assert!(book.mark_incomplete(&gone, "connection closed", T0 + 250).unwrap());
    assert!(!book.mark_incomplete(&gone, "connection closed", T0 + 251).unwrap(), "idempotent");
    assert_eq!(dropped(book.record_turns("s", &gone, vec![json!({})], T0).unwrap()), DropReason::RunTerminal);
    let r = book.complete("s", &gone, json!({"status": "ok"}), T0);
    assert!(matches!(r, Err(RunError::Terminal { status: Status::Incomplete, .. })), "{r:?}");
    let lines = lines(&run_file(&runs, &gone));
    assert_eq!(lines.len(), 2, "one incomplete line");
    assert_eq!(lines[1]["kind"], "incomplete");
    assert_eq!(lines[1]["reason"], "connection closed");
    assert_eq!(lines[1]["at"], T0 + 250);
    assert!(book.get_trace(&gone, 0).unwrap().verified);
    let snap = serde_json::to_value(book.snapshot(&gone).unwrap()).unwrap();
    assert_eq!(snap, json!({"turns_so_far": 0, "cursor": 0, "status": "incomplete"}));
}

#[test]
fn unknown_ids_are_not_found_and_never_touch_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let real = book.start("s", "a", "x", T0).unwrap().run_id;
    let before = all_files(dir.path());
    for id in [
        "../x",
        "../../etc/passwd",
        "a/b",
        "",
        ".",
        "run-00000000000000000000000000000000",
        &format!("../a/{real}"),
    ] {
        assert_eq!(
            dropped(book.record_turns("s", id, vec![json!({})], T0).unwrap()),
            DropReason::RunNotFound
        );
        assert!(matches!(book.complete("s", id, json!({"status": "ok"}), T0), Err(RunError::NotFound(_))));
        assert!(matches!(book.get_trace(id, 0), Err(RunError::NotFound(_))));
        assert!(book.snapshot(id).is_none() && book.summary(id).is_none());
        assert!(!book.mark_incomplete(id, "x", T0).unwrap());
    }
    assert_eq!(all_files(dir.path()), before);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "only runs/");
}

#[test]
fn agent_ids_stay_inside_the_runs_dir() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let long = "x".repeat(1000);
    let ids = [
        "../x",
        "a/b",
        "..",
        ".",
        "",
        "..\\..\\x",
        &long,
        "日本語/🎉",
        "a\0b",
        "%2F",
        "a%2Fb",
        ".hidden",
        "ok-id_1.2",
    ];
    let mut dirs = Vec::new();
    for agent in ids {
        let run_id = book.start("s", agent, "x", T0).unwrap().run_id;
        let file = run_file(&runs, &run_id);
        let agent_dir = file.parent().unwrap();
        assert_eq!(agent_dir.parent().unwrap(), runs, "{agent:?}");
        let name = agent_dir.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, agent_dir_name(agent));
        assert!(!name.is_empty() && !name.starts_with('.') && name.len() <= 128, "{agent:?} -> {name}");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-%~".contains(&b)), "{name}");
        dirs.push(name.to_string());
        let listed = book.list(Some(agent));
        assert_eq!(listed.len(), 1, "{agent:?}");
        assert_eq!(listed[0].agent_id, agent);
    }
    let mut distinct = dirs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{dirs:?}");
    // Nothing anywhere but runs/<one level>/<file>.
    for f in all_files(dir.path()) {
        assert_eq!(f.parent().unwrap().parent().unwrap(), runs, "{f:?}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // The real ids come back from the headers after a restart.
    drop(book);
    let book = open(&runs, T0);
    for agent in ids {
        assert_eq!(book.list(Some(agent)).len(), 1, "{agent:?}");
    }
    let too_long = "y".repeat(16 * 1024 + 1);
    assert!(matches!(book.start("s", &too_long, "x", T0), Err(RunError::InvalidInput(_))));
}

#[test]
fn a_dropped_owner_leaves_its_open_runs_to_be_marked() {
    let dir = tempfile::tempdir().unwrap();
    let book = open(&dir.path().join("runs"), T0);
    let a = book.start("s1", "agent", "a", T0).unwrap().run_id;
    let b = book.start("s1", "agent", "b", T0).unwrap().run_id;
    let c = book.start("s2", "agent", "c", T0).unwrap().run_id;
    book.complete("s1", &b, json!({"status": "ok"}), T0).unwrap();
    assert_eq!(book.owner_gone("s1"), vec![a.clone()]);
    assert_eq!(book.owner_gone("nobody"), Vec::<String>::new());
    for id in book.owner_gone("s1") {
        assert!(book.mark_incomplete(&id, "connection closed", T0 + 250).unwrap());
    }
    assert!(book.owner_gone("s1").is_empty());
    assert_eq!(book.snapshot(&a).unwrap().status, Status::Incomplete);
    assert_eq!(book.snapshot(&c).unwrap().status, Status::Open);
}

#[test]
fn a_crash_leaves_open_runs_that_are_adopted_as_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    let r = recorded(book.record_turns("s", &id, vec![json!({"t": 1}), json!({"t": 2})], T0 + 1).unwrap());
    drop(book); // a crash: no terminal line

    let (book, report) = RunBook::open(&runs, T0 + 1000).unwrap();
    assert_eq!((report.loaded, report.adopted, report.truncated, report.unverified), (1, 1, 0, 0));
    let s = book.summary(&id).unwrap();
    assert_eq!(
        (s.status, s.turns, s.digest.as_str(), s.verified),
        (Status::Incomplete, 2, r.digest.as_str(), true)
    );
    assert_eq!(s.last_active_at, T0 + 1, "adoption is not activity");
    let trace = book.get_trace(&id, 0).unwrap();
    assert!(trace.verified);
    assert_eq!(trace.digest, r.digest);
    let lines = lines(&run_file(&runs, &id));
    assert_eq!(
        lines.last().unwrap(),
        &json!({"kind": "incomplete", "at": T0 + 1000, "reason": "daemon restarted", "records": 2, "digest": r.digest})
    );
    // Adopted runs have no owner to write for them.
    assert_eq!(dropped(book.record_turns("s", &id, vec![json!({})], T0).unwrap()), DropReason::RunTerminal);
    drop(book);
    let (_, report) = RunBook::open(&runs, T0 + 2000).unwrap();
    assert_eq!((report.adopted, report.unverified), (0, 0));
}

fn append(path: &Path, bytes: &[u8]) {
    fs::OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn a_torn_last_line_is_truncated_on_open() {
    for torn in
        [&b"{\"kind\":\"turn\",\"index\":2,\"at"[..], b"garbage\n", b"{\"kind\":\"turn\",\"index\":2}"]
    {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let book = open(&runs, T0);
        let id = book.start("s", "a", "x", T0).unwrap().run_id;
        let r =
            recorded(book.record_turns("s", &id, vec![json!({"t": 1}), json!({"t": 2})], T0 + 1).unwrap());
        drop(book);
        let path = run_file(&runs, &id);
        let good = fs::read(&path).unwrap();
        append(&path, torn);

        let (book, report) = RunBook::open(&runs, T0 + 1000).unwrap();
        assert_eq!((report.truncated, report.adopted, report.unverified), (1, 1, 0), "{torn:?}");
        let trace = book.get_trace(&id, 0).unwrap();
        assert!(trace.verified, "{torn:?}: {:?}", trace.first_bad);
        assert_eq!((trace.cursor, trace.digest.as_str()), (2, r.digest.as_str()));
        let now = fs::read(&path).unwrap();
        assert!(now.starts_with(&good) && now.ends_with(b"\n"));
        assert_eq!(lines(&path).len(), 4, "header, 2 turns, incomplete");
    }
}

#[test]
fn a_bad_line_in_the_middle_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    recorded(book.record_turns("s", &id, vec![json!({"t": 1})], T0).unwrap());
    let path = run_file(&runs, &id);
    append(&path, b"garbage\n");
    drop(book);
    let text = fs::read_to_string(&path).unwrap();
    // A valid-looking last line after the garbage: the garbage is in the middle now.
    let mut lines: Vec<&str> = text.lines().collect();
    let turn = lines[1].to_string();
    lines.push(&turn);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (book, report) = RunBook::open(&runs, T0).unwrap();
    assert_eq!((report.truncated, report.unverified), (0, 1));
    let trace = book.get_trace(&id, 0).unwrap();
    assert_eq!((trace.verified, trace.first_bad), (false, Some(1)));
    assert!(fs::read_to_string(&path).unwrap().contains("garbage"));
}

#[test]
fn files_that_are_not_runs_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    fs::create_dir_all(runs.join("agent")).unwrap();
    fs::write(runs.join("stray.txt"), "x").unwrap();
    fs::write(runs.join("agent/notes.jsonl"), "{}\n").unwrap();
    fs::write(runs.join("agent/run-0123456789abcdef0123456789abcdef.jsonl"), "not json\nat all\n").unwrap();
    fs::write(runs.join("agent/run-00000000000000000000000000000000.jsonl"), "{\"kind\":\"ru").unwrap();
    let (book, report) = RunBook::open(&runs, T0).unwrap();
    assert_eq!((report.loaded, report.skipped), (0, 4));
    assert!(book.list(None).is_empty());
    assert!(runs.join("stray.txt").exists() && runs.join("agent/notes.jsonl").exists());
    // A file holding only a torn header (a crash inside start) is removed.
    assert!(!runs.join("agent/run-00000000000000000000000000000000.jsonl").exists());
}

#[test]
fn an_agent_keeps_its_fifty_newest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let other = book.start("s", "other", "x", T0).unwrap().run_id;
    book.complete("s", &other, json!({"status": "ok"}), T0).unwrap();
    let mut ids = Vec::new();
    for i in 0..55u64 {
        let at = T0 + i * 1000;
        let id = book.start("s", "agent", &format!("run {i}"), at).unwrap().run_id;
        book.complete("s", &id, json!({"status": "ok"}), at + 1).unwrap();
        ids.push(id);
    }
    let kept = book.list(Some("agent"));
    assert_eq!(kept.len(), 50);
    let newest_first: Vec<String> = ids[5..].iter().rev().cloned().collect();
    assert_eq!(kept.iter().map(|s| s.run_id.clone()).collect::<Vec<_>>(), newest_first);
    for old in &ids[..5] {
        assert!(book.summary(old).is_none());
        assert!(matches!(book.get_trace(old, 0), Err(RunError::NotFound(_))));
    }
    let agent_dir = runs.join(agent_dir_name("agent"));
    assert_eq!(fs::read_dir(&agent_dir).unwrap().count(), 50);
    assert!(book.summary(&other).is_some(), "other agents are untouched");
    drop(book);
    let (book, report) = RunBook::open(&runs, T0 + 100_000).unwrap();
    assert_eq!((report.loaded, report.removed), (51, 0));
    assert_eq!(book.list(Some("agent")).len(), 50);
}

#[test]
fn retention_at_open_keeps_fifty() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    for i in 0..55u64 {
        let id = book.start("s", "agent", "x", T0 + i).unwrap().run_id;
        // Open, then left open by a crash: adopted, then retention.
        recorded(book.record_turns("s", &id, vec![json!({"i": i})], T0 + i).unwrap());
    }
    assert_eq!(book.list(Some("agent")).len(), 55, "open runs are never removed");
    drop(book);
    let (book, report) = RunBook::open(&runs, T0 + 1000).unwrap();
    assert_eq!((report.loaded, report.adopted, report.removed), (55, 55, 5));
    let kept = book.list(Some("agent"));
    assert_eq!(kept.len(), 50);
    assert_eq!(kept.last().unwrap().last_active_at, T0 + 5);
    assert_eq!(all_files(&runs).len(), 50);
}

#[test]
fn runs_inactive_for_thirty_days_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let old = book.start("s", "agent", "old", T0).unwrap().run_id;
    book.complete("s", &old, json!({"status": "ok"}), T0).unwrap();
    let still_open = book.start("s", "agent", "open", T0).unwrap().run_id;
    let recent = book.start("s", "agent", "recent", T0 + 10 * DAY_MS).unwrap().run_id;
    book.complete("s", &recent, json!({"status": "ok"}), T0 + 10 * DAY_MS).unwrap();
    let elsewhere = book.start("s", "elsewhere", "old too", T0).unwrap().run_id;
    book.complete("s", &elsewhere, json!({"status": "ok"}), T0).unwrap();

    // Exactly 30 days later: kept. Later than that: removed, when the agent starts a run.
    book.start("s", "agent", "new", T0 + RETENTION_MS).unwrap();
    assert!(book.summary(&old).is_some());
    let started = book.start("s", "agent", "new", T0 + RETENTION_MS + 1).unwrap();
    assert_eq!(started.removed, vec![old.clone()]);
    assert!(book.summary(&old).is_none());
    assert!(book.summary(&still_open).is_some(), "open runs stay");
    assert!(book.summary(&recent).is_some());
    assert!(book.summary(&elsewhere).is_some(), "another agent's runs wait for its own start");
    let old_file = runs.join(agent_dir_name("agent")).join(format!("{old}.jsonl"));
    assert!(!old_file.exists());

    // And at open.
    drop(book);
    let (book, report) = RunBook::open(&runs, T0 + 39 * DAY_MS).unwrap();
    assert!(book.summary(&elsewhere).is_none());
    assert!(book.summary(&recent).is_some());
    // `still_open` was adopted (its last activity is its start, T0) and then expired.
    assert!(book.summary(&still_open).is_none());
    assert_eq!((report.adopted, report.removed), (3, 2));
}

#[test]
fn the_book_is_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RunBook>();
    send_sync::<hark_runs::Trace>();
    send_sync::<RecordOutcome>();
}

#[cfg(unix)]
#[test]
fn symlinks_under_the_runs_dir_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let elsewhere = dir.path().join("elsewhere");
    let book = open(&elsewhere, T0);
    let id = book.start("s", "agent", "x", T0).unwrap().run_id;
    book.complete("s", &id, json!({"status": "ok"}), T0).unwrap();
    drop(book);
    fs::create_dir_all(&runs).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("agent"), runs.join("agent")).unwrap();
    // Long expired, but not ours to delete.
    let (book, report) = RunBook::open(&runs, T0 + 100 * DAY_MS).unwrap();
    assert_eq!((report.loaded, report.removed, report.skipped), (0, 0, 1));
    assert!(book.list(None).is_empty());
    assert!(run_file(&elsewhere, &id).exists());
}

#[cfg(unix)]
#[test]
fn files_are_0600_and_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("data/runs");
    let book = open(&runs, T0);
    let id = book.start("s", "agent/x", "x", T0).unwrap().run_id;
    recorded(book.record_turns("s", &id, vec![json!({})], T0).unwrap());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let file = run_file(&runs, &id);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    assert_eq!(mode(&runs), 0o700);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
}
