//! Helpers shared by the integration tests: fixtures and message builders.
#![allow(dead_code)]

use std::path::PathBuf;

use hark_a2ui::{BASIC_CATALOG_ID, Limits, Store};
use serde_json::{Value, json};

/// The path of a file under `tests/fixtures/`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// A JSON fixture.
pub fn fixture(rel: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `*.json` under a fixture folder, sorted by name, with its file name.
pub fn fixtures_in(dir: &str) -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_path(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), fixture(&format!("{dir}/{n}")))).collect()
}

pub fn create(surface: &str) -> Value {
    json!({"version": "v0.9", "createSurface": {"surfaceId": surface, "catalogId": BASIC_CATALOG_ID}})
}

/// (Built without interpolating `components` into `json!`, which would serialize them
/// recursively: some tests pass components nested far too deep for that.)
pub fn update(surface: &str, components: Vec<Value>) -> Value {
    let mut body = json!({"surfaceId": surface});
    body["components"] = Value::Array(components);
    let mut message = json!({"version": "v0.9"});
    message["updateComponents"] = body;
    message
}

pub fn data(surface: &str, path: Option<&str>, value: Option<Value>) -> Value {
    let mut body = json!({"surfaceId": surface});
    if let Some(p) = path {
        body["path"] = json!(p);
    }
    if let Some(v) = value {
        body["value"] = v;
    }
    let mut message = json!({"version": "v0.9"});
    message["updateDataModel"] = body;
    message
}

pub fn delete(surface: &str) -> Value {
    json!({"version": "v0.9", "deleteSurface": {"surfaceId": surface}})
}

pub fn text(id: &str, text: &str) -> Value {
    json!({"id": id, "component": "Text", "text": text})
}

pub fn column(id: &str, children: &[&str]) -> Value {
    json!({"id": id, "component": "Column", "children": children})
}

pub fn card(id: &str, child: &str) -> Value {
    json!({"id": id, "component": "Card", "child": child})
}

/// A store with one empty surface `s` owned by `a`, created at t=1000.
pub fn store_with_surface() -> Store {
    let mut store = Store::new(Limits::default());
    store.apply(&create("s"), "a", 1000).expect("create");
    store
}

/// Ids `c0 .. c{n-1}`, `c{i}` a Column whose only child is `c{i+1}`; `c0` is called `root`.
pub fn column_chain(n: usize) -> Vec<Value> {
    let name = |i: usize| if i == 0 { "root".to_string() } else { format!("c{i}") };
    (0..n)
        .map(|i| if i + 1 < n { column(&name(i), &[&name(i + 1)]) } else { text(&name(i), "leaf") })
        .collect()
}

/// Drops a value without recursion (serde_json's drop recurses, and these tests build values
/// deeper than a test thread's stack allows).
pub fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// A view without the fields that depend on when and how often it changed.
pub fn timeless(mut view: Value) -> Value {
    if let Some(obj) = view.as_object_mut() {
        for key in ["createdAt", "updatedAt", "revision"] {
            obj.remove(key);
        }
    }
    view
}
