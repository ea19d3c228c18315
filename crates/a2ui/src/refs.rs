//! Where a component refers to other components, derived from the catalog schema.
//!
//! The basic catalog marks a component-id reference by `$ref` to `common_types.json`'s
//! `ComponentId` (one id: `Card.child`, `Modal.trigger`, `Tabs.tabs[].child`, ...) or `ChildList`
//! (an array of ids, or a template `{componentId, path}`: `Row/Column/List.children`). At start-up
//! each component definition is walked (iteratively; the schema is static) through `properties`,
//! `items` and the combinators, collecting the instance path of every such `$ref`. The component's
//! own `id` comes through `ComponentCommon`, a `$ref` the walk does not follow, so it is not
//! mistaken for a reference. A unit test pins the derived table.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::walk;

/// One step from a component towards a reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// An object property.
    Key(String),
    /// Every element of an array.
    Each,
}

/// What sits at the end of the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    /// `ComponentId`: one id string.
    Id,
    /// `ChildList`: an array of ids, or `{componentId, path}`.
    ChildList,
}

/// A reference-bearing location of a component type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefSpec {
    pub steps: Vec<Step>,
    pub kind: RefKind,
}

/// For each component type of `catalog` (its `components` object), its reference locations.
pub(crate) fn derive(catalog: &Value) -> BTreeMap<String, Vec<RefSpec>> {
    let mut table = BTreeMap::new();
    let Some(components) = catalog.get("components").and_then(Value::as_object) else { return table };
    for (name, def) in components {
        table.insert(name.clone(), specs_of(def));
    }
    table
}

fn specs_of(def: &Value) -> Vec<RefSpec> {
    let mut found = Vec::new();
    let mut stack: Vec<(&Value, Vec<Step>)> = vec![(def, Vec::new())];
    while let Some((schema, steps)) = stack.pop() {
        let Some(obj) = schema.as_object() else { continue };
        if let Some(kind) = obj.get("$ref").and_then(Value::as_str).and_then(ref_kind) {
            found.push(RefSpec { steps: steps.clone(), kind });
        }
        for (name, sub) in obj.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let mut next = steps.clone();
            next.push(Step::Key(name.clone()));
            stack.push((sub, next));
        }
        if let Some(items) = obj.get("items") {
            let mut next = steps.clone();
            next.push(Step::Each);
            stack.push((items, next));
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for sub in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
                stack.push((sub, steps.clone()));
            }
        }
        for key in ["then", "else"] {
            if let Some(sub) = obj.get(key) {
                stack.push((sub, steps.clone()));
            }
        }
    }
    found.sort_by(|a, b| a.steps.cmp(&b.steps));
    found
}

fn ref_kind(reference: &str) -> Option<RefKind> {
    if reference.ends_with("#/$defs/ComponentId") {
        Some(RefKind::Id)
    } else if reference.ends_with("#/$defs/ChildList") {
        Some(RefKind::ChildList)
    } else {
        None
    }
}

/// One reference found in a component: where (a JSON Pointer relative to the component) and to
/// which id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ref<'a> {
    pub at: String,
    pub id: &'a str,
}

/// The references `component` makes, by `specs`, in spec order then array order. Values of the
/// wrong shape are skipped (the schema has already refused them). Without `with_paths`, every
/// `at` is empty (nothing is allocated for it): the store needs paths only to report a fault.
pub(crate) fn refs_of<'a>(component: &'a Value, specs: &[RefSpec], with_paths: bool) -> Vec<Ref<'a>> {
    let mut out = Vec::new();
    let path = Paths(with_paths);
    for spec in specs {
        let mut here: Vec<(&'a Value, String)> = vec![(component, String::new())];
        for step in &spec.steps {
            here = advance(here, step, path);
        }
        for (value, at) in here {
            collect(value, &at, spec.kind, path, &mut out);
        }
    }
    out
}

/// Whether to build the paths of references.
#[derive(Clone, Copy)]
struct Paths(bool);

impl Paths {
    fn key(self, at: &str, key: &str) -> String {
        if self.0 { walk::join(at, key) } else { String::new() }
    }

    fn index(self, at: &str, i: usize) -> String {
        if self.0 { format!("{at}/{i}") } else { String::new() }
    }
}

fn advance<'a>(here: Vec<(&'a Value, String)>, step: &Step, path: Paths) -> Vec<(&'a Value, String)> {
    let mut next = Vec::new();
    for (value, at) in here {
        match step {
            Step::Key(k) => {
                if let Some(v) = value.get(k.as_str()) {
                    next.push((v, path.key(&at, k)));
                }
            }
            Step::Each => {
                for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                    next.push((v, path.index(&at, i)));
                }
            }
        }
    }
    next
}

fn collect<'a>(value: &'a Value, at: &str, kind: RefKind, path: Paths, out: &mut Vec<Ref<'a>>) {
    match (kind, value) {
        (RefKind::Id, Value::String(id)) => out.push(Ref { at: at.to_string(), id }),
        (RefKind::ChildList, Value::Array(ids)) => {
            for (i, id) in ids.iter().enumerate() {
                if let Some(id) = id.as_str() {
                    out.push(Ref { at: path.index(at, i), id });
                }
            }
        }
        (RefKind::ChildList, Value::Object(template)) => {
            if let Some(id) = template.get("componentId").and_then(Value::as_str) {
                out.push(Ref { at: path.key(at, "componentId"), id });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CATALOG: &str = include_str!("../spec/catalogs/basic/catalog.json");

    fn describe(specs: &[RefSpec]) -> Vec<String> {
        let step = |s: &Step| match s {
            Step::Key(k) => k.clone(),
            Step::Each => "*".into(),
        };
        specs
            .iter()
            .map(|s| format!("{}:{:?}", s.steps.iter().map(step).collect::<Vec<_>>().join("/"), s.kind))
            .collect()
    }

    /// The table derived from catalog.json, written out: a change in the catalog that adds or
    /// moves a reference shows up here.
    #[test]
    fn derived_reference_table_matches_the_basic_catalog() {
        let catalog: Value = serde_json::from_str(CATALOG).unwrap();
        let table = derive(&catalog);
        let got: BTreeMap<&str, Vec<String>> =
            table.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.as_str(), describe(v))).collect();
        let want: BTreeMap<&str, Vec<String>> = [
            ("Button", vec!["child:Id"]),
            ("Card", vec!["child:Id"]),
            ("Column", vec!["children:ChildList"]),
            ("List", vec!["children:ChildList"]),
            ("Modal", vec!["content:Id", "trigger:Id"]),
            ("Row", vec!["children:ChildList"]),
            ("Tabs", vec!["tabs/*/child:Id"]),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(table.len(), 18, "every component type has an entry");
    }

    #[test]
    fn references_are_found_with_their_paths() {
        let catalog: Value = serde_json::from_str(CATALOG).unwrap();
        let table = derive(&catalog);
        let tabs = json!({"id": "t", "component": "Tabs",
            "tabs": [{"title": "A", "child": "a"}, {"title": "B", "child": "b"}]});
        let got: Vec<(String, &str)> =
            refs_of(&tabs, &table["Tabs"], true).into_iter().map(|r| (r.at, r.id)).collect();
        assert_eq!(got, vec![("/tabs/0/child".to_string(), "a"), ("/tabs/1/child".to_string(), "b")]);
        let list =
            json!({"id": "l", "component": "List", "children": {"componentId": "item", "path": "/xs"}});
        let got: Vec<(String, &str)> =
            refs_of(&list, &table["List"], true).into_iter().map(|r| (r.at, r.id)).collect();
        assert_eq!(got, vec![("/children/componentId".to_string(), "item")]);
        let col = json!({"id": "c", "component": "Column", "children": ["x", "y"]});
        let got: Vec<&str> = refs_of(&col, &table["Column"], false).into_iter().map(|r| r.id).collect();
        assert_eq!(got, vec!["x", "y"]);
    }
}
