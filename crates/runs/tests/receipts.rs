//! The receipt chain, computed independently from what the client sent, and verification on
//! read: altered and cut files are still returned, flagged with the first bad record.

mod common;

use std::fs;

use common::*;
use hark_runs::{RunBook, Status};
use serde_json::{Value, json};

fn turns_sent() -> Vec<Value> {
    vec![
        json!({
            "role": "assistant",
            "text": "He said \"hi\" \\ then left.\n\tTab, bell \u{7}, NUL \u{0}, DEL \u{7f}",
            "zeta": {"b": [3, {"y": true, "x": null}], "a": "日本語 🎉 é", "B": -17},
            "alpha": [1, 2, {"Z": "z", "z": "Z", "é": 1, "e": 2}],
            "": "empty key",
        }),
        json!({"tool_call": {"name": "grep", "args": {"pattern": "a/b", "path": "./src"}}, "n": 18446744073709551615u64}),
        // Cut at 16 KiB: the client applies the same cut to compute the digest.
        json!({"output": "x".repeat(20_000), "k": "v"}),
    ]
}

#[test]
fn digests_match_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let started = book.start("s1", "agent", "fix the bug", T0).unwrap();
    let id = started.run_id.clone();
    let sent = turns_sent();
    let expected = chain(&id, &sent);

    let first = recorded(book.record_turns("s1", &id, sent[..2].to_vec(), T0 + 1).unwrap());
    assert_eq!((first.base_index, first.count), (0, 2));
    assert_eq!(first.digest, expected[2]);
    assert_eq!(first.records[0].digest, expected[1]);
    assert_eq!(first.records[0].record.get(), canon(&sent[0]));
    let wire = serde_json::to_value(hark_runs::RecordOutcome::Recorded(first.clone())).unwrap();
    assert_eq!(wire, json!({"run_id": id, "base_index": 0, "count": 2, "digest": expected[2], "ok": true}));

    let second = recorded(book.record_turns("s1", &id, sent[2..].to_vec(), T0 + 2).unwrap());
    assert_eq!((second.base_index, second.count, second.cursor()), (2, 1, 3));
    assert_eq!(second.digest, expected[3]);

    let outcome = json!({"summary": "done", "status": "success", "files": {"b.rs": 2, "a.rs": 1}});
    let mut all = sent.clone();
    all.push(json!({ "outcome": outcome }));
    let expected = chain(&id, &all);
    let done = book.complete("s1", &id, outcome.clone(), T0 + 3).unwrap();
    assert_eq!(done.digest, expected[4]);
    assert_eq!(done.record.index, 3);
    assert_eq!(
        serde_json::to_value(&done).unwrap(),
        json!({"run_id": id, "ok": true, "digest": expected[4]})
    );

    let trace = book.get_trace(&id, 0).unwrap();
    assert!(trace.verified, "{trace:?}");
    assert_eq!(trace.first_bad, None);
    assert_eq!(trace.digest, expected[4]);
    assert_eq!(trace.cursor, 4);
    assert_eq!(trace.status, Status::Completed);
    assert_eq!(trace.outcome_status.as_deref(), Some("success"));
    for (i, r) in trace.records.iter().enumerate() {
        assert_eq!(r.index, i as u64);
        assert_eq!(r.digest, expected[i + 1]);
        assert_eq!(r.record.get(), canon(&cut(&all[i])));
        assert_eq!(r.value(), cut(&all[i]));
    }
    // The wire shape carries each record verbatim, so a reader can hash what it receives.
    let wire = serde_json::to_value(&trace).unwrap();
    assert_eq!(wire["verified"], true);
    assert!(wire.get("first_bad").is_none());
    assert_eq!(wire["records"][0]["record"], sent[0]);
    assert_eq!(wire["records"][3]["kind"], "outcome");
    let partial = book.get_trace(&id, 3).unwrap();
    assert_eq!(partial.records.len(), 1);
    assert_eq!(partial.records[0].index, 3);
    assert_eq!(partial.digest, expected[4]);

    let list = book.list(Some("agent"));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].digest, expected[4]);
    assert_eq!(list[0].turns, 3);
    assert!(list[0].verified);

    // The file: a header, then one line per chain record with its digest.
    let lines = lines(&run_file(&runs, &id));
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        json!({"kind": "run", "run_id": id, "agent_id": "agent", "intent": "fix the bug", "started_at": T0})
    );
    assert_eq!(lines[1]["kind"], "turn");
    assert_eq!(lines[1]["index"], 0);
    assert_eq!(lines[1]["at"], T0 + 1);
    assert_eq!(lines[1]["record"], sent[0]);
    assert_eq!(lines[1]["digest"], expected[1].as_str());
    assert_eq!(lines[4]["kind"], "outcome");
    assert_eq!(lines[4]["record"]["outcome"], outcome);

    // And it all still verifies after a restart.
    drop(book);
    let (book, report) = RunBook::open(&runs, T0 + 10).unwrap();
    assert_eq!((report.loaded, report.adopted, report.unverified), (1, 0, 0));
    let trace = book.get_trace(&id, 0).unwrap();
    assert!(trace.verified);
    assert_eq!(trace.digest, expected[4]);
    assert_eq!(book.summary(&id).unwrap().outcome_status.as_deref(), Some("success"));
}

#[test]
fn a_run_with_no_records_has_digest_d0() {
    let dir = tempfile::tempdir().unwrap();
    let book = open(&dir.path().join("runs"), T0);
    let id = book.start("s", "a", "nothing", T0).unwrap().run_id;
    let trace = book.get_trace(&id, 0).unwrap();
    assert_eq!(trace.digest, chain(&id, &[])[0]);
    assert!(trace.verified && trace.records.is_empty() && trace.cursor == 0);
}

fn three_turns(book: &RunBook) -> String {
    let id = book.start("s", "a", "intent", T0).unwrap().run_id;
    for (i, word) in ["alpha", "bravo", "charlie"].iter().enumerate() {
        recorded(book.record_turns("s", &id, vec![json!({"text": word})], T0 + i as u64).unwrap());
    }
    id
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {text}");
    fs::write(path, text.replace(from, to)).unwrap();
}

#[test]
fn a_flipped_byte_is_found_and_the_trace_still_returned() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = three_turns(&book);
    let path = run_file(&runs, &id);
    edit(&path, "bravo", "bravO");

    let trace = book.get_trace(&id, 0).unwrap();
    assert!(!trace.verified);
    assert_eq!(trace.first_bad, Some(1));
    assert_eq!(trace.records.len(), 3);
    assert_eq!(trace.records[1].value(), json!({"text": "bravO"}));
    let wire = serde_json::to_value(&trace).unwrap();
    assert_eq!((wire["verified"].clone(), wire["first_bad"].clone()), (json!(false), json!(1)));
    // The list reports the last full read.
    let summary = book.summary(&id).unwrap();
    assert_eq!((summary.verified, summary.first_bad), (false, Some(1)));

    // After a restart too: nothing is truncated for a bad line in the middle or the end.
    drop(book);
    let (book, report) = RunBook::open(&runs, T0 + 10).unwrap();
    assert_eq!((report.unverified, report.truncated, report.adopted), (1, 0, 1));
    let summary = book.summary(&id).unwrap();
    assert_eq!((summary.verified, summary.first_bad), (false, Some(1)));
    assert_eq!(book.get_trace(&id, 0).unwrap().records.len(), 3);
}

#[test]
fn an_equivalent_reencoding_still_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = three_turns(&book);
    edit(&run_file(&runs, &id), r#"{"text":"charlie"}"#, r#"{ "text": "charlie" }"#);
    let trace = book.get_trace(&id, 0).unwrap();
    assert_eq!((trace.verified, trace.first_bad), (false, Some(2)));
}

#[test]
fn a_cut_file_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = three_turns(&book);
    let path = run_file(&runs, &id);
    let text = fs::read_to_string(&path).unwrap();
    let without_last: Vec<&str> = text.lines().take(3).collect();
    fs::write(&path, without_last.join("\n") + "\n").unwrap();

    // While the daemon runs, its own count and receipt say a record is missing.
    let trace = book.get_trace(&id, 0).unwrap();
    assert_eq!((trace.verified, trace.first_bad, trace.cursor), (false, Some(2), 2));
    assert_eq!(trace.records.len(), 2);
    assert_eq!(trace.digest, chain(&id, &[json!({"text": "alpha"}), json!({"text": "bravo"})])[2]);
    assert!(!book.list(None)[0].verified);
}

#[test]
fn a_sealed_run_cut_before_its_seal_does_not_verify_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = three_turns(&book);
    assert!(book.mark_incomplete(&id, "connection closed", T0 + 5).unwrap());
    drop(book);
    let path = run_file(&runs, &id);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    let seal: Value = serde_json::from_str(lines[4]).unwrap();
    assert_eq!(seal["kind"], "incomplete");
    assert_eq!(seal["records"], 3);
    // Remove the last record, keep the seal.
    fs::write(&path, [lines[0], lines[1], lines[2], lines[4]].join("\n") + "\n").unwrap();

    let (book, report) = RunBook::open(&runs, T0 + 10).unwrap();
    assert_eq!((report.unverified, report.truncated), (1, 0));
    let s = book.summary(&id).unwrap();
    assert_eq!((s.status, s.verified, s.first_bad), (Status::Incomplete, false, Some(2)));
    let trace = book.get_trace(&id, 0).unwrap();
    assert_eq!((trace.verified, trace.first_bad, trace.records.len()), (false, Some(2), 2));
}

#[test]
fn a_removed_middle_line_breaks_the_chain_there() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = three_turns(&book);
    book.complete("s", &id, json!({"status": "ok"}), T0 + 9).unwrap();
    drop(book);
    let path = run_file(&runs, &id);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // header, alpha, bravo, charlie, outcome: drop bravo (index 1).
    fs::write(&path, [lines[0], lines[1], lines[3], lines[4]].join("\n") + "\n").unwrap();
    let (book, report) = RunBook::open(&runs, T0 + 10).unwrap();
    assert_eq!(report.unverified, 1);
    let trace = book.get_trace(&id, 0).unwrap();
    assert_eq!((trace.verified, trace.first_bad, trace.status), (false, Some(1), Status::Completed));
    assert_eq!(trace.records.len(), 3);
}
