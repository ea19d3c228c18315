//! Models (PROTOCOL §15): `models.list`, `models.pull` (with `models.pull_progress`
//! notifications to the caller), `models.import`, `models.remove`, `models.set_default`.
//!
//! Who may call them: `models.list` any authenticated client. The other four need the host role
//! (-32002 otherwise): they change what the whole daemon and every later `hark serve` uses,
//! download hundreds of MB or delete files, which is the person's decision (the window or the
//! `hark` CLI with the host token), not an agent's. An agent that wants another model asks the
//! person, as with any other daemon-wide setting.
//!
//! The store's work (hashing, copying, downloading) is blocking I/O: it runs on a blocking
//! thread, so no request or stream waits on it.

use std::sync::Arc;

use hark_protocol::RpcError;
use hark_protocol::jsonrpc::notification;
use hark_protocol::models::{ImportParams, ListResult, NameParams, PullProgress};
use serde_json::{Value, json};

use super::host::require_host;
use super::{Reply, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;
use crate::models::{ModelStore, ModelsError};

/// Runs `work` on a blocking thread with a clone of the store.
async fn blocking<T: Send + 'static>(
    daemon: &Daemon,
    work: impl FnOnce(&ModelStore) -> Result<T, ModelsError> + Send + 'static,
) -> Result<T, RpcError> {
    let store = daemon.models.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a model store task panicked");
            RpcError::internal()
        })?
        .map_err(|e| e.to_rpc())
}

pub async fn list(daemon: &Daemon) -> Result<Reply, RpcError> {
    let models = blocking(daemon, |store| store.list()).await?;
    reply(&ListResult { models })
}

pub async fn pull(daemon: &Arc<Daemon>, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    let NameParams { name } = parse(params)?;
    // The connection's token: a client that leaves (or a daemon that stops) ends its download,
    // keeping the part for the next pull.
    let (to, cancel) = (conn.clone(), conn.gone.clone());
    let installed = blocking(daemon, move |store| {
        let mut report = |bytes, total| {
            let progress = PullProgress { name: name.clone(), bytes, total };
            to.send(&notification("models.pull_progress", json!(progress)));
        };
        store.pull(&name, &mut report, &|| cancel.is_cancelled())
    })
    .await?;
    tracing::info!(model = %installed.name, "model pulled");
    reply(&installed)
}

pub async fn import(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    let ImportParams { path, name } = parse(params)?;
    let installed =
        blocking(daemon, move |store| store.import(std::path::Path::new(&path), name.as_deref())).await?;
    tracing::info!(model = %installed.name, "model imported");
    reply(&installed)
}

/// Removing the model this daemon was started with is refused (-32012): it may be loaded, and
/// the next stream would fail to load it. A model loaded for a stream's `options.model` is
/// unloaded (running streams keep it until they end). Removing the default clears the default.
pub async fn remove(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    let NameParams { name } = parse(params)?;
    crate::models::check_name(&name).map_err(|e| e.to_rpc())?;
    let target = daemon.models.path_of(&name);
    let same = |p: &std::path::Path| {
        p == target
            || std::fs::canonicalize(p).ok().is_some_and(|c| Some(c) == std::fs::canonicalize(&target).ok())
    };
    if daemon.engine.model_path().is_some_and(same) {
        return Err(RpcError::conflict(format!(
            "model {name:?} is the one this daemon transcribes with; restart it with another model first"
        )));
    }
    blocking(daemon, move |store| store.remove(&name)).await?;
    // A stream's own model (options.model) may be loaded: free it once its streams end.
    daemon.engine.unload(&target);
    reply(&json!({ "removed": true }))
}

pub async fn set_default(daemon: &Daemon, conn: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(conn)?;
    let NameParams { name } = parse(params)?;
    let set = name.clone();
    blocking(daemon, move |store| store.set_default(&set)).await?;
    reply(&json!({ "default": name }))
}
