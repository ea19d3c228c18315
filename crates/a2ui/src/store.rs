//! The surfaces: what the accepted messages built, who owns each, and when it last changed.
//!
//! [`Store::apply`] validates a message ([`crate::validate`]), checks it against the surface it
//! names as that surface would be after the change (owner, limits, component graph), and only then
//! commits; every error leaves the store exactly as it was. Ownership is an opaque key chosen by
//! the caller (the daemon's core: a connection, or an A2A owner); it never appears in a view.
//!
//! Semantics, from the v0.9 schema's descriptions:
//! - `createSurface` makes an empty surface (no components, data model `{}`); an existing id is a
//!   conflict ("It is an error to send 'createSurface' for a surfaceId that already exists
//!   without first deleting it");
//! - `updateComponents` upserts by id: a component with a known id replaces the old one whole (in
//!   its old place), a new id is appended; so `components` in a view are in first-defined order.
//!   A message may carry `catalogId`: it must then be the surface's (`catalog_mismatch`);
//! - `updateDataModel` sets or removes the value at `path` (see "Data model" in the crate docs;
//!   `""` or `"/"` is the whole model);
//! - `deleteSurface` removes the surface.
//!
//! Each change bumps the surface's `revision` (1 after `createSurface`) and sets `updatedAt`.
//! [`Store::touch`] marks activity (a user action) without changing the surface; [`Store::reap`]
//! removes surfaces with neither change nor activity for longer than the idle time.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::graph::{self, GraphFault};
use crate::refs::{self, Ref, RefSpec};
use crate::schemas::{self, Schemas};
use crate::validate::{Checked, checked, component_at, component_type};
use crate::{
    ApplyError, BASIC_CATALOG_ID, Kind, Limits, Refusal, VERSION, data_model, messages_of_a2a, walk,
};

/// What an applied message did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The surface the message named.
    pub surface_id: String,
    /// Whether the message deleted the surface.
    pub deleted: bool,
    /// The surface's view after the change; `None` when it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surface: Option<Value>,
}

/// One message of an `a2ui.ingest` payload that was refused. Serializes as
/// `{surfaceId, path, message, rule, index}` (`surfaceId` is `null` when the message names none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestFailure {
    /// Position of the message in the list [`messages_of_a2a`] extracted.
    pub index: usize,
    /// The surface the message names, when it names one.
    pub surface_id: Option<String>,
    /// JSON Pointer into that message.
    pub path: String,
    /// The rule it broke (`forbidden` and `not_found` included).
    pub rule: &'static str,
    /// Plain-English explanation.
    pub message: String,
}

/// The outcome of [`Store::ingest`]: what was applied, and what was refused, each in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Ingested {
    /// Results of the messages that applied.
    pub applied: Vec<Applied>,
    /// The messages that did not, with why.
    pub errors: Vec<IngestFailure>,
}

/// One surface.
#[derive(Clone)]
struct Surface {
    catalog_id: String,
    theme: Option<Value>,
    send_data_model: bool,
    /// Component ids, components and the ids each refers to, in first-defined order.
    ids: Vec<String>,
    components: Vec<Value>,
    targets: Vec<Vec<String>>,
    pending: Vec<String>,
    data_model: Value,
    /// At least the size of `data_model`'s compact JSON: exact after each measurement, grown by
    /// each update's upper bound in between, so that most updates need no measuring.
    model_bytes_bound: usize,
    owner: String,
    created_at: u64,
    updated_at: u64,
    active_at: u64,
    revision: u64,
}

impl Surface {
    fn changed(&mut self, now_ms: u64) {
        self.revision += 1;
        self.updated_at = now_ms;
        self.active_at = self.active_at.max(now_ms);
    }

    fn is_complete(&self) -> bool {
        self.pending.is_empty() && self.ids.iter().any(|id| id == "root")
    }

    fn view(&self, surface_id: &str) -> Value {
        let mut view = Map::new();
        view.insert("surfaceId".into(), json!(surface_id));
        view.insert("catalogId".into(), json!(self.catalog_id));
        if let Some(theme) = &self.theme {
            view.insert("theme".into(), theme.clone());
        }
        view.insert("sendDataModel".into(), json!(self.send_data_model));
        view.insert("components".into(), Value::Array(self.components.clone()));
        view.insert("dataModel".into(), self.data_model.clone());
        view.insert("pending".into(), json!(self.pending));
        view.insert("complete".into(), json!(self.is_complete()));
        view.insert("createdAt".into(), json!(self.created_at));
        view.insert("updatedAt".into(), json!(self.updated_at));
        view.insert("revision".into(), json!(self.revision));
        Value::Object(view)
    }
}

/// Every surface, keyed by id. See the module docs.
#[derive(Clone, Default)]
pub struct Store {
    limits: Limits,
    surfaces: HashMap<String, Surface>,
}

/// Counts only: a store's debug output must not carry owner keys (or surface content) into logs.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("surfaces", &self.surfaces.len()).field("limits", &self.limits).finish()
    }
}

impl Store {
    /// An empty store enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { limits, surfaces: HashMap::new() }
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Applies one envelope for `owner` at `now_ms`: validate, check against the store, commit.
    /// On any error nothing changes.
    pub fn apply(&mut self, message: &Value, owner: &str, now_ms: u64) -> Result<Applied, ApplyError> {
        let Checked { kind, bytes } = checked(message, &self.limits).map_err(ApplyError::Invalid)?;
        let body = message.get(kind.key()).unwrap_or(&Value::Null);
        let surface_id = body.get("surfaceId").and_then(Value::as_str).unwrap_or_default().to_string();
        match kind {
            Kind::CreateSurface => self.create(&surface_id, body, owner, now_ms)?,
            Kind::UpdateComponents => {
                let surface = owned(&mut self.surfaces, &surface_id, owner)?;
                update_components(surface, body, &self.limits)?;
                surface.changed(now_ms);
            }
            Kind::UpdateDataModel => {
                let surface = owned(&mut self.surfaces, &surface_id, owner)?;
                update_data_model(surface, body, bytes, &self.limits)?;
                surface.changed(now_ms);
            }
            Kind::DeleteSurface => {
                owned(&mut self.surfaces, &surface_id, owner)?;
                self.surfaces.remove(&surface_id);
                return Ok(Applied { surface_id, deleted: true, surface: None });
            }
        }
        let surface = self.get(&surface_id);
        Ok(Applied { surface_id, deleted: false, surface })
    }

    /// [`Store::apply`] on `a2ui.apply` params (raw envelope, `{envelope}` or `{message}`; see
    /// [`crate::envelope_of_params`]).
    pub fn apply_params(&mut self, params: &Value, owner: &str, now_ms: u64) -> Result<Applied, ApplyError> {
        let envelope = crate::envelope_of_params(params, &self.limits).map_err(ApplyError::Invalid)?;
        self.apply(&envelope, owner, now_ms)
    }

    /// Applies every A2UI message in an A2A payload ([`messages_of_a2a`]) in order, for `owner`,
    /// going on past a refused one. Only a payload of no recognized shape is an error.
    pub fn ingest(&mut self, payload: &Value, owner: &str, now_ms: u64) -> Result<Ingested, Refusal> {
        let mut out = Ingested::default();
        for (index, message) in messages_of_a2a(payload)?.into_iter().enumerate() {
            match self.apply(message, owner, now_ms) {
                Ok(applied) => out.applied.push(applied),
                Err(e) => {
                    let r = e.to_refusal(message);
                    let surface_id = named_surface(message);
                    out.errors.push(IngestFailure {
                        index,
                        surface_id,
                        path: r.path,
                        rule: r.rule,
                        message: r.message,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The view of one surface (see the crate docs for its fields), or `None`.
    pub fn get(&self, surface_id: &str) -> Option<Value> {
        self.surfaces.get(surface_id).map(|s| s.view(surface_id))
    }

    /// Every surface's view, by `createdAt` then id.
    pub fn list(&self) -> Vec<Value> {
        self.sorted().into_iter().map(|(id, s)| s.view(id)).collect()
    }

    /// The owner key of a surface.
    pub fn owner(&self, surface_id: &str) -> Option<&str> {
        self.surfaces.get(surface_id).map(|s| s.owner.as_str())
    }

    /// Removes every surface with no change and no [`Store::touch`] for more than `idle_ms` before
    /// `now_ms`; returns their ids, sorted.
    pub fn reap(&mut self, now_ms: u64, idle_ms: u64) -> Vec<String> {
        let mut idle: Vec<String> = self
            .surfaces
            .iter()
            .filter(|(_, s)| now_ms.saturating_sub(s.active_at) > idle_ms)
            .map(|(id, _)| id.clone())
            .collect();
        idle.sort();
        for id in &idle {
            self.surfaces.remove(id);
        }
        idle
    }

    /// Removes a surface whoever owns it (the daemon's own clean-up); whether it existed.
    pub fn remove(&mut self, surface_id: &str) -> bool {
        self.surfaces.remove(surface_id).is_some()
    }

    /// How many surfaces there are.
    pub fn len(&self) -> usize {
        self.surfaces.len()
    }

    /// Whether there is no surface.
    pub fn is_empty(&self) -> bool {
        self.surfaces.is_empty()
    }

    /// Marks activity on a surface (a user action on it) so that [`Store::reap`] keeps it; the
    /// view, `updatedAt` and `revision` do not change. Unknown ids are ignored.
    pub fn touch(&mut self, surface_id: &str, now_ms: u64) {
        if let Some(s) = self.surfaces.get_mut(surface_id) {
            s.active_at = s.active_at.max(now_ms);
        }
    }

    /// The v0.9 messages that rebuild every current surface, for a renderer that joins late
    /// (`a2ui/replay`). Surfaces in [`Store::list`] order; for each: `createSurface`, then its
    /// components in first-defined order as `updateComponents` (split into several messages when
    /// one would exceed [`Limits::max_message_bytes`]; none when it has no component), then
    /// `updateDataModel` with path `/` and the whole model. Applied to an empty store, they give
    /// the same views except `createdAt`, `updatedAt` and `revision`.
    pub fn replay(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (id, s) in self.sorted() {
            let mut create = Map::new();
            create.insert("surfaceId".into(), json!(id));
            create.insert("catalogId".into(), json!(s.catalog_id));
            if let Some(theme) = &s.theme {
                create.insert("theme".into(), theme.clone());
            }
            create.insert("sendDataModel".into(), json!(s.send_data_model));
            out.push(json!({"version": VERSION, "createSurface": create}));
            out.extend(component_batches(id, &s.components, self.limits.max_message_bytes));
            let model = json!({"surfaceId": id, "path": "/", "value": s.data_model});
            out.push(json!({"version": VERSION, "updateDataModel": model}));
        }
        out
    }

    fn sorted(&self) -> Vec<(&str, &Surface)> {
        let mut all: Vec<(&str, &Surface)> = self.surfaces.iter().map(|(id, s)| (id.as_str(), s)).collect();
        all.sort_by(|a, b| (a.1.created_at, a.0).cmp(&(b.1.created_at, b.0)));
        all
    }

    fn create(&mut self, surface_id: &str, body: &Value, owner: &str, now_ms: u64) -> Result<(), ApplyError> {
        const AT: &str = "/createSurface/surfaceId";
        if self.surfaces.contains_key(surface_id) {
            let m = format!("surface '{surface_id}' already exists; delete it before creating it again");
            return Err(ApplyError::Conflict(Refusal::new(AT, "surface_exists", m)));
        }
        if self.surfaces.len() >= self.limits.max_surfaces {
            let m = format!(
                "{} surfaces exist; at most {} are allowed",
                self.surfaces.len(),
                self.limits.max_surfaces
            );
            return Err(ApplyError::Limit(Refusal::new(AT, "max_surfaces", m)));
        }
        let catalog_id =
            body.get("catalogId").and_then(Value::as_str).unwrap_or(BASIC_CATALOG_ID).to_string();
        let surface = Surface {
            catalog_id,
            theme: body.get("theme").cloned(),
            send_data_model: body.get("sendDataModel").and_then(Value::as_bool).unwrap_or(false),
            ids: Vec::new(),
            components: Vec::new(),
            targets: Vec::new(),
            pending: Vec::new(),
            data_model: Value::Object(Map::new()),
            model_bytes_bound: 2,
            owner: owner.to_string(),
            created_at: now_ms,
            updated_at: now_ms,
            active_at: now_ms,
            revision: 1,
        };
        self.surfaces.insert(surface_id.to_string(), surface);
        Ok(())
    }
}

/// The surface, if it exists and `owner` owns it.
fn owned<'s>(
    surfaces: &'s mut HashMap<String, Surface>,
    surface_id: &str,
    owner: &str,
) -> Result<&'s mut Surface, ApplyError> {
    match surfaces.get_mut(surface_id) {
        None => Err(ApplyError::NotFound { surface_id: surface_id.to_string() }),
        Some(s) if s.owner != owner => Err(ApplyError::Forbidden { surface_id: surface_id.to_string() }),
        Some(s) => Ok(s),
    }
}

fn named_surface(message: &Value) -> Option<String> {
    let obj = message.as_object()?;
    Kind::ALL.iter().find_map(|k| obj.get(k.key())?.get("surfaceId")?.as_str().map(str::to_string))
}

fn invalid(path: impl Into<String>, rule: &'static str, message: impl Into<String>) -> ApplyError {
    ApplyError::Invalid(Refusal::new(path, rule, message))
}

const COMPONENTS_AT: &str = "/updateComponents/components";

/// The surface's components with a message's merged in, before anything is committed.
struct Merge<'a> {
    /// Node ids: the surface's, then the message's new ones.
    ids: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
    /// For each node, the index of the message component that defines it now, if any.
    from_message: Vec<Option<usize>>,
    /// The message's components, their reference locations, and the references each makes
    /// (without paths; see [`Merge::edge_path`]).
    components: &'a [Value],
    specs: Vec<&'a [RefSpec]>,
    message_refs: Vec<Vec<Ref<'a>>>,
}

impl<'a> Merge<'a> {
    fn new(surface: &'a Surface, components: &'a [Value], schemas: &'a Schemas) -> Result<Self, ApplyError> {
        let mut merge = Merge {
            ids: surface.ids.iter().map(String::as_str).collect(),
            index: surface.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect(),
            from_message: vec![None; surface.ids.len()],
            components,
            specs: Vec::with_capacity(components.len()),
            message_refs: Vec::with_capacity(components.len()),
        };
        for (j, component) in components.iter().enumerate() {
            let ty = component_type(schemas, component, j).map_err(ApplyError::Invalid)?;
            merge.specs.push(&ty.refs);
            merge.message_refs.push(refs::refs_of(component, &ty.refs, false));
            let id = component.get("id").and_then(Value::as_str).unwrap_or_default();
            match merge.index.get(id) {
                Some(&u) => merge.from_message[u] = Some(j),
                None => {
                    merge.index.insert(id, merge.ids.len());
                    merge.ids.push(id);
                    merge.from_message.push(Some(j));
                }
            }
        }
        Ok(merge)
    }

    /// The ids node `u` refers to.
    fn targets(&self, surface: &'a Surface, u: usize) -> Vec<&'a str> {
        match self.from_message[u] {
            Some(j) => self.message_refs[j].iter().map(|r| r.id).collect(),
            None => surface.targets.get(u).into_iter().flatten().map(String::as_str).collect(),
        }
    }

    /// Child edges between defined nodes, and the referenced ids not defined (sorted).
    fn graph(&self, surface: &'a Surface) -> (Vec<Vec<usize>>, Vec<String>) {
        let mut pending = BTreeSet::new();
        let mut children = Vec::with_capacity(self.ids.len());
        for u in 0..self.ids.len() {
            let mut edges = Vec::new();
            for id in self.targets(surface, u) {
                match self.index.get(id) {
                    Some(&v) => edges.push(v),
                    None => {
                        pending.insert(id.to_string());
                    }
                }
            }
            children.push(edges);
        }
        (children, pending.into_iter().collect())
    }

    /// The message path of the reference `u -> v`, when `u` is defined by the message (the
    /// component's references are found again, this time with their paths).
    fn edge_path(&self, u: usize, v: usize) -> Option<String> {
        let j = self.from_message[u]?;
        let target = self.ids[v];
        let refs = refs::refs_of(self.components.get(j)?, self.specs.get(j)?, true);
        let r = refs.iter().find(|r| r.id == target)?;
        Some(format!("{}{}", component_at(j), r.at))
    }

    fn node_path(&self, u: usize) -> Option<String> {
        self.from_message[u].map(component_at)
    }

    fn describe(&self, nodes: &[usize]) -> String {
        let name = |u: &usize| format!("'{}'", self.ids[*u]);
        if nodes.len() <= 7 {
            return nodes.iter().map(name).collect::<Vec<_>>().join(" -> ");
        }
        let head: Vec<String> = nodes[..3].iter().map(name).collect();
        let tail: Vec<String> = nodes[nodes.len() - 2..].iter().map(name).collect();
        format!("{} -> ... -> {}", head.join(" -> "), tail.join(" -> "))
    }

    fn fault(&self, fault: GraphFault, max_depth: usize) -> ApplyError {
        match fault {
            GraphFault::Cycle(nodes) => {
                let edges = (0..nodes.len()).map(|k| (nodes[k], nodes[(k + 1) % nodes.len()]));
                let path = edges.filter_map(|(u, v)| self.edge_path(u, v)).next();
                let mut shown = nodes.clone();
                shown.extend(nodes.first());
                let m = format!("these references would form a cycle: {}", self.describe(&shown));
                invalid(path.unwrap_or_else(|| COMPONENTS_AT.into()), "cycle", m)
            }
            GraphFault::TooDeep(chain) => {
                let m = format!(
                    "the chain {} would be {} components deep; at most {max_depth} are allowed",
                    self.describe(&chain),
                    chain.len()
                );
                invalid(self.deep_path(&chain), "max_depth", m)
            }
        }
    }

    /// Where the message makes `chain` too deep: the deepest reference on it that the message
    /// makes, else the deepest component on it that the message defines.
    fn deep_path(&self, chain: &[usize]) -> String {
        let edge = (1..chain.len()).rev().find_map(|k| self.edge_path(chain[k - 1], chain[k]));
        let node = || chain.iter().rev().find_map(|&u| self.node_path(u));
        edge.or_else(node).unwrap_or_else(|| COMPONENTS_AT.into())
    }
}

fn update_components(surface: &mut Surface, body: &Value, limits: &Limits) -> Result<(), ApplyError> {
    if let Some(catalog) = body.get("catalogId").and_then(Value::as_str)
        && catalog != surface.catalog_id
    {
        let m = format!("catalog '{catalog}' is not this surface's catalog '{}'", surface.catalog_id);
        return Err(invalid("/updateComponents/catalogId", "catalog_mismatch", m));
    }
    let schemas = schemas::schemas().map_err(ApplyError::Invalid)?;
    let components = body.get("components").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let (pending, targets, new_ids) = {
        let merge = Merge::new(surface, components, schemas)?;
        if merge.ids.len() > limits.max_components {
            let m = format!(
                "the surface would have {} components; at most {} are allowed",
                merge.ids.len(),
                limits.max_components
            );
            return Err(ApplyError::Limit(Refusal::new(COMPONENTS_AT, "max_components", m)));
        }
        let (children, pending) = merge.graph(surface);
        graph::check_graph(&children, limits.max_depth).map_err(|f| merge.fault(f, limits.max_depth))?;
        let targets: Vec<Vec<String>> =
            merge.message_refs.iter().map(|refs| refs.iter().map(|r| r.id.to_string()).collect()).collect();
        let new_ids: Vec<String> = merge.ids[surface.ids.len()..].iter().map(|id| id.to_string()).collect();
        (pending, targets, new_ids)
    };
    commit_components(surface, components, targets, new_ids);
    surface.pending = pending;
    Ok(())
}

fn commit_components(
    surface: &mut Surface,
    components: &[Value],
    targets: Vec<Vec<String>>,
    new_ids: Vec<String>,
) {
    surface.ids.extend(new_ids);
    surface.components.resize(surface.ids.len(), Value::Null);
    surface.targets.resize(surface.ids.len(), Vec::new());
    let index: HashMap<&str, usize> =
        surface.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    for (component, refs) in components.iter().zip(targets) {
        let id = component.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Some(&u) = index.get(id) {
            surface.components[u] = component.clone();
            surface.targets[u] = refs;
        }
    }
}

/// `message_bytes` is the size of the whole message: the model cannot grow by more than that plus
/// a little per path segment (a created container's key and brackets), so the model is measured
/// only when that bound could cross the limit.
fn update_data_model(
    surface: &mut Surface,
    body: &Value,
    message_bytes: usize,
    limits: &Limits,
) -> Result<(), ApplyError> {
    const AT: &str = "/updateDataModel";
    let bad_path = |m| invalid(format!("{AT}/path"), "bad_path", m);
    let path = body.get("path").and_then(Value::as_str).unwrap_or("/");
    let segments = data_model::parse_path(path).map_err(bad_path)?;
    let Some(value) = body.get("value") else {
        // Removing never grows the model: the bound still holds.
        data_model::remove(&mut surface.data_model, &segments);
        return Ok(());
    };
    data_model::check_set(&surface.data_model, &segments).map_err(bad_path)?;
    let bound =
        surface.model_bytes_bound.saturating_add(message_bytes).saturating_add(8 * (segments.len() + 1));
    if bound <= limits.max_data_model_bytes {
        data_model::set(&mut surface.data_model, &segments, value.clone()).map_err(bad_path)?;
        surface.model_bytes_bound = bound;
        return Ok(());
    }
    let mut model = surface.data_model.clone();
    data_model::set(&mut model, &segments, value.clone()).map_err(bad_path)?;
    let Some(exact) = walk::compact_len_within(&model, limits.max_data_model_bytes) else {
        let m = format!("the data model would be over {} bytes of compact JSON", limits.max_data_model_bytes);
        return Err(ApplyError::Limit(Refusal::new(format!("{AT}/value"), "max_data_model_bytes", m)));
    };
    surface.data_model = model;
    surface.model_bytes_bound = exact;
    Ok(())
}

/// `updateComponents` messages holding `components` in order, each within `max_bytes`.
fn component_batches(surface_id: &str, components: &[Value], max_bytes: usize) -> Vec<Value> {
    let message = |batch: Vec<Value>| {
        let body = json!({"surfaceId": surface_id, "components": batch});
        json!({"version": VERSION, "updateComponents": body})
    };
    let overhead = walk::compact_len_within(&message(Vec::new()), usize::MAX).unwrap_or(0);
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut size = overhead;
    for component in components {
        let len = walk::compact_len_within(component, usize::MAX).unwrap_or(0) + 1;
        if !batch.is_empty() && size + len > max_bytes {
            out.push(message(std::mem::take(&mut batch)));
            size = overhead;
        }
        batch.push(component.clone());
        size += len;
    }
    if !batch.is_empty() {
        out.push(message(batch));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data(path: &str, value: Option<Value>) -> Value {
        let mut body = json!({"surfaceId": "s", "path": path});
        if let Some(v) = value {
            body["value"] = v;
        }
        json!({"version": VERSION, "updateDataModel": body})
    }

    /// The size bound that lets most updates skip measuring never falls below the real size.
    #[test]
    fn the_data_model_size_bound_is_never_below_the_size() {
        let mut store = Store::new(Limits::default());
        let create =
            json!({"version": VERSION, "createSurface": {"surfaceId": "s", "catalogId": BASIC_CATALOG_ID}});
        store.apply(&create, "a", 0).unwrap();
        let steps = [
            data("/", Some(json!({"a": 1}))),
            data("/x/0/y/0/z", Some(json!("\"quoted\" \\ and ~ / keys"))),
            data("/x/0/y/1", Some(json!([1, 2, {"k": null}]))),
            data("/a~1b/~0c/\"q\"/\u{7f}", Some(json!(1.5e300))),
            data("/n/0/0/0/0/0/0/0/0/0/0/0/0/0/0", Some(json!(0))),
            data("/x/0", None),
            data("/deep/a/b/c/d/e/f/g/h/i/j/k/l/m", Some(json!({}))),
            data("/", None),
            data("/e/0", Some(json!(""))),
        ];
        for (t, step) in steps.iter().enumerate() {
            store.apply(step, "a", t as u64).unwrap_or_else(|e| panic!("{step}: {e}"));
            let s = &store.surfaces["s"];
            let exact = serde_json::to_vec(&s.data_model).unwrap().len();
            assert!(s.model_bytes_bound >= exact, "{step}: bound {} < {exact}", s.model_bytes_bound);
        }
    }
}
