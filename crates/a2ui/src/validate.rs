//! The stateless checks of one message: nesting, size, kind, schema, catalog, ids, calls.
//!
//! The order matters: the iterative nesting check runs before anything that recurses over the
//! message (the size measurement serializes it, the schema validator walks it), and cheap checks
//! run before expensive ones (a 600 KiB message is refused by its size, not validated).

use std::collections::HashMap;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::schemas::{self, ComponentType, Schemas};
use crate::{BASIC_CATALOG_ID, Kind, Limits, Refusal, data_model, walk};

/// Checks `message` on its own: everything that does not depend on the store (see the crate
/// docs for the list and order). Returns the message's kind.
///
/// `message` is the bare envelope; use [`crate::envelope_of_params`] for `a2ui.apply` params.
pub fn validate(message: &Value, limits: &Limits) -> Result<Kind, Refusal> {
    checked(message, limits).map(|c| c.kind)
}

/// What [`checked`] learned about a valid message.
pub(crate) struct Checked {
    pub kind: Kind,
    /// The size of its compact JSON.
    pub bytes: usize,
}

/// [`validate`], also giving the message's size.
pub(crate) fn checked(message: &Value, limits: &Limits) -> Result<Checked, Refusal> {
    walk::check_nesting(message, limits.max_nesting)?;
    let kind = kind_of(message)?;
    check_component_count(message, limits.max_components)?;
    let bytes = check_size(message, limits.max_message_bytes)?;
    let schemas = schemas::schemas()?;
    check_schema(schemas.envelope(kind), message, || (String::new(), kind.key().to_string()))?;
    match kind {
        Kind::CreateSurface => check_catalog(message),
        Kind::UpdateComponents => check_components(schemas, message, limits, bytes),
        Kind::UpdateDataModel => check_data_model(message, limits, bytes),
        Kind::DeleteSurface => Ok(()),
    }?;
    Ok(Checked { kind, bytes })
}

/// Whether the whole-message schema (`server_to_client.json` with its top-level `oneOf`, against
/// the basic catalog) accepts `message`: the plain schema verdict, without Hark's own rules and
/// without precise errors. [`validate`] refuses everything this refuses, with one deliberate
/// exception: it tolerates a string `catalogId` in `updateComponents` (see the crate docs); the
/// spec's test cases and examples check that the two agree. Messages nested deeper than the
/// default [`Limits::max_nesting`] are refused without being validated.
pub fn schema_accepts(message: &Value) -> bool {
    let Ok(schemas) = schemas::schemas() else { return false };
    walk::check_nesting(message, Limits::default().max_nesting).is_ok() && schemas.message.is_valid(message)
}

/// Checks a client-to-server message (the renderer's `action` or `error`) against
/// `client_to_server.json`, after the default nesting and size limits.
pub fn validate_client_message(message: &Value) -> Result<(), Refusal> {
    let limits = Limits::default();
    walk::check_nesting(message, limits.max_nesting)?;
    check_size(message, limits.max_message_bytes)?;
    check_schema(&schemas::schemas()?.client, message, || (String::new(), "client message".to_string()))
}

fn check_size(message: &Value, limit: usize) -> Result<usize, Refusal> {
    match walk::compact_len_within(message, limit) {
        Some(bytes) => Ok(bytes),
        None => Err(Refusal::new(
            "",
            "max_message_bytes",
            format!("the message is over {limit} bytes of compact JSON"),
        )),
    }
}

fn kind_of(message: &Value) -> Result<Kind, Refusal> {
    let Some(obj) = message.as_object() else {
        return Err(Refusal::new("", "schema", "an A2UI message must be a JSON object"));
    };
    let present: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).filter(|k| obj.contains_key(*k)).collect();
    match present.as_slice() {
        [_] => Kind::of(message).ok_or_else(|| Refusal::new("", "internal", "kind lookup failed")),
        [] => Err(Refusal::new(
            "",
            "schema",
            "the message has none of createSurface, updateComponents, updateDataModel, deleteSurface",
        )),
        many => Err(Refusal::new(
            "",
            "schema",
            format!("the message has {}; exactly one is allowed", many.join(" and ")),
        )),
    }
}

/// Validates `instance` and turns the most telling error into a refusal. `place` gives, only
/// when needed, the instance's path in the message and what to call it in the message.
fn check_schema(
    validator: &Validator,
    instance: &Value,
    place: impl FnOnce() -> (String, String),
) -> Result<(), Refusal> {
    if validator.is_valid(instance) {
        return Ok(());
    }
    let (prefix, what) = place();
    let best = validator.iter_errors(instance).min_by_key(priority);
    Err(match best {
        Some(e) => refusal_of(&e, &prefix, &what),
        None => Refusal::new(prefix, "schema", format!("the {what} does not match the A2UI v0.9 schema")),
    })
}

/// Lower is more telling. `unevaluatedProperties` comes last: when a subschema fails, the
/// properties it covered count as unevaluated, so that error is usually a symptom.
fn priority(e: &ValidationError<'_>) -> u8 {
    match e.kind() {
        ValidationErrorKind::Required { .. } => 0,
        ValidationErrorKind::AdditionalProperties { .. } => 1,
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. }
        | ValidationErrorKind::AnyOf { .. }
        | ValidationErrorKind::Not { .. }
        | ValidationErrorKind::FalseSchema => 3,
        ValidationErrorKind::UnevaluatedProperties { .. } => 4,
        _ => 2,
    }
}

/// The combinator's branch errors, when `e` is a failed `oneOf` / `anyOf`.
fn branches<'e>(e: &'e ValidationError<'_>) -> Option<&'e [Vec<ValidationError<'static>>]> {
    match e.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            Some(context)
        }
        _ => None,
    }
}

fn depth_of(e: &ValidationError<'_>) -> usize {
    e.instance_path().as_str().matches('/').count()
}

/// A failed `oneOf` says little ("not valid under any of the schemas"). When one of its branches
/// failed deeper inside the value (the branch that got furthest), that error is the telling one:
/// follow it down, a bounded number of levels.
fn most_specific<'e, 'i>(mut e: &'e ValidationError<'i>) -> &'e ValidationError<'i> {
    for _ in 0..16 {
        let Some(context) = branches(e) else { break };
        let deepest = context
            .iter()
            .flatten()
            .min_by(|a, b| depth_of(b).cmp(&depth_of(a)).then(priority(a).cmp(&priority(b))));
        match deepest {
            Some(d) if depth_of(d) > depth_of(e) => e = d,
            _ => break,
        }
    }
    e
}

/// "matches none of the allowed forms", with what each form wanted (deduplicated, at most 3).
fn none_of(context: &[Vec<ValidationError<'static>>]) -> String {
    let mut wanted: Vec<String> = Vec::new();
    for e in context.iter().filter_map(|branch| branch.iter().min_by_key(|e| priority(e))) {
        let m = e.masked().to_string();
        if !wanted.contains(&m) {
            wanted.push(m);
        }
    }
    wanted.truncate(3);
    format!("value matches none of the {} allowed forms ({})", context.len(), wanted.join("; "))
}

fn refusal_of(e: &ValidationError<'_>, prefix: &str, what: &str) -> Refusal {
    let e = most_specific(e);
    let at = format!("{prefix}{}", e.instance_path().as_str());
    match e.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_string);
            Refusal::new(
                walk::join(&at, &name),
                "required_property",
                format!("{what} is missing required property '{name}'"),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let name = unexpected.first().cloned().unwrap_or_default();
            let others = if unexpected.len() > 1 {
                format!(" (nor {})", unexpected[1..].join(", "))
            } else {
                String::new()
            };
            Refusal::new(
                walk::join(&at, &name),
                "unknown_property",
                format!("{what} does not allow property '{name}'{others}"),
            )
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            Refusal::new(at, "schema", format!("{what}: {}", none_of(context)))
        }
        _ => Refusal::new(at, "schema", format!("{what}: {}", e.masked())),
    }
}

fn check_catalog(message: &Value) -> Result<(), Refusal> {
    let catalog = message.pointer("/createSurface/catalogId").and_then(Value::as_str).unwrap_or_default();
    if catalog == BASIC_CATALOG_ID {
        return Ok(());
    }
    Err(Refusal::new(
        "/createSurface/catalogId",
        "unknown_catalog",
        format!("catalog '{catalog}' is not supported; use the basic catalog {BASIC_CATALOG_ID}"),
    ))
}

const COMPONENTS_AT: &str = "/updateComponents/components";

/// More components than a surface may hold is refused before the message is measured: it is the
/// more telling error for a message that is also too big.
fn check_component_count(message: &Value, limit: usize) -> Result<(), Refusal> {
    let count = message.pointer(COMPONENTS_AT).and_then(Value::as_array).map_or(0, Vec::len);
    if count <= limit {
        return Ok(());
    }
    let m = format!("{count} components in one message; a surface holds at most {limit}");
    Err(Refusal::new(COMPONENTS_AT, "max_components", m))
}

/// The path of component `i` of an `updateComponents` message.
pub(crate) fn component_at(i: usize) -> String {
    format!("{COMPONENTS_AT}/{i}")
}

/// `bytes` is the whole message's size: when it is within the per-component limit, no component
/// needs measuring.
fn check_components(
    schemas: &Schemas,
    message: &Value,
    limits: &Limits,
    bytes: usize,
) -> Result<(), Refusal> {
    let components = message.pointer(COMPONENTS_AT).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let measure = bytes > limits.max_component_bytes;
    let mut first_at: HashMap<&str, usize> = HashMap::with_capacity(components.len());
    for (i, component) in components.iter().enumerate() {
        check_component(schemas, component, i, limits, measure)?;
        let id = component.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Some(first) = first_at.insert(id, i) {
            return Err(Refusal::new(
                walk::join(&component_at(i), "id"),
                "duplicate_id",
                format!("component id '{id}' is already defined in this message at {}", component_at(first)),
            ));
        }
    }
    Ok(())
}

/// The type in the catalog of component `i`, or why it has none.
pub(crate) fn component_type<'s>(
    schemas: &'s Schemas,
    component: &Value,
    i: usize,
) -> Result<&'s ComponentType, Refusal> {
    let Some(obj) = component.as_object() else {
        return Err(Refusal::new(component_at(i), "schema", "a component must be a JSON object"));
    };
    let at = || walk::join(&component_at(i), "component");
    let name = match obj.get("component") {
        None => {
            return Err(Refusal::new(
                at(),
                "required_property",
                "a component is missing required property 'component'",
            ));
        }
        Some(Value::String(name)) => name,
        Some(_) => {
            return Err(Refusal::new(
                at(),
                "unknown_component",
                "'component' must be the name of a catalog component",
            ));
        }
    };
    schemas.components.get(name.as_str()).ok_or_else(|| {
        let known = schemas.component_names().join(", ");
        Refusal::new(
            at(),
            "unknown_component",
            format!("unknown component type '{name}'; the basic catalog has {known}"),
        )
    })
}

fn check_component(
    schemas: &Schemas,
    component: &Value,
    i: usize,
    limits: &Limits,
    measure: bool,
) -> Result<(), Refusal> {
    let ty = component_type(schemas, component, i)?;
    if measure && walk::compact_len_within(component, limits.max_component_bytes).is_none() {
        return Err(Refusal::new(
            component_at(i),
            "max_component_bytes",
            format!("the component is over {} bytes of compact JSON", limits.max_component_bytes),
        ));
    }
    let name = component.get("component").and_then(Value::as_str).unwrap_or_default();
    check_schema(&ty.validator, component, || (component_at(i), format!("a {name} component")))?;
    check_calls(component, i, limits.max_call_nesting)
}

/// Refuses a function call (`{"call": "<name>", ...}`) nested inside more than `limit - 1` others.
fn check_calls(component: &Value, i: usize, limit: usize) -> Result<(), Refusal> {
    let is_call = |v: &Value| v.get("call").is_some_and(Value::is_string);
    walk::walk(component, 0usize, |v, _, calls| {
        let calls = calls + usize::from(is_call(v));
        if calls > limit { Err(calls) } else { Ok(calls) }
    })
    .map_err(|(path, calls)| {
        Refusal::new(
            format!("{}{path}", component_at(i)),
            "call_nesting",
            format!("function calls are nested {calls} deep here; at most {limit} are allowed"),
        )
    })
}

/// `bytes` is the whole message's size: when it is within the data-model limit, so is the value.
fn check_data_model(message: &Value, limits: &Limits, bytes: usize) -> Result<(), Refusal> {
    const AT: &str = "/updateDataModel";
    let path = message.pointer("/updateDataModel/path").and_then(Value::as_str).unwrap_or("/");
    let segments =
        data_model::parse_path(path).map_err(|m| Refusal::new(format!("{AT}/path"), "bad_path", m))?;
    let Some(value) = message.pointer("/updateDataModel/value") else { return Ok(()) };
    if segments.is_empty() && !value.is_object() {
        return Err(Refusal::new(
            format!("{AT}/value"),
            "schema",
            "the whole data model (path \"/\") must be a JSON object",
        ));
    }
    let depth = segments.len() + walk::depth(value);
    let room = limits.max_nesting.saturating_sub(2);
    if depth > room {
        return Err(Refusal::new(
            format!("{AT}/path"),
            "max_nesting",
            format!(
                "the path and value would nest the data model {depth} levels deep; at most {room} are allowed"
            ),
        ));
    }
    if bytes > limits.max_data_model_bytes
        && walk::compact_len_within(value, limits.max_data_model_bytes).is_none()
    {
        return Err(Refusal::new(
            format!("{AT}/value"),
            "max_data_model_bytes",
            format!(
                "the value is over {} bytes, the limit of a whole data model",
                limits.max_data_model_bytes
            ),
        ));
    }
    Ok(())
}
