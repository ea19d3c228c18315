//! A2UI v0.9 for Hark: validation of server-to-client messages and the surface store they build.
//!
//! Agents put UI on the person's screen by sending [A2UI v0.9](https://a2ui.org) messages to the
//! daemon (`a2ui.apply`, `a2ui.ingest`, PROTOCOL §12). Each message is one envelope
//! `{"version": "v0.9", <kind>: {...}}` whose kind is exactly one of `createSurface`,
//! `updateComponents`, `updateDataModel` or `deleteSurface`. This crate decides whether a message
//! is acceptable and, if it is, what the surface looks like afterwards. It is pure: no sockets, no
//! tokio, no file I/O, no clock (the caller passes `now_ms`). The daemon's core owns transport,
//! routing, events and route auth.
//!
//! ```
//! use hark_a2ui::{BASIC_CATALOG_ID, Limits, Store};
//! use serde_json::json;
//!
//! let mut store = Store::new(Limits::default());
//! let surface = json!({"surfaceId": "s", "catalogId": BASIC_CATALOG_ID});
//! let create = json!({"version": "v0.9", "createSurface": surface});
//! store.apply(&create, "agent-1", 1_000)?;
//! let root = json!({"id": "root", "component": "Column", "children": ["hello"]});
//! let update = json!({"version": "v0.9", "updateComponents": {"surfaceId": "s", "components": [root]}});
//! let view = store.apply(&update, "agent-1", 1_001)?.surface.unwrap();
//! assert_eq!((&view["pending"], &view["complete"]), (&json!(["hello"]), &json!(false)));
//!
//! let bad = json!({"version": "v0.9", "updateComponents": {"surfaceId": "s",
//!     "components": [{"id": "hello", "component": "Text"}]}});
//! let refused = store.apply(&bad, "agent-1", 1_002).unwrap_err();
//! assert_eq!(refused.to_string(), "/updateComponents/components/0/text: \
//!     a Text component is missing required property 'text' (required_property)");
//! assert!(store.apply(&update, "agent-2", 1_003).is_err(), "only the owner may update");
//! # Ok::<(), hark_a2ui::ApplyError>(())
//! ```
//!
//! # What is checked, in order ([`validate`], then [`Store::apply`])
//!
//! Stateless, on the message alone ([`validate`]):
//! 1. nesting: no value deeper than [`Limits::max_nesting`] levels (rule `max_nesting`). This runs
//!    first and is iterative, so a value nested 10,000 levels deep built in code is refused without
//!    recursion (the schema validator and the serializer recurse over the instance, so nothing
//!    else touches the message before this);
//! 2. kind: exactly one of the four message keys (rule `schema` at path `""` otherwise);
//! 3. size: at most [`Limits::max_components`] components in an `updateComponents` (counted
//!    first: the more telling error for a message that is also too big), and at most
//!    [`Limits::max_message_bytes`] of compact JSON;
//! 4. the v0.9 message schema (`server_to_client.json`) for that kind, with the spec's own
//!    documents embedded (never fetched); for `updateComponents`, each component is validated
//!    against the basic catalog's definition of its `component` type, so an error points into that
//!    component (`unknown_component`, `required_property`, `unknown_property`, `schema`);
//! 5. per `updateComponents`: each component at most [`Limits::max_component_bytes`], unique
//!    ids (`duplicate_id`), function calls nested at most [`Limits::max_call_nesting`] deep
//!    (`call_nesting`);
//! 6. per `updateDataModel`: a JSON Pointer path (`bad_path`), a whole-model value that is an
//!    object, a value of at most [`Limits::max_data_model_bytes`];
//! 7. per `createSurface`: the basic catalog (`unknown_catalog` otherwise).
//!
//! One deliberate leniency: the schema's `UpdateComponentsMessage` forbids extra properties, yet
//! its description says the surface "MUST have been previously sent with the 'catalogId' that is
//! in this message". A string `catalogId` in `updateComponents` is therefore tolerated, and the
//! store refuses it when it is not the surface's catalog (`catalog_mismatch`). Everything else the
//! whole-message schema refuses, [`validate`] refuses ([`schema_accepts`] gives the plain verdict).
//!
//! Against the store ([`Store::apply`]), on the surface as it would be after the update: the
//! surface exists (`NotFound`) and belongs to the caller (`Forbidden`), `createSurface` of an
//! existing id is a `Conflict` (`surface_exists`), at most [`Limits::max_surfaces`] surfaces,
//! components and data-model size after the merge, and the component graph has no cycle (`cycle`)
//! and no chain deeper than [`Limits::max_depth`] (`max_depth`). Nothing changes unless every
//! check passes.
//!
//! A refusal ([`Refusal`]) names a JSON Pointer into the envelope (for wrapped params, into the
//! envelope, not the wrapper), a short machine rule and a plain-English message.
//!
//! # Progressive rendering
//!
//! A child reference to a component that is not defined yet is allowed: the surface view lists
//! such ids in `pending` and says `complete: false` until `root` is defined and nothing is pending.
//!
//! # Data model
//!
//! `updateDataModel` follows the schema's description ("If omitted, or set to '/', refers to the
//! entire data model"; "If present, the value at 'path' is replaced (or created). If omitted, the
//! key at 'path' is removed.") and the A2UI reference renderer's `DataModel.set` (web_core v0.9):
//! - path `""` or `"/"`: the value replaces the whole model (it must be an object); no value
//!   clears the model to `{}`;
//! - otherwise the path is a JSON Pointer (`/a/b/0`, `~1` for `/` and `~0` for `~` in a key; one
//!   trailing `/` is ignored, as the reference renderer does). Missing or `null` intermediate
//!   containers are created: an array when the next segment is an index (all digits), else an
//!   object. Setting into an array takes an index up to its length (the length appends). A
//!   non-index segment on an array, an index past the end, or a scalar in the middle of the path
//!   is refused (`bad_path`) rather than overwritten;
//! - removal deletes an object key, or sets an array element to `null` (the array keeps its
//!   length, as in the reference renderer); removing what does not exist changes nothing.
//!
//! # Surface view
//!
//! [`Store::get`] and [`Store::list`] give, per surface: `surfaceId`, `catalogId`, `theme` (when
//! the surface has one), `sendDataModel`, `components` (first-defined order; a component sent
//! again with the same id replaces the old one in place), `dataModel`, `pending` (ids referenced
//! but not defined, sorted), `complete` (`root` defined and nothing pending), `createdAt`,
//! `updatedAt` (ms, from the caller's `now_ms`) and `revision` (1 after `createSurface`, +1 per
//! applied change). The owner key is never in a view.
//!
//! # Layout
//!
//! - [`validate`], [`validate_client_message`], [`schema_accepts`]: stateless checks;
//! - [`Store`]: the surfaces, their owners and timestamps, [`Store::replay`] for late joiners;
//! - [`messages_of_a2a`]: the A2UI messages inside an A2A payload (`a2ui.ingest`; its docs list
//!   exactly which shapes are read);
//! - [`capabilities`]: what `a2ui.capabilities` answers;
//! - [`graph`]: the iterative cycle and depth check, usable on its own.
//!
//! The embedded schemas are the A2UI specification's own (`spec/`, Apache-2.0, see `spec/NOTICE`).

mod a2a;
mod data_model;
pub mod graph;
mod refs;
mod schemas;
mod store;
mod validate;
mod walk;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Value, json};

pub use a2a::{A2UI_MIME_TYPE, messages_of_a2a};
pub use store::{Applied, IngestFailure, Ingested, Store};
pub use validate::{schema_accepts, validate, validate_client_message};

/// The A2UI protocol version this crate speaks.
pub const VERSION: &str = "v0.9";

/// The id of the A2UI v0.9 basic catalog, the only catalog this crate validates against.
pub const BASIC_CATALOG_ID: &str = "https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json";

/// The limits the checks enforce. [`Limits::default`] gives Hark's numbers (PROTOCOL §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Surfaces held at once (all owners together). Default 32.
    pub max_surfaces: usize,
    /// Components per surface, and per `updateComponents` message. Default 256.
    pub max_components: usize,
    /// Bytes of one component's compact JSON. Default 16 KiB.
    pub max_component_bytes: usize,
    /// Bytes of a surface's whole data model (compact JSON) after an update. Default 256 KiB.
    pub max_data_model_bytes: usize,
    /// Bytes of one message's compact JSON. Default 512 KiB.
    pub max_message_bytes: usize,
    /// Longest chain of child references, counted in components (`root` is depth 1). Default 50.
    pub max_depth: usize,
    /// Function calls nested inside other calls, counted in calls (a call that is not inside any
    /// other call is at level 1). Default 5.
    pub max_call_nesting: usize,
    /// JSON nesting of a message (the envelope object is level 1), checked before anything else
    /// so that no later step recurses deeply. It also bounds the data model: the path's segments
    /// plus the value's nesting must fit, so [`Store::replay`]'s whole-model message fits too.
    /// Default 64.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_surfaces: 32,
            max_components: 256,
            max_component_bytes: 16 * 1024,
            max_data_model_bytes: 256 * 1024,
            max_message_bytes: 512 * 1024,
            max_depth: 50,
            max_call_nesting: 5,
            max_nesting: 64,
        }
    }
}

/// Why a message (or payload) was refused: where, which rule, and why in plain English.
///
/// `path` is a JSON Pointer (RFC 6901) into the message as given, e.g.
/// `/updateComponents/components/3/children/0`; `""` is the whole message. It may point at a
/// property that is missing (`.../text` for a Text without `text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// JSON Pointer into the message.
    pub path: String,
    /// Short machine word: `schema`, `unknown_component`, `required_property`, `duplicate_id`,
    /// `cycle`, `max_depth`, ... (see the crate docs).
    pub rule: &'static str,
    /// Plain-English explanation, safe to show to the agent and the person.
    pub message: String,
}

impl Refusal {
    /// A refusal at `path` for `rule`.
    pub fn new(path: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self { path: path.into(), rule, message: message.into() }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.message, self.rule)
    }
}

impl std::error::Error for Refusal {}

/// Why [`Store::apply`] changed nothing. Every message is safe to show; none names an owner key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The message breaks a rule of the schema, the catalog or Hark (see [`Refusal::rule`]).
    #[error("{0}")]
    Invalid(Refusal),
    /// The surface belongs to another owner.
    #[error("surface '{surface_id}' belongs to another owner; only its owner may change or delete it")]
    Forbidden {
        /// The surface the message names.
        surface_id: String,
    },
    /// No surface has this id.
    #[error("no surface '{surface_id}'")]
    NotFound {
        /// The surface the message names.
        surface_id: String,
    },
    /// `createSurface` for an id that exists (rule `surface_exists`).
    #[error("{0}")]
    Conflict(Refusal),
    /// A store-wide or per-surface limit would be crossed (`max_surfaces`, `max_components`,
    /// `max_data_model_bytes`).
    #[error("{0}")]
    Limit(Refusal),
}

impl ApplyError {
    /// The machine rule: the refusal's, or `forbidden` / `not_found`.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Invalid(r) | Self::Conflict(r) | Self::Limit(r) => r.rule,
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
        }
    }

    /// The error as a [`Refusal`]; `Forbidden` and `NotFound` point at the message's `surfaceId`.
    pub fn to_refusal(&self, message: &Value) -> Refusal {
        match self {
            Self::Invalid(r) | Self::Conflict(r) | Self::Limit(r) => r.clone(),
            Self::Forbidden { .. } | Self::NotFound { .. } => {
                let path = Kind::of(message).map(|k| format!("/{}/surfaceId", k.key())).unwrap_or_default();
                Refusal::new(path, self.rule(), self.to_string())
            }
        }
    }
}

/// The four kinds of server-to-client message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `createSurface`.
    CreateSurface,
    /// `updateComponents`.
    UpdateComponents,
    /// `updateDataModel`.
    UpdateDataModel,
    /// `deleteSurface`.
    DeleteSurface,
}

impl Kind {
    /// All kinds, in the schema's order.
    pub const ALL: [Kind; 4] =
        [Kind::CreateSurface, Kind::UpdateComponents, Kind::UpdateDataModel, Kind::DeleteSurface];

    /// The message key: `createSurface`, `updateComponents`, `updateDataModel`, `deleteSurface`.
    pub fn key(self) -> &'static str {
        match self {
            Kind::CreateSurface => "createSurface",
            Kind::UpdateComponents => "updateComponents",
            Kind::UpdateDataModel => "updateDataModel",
            Kind::DeleteSurface => "deleteSurface",
        }
    }

    /// The kind of `message` when exactly one of the four keys is present, else `None`.
    pub fn of(message: &Value) -> Option<Kind> {
        let obj = message.as_object()?;
        let mut present = Kind::ALL.into_iter().filter(|k| obj.contains_key(k.key()));
        let kind = present.next()?;
        present.next().is_none().then_some(kind)
    }
}

/// The envelope inside `a2ui.apply` params: `{"envelope": E, ...}` or `{"message": E, ...}` give
/// `E` (other top-level keys, such as `routeAuth`, are ignored); otherwise the params are the raw
/// envelope, from which a top-level `routeAuth` key is removed (everything else is kept and
/// validated). Paths in later refusals are relative to the envelope.
///
/// The raw form with `routeAuth` is copied without that key, after the params pass the nesting
/// check, so the copy cannot recurse deeply.
pub fn envelope_of_params<'a>(params: &'a Value, limits: &Limits) -> Result<Cow<'a, Value>, Refusal> {
    let Some(obj) = params.as_object() else {
        return Err(Refusal::new("", "schema", "params must be a JSON object holding one A2UI envelope"));
    };
    if let Some(inner) = obj.get("envelope").or_else(|| obj.get("message")) {
        return Ok(Cow::Borrowed(inner));
    }
    if !obj.contains_key("routeAuth") {
        return Ok(Cow::Borrowed(params));
    }
    walk::check_nesting(params, limits.max_nesting)?;
    let kept = obj.iter().filter(|(k, _)| k.as_str() != "routeAuth").map(|(k, v)| (k.clone(), v.clone()));
    Ok(Cow::Owned(Value::Object(kept.collect())))
}

/// What `a2ui.capabilities` answers: the version, the basic catalog, its component and function
/// names (sorted) and the limits.
pub fn capabilities(limits: &Limits) -> Value {
    let (components, functions) = match schemas::schemas() {
        Ok(s) => (s.component_names(), s.function_names.clone()),
        Err(_) => (Vec::new(), Vec::new()),
    };
    json!({
        "version": VERSION,
        "catalogs": [BASIC_CATALOG_ID],
        "components": components,
        "functions": functions,
        "limits": {
            "maxSurfaces": limits.max_surfaces,
            "maxComponentsPerSurface": limits.max_components,
            "maxComponentBytes": limits.max_component_bytes,
            "maxDataModelBytes": limits.max_data_model_bytes,
            "maxMessageBytes": limits.max_message_bytes,
            "maxDepth": limits.max_depth,
            "maxCallNesting": limits.max_call_nesting,
            "maxNesting": limits.max_nesting,
        },
    })
}
