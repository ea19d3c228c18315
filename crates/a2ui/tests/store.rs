//! The store: progressive rendering, ownership, data-model semantics, timestamps, reaping,
//! replay, params unwrapping, ingest and capabilities.

mod common;

use common::*;
use hark_a2ui::{ApplyError, BASIC_CATALOG_ID, Limits, Store, capabilities, envelope_of_params, validate};
use serde_json::{Value, json};

#[test]
fn a_child_arriving_later_completes_the_surface() {
    let mut store = store_with_surface();
    let first = store.apply(&update("s", vec![column("root", &["x"])]), "a", 1100).unwrap().surface.unwrap();
    assert_eq!(first["pending"], json!(["x"]));
    assert_eq!(first["complete"], false);
    let second = store.apply(&update("s", vec![text("x", "hello")]), "a", 1200).unwrap().surface.unwrap();
    assert_eq!(second["pending"], json!([]));
    assert_eq!(second["complete"], true);
}

#[test]
fn pending_is_sorted_and_unique_and_root_is_needed_for_complete() {
    let mut store = store_with_surface();
    let view = store
        .apply(&update("s", vec![column("box", &["z", "a", "z"]), card("card", "a")]), "a", 1100)
        .unwrap();
    let view = view.surface.unwrap();
    assert_eq!(view["pending"], json!(["a", "z"]));
    let view =
        store.apply(&update("s", vec![text("a", "1"), text("z", "2")]), "a", 1200).unwrap().surface.unwrap();
    assert_eq!(view["pending"], json!([]));
    assert_eq!(view["complete"], false, "no root yet");
    let view = store
        .apply(&update("s", vec![column("root", &["box", "card"])]), "a", 1300)
        .unwrap()
        .surface
        .unwrap();
    assert_eq!(view["complete"], true);
}

#[test]
fn a_fresh_surface_is_empty_and_not_complete() {
    let store = store_with_surface();
    let view = store.get("s").unwrap();
    assert_eq!(view["components"], json!([]));
    assert_eq!(view["dataModel"], json!({}));
    assert_eq!(view["pending"], json!([]));
    assert_eq!(view["complete"], false);
    assert_eq!(view["revision"], 1);
    assert_eq!(view["sendDataModel"], false);
    assert_eq!(view["catalogId"], BASIC_CATALOG_ID);
    assert!(view.get("theme").is_none());
}

#[test]
fn components_are_upserted_in_first_defined_order() {
    let mut store = store_with_surface();
    store
        .apply(&update("s", vec![column("root", &["a", "b"]), text("a", "one"), text("b", "two")]), "a", 1100)
        .unwrap();
    let view = store
        .apply(&update("s", vec![text("c", "three"), text("a", "ONE")]), "a", 1200)
        .unwrap()
        .surface
        .unwrap();
    let ids: Vec<&str> =
        view["components"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["root", "a", "b", "c"]);
    assert_eq!(view["components"][1]["text"], "ONE");
    // A component sent again is replaced whole, even by another type.
    let view = store.apply(&update("s", vec![card("a", "c")]), "a", 1300).unwrap().surface.unwrap();
    assert_eq!(view["components"][1], card("a", "c"));
}

#[test]
fn revision_and_timestamps_follow_changes() {
    let mut store = store_with_surface();
    let v = store.apply(&update("s", vec![text("root", "x")]), "a", 1500).unwrap().surface.unwrap();
    assert_eq!(
        (v["createdAt"].as_u64(), v["updatedAt"].as_u64(), v["revision"].as_u64()),
        (Some(1000), Some(1500), Some(2))
    );
    let v = store.apply(&data("s", Some("/k"), Some(json!(1))), "a", 1700).unwrap().surface.unwrap();
    assert_eq!((v["updatedAt"].as_u64(), v["revision"].as_u64()), (Some(1700), Some(3)));
    store.touch("s", 9000);
    let v = store.get("s").unwrap();
    assert_eq!(
        (v["updatedAt"].as_u64(), v["revision"].as_u64()),
        (Some(1700), Some(3)),
        "touch is not a change"
    );
}

#[test]
fn only_the_owner_may_update_or_delete() {
    let mut store = store_with_surface();
    store.apply(&update("s", vec![text("root", "mine")]), "a", 1100).unwrap();
    let before = store.get("s").unwrap();
    let got = store.apply(&update("s", vec![text("root", "theirs")]), "b", 1200);
    assert_eq!(got, Err(ApplyError::Forbidden { surface_id: "s".into() }));
    assert_eq!(store.get("s").unwrap(), before);
    assert!(matches!(
        store.apply(&data("s", None, Some(json!({}))), "b", 1200),
        Err(ApplyError::Forbidden { .. })
    ));
    assert!(matches!(store.apply(&delete("s"), "b", 1200), Err(ApplyError::Forbidden { .. })));
    assert_eq!(store.get("s").unwrap(), before);
    assert_eq!(store.owner("s"), Some("a"));
    let applied = store.apply(&delete("s"), "a", 1300).unwrap();
    assert!(applied.deleted);
    assert_eq!(applied.surface, None);
    assert_eq!(store.get("s"), None);
    assert!(store.is_empty());
}

#[test]
fn unknown_surfaces_are_not_found() {
    let mut store = Store::new(Limits::default());
    for m in [update("nope", vec![text("root", "x")]), data("nope", None, None), delete("nope")] {
        assert_eq!(store.apply(&m, "a", 1), Err(ApplyError::NotFound { surface_id: "nope".into() }));
    }
}

#[test]
fn the_owner_key_never_appears_in_views_or_replay() {
    let mut store = Store::new(Limits::default());
    store.apply(&create("s"), "owner-secret-7f3a", 1).unwrap();
    store.apply(&update("s", vec![text("root", "x")]), "owner-secret-7f3a", 2).unwrap();
    let everything =
        json!({"list": store.list(), "get": store.get("s"), "replay": store.replay()}).to_string();
    assert!(!everything.contains("owner-secret-7f3a"));
}

#[test]
fn errors_are_safe_to_show_and_name_their_rule() {
    let e = ApplyError::Forbidden { surface_id: "s".into() };
    assert_eq!(e.rule(), "forbidden");
    assert!(e.to_string().contains("'s'"));
    let r = e.to_refusal(&delete("s"));
    assert_eq!((r.path.as_str(), r.rule), ("/deleteSurface/surfaceId", "forbidden"));
    assert_eq!(ApplyError::NotFound { surface_id: "s".into() }.rule(), "not_found");
}

#[test]
fn data_model_set_replace_and_remove() {
    let mut store = store_with_surface();
    let model = |store: &Store| store.get("s").unwrap()["dataModel"].clone();
    store.apply(&data("s", None, Some(json!({"user": {"name": "Ada", "langs": ["en"]}}))), "a", 1).unwrap();
    assert_eq!(model(&store), json!({"user": {"name": "Ada", "langs": ["en"]}}));
    store.apply(&data("s", Some("/user/name"), Some(json!("Grace"))), "a", 2).unwrap();
    store.apply(&data("s", Some("/user/langs/1"), Some(json!("fr"))), "a", 3).unwrap();
    store.apply(&data("s", Some("/cart/items/0/sku"), Some(json!("A1"))), "a", 4).unwrap();
    assert_eq!(
        model(&store),
        json!({"user": {"name": "Grace", "langs": ["en", "fr"]}, "cart": {"items": [{"sku": "A1"}]}})
    );
    store.apply(&data("s", Some("/user/name"), None), "a", 5).unwrap();
    store.apply(&data("s", Some("/user/langs/0"), None), "a", 6).unwrap();
    assert_eq!(model(&store), json!({"user": {"langs": [null, "fr"]}, "cart": {"items": [{"sku": "A1"}]}}));
    store.apply(&data("s", Some("/"), Some(json!({"fresh": true}))), "a", 7).unwrap();
    assert_eq!(model(&store), json!({"fresh": true}), "path / replaces the whole model");
    store.apply(&data("s", None, None), "a", 8).unwrap();
    assert_eq!(model(&store), json!({}), "no path and no value clears the model");
    store.apply(&data("s", Some("/a~1b/c~0d"), Some(json!(1))), "a", 9).unwrap();
    assert_eq!(model(&store), json!({"a/b": {"c~d": 1}}));
}

#[test]
fn a_bad_data_model_path_changes_nothing() {
    let mut store = store_with_surface();
    store.apply(&data("s", None, Some(json!({"xs": [1, 2], "s": "text"}))), "a", 1).unwrap();
    let before = store.get("s").unwrap();
    for path in ["/xs/9", "/xs/name", "/s/deeper", "/xs/0/deeper"] {
        let got = store.apply(&data("s", Some(path), Some(json!(0))), "a", 2);
        let Err(ApplyError::Invalid(r)) = got else { panic!("{path}: {got:?}") };
        assert_eq!((r.path.as_str(), r.rule), ("/updateDataModel/path", "bad_path"), "{path}");
    }
    assert_eq!(store.get("s").unwrap(), before);
}

#[test]
fn reap_removes_idle_surfaces_only() {
    let mut store = Store::new(Limits::default());
    store.apply(&create("old"), "a", 0).unwrap();
    store.apply(&create("touched"), "a", 0).unwrap();
    store.apply(&create("updated"), "a", 0).unwrap();
    store.apply(&create("young"), "a", 2_500).unwrap();
    store.touch("touched", 2_000);
    store.apply(&update("updated", vec![text("root", "x")]), "a", 2_000).unwrap();
    store.touch("missing", 2_000);
    assert_eq!(store.reap(3_000, 1_000), vec!["old".to_string()]);
    assert_eq!(store.len(), 3);
    assert_eq!(store.reap(3_000, 1_000), Vec::<String>::new());
    let mut gone = store.reap(10_000, 1_000);
    gone.sort();
    assert_eq!(gone, ["touched", "updated", "young"]);
    assert!(store.is_empty());
}

#[test]
fn reap_is_exclusive_of_the_idle_time() {
    let mut store = Store::new(Limits::default());
    store.apply(&create("s"), "a", 1_000).unwrap();
    assert!(store.reap(2_000, 1_000).is_empty());
    assert_eq!(store.reap(2_001, 1_000), ["s"]);
}

#[test]
fn list_is_by_created_at_then_id_and_remove_works() {
    let mut store = Store::new(Limits::default());
    store.apply(&create("b"), "a", 5).unwrap();
    store.apply(&create("a"), "x", 5).unwrap();
    store.apply(&create("c"), "a", 1).unwrap();
    let ids: Vec<Value> = store.list().into_iter().map(|v| v["surfaceId"].clone()).collect();
    assert_eq!(ids, [json!("c"), json!("a"), json!("b")]);
    assert!(store.remove("a"));
    assert!(!store.remove("a"));
    assert_eq!(store.len(), 2);
}

fn busy_store() -> Store {
    let mut store = Store::new(Limits::default());
    let themed = json!({"version": "v0.9", "createSurface": {"surfaceId": "themed",
        "catalogId": BASIC_CATALOG_ID, "theme": {"primaryColor": "#00BFFF", "agentDisplayName": "Test"},
        "sendDataModel": true}});
    store.apply(&themed, "a", 10).unwrap();
    store.apply(&update("themed", vec![column("root", &["later"]), text("t", "x")]), "a", 11).unwrap();
    store.apply(&update("themed", vec![text("t", "y")]), "a", 12).unwrap();
    store.apply(&data("themed", Some("/a/b"), Some(json!([1, {"c": null}]))), "a", 13).unwrap();
    store.apply(&create("empty"), "b", 20).unwrap();
    store.apply(&create("full"), "a", 30).unwrap();
    store.apply(&update("full", vec![card("root", "x"), text("x", "hi")]), "a", 31).unwrap();
    store
}

#[test]
fn replay_rebuilds_an_identical_store() {
    let store = busy_store();
    let mut again = Store::new(Limits::default());
    for (t, m) in store.replay().iter().enumerate() {
        validate(m, &Limits::default()).unwrap_or_else(|e| panic!("{m}: {e}"));
        again.apply(m, "replayer", t as u64).unwrap();
    }
    let before: Vec<Value> = store.list().into_iter().map(timeless).collect();
    let after: Vec<Value> = again.list().into_iter().map(timeless).collect();
    assert_eq!(before, after);
    assert_eq!(after[0]["pending"], json!(["later"]));
    assert_eq!(after[0]["theme"]["primaryColor"], "#00BFFF");
}

#[test]
fn replay_is_create_components_then_whole_model_per_surface() {
    let store = busy_store();
    let kinds: Vec<String> = store
        .replay()
        .iter()
        .map(|m| {
            let kind = ["createSurface", "updateComponents", "updateDataModel"]
                .into_iter()
                .find(|k| m.get(*k).is_some());
            let kind = kind.unwrap();
            format!("{}:{}", kind, m[kind]["surfaceId"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "createSurface:themed",
            "updateComponents:themed",
            "updateDataModel:themed",
            "createSurface:empty",
            "updateDataModel:empty",
            "createSurface:full",
            "updateComponents:full",
            "updateDataModel:full",
        ]
    );
    assert_eq!(store.replay()[2]["updateDataModel"]["path"], "/");
}

#[test]
fn replay_splits_a_large_surface_into_messages_within_the_limit() {
    let mut store = store_with_surface();
    let fat = |i: usize| text(&format!("t{i}"), &"x".repeat(15 * 1024));
    for chunk in (0..256).collect::<Vec<_>>().chunks(30) {
        store.apply(&update("s", chunk.iter().map(|&i| fat(i)).collect()), "a", 1100).unwrap();
    }
    let replay = store.replay();
    let updates: Vec<&Value> = replay.iter().filter(|m| m.get("updateComponents").is_some()).collect();
    assert!(updates.len() >= 8, "about 3.8 MiB of components in 512 KiB messages: {}", updates.len());
    let mut again = Store::new(Limits::default());
    for m in &replay {
        assert!(serde_json::to_vec(m).unwrap().len() <= 512 * 1024);
        again.apply(m, "a", 5).unwrap();
    }
    assert_eq!(timeless(again.get("s").unwrap()), timeless(store.get("s").unwrap()));
}

#[test]
fn apply_params_takes_raw_wrapped_and_route_auth_forms() {
    let limits = Limits::default();
    let raw = create("s");
    let mut with_auth = raw.clone();
    with_auth["routeAuth"] = json!({"type": "bearer", "token": "t"});
    assert_eq!(&*envelope_of_params(&raw, &limits).unwrap(), &raw);
    assert_eq!(&*envelope_of_params(&with_auth, &limits).unwrap(), &raw);
    let wrapped = json!({"envelope": raw, "routeAuth": {"type": "none"}, "other": 1});
    assert_eq!(&*envelope_of_params(&wrapped, &limits).unwrap(), &raw);
    let message = json!({"message": raw});
    assert_eq!(&*envelope_of_params(&message, &limits).unwrap(), &raw);
    assert_eq!(envelope_of_params(&json!([raw]), &limits).unwrap_err().rule, "schema");

    let mut store = Store::new(limits);
    store.apply_params(&with_auth, "a", 1).unwrap();
    store.apply_params(&json!({"envelope": update("s", vec![text("root", "x")])}), "a", 2).unwrap();
    assert_eq!(store.get("s").unwrap()["complete"], true);
    // Other unknown keys beside a raw envelope are still refused by the schema.
    let mut extra = delete("s");
    extra["sneaky"] = json!(1);
    let Err(ApplyError::Invalid(r)) = store.apply_params(&extra, "a", 3) else { panic!() };
    assert_eq!((r.path.as_str(), r.rule), ("/sneaky", "unknown_property"));
}

fn part(message: &Value) -> Value {
    json!({"kind": "data", "data": message, "metadata": {"mimeType": "application/json+a2ui"}})
}

#[test]
fn ingest_goes_on_past_a_failing_message_and_reports_it() {
    let mut store = Store::new(Limits::default());
    let payload = json!({"kind": "message", "role": "agent", "messageId": "m", "parts": [
        {"kind": "text", "text": "Here is your form"},
        part(&create("s")),
        part(&update("s", vec![json!({"id": "root", "component": "Text"})])),
        part(&update("s", vec![text("root", "ok")])),
        part(&update("other", vec![text("root", "x")])),
    ]});
    let got = store.ingest(&payload, "a", 1).unwrap();
    assert_eq!(got.applied.len(), 2);
    let errors = serde_json::to_value(&got.errors).unwrap();
    assert_eq!(
        errors,
        json!([
            {"index": 1, "surfaceId": "s", "path": "/updateComponents/components/0/text",
             "rule": "required_property", "message": "a Text component is missing required property 'text'"},
            {"index": 3, "surfaceId": "other", "path": "/updateComponents/surfaceId", "rule": "not_found",
             "message": "no surface 'other'"},
        ])
    );
    assert_eq!(store.get("s").unwrap()["complete"], true);
    let applied = serde_json::to_value(&got.applied[0]).unwrap();
    assert_eq!(applied["surfaceId"], "s");
    assert_eq!(applied["deleted"], false);
}

#[test]
fn ingest_reads_a_task_a_json_rpc_result_and_a_parts_list() {
    let task = json!({"kind": "task", "id": "t1", "contextId": "c",
        "status": {"state": "completed", "message": {"role": "agent", "messageId": "m2",
            "parts": [part(&update("s", vec![text("root", "hi")]))]}},
        "history": [{"role": "agent", "messageId": "m1", "parts": [part(&create("s"))]}],
        "artifacts": [{"artifactId": "a1", "parts": [part(&data("s", Some("/n"), Some(json!(1))))]}]});
    let mut store = Store::new(Limits::default());
    let got = store.ingest(&json!({"jsonrpc": "2.0", "id": 1, "result": task}), "a", 1).unwrap();
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.applied.len(), 3);
    assert_eq!(store.get("s").unwrap()["dataModel"], json!({"n": 1}));

    let mut store = Store::new(Limits::default());
    let parts = json!([part(&create("p")), {"kind": "text", "text": "x"}]);
    assert_eq!(store.ingest(&parts, "a", 1).unwrap().applied.len(), 1);
    assert!(store.get("p").is_some());
}

#[test]
fn ingest_of_a_payload_without_a2ui_parts_does_nothing() {
    let mut store = Store::new(Limits::default());
    let got =
        store.ingest(&json!({"role": "agent", "parts": [{"kind": "text", "text": "hi"}]}), "a", 1).unwrap();
    assert!(got.applied.is_empty() && got.errors.is_empty());
    assert_eq!(store.ingest(&json!({"nothing": "here"}), "a", 1).unwrap_err().rule, "a2a_shape");
}

#[test]
fn capabilities_list_the_catalog_and_limits() {
    let caps = capabilities(&Limits::default());
    assert_eq!(caps["version"], "v0.9");
    assert_eq!(caps["catalogs"], json!([BASIC_CATALOG_ID]));
    let components: Vec<&str> =
        caps["components"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let mut sorted = components.clone();
    sorted.sort();
    assert_eq!(components, sorted);
    assert_eq!(components.len(), 18);
    assert!(components.contains(&"Column") && components.contains(&"DateTimeInput"));
    assert_eq!(caps["functions"].as_array().unwrap().len(), 14);
    assert_eq!(
        caps["limits"],
        json!({"maxSurfaces": 32, "maxComponentsPerSurface": 256, "maxComponentBytes": 16384,
               "maxDataModelBytes": 262144, "maxMessageBytes": 524288, "maxDepth": 50,
               "maxCallNesting": 5, "maxNesting": 64})
    );
}
