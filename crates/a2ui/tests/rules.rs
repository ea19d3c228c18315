//! Hand-made bad messages and surfaces: each is refused with the right path and rule, changes
//! nothing, and nothing overflows the stack however deep the input.

mod common;

use common::*;
use hark_a2ui::graph::{GraphFault, check_graph};
use hark_a2ui::{ApplyError, BASIC_CATALOG_ID, Limits, Refusal, Store, validate};
use serde_json::{Value, json};

fn refused(store: &mut Store, message: &Value) -> Refusal {
    match store.apply(message, "a", 2000) {
        Err(ApplyError::Invalid(r) | ApplyError::Limit(r) | ApplyError::Conflict(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Applies a message that must be refused, and checks that the store did not change.
fn refused_unchanged(store: &mut Store, message: &Value) -> Refusal {
    let before = store.list();
    let r = refused(store, message);
    assert_eq!(store.list(), before, "a refused message changed the store");
    r
}

fn at(r: &Refusal) -> (&str, &'static str) {
    (r.path.as_str(), r.rule)
}

#[test]
fn a_cycle_in_one_message_is_refused() {
    let mut store = store_with_surface();
    let m = update("s", vec![column("root", &["a"]), column("a", &["b"]), column("b", &["a"])]);
    let r = refused_unchanged(&mut store, &m);
    assert_eq!(at(&r), ("/updateComponents/components/1/children/0", "cycle"), "{r}");
    assert!(r.message.contains("'a' -> 'b' -> 'a'"), "{r}");
}

#[test]
fn a_self_reference_is_a_cycle() {
    let mut store = store_with_surface();
    let r = refused_unchanged(&mut store, &update("s", vec![card("root", "root")]));
    assert_eq!(at(&r), ("/updateComponents/components/0/child", "cycle"));
}

#[test]
fn a_back_edge_in_a_later_update_is_refused_and_the_surface_stays() {
    let mut store = store_with_surface();
    store.apply(&update("s", vec![column("root", &["a"]), column("a", &["b"])]), "a", 1100).unwrap();
    let before = store.get("s").unwrap();
    assert_eq!(before["pending"], json!(["b"]));
    let r = refused_unchanged(&mut store, &update("s", vec![text("leaf", "x"), column("b", &["leaf", "a"])]));
    assert_eq!(at(&r), ("/updateComponents/components/1/children/1", "cycle"), "{r}");
    assert_eq!(store.get("s").unwrap(), before);
}

#[test]
fn a_template_reference_counts_as_an_edge() {
    let mut store = store_with_surface();
    let list = json!({"id": "root", "component": "List", "children": {"componentId": "item", "path": "/xs"}});
    let item = column("item", &["root"]);
    let r = refused_unchanged(&mut store, &update("s", vec![list, item]));
    assert_eq!(r.rule, "cycle");
    assert!(
        r.path == "/updateComponents/components/0/children/componentId"
            || r.path == "/updateComponents/components/1/children/0"
    );
}

#[test]
fn a_duplicate_id_within_one_message_is_refused() {
    let mut store = store_with_surface();
    let r = refused_unchanged(
        &mut store,
        &update("s", vec![text("root", "a"), text("x", "b"), text("root", "c")]),
    );
    assert_eq!(at(&r), ("/updateComponents/components/2/id", "duplicate_id"));
    assert!(r.message.contains("/updateComponents/components/0"), "{r}");
}

#[test]
fn depth_fifty_passes_and_sixty_is_refused_at_depth_fifty_one() {
    let mut store = store_with_surface();
    store.apply(&update("s", column_chain(50)), "a", 1100).unwrap();
    assert_eq!(store.get("s").unwrap()["complete"], true);

    let mut store = store_with_surface();
    let r = refused_unchanged(&mut store, &update("s", column_chain(60)));
    // root is depth 1, so c50 (components[50]) would be depth 51: the reference to it is refused.
    assert_eq!(at(&r), ("/updateComponents/components/49/children/0", "max_depth"), "{r}");
    assert!(r.message.contains("51 components deep"), "{r}");
}

#[test]
fn depth_counts_across_updates_including_a_pending_child_arriving() {
    let mut store = store_with_surface();
    let mut chain = column_chain(51);
    let last = chain.pop().unwrap();
    store.apply(&update("s", chain), "a", 1100).unwrap();
    assert_eq!(store.get("s").unwrap()["pending"], json!(["c50"]));
    // Defining the pending 51st component makes the chain too deep; the message only defines it.
    let r = refused_unchanged(&mut store, &update("s", vec![last]));
    assert_eq!(at(&r), ("/updateComponents/components/0", "max_depth"), "{r}");
}

#[test]
fn ten_thousand_nested_columns_are_refused_by_the_component_limit() {
    let mut store = store_with_surface();
    let r = refused_unchanged(&mut store, &update("s", column_chain(10_000)));
    assert_eq!(at(&r), ("/updateComponents/components", "max_components"));
}

#[test]
fn ten_thousand_nested_columns_in_small_messages_stop_at_the_depth_limit() {
    let mut store = store_with_surface();
    let chain = column_chain(10_000);
    let mut chunks = chain.chunks(50);
    store.apply(&update("s", chunks.next().unwrap().to_vec()), "a", 1100).unwrap();
    let r = refused_unchanged(&mut store, &update("s", chunks.next().unwrap().to_vec()));
    assert_eq!(r.rule, "max_depth");
    assert_eq!(store.get("s").unwrap()["components"].as_array().unwrap().len(), 50);
}

/// Runs `f` on a thread with a deliberately small stack: a recursive walk over the inputs below
/// would overflow it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // Compile the schemas here first: that is start-up work, not part of what is measured.
    validate(&create("warm-up"), &Limits::default()).unwrap();
    std::thread::Builder::new().stack_size(128 * 1024).spawn(f).unwrap().join().unwrap()
}

#[test]
fn graph_check_handles_a_ten_thousand_deep_chain_without_recursion() {
    let got = on_small_stack(|| {
        let chain: Vec<Vec<usize>> =
            (0..10_000).map(|i| if i + 1 < 10_000 { vec![i + 1] } else { vec![] }).collect();
        check_graph(&chain, 50)
    });
    let Err(GraphFault::TooDeep(c)) = got else { panic!("{got:?}") };
    assert_eq!(c, (0..51).collect::<Vec<_>>());
}

#[test]
fn graph_check_handles_a_hundred_thousand_node_chain_and_cycle() {
    let (ok, cycle) = on_small_stack(|| {
        let n = 100_000;
        let mut g: Vec<Vec<usize>> = (0..n).map(|i| if i + 1 < n { vec![i + 1] } else { vec![] }).collect();
        let ok = check_graph(&g, n);
        g[n - 1].push(0);
        (ok, check_graph(&g, n))
    });
    assert_eq!(ok, Ok(()));
    let Err(GraphFault::Cycle(c)) = cycle else { panic!("{cycle:?}") };
    assert_eq!(c.len(), 100_000);
}

/// `[[[ ... 1 ... ]]]`, `levels` arrays deep, built in code (the parser would stop at 128).
fn nested(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = Value::Array(vec![v]);
    }
    v
}

#[test]
fn a_value_nested_ten_thousand_levels_is_refused_without_overflow() {
    let r = on_small_stack(|| {
        let message = data("s", Some("/deep"), Some(nested(10_000)));
        let got = validate(&message, &Limits::default());
        dismantle(message);
        got
    });
    let r = r.unwrap_err();
    assert_eq!(r.rule, "max_nesting");
    // The envelope is level 1, so the 65th level is the 62nd array inside the value.
    assert_eq!(r.path, format!("/updateDataModel/value{}", "/0".repeat(62)));
}

#[test]
fn a_deep_value_through_the_store_and_ingest_is_refused_too() {
    let mut store = store_with_surface();
    // Built by hand: `json!` would serialize an interpolated value, recursively.
    let mut component = text("root", "x");
    component["text"] = nested(10_000);
    let message = update("s", vec![component]);
    assert_eq!(refused_unchanged(&mut store, &message).rule, "max_nesting");
    let mut part = json!({"kind": "data"});
    part["data"] = message;
    let mut payload = json!({"role": "agent"});
    payload["parts"] = Value::Array(vec![part]);
    let got = store.ingest(&payload, "a", 3000).unwrap();
    assert_eq!(got.errors.len(), 1);
    assert_eq!(got.errors[0].rule, "max_nesting");
    dismantle(payload);
}

#[test]
fn nesting_at_the_limit_passes() {
    // value depth 62 + the two envelope levels = 64.
    let message = data("s", None, Some(json!({"x": nested(60)})));
    assert!(validate(&message, &Limits::default()).is_ok());
    let message = data("s", None, Some(json!({"x": nested(61)})));
    assert_eq!(validate(&message, &Limits::default()).unwrap_err().rule, "max_nesting");
}

#[test]
fn a_long_data_model_path_is_bounded_like_nesting() {
    let path = "/a".repeat(62);
    let r = validate(&data("s", Some(&path), Some(json!(1))), &Limits::default()).unwrap_err();
    assert_eq!(at(&r), ("/updateDataModel/path", "max_nesting"));
    assert!(validate(&data("s", Some(&"/a".repeat(61)), Some(json!(1))), &Limits::default()).is_ok());
}

#[test]
fn an_unknown_component_is_refused() {
    let mut store = store_with_surface();
    let m = update("s", vec![text("root", "a"), json!({"id": "x", "component": "Carousel", "items": []})]);
    let r = refused_unchanged(&mut store, &m);
    assert_eq!(at(&r), ("/updateComponents/components/1/component", "unknown_component"));
    assert!(r.message.contains("Carousel"));
}

#[test]
fn a_missing_component_type_is_a_missing_property() {
    let r = validate(&update("s", vec![json!({"id": "x", "text": "hi"})]), &Limits::default()).unwrap_err();
    assert_eq!(at(&r), ("/updateComponents/components/0/component", "required_property"));
}

#[test]
fn a_text_without_text_is_refused() {
    let mut store = store_with_surface();
    let r = refused_unchanged(&mut store, &update("s", vec![json!({"id": "root", "component": "Text"})]));
    assert_eq!(at(&r), ("/updateComponents/components/0/text", "required_property"));
    assert!(r.message.contains("'text'"), "{r}");
}

#[test]
fn a_missing_surface_id_is_refused() {
    let m = json!({"version": "v0.9", "updateComponents": {"components": [text("root", "a")]}});
    let r = validate(&m, &Limits::default()).unwrap_err();
    assert_eq!(at(&r), ("/updateComponents/surfaceId", "required_property"));
}

#[test]
fn a_six_hundred_kib_message_is_refused() {
    let mut store = store_with_surface();
    let m = data("s", Some("/big"), Some(json!("x".repeat(600 * 1024))));
    let r = refused_unchanged(&mut store, &m);
    assert_eq!(at(&r), ("", "max_message_bytes"));
}

#[test]
fn two_hundred_fifty_seven_components_are_refused() {
    let mut store = store_with_surface();
    let mut components = vec![column("root", &[])];
    components.extend((1..257).map(|i| text(&format!("t{i}"), "x")));
    assert_eq!(components.len(), 257);
    let r = refused_unchanged(&mut store, &update("s", components.clone()));
    assert_eq!(at(&r), ("/updateComponents/components", "max_components"));
    components.pop();
    store.apply(&update("s", components), "a", 1100).unwrap();
}

#[test]
fn the_component_limit_applies_to_the_surface_after_the_merge() {
    let mut store = store_with_surface();
    let first: Vec<Value> = (0..200).map(|i| text(&format!("t{i}"), "x")).collect();
    store.apply(&update("s", first), "a", 1100).unwrap();
    let again: Vec<Value> = (150..256).map(|i| text(&format!("t{i}"), "y")).collect();
    store.apply(&update("s", again), "a", 1200).unwrap();
    let r = refused_unchanged(&mut store, &update("s", vec![text("one-more", "z")]));
    assert_eq!(at(&r), ("/updateComponents/components", "max_components"));
    assert!(matches!(
        store.apply(&update("s", vec![text("one-more", "z")]), "a", 1),
        Err(ApplyError::Limit(_))
    ));
}

#[test]
fn a_seventeen_kib_component_is_refused() {
    let mut store = store_with_surface();
    let big = text("big", &"x".repeat(17 * 1024));
    let r = refused_unchanged(&mut store, &update("s", vec![text("root", "a"), big]));
    assert_eq!(at(&r), ("/updateComponents/components/1", "max_component_bytes"));
}

#[test]
fn a_data_model_over_256_kib_is_refused() {
    let mut store = store_with_surface();
    // In one message: refused before the store is consulted.
    let r = refused_unchanged(&mut store, &data("s", Some("/big"), Some(json!("x".repeat(300 * 1024)))));
    assert_eq!(at(&r), ("/updateDataModel/value", "max_data_model_bytes"));
    // Across two: the second would take the whole model over the limit.
    store.apply(&data("s", Some("/a"), Some(json!("x".repeat(200 * 1024)))), "a", 1100).unwrap();
    let m = data("s", Some("/b"), Some(json!("y".repeat(100 * 1024))));
    assert!(matches!(store.apply(&m, "a", 1200), Err(ApplyError::Limit(_))));
    let r = refused_unchanged(&mut store, &m);
    assert_eq!(at(&r), ("/updateDataModel/value", "max_data_model_bytes"));
    // Replacing the big value instead fits.
    store.apply(&data("s", Some("/a"), Some(json!("y".repeat(100 * 1024)))), "a", 1300).unwrap();
}

/// `formatString` calls nested `levels` deep, as a Text's `text`.
fn nested_calls(levels: usize) -> Value {
    let mut v = json!("${/name}");
    for _ in 0..levels {
        v = json!({"call": "formatString", "args": {"value": v}, "returnType": "string"});
    }
    json!({"id": "root", "component": "Text", "text": v})
}

#[test]
fn function_calls_nested_six_deep_are_refused_and_five_pass() {
    let mut store = store_with_surface();
    store.apply(&update("s", vec![nested_calls(5)]), "a", 1100).unwrap();
    let r = refused_unchanged(&mut store, &update("s", vec![nested_calls(6)]));
    let sixth = format!("/updateComponents/components/0/text{}", "/args/value".repeat(5));
    assert_eq!(at(&r), (sixth.as_str(), "call_nesting"), "{r}");
}

#[test]
fn calls_in_an_action_count_too() {
    let mut inner = json!({"call": "required", "args": {"value": {"path": "/x"}}, "returnType": "boolean"});
    for _ in 0..5 {
        inner = json!({"call": "not", "args": {"value": inner}, "returnType": "boolean"});
    }
    let button = json!({"id": "root", "component": "Button", "child": "t",
        "action": {"event": {"name": "go", "context": {"ok": inner}}}});
    let r = validate(&update("s", vec![button]), &Limits::default()).unwrap_err();
    assert_eq!(r.rule, "call_nesting", "{r}");
    assert!(r.path.starts_with("/updateComponents/components/0/action/event/context/ok"), "{r}");
}

#[test]
fn a_thirty_third_surface_is_refused() {
    let mut store = Store::new(Limits::default());
    for i in 0..32 {
        store.apply(&create(&format!("s{i}")), "a", i).unwrap();
    }
    let r = refused_unchanged(&mut store, &create("s32"));
    assert_eq!(at(&r), ("/createSurface/surfaceId", "max_surfaces"));
    assert!(matches!(store.apply(&create("s32"), "a", 40), Err(ApplyError::Limit(_))));
    store.apply(&delete("s0"), "a", 50).unwrap();
    store.apply(&create("s32"), "a", 60).unwrap();
}

#[test]
fn creating_an_existing_surface_is_a_conflict() {
    let mut store = store_with_surface();
    let before = store.list();
    let got = store.apply(&create("s"), "a", 2000);
    let Err(ApplyError::Conflict(r)) = got else { panic!("{got:?}") };
    assert_eq!(at(&r), ("/createSurface/surfaceId", "surface_exists"));
    assert_eq!(store.list(), before);
}

#[test]
fn an_unknown_catalog_is_refused() {
    let body = json!({"surfaceId": "s", "catalogId": "https://example.com/mine.json"});
    let m = json!({"version": "v0.9", "createSurface": body});
    let r = validate(&m, &Limits::default()).unwrap_err();
    assert_eq!(at(&r), ("/createSurface/catalogId", "unknown_catalog"));
}

#[test]
fn an_update_carrying_another_catalog_is_refused() {
    let mut store = store_with_surface();
    let mut m = update("s", vec![text("root", "a")]);
    m["updateComponents"]["catalogId"] = json!("https://example.com/other.json");
    let r = refused_unchanged(&mut store, &m);
    assert_eq!(at(&r), ("/updateComponents/catalogId", "catalog_mismatch"));
    m["updateComponents"]["catalogId"] = json!(BASIC_CATALOG_ID);
    store.apply(&m, "a", 1100).unwrap();
}

#[test]
fn one_bad_component_refuses_the_whole_message() {
    let mut store = store_with_surface();
    let m = update(
        "s",
        vec![text("root", "ok"), text("fine", "ok"), json!({"id": "bad", "component": "Text", "text": 7})],
    );
    let r = refused_unchanged(&mut store, &m);
    assert_eq!(at(&r), ("/updateComponents/components/2/text", "schema"));
    assert!(store.get("s").unwrap()["components"].as_array().unwrap().is_empty());
}

#[test]
fn messages_need_exactly_one_kind() {
    let limits = Limits::default();
    let none = json!({"version": "v0.9"});
    let body = json!({"surfaceId": "s"});
    let two = json!({"version": "v0.9", "deleteSurface": body, "updateDataModel": body});
    for m in [none, two, json!([1]), json!("x")] {
        let r = validate(&m, &limits).unwrap_err();
        assert_eq!(at(&r), ("", "schema"), "{m}: {r}");
    }
    let r = validate(&json!({"version": "v0.9", "deleteSurface": {"surfaceId": "s"}, "extra": 1}), &limits)
        .unwrap_err();
    assert_eq!(at(&r), ("/extra", "unknown_property"));
    let r = validate(&json!({"version": "v0.8", "deleteSurface": {"surfaceId": "s"}}), &limits).unwrap_err();
    assert_eq!(at(&r), ("/version", "schema"));
}

#[test]
fn data_model_paths_must_be_pointers_and_whole_models_objects() {
    let limits = Limits::default();
    let r = validate(&data("s", Some("user/name"), Some(json!(1))), &limits).unwrap_err();
    assert_eq!(at(&r), ("/updateDataModel/path", "bad_path"));
    let r = validate(&data("s", Some("/"), Some(json!([1, 2]))), &limits).unwrap_err();
    assert_eq!(at(&r), ("/updateDataModel/value", "schema"));
    let mut store = store_with_surface();
    store.apply(&data("s", Some("/name"), Some(json!("Ada"))), "a", 1100).unwrap();
    let r = refused_unchanged(&mut store, &data("s", Some("/name/first"), Some(json!("A"))));
    assert_eq!(at(&r), ("/updateDataModel/path", "bad_path"));
}

#[test]
fn refusals_display_path_message_and_rule() {
    let r = Refusal::new("/a/b", "schema", "bad");
    assert_eq!(r.to_string(), "/a/b: bad (schema)");
}
