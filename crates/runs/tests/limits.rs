//! The 2,000-turn ceiling under concurrency, the 16 KiB string cut, the 256 KiB turn bound, batch
//! sizes and what counts as invalid input.

mod common;

use std::sync::Barrier;

use common::*;
use hark_runs::{DropReason, RecordOutcome, RunError, Status};
use serde_json::{Value, json};

#[test]
fn forty_batches_from_eight_threads_stop_at_exactly_two_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = book.start("s", "a", "load", T0).unwrap().run_id;
    // Another run of the same agent appends meanwhile: the per-run lock is not global.
    let other = book.start("s", "a", "other", T0).unwrap().run_id;
    let barrier = Barrier::new(8);
    let results: Vec<RecordOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (book, id, other, barrier) = (&book, &id, &other, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let mut out = Vec::new();
                    for b in 0..5 {
                        let turns = (0..100).map(|i| json!({"thread": t, "batch": b, "i": i})).collect();
                        out.push(book.record_turns("s", id, turns, T0 + 1).unwrap());
                        book.record_turns("s", other, vec![json!({"t": t})], T0 + 1).unwrap();
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.len(), 40);
    let mut bases: Vec<u64> = results
        .iter()
        .filter_map(|r| match r {
            RecordOutcome::Recorded(r) => Some(r.base_index),
            RecordOutcome::Dropped(_) => None,
        })
        .collect();
    let dropped =
        results.iter().filter(|r| matches!(r, RecordOutcome::Dropped(DropReason::RunTurnLimit))).count();
    assert_eq!((bases.len(), dropped), (20, 20));
    bases.sort();
    assert_eq!(bases, (0..20).map(|b| b * 100).collect::<Vec<u64>>());
    let dropped_wire = results.iter().find(|r| matches!(r, RecordOutcome::Dropped(_))).unwrap();
    assert_eq!(
        serde_json::to_value(dropped_wire).unwrap(),
        json!({"ok": false, "dropped": "run_turn_limit"})
    );

    let snap = book.snapshot(&id).unwrap();
    assert_eq!((snap.turns_so_far, snap.cursor, snap.status), (2000, 2000, Status::Open));
    let lines = lines(&run_file(&runs, &id));
    assert_eq!(lines.iter().filter(|l| l["kind"] == "turn").count(), 2000);
    assert_eq!(lines.len(), 2001);
    let trace = book.get_trace(&id, 0).unwrap();
    assert!(trace.verified, "{:?}", trace.first_bad);
    assert!(trace.records.iter().enumerate().all(|(i, r)| r.index == i as u64));
    // Each batch went in whole: its 100 turns are contiguous.
    for chunk in trace.records.chunks(100) {
        let first = chunk[0].value();
        assert!(chunk.iter().enumerate().all(|(i, r)| {
            let v = r.value();
            v["thread"] == first["thread"] && v["batch"] == first["batch"] && v["i"] == i
        }));
    }
    assert_eq!(book.snapshot(&other).unwrap().turns_so_far, 40);

    // Full: even one more turn is refused; the outcome does not count and still goes in.
    let one = book.record_turns("s", &id, vec![json!({})], T0 + 2).unwrap();
    assert!(matches!(one, RecordOutcome::Dropped(DropReason::RunTurnLimit)));
    let done = book.complete("s", &id, json!({"status": "ok"}), T0 + 3).unwrap();
    assert_eq!(done.record.index, 2000);
    assert!(book.get_trace(&id, 1990).unwrap().verified);
}

#[test]
fn the_ceiling_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let book = open(&dir.path().join("runs"), T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    let batch = |n: usize| (0..n).map(|i| json!({ "i": i })).collect::<Vec<_>>();
    for _ in 0..7 {
        recorded(book.record_turns("s", &id, batch(256), T0).unwrap());
    }
    recorded(book.record_turns("s", &id, batch(200), T0).unwrap()); // 1992
    let over = book.record_turns("s", &id, batch(9), T0).unwrap();
    assert!(matches!(over, RecordOutcome::Dropped(DropReason::RunTurnLimit)));
    assert_eq!(recorded(book.record_turns("s", &id, batch(8), T0).unwrap()).base_index, 1992);
    assert_eq!(book.snapshot(&id).unwrap().turns_so_far, 2000);
}

#[test]
fn strings_are_cut_at_16_kib_on_a_char_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let book = open(&dir.path().join("runs"), T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    let key = "k".repeat(20_000);
    let turn = json!({
        // 16,383 bytes, then a 3-byte char across the 16,384-byte limit.
        "three": format!("{}漢漢", "a".repeat(16_383)),
        // 16,382 bytes, then a 4-byte char across it.
        "four": format!("{}🎉", "b".repeat(16_382)),
        "exact": "c".repeat(16_384),
        "nested": [{ "deep": "é".repeat(10_000) }],
        key.clone(): 1,
        "huge_before_the_cut": "d".repeat(1_000_000),
    });
    let r = recorded(book.record_turns("s", &id, vec![turn.clone()], T0).unwrap());
    let stored = r.records[0].value();
    assert_eq!(stored["three"], "a".repeat(16_383));
    assert_eq!(stored["four"], "b".repeat(16_382));
    assert_eq!(stored["exact"], "c".repeat(16_384));
    assert_eq!(stored["nested"][0]["deep"], "é".repeat(8192));
    assert_eq!(stored[&key], 1, "keys are not cut");
    assert_eq!(stored["huge_before_the_cut"].as_str().unwrap().len(), 16_384);
    assert_eq!(r.digest, chain(&id, &[turn])[1]);
    assert_eq!(book.get_trace(&id, 0).unwrap().records[0].value(), stored);
}

#[test]
fn the_intent_and_reasons_are_cut_too() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = book.start("s", "a", &"i".repeat(20_000), T0).unwrap().run_id;
    assert_eq!(book.summary(&id).unwrap().intent.len(), 16_384);
    assert!(book.mark_incomplete(&id, &"r".repeat(20_000), T0).unwrap());
    let lines = lines(&run_file(&runs, &id));
    assert_eq!(lines[0]["intent"].as_str().unwrap().len(), 16_384);
    assert_eq!(lines[1]["reason"].as_str().unwrap().len(), 16_384);
}

#[test]
fn a_turn_over_256_kib_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    // 17 strings of 16 KiB each: still over 256 KiB after the cut.
    let big: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("x".repeat(16_384)))).collect();
    let out = book.record_turns("s", &id, vec![json!({"small": 1}), Value::Object(big)], T0).unwrap();
    assert!(matches!(out, RecordOutcome::Dropped(DropReason::TurnTooLarge)));
    assert_eq!(serde_json::to_value(&out).unwrap(), json!({"ok": false, "dropped": "turn_too_large"}));
    assert_eq!(book.snapshot(&id).unwrap().turns_so_far, 0);
    assert_eq!(lines(&run_file(&runs, &id)).len(), 1, "nothing appended");
    // Just under the bound is fine.
    let fits: serde_json::Map<String, Value> =
        (0..15).map(|i| (format!("k{i}"), json!("x".repeat(16_384)))).collect();
    recorded(book.record_turns("s", &id, vec![Value::Object(fits)], T0).unwrap());
}

#[test]
fn invalid_batches_are_invalid_input_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = open(&runs, T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    let invalid = |turns: Vec<Value>| {
        let r = book.record_turns("s", &id, turns, T0);
        assert!(matches!(r, Err(RunError::InvalidInput(_))), "{r:?}");
    };
    invalid(vec![]);
    invalid((0..257).map(|i| json!({ "i": i })).collect());
    invalid(vec![json!({"ok": 1}), json!("a string")]);
    invalid(vec![json!([1, 2])]);
    invalid(vec![json!(null)]);
    let mut deep = json!(1);
    for _ in 0..64 {
        deep = json!([deep]);
    }
    invalid(vec![json!({ "deep": deep })]); // 65 levels
    // Invalid input comes before "no such run".
    assert!(matches!(book.record_turns("s", "../x", vec![], T0), Err(RunError::InvalidInput(_))));
    assert_eq!(lines(&run_file(&runs, &id)).len(), 1);
    assert_eq!(book.snapshot(&id).unwrap().turns_so_far, 0);

    // 256 turns and 64 levels are fine.
    recorded(book.record_turns("s", &id, (0..256).map(|i| json!({ "i": i })).collect(), T0).unwrap());
    let mut deep = json!(1);
    for _ in 0..63 {
        deep = json!([deep]);
    }
    recorded(book.record_turns("s", &id, vec![json!({ "deep": deep })], T0).unwrap());
    assert!(book.get_trace(&id, 0).unwrap().verified);
}

#[test]
fn outcomes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let book = open(&dir.path().join("runs"), T0);
    let id = book.start("s", "a", "x", T0).unwrap().run_id;
    for bad in [json!("ok"), json!({}), json!({"status": 1}), json!([{"status": "ok"}])] {
        let r = book.complete("s", &id, bad, T0);
        assert!(matches!(r, Err(RunError::InvalidInput(_))), "{r:?}");
    }
    let big: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("x".repeat(16_384)))).collect();
    let mut outcome = big;
    outcome.insert("status".into(), json!("ok"));
    assert!(matches!(book.complete("s", &id, Value::Object(outcome), T0), Err(RunError::InvalidInput(_))));
    assert_eq!(book.snapshot(&id).unwrap().status, Status::Open);
}
