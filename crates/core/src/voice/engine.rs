//! The transcriber the voice methods use: the fake (one instance per stream, so each stream
//! numbers its segments from 1), or a model loaded lazily on first use, once, on a blocking
//! thread under an admission permit, and shared by every stream. A model that fails to load is
//! a clear error for the caller and is tried again on the next use, never a crash.

use std::sync::{Arc, Mutex};

use hark_protocol::RpcError;
use hark_transcribe::Transcriber;
use hark_transcribe::fake::FakeTranscriber;

use crate::admission::Admission;
use crate::config::TranscriberChoice;

pub struct Engine {
    choice: TranscriberChoice,
    loaded: Mutex<Option<Arc<dyn Transcriber>>>,
    /// Serializes loads so two first uses do not load the model twice.
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("choice", &self.choice).finish_non_exhaustive()
    }
}

/// The error for a model that cannot be used (PROTOCOL §3: "not found" for a missing model).
fn model_error(e: impl std::fmt::Display) -> RpcError {
    RpcError::not_found("model", &e.to_string())
}

impl Engine {
    pub fn new(choice: TranscriberChoice) -> Self {
        Engine { choice, loaded: Mutex::new(None), loading: tokio::sync::Mutex::const_new(()) }
    }

    fn cached(&self) -> Option<Arc<dyn Transcriber>> {
        crate::lock(&self.loaded).clone()
    }

    /// The model file this daemon transcribes with (none for the fake): `models.remove` refuses it.
    pub fn model_path(&self) -> Option<&std::path::Path> {
        match &self.choice {
            TranscriberChoice::Fake => None,
            TranscriberChoice::Model { path, .. } => Some(path),
        }
    }

    /// `{name, loaded}` for `server.info`.
    pub fn model_info(&self) -> (Option<String>, bool) {
        match &self.choice {
            TranscriberChoice::Fake => (Some("fake".into()), true),
            TranscriberChoice::Model { path, .. } => match self.cached() {
                Some(t) => (Some(t.name().to_string()), true),
                None => (Some(path.display().to_string()), false),
            },
        }
    }

    /// A transcriber for one stream or one call.
    pub async fn get(&self, admission: &Admission) -> Result<Arc<dyn Transcriber>, RpcError> {
        let (path, loader) = match &self.choice {
            TranscriberChoice::Fake => return Ok(Arc::new(FakeTranscriber::new())),
            TranscriberChoice::Model { path, loader } => (path.clone(), loader.clone()),
        };
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let _one_load = self.loading.lock().await;
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let _permit = admission.acquire().await?;
        tracing::info!(model = %path.display(), "loading the model");
        let loaded = tokio::task::spawn_blocking(move || loader(&path))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the model loader panicked");
                RpcError::internal()
            })?
            .map_err(|e| {
                tracing::warn!(error = %e, "model failed to load");
                model_error(e)
            })?;
        *crate::lock(&self.loaded) = Some(loaded.clone());
        Ok(loaded)
    }
}
