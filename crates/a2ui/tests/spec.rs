//! The A2UI specification's own material: the basic catalog's examples and the schema test cases
//! (copied from google/A2UI `specification/v0_9/` at commit ade478f; see tests/fixtures/NOTICE).

mod common;

use common::{fixture, fixture_path, fixtures_in, timeless};
use hark_a2ui::{Limits, Store, schema_accepts, validate, validate_client_message};
use serde_json::Value;

fn messages_of(example: &Value) -> &Vec<Value> {
    example["messages"].as_array().expect("messages")
}

#[test]
fn there_are_eighteen_examples() {
    assert_eq!(fixtures_in("examples").len(), 18);
}

/// Every example applies in order to a fresh store, and leaves a complete surface (root defined,
/// nothing pending): none of the 18 examples leaves a reference dangling.
#[test]
fn every_basic_catalog_example_applies_and_completes() {
    for (name, example) in fixtures_in("examples") {
        let mut store = Store::new(Limits::default());
        let mut surface_id = None;
        for (i, message) in messages_of(&example).iter().enumerate() {
            let applied = store
                .apply(message, "agent", 1_000 + i as u64)
                .unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
            surface_id = Some(applied.surface_id);
        }
        for message in messages_of(&example) {
            assert!(schema_accepts(message), "{name}: the whole-message schema accepts it too");
        }
        let view = store.get(&surface_id.unwrap()).unwrap_or_else(|| panic!("{name}: surface"));
        assert_eq!(view["pending"], serde_json::json!([]), "{name}");
        assert_eq!(view["complete"], true, "{name}");
        assert!(!view["components"].as_array().unwrap().is_empty(), "{name}");
        assert_ne!(view["dataModel"], serde_json::json!({}), "{name}: the example sets a data model");
    }
}

/// Replaying a store holding every example rebuilds the same surfaces.
#[test]
fn replay_of_every_example_rebuilds_identical_views() {
    let mut store = Store::new(Limits::default());
    for (t, (name, example)) in fixtures_in("examples").into_iter().enumerate() {
        for message in messages_of(&example) {
            store.apply(message, "agent", t as u64).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    let mut again = Store::new(Limits::default());
    for (t, message) in store.replay().iter().enumerate() {
        again.apply(message, "agent", t as u64).unwrap_or_else(|e| panic!("replay: {e}"));
    }
    let before: Vec<Value> = store.list().into_iter().map(timeless).collect();
    let after: Vec<Value> = again.list().into_iter().map(timeless).collect();
    assert_eq!(before.len(), 18);
    assert_eq!(after.len(), 18);
    for (b, a) in before.iter().zip(&after) {
        assert!(b == a, "{} differs after replay", b["surfaceId"]);
    }
}

struct Case {
    file: String,
    description: String,
    valid: bool,
    data: Value,
}

fn cases_for(schema: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for (file, suite) in fixtures_in("test-cases") {
        if suite["schema"] != schema {
            continue;
        }
        for test in suite["tests"].as_array().unwrap() {
            out.push(Case {
                file: file.clone(),
                description: test["description"].as_str().unwrap().to_string(),
                valid: test["valid"].as_bool().unwrap(),
                data: test["data"].clone(),
            });
        }
    }
    out
}

/// Every server-to-client test case is accepted or refused as its `valid` flag says, by the
/// precise path (`validate`) and by the whole-message schema (`schema_accepts`) alike.
#[test]
fn server_to_client_test_cases_agree_with_their_valid_flag() {
    let cases = cases_for("server_to_client.json");
    assert_eq!(cases.len(), 18, "button 7, contact form 3, tabs 2, text 2, theme 4");
    for case in cases {
        let ours = validate(&case.data, &Limits::default());
        let whole = schema_accepts(&case.data);
        let what = format!("{}: {}: {ours:?}", case.file, case.description);
        assert_eq!(ours.is_ok(), case.valid, "validate: {what}");
        assert_eq!(whole, case.valid, "schema_accepts: {what}");
    }
}

/// The refusals of the invalid cases point at the offending place.
#[test]
fn invalid_test_cases_are_refused_where_they_are_wrong() {
    let want = [
        (
            "Button with deprecated enabled property (should fail)",
            "/updateComponents/components/0/enabled",
            "unknown_property",
        ),
        (
            "Button with invalid check structure (invalid returnType)",
            "/updateComponents/components/0/checks/0/condition/returnType",
            "schema",
        ),
        (
            "Button with deprecated 'primary' property (should fail)",
            "/updateComponents/components/0/primary",
            "unknown_property",
        ),
        ("Tabs with empty tabs array (should fail)", "/updateComponents/components/0/tabs", "schema"),
        ("Text with invalid variant (should fail)", "/updateComponents/components/0/variant", "schema"),
        ("Invalid theme property (wrong type)", "/createSurface/theme/primaryColor", "schema"),
        ("Invalid theme property (invalid hex color)", "/createSurface/theme/primaryColor", "schema"),
    ];
    let cases = cases_for("server_to_client.json");
    for (description, path, rule) in want {
        let case =
            cases.iter().find(|c| c.description == description).unwrap_or_else(|| panic!("{description}"));
        let r = validate(&case.data, &Limits::default()).unwrap_err();
        assert_eq!((r.path.as_str(), r.rule), (path, rule), "{description}: {r}");
    }
}

/// The client-to-server cases (the renderer's action and error messages).
#[test]
fn client_to_server_test_cases_agree_with_their_valid_flag() {
    let cases = cases_for("client_to_server.json");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let got = validate_client_message(&case.data);
        assert_eq!(got.is_ok(), case.valid, "{}: {}: {got:?}", case.file, case.description);
    }
}

/// The contact form as a JSON Lines stream: every line validates and the stream applies in order
/// (its last line deletes the surface).
#[test]
fn contact_form_jsonl_applies_line_by_line() {
    let text = std::fs::read_to_string(fixture_path("test-cases/contact_form_example.jsonl")).unwrap();
    let lines: Vec<Value> =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    let mut store = Store::new(Limits::default());
    for (i, line) in lines.iter().enumerate() {
        assert!(schema_accepts(line), "line {i}");
        let applied = store.apply(line, "agent", i as u64).unwrap_or_else(|e| panic!("line {i}: {e}"));
        if i == 2 {
            let view = applied.surface.unwrap();
            assert_eq!(view["complete"], true);
            assert_eq!(view["dataModel"]["contact"]["firstName"], "John");
        }
    }
    assert!(store.is_empty(), "the last line deletes the surface");
}

#[test]
fn contact_form_example_test_messages_apply_in_order() {
    let suite = fixture("test-cases/contact_form_example_test.json");
    let mut store = Store::new(Limits::default());
    for test in suite["tests"].as_array().unwrap() {
        store.apply(&test["data"], "agent", 1).unwrap_or_else(|e| panic!("{}: {e}", test["description"]));
    }
    let view = store.get("contact_form_1").unwrap();
    assert_eq!(view["complete"], true);
}
