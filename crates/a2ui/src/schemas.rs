//! The embedded A2UI v0.9 schemas, compiled once.
//!
//! The documents are the specification's own (`spec/`, copied unchanged from google/A2UI
//! `specification/v0_9/` at commit ade478f). They are registered in one in-memory registry under
//! their `$id`s; nothing is ever fetched (`offline`, and jsonschema is built without its
//! network and file resolvers).
//!
//! `server_to_client.json` and `common_types.json` refer to the catalog as the relative
//! `catalog.json`, which resolves to `https://a2ui.org/specification/v0_9/catalog.json`: the spec
//! leaves that name for "the catalog in use". The basic catalog is registered under that name
//! (with its `$id` set to it, so its own `#/...` references resolve there too).
//!
//! Validators compiled here:
//! - the whole message (`server_to_client.json`, its top-level `oneOf`): [`Schemas::message`],
//!   used by [`crate::schema_accepts`] to cross-check the precise path below;
//! - one per message kind (`$defs/<Kind>Message`), where `updateComponents` has its `items`
//!   relaxed (each component is checked on its own) and tolerates a string `catalogId` (checked
//!   against the surface by the store; see the crate docs);
//! - one per basic-catalog component type (`catalog.json#/components/<Type>`);
//! - the client-to-server message (`client_to_server.json`, the renderer's action or error).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use jsonschema::{Draft, Registry, Validator};
use serde_json::{Value, json};

use crate::refs::{self, RefSpec};
use crate::{Kind, Refusal};

const SERVER_TO_CLIENT: &str = include_str!("../spec/json/server_to_client.json");
const COMMON_TYPES: &str = include_str!("../spec/json/common_types.json");
const CLIENT_TO_SERVER: &str = include_str!("../spec/json/client_to_server.json");
const BASIC_CATALOG: &str = include_str!("../spec/catalogs/basic/catalog.json");

const S2C_ID: &str = "https://a2ui.org/specification/v0_9/server_to_client.json";
const COMMON_ID: &str = "https://a2ui.org/specification/v0_9/common_types.json";
/// What `catalog.json` (relative, in the spec's documents) resolves to.
const CATALOG_ALIAS: &str = "https://a2ui.org/specification/v0_9/catalog.json";

/// One catalog component type: its validator and where it holds component-id references.
pub(crate) struct ComponentType {
    pub validator: Validator,
    pub refs: Vec<RefSpec>,
}

/// Every compiled validator and what was derived from the catalog.
pub(crate) struct Schemas {
    pub message: Validator,
    envelopes: [Validator; 4],
    pub components: BTreeMap<String, ComponentType>,
    pub client: Validator,
    pub function_names: Vec<String>,
}

impl Schemas {
    /// The envelope validator for `kind`.
    pub fn envelope(&self, kind: Kind) -> &Validator {
        let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        &self.envelopes[i]
    }

    /// The basic catalog's component type names, sorted.
    pub fn component_names(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }
}

static SCHEMAS: LazyLock<Result<Schemas, String>> = LazyLock::new(build);

/// The compiled schemas. They are embedded and tested, so the error is a build defect; it is
/// reported as a refusal (rule `internal`) rather than a panic.
pub(crate) fn schemas() -> Result<&'static Schemas, Refusal> {
    SCHEMAS.as_ref().map_err(|e| Refusal::new("", "internal", format!("A2UI schemas did not compile: {e}")))
}

fn parse(name: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))
}

fn build() -> Result<Schemas, String> {
    let s2c = parse("server_to_client.json", SERVER_TO_CLIENT)?;
    let common = parse("common_types.json", COMMON_TYPES)?;
    let client = parse("client_to_server.json", CLIENT_TO_SERVER)?;
    let mut catalog = parse("catalog.json", BASIC_CATALOG)?;
    if let Some(obj) = catalog.as_object_mut() {
        obj.insert("$id".into(), json!(CATALOG_ALIAS));
    }
    let relaxed = relaxed_update_components(&s2c)?;
    let registry = Registry::new()
        .add(S2C_ID, s2c.clone())
        .and_then(|r| r.add(COMMON_ID, common))
        .and_then(|r| r.add(CATALOG_ALIAS, catalog.clone()))
        .and_then(|r| r.prepare())
        .map_err(|e| format!("registry: {e}"))?;
    let options = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(&registry)
        .should_validate_formats(true)
        .offline();
    let compile = |schema: &Value| options.build(schema).map_err(|e| format!("{schema}: {e}"));
    let def = |name: &str| compile(&json!({"$ref": format!("{S2C_ID}#/$defs/{name}")}));
    let envelopes = [
        def("CreateSurfaceMessage")?,
        compile(&relaxed)?,
        def("UpdateDataModelMessage")?,
        def("DeleteSurfaceMessage")?,
    ];
    let specs = refs::derive(&catalog);
    let mut components = BTreeMap::new();
    for name in catalog.get("components").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
        let validator = compile(&json!({"$ref": format!("{CATALOG_ALIAS}#/components/{name}")}))?;
        let refs = specs.get(name).cloned().unwrap_or_default();
        components.insert(name.clone(), ComponentType { validator, refs });
    }
    let function_names = catalog
        .get("functions")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Schemas {
        message: compile(&json!({"$ref": S2C_ID}))?,
        envelopes,
        components,
        client: compile(&client)?,
        function_names,
    })
}

/// `$defs/UpdateComponentsMessage` with `components.items` relaxed to `true` (each component is
/// validated against its own type) and a string `catalogId` tolerated. It has no `$ref` left.
fn relaxed_update_components(s2c: &Value) -> Result<Value, String> {
    let mut def =
        s2c.pointer("/$defs/UpdateComponentsMessage").cloned().ok_or("no UpdateComponentsMessage")?;
    let props = def.pointer_mut("/properties/updateComponents/properties").and_then(Value::as_object_mut);
    let props = props.ok_or("no updateComponents properties")?;
    props.insert("catalogId".into(), json!({"type": "string"}));
    let items = props.get_mut("components").and_then(Value::as_object_mut).ok_or("no components")?;
    items.insert("items".into(), json!(true));
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles() {
        let s = schemas().expect("schemas compile");
        assert_eq!(s.components.len(), 18);
        assert_eq!(s.function_names.len(), 14);
    }

    #[test]
    fn the_relaxed_envelope_has_no_reference_left() {
        let s2c: Value = serde_json::from_str(SERVER_TO_CLIENT).unwrap();
        let relaxed = relaxed_update_components(&s2c).unwrap();
        assert!(!relaxed.to_string().contains("$ref"));
    }
}
