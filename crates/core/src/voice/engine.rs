//! The transcriber the voice methods use: the fake (one instance per stream, so each stream
//! numbers its segments from 1), or a model loaded lazily on first use, once, on a blocking
//! thread under an admission permit, and shared by every stream. A model that fails to load is
//! a clear error for the caller and is tried again on the next use, never a crash.
//!
//! A stream or a `transcribe` call may name another installed model (`options.model`, `model`):
//! models are kept loaded by path, at most [`MAX_LOADED`] at once, the least recently used
//! dropped first. A dropped model stays alive for the streams that hold it (they own an `Arc`)
//! and is freed when the last of them ends, so eviction never breaks a running stream.
//!
//! A loaded model's calls of up to one window take turns, finals first, through one gate for
//! all of them (`hark_transcribe::gate`: two whisper decodes at once on a machine with no spare
//! cores slow each other many times over).
//!
//! A model nothing has used for the `model_keep_alive_minutes` setting is released (like
//! Ollama's `keep_alive`), so the daemon returns to its idle memory after a meeting: the
//! daemon's reaper task calls [`Engine::release_idle`], which counts a model some stream still
//! holds as in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hark_protocol::RpcError;
use hark_transcribe::Transcriber;
use hark_transcribe::fake::FakeTranscriber;
use hark_transcribe::gate::{Gate, Gated};

use crate::admission::Admission;
use crate::config::TranscriberChoice;

/// Models kept loaded at once: the daemon's own and one other (tiny to small take 0.1 to 1 GB).
pub const MAX_LOADED: usize = 2;

pub struct Engine {
    choice: TranscriberChoice,
    /// Loaded models, least recently used first, with the identity of the file each came from.
    loaded: Mutex<Vec<Loaded>>,
    /// Serializes loads so two first uses do not load a model twice.
    loading: tokio::sync::Mutex<()>,
    /// Signalled when a model is loaded, so the reaper schedules its release.
    pub loaded_signal: tokio::sync::Notify,
    /// Every loaded model's calls take turns through it, finals first (`hark_transcribe::gate`).
    gate: Arc<Gate>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("choice", &self.choice).finish_non_exhaustive()
    }
}

/// Size and modification time: a model file replaced under the same path (removed and imported
/// again, or changed by `hark models` while the daemon runs) is not served from the cache.
type FileIdentity = (u64, std::time::SystemTime);

/// A loaded model.
struct Loaded {
    path: PathBuf,
    /// The identity of the file it was loaded from.
    file: Option<FileIdentity>,
    model: Arc<dyn Transcriber>,
    /// When it was last handed out or last seen held by a stream.
    last_used: Instant,
}

/// How often a model some stream holds is looked at again.
const IN_USE_RECHECK: Duration = Duration::from_secs(1);

fn identity(path: &Path) -> Option<FileIdentity> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// The error for a model that cannot be used (PROTOCOL §3: "not found" for a missing model).
fn model_error(e: impl std::fmt::Display) -> RpcError {
    RpcError::not_found("model", &e.to_string())
}

impl Engine {
    pub fn new(choice: TranscriberChoice) -> Self {
        Engine {
            choice,
            loaded: Mutex::new(Vec::new()),
            loading: tokio::sync::Mutex::const_new(()),
            loaded_signal: tokio::sync::Notify::new(),
            gate: Arc::default(),
        }
    }

    /// The loaded model at `path`, marked most recently used; `None` (and the entry dropped)
    /// when the file there is no longer the one that was loaded.
    fn cached(&self, path: &Path) -> Option<Arc<dyn Transcriber>> {
        let now = identity(path);
        let mut loaded = crate::lock(&self.loaded);
        let i = loaded.iter().position(|l| l.path == path)?;
        let mut entry = loaded.remove(i);
        if entry.file.is_none() || entry.file != now {
            tracing::info!(model = %path.display(), "the model file changed: loading it again");
            return None;
        }
        entry.last_used = Instant::now();
        let t = entry.model.clone();
        loaded.push(entry);
        Some(t)
    }

    /// Drops the loaded model at `path` (it was removed); streams using it keep it until they end.
    pub fn unload(&self, path: &Path) {
        crate::lock(&self.loaded).retain(|l| l.path != path);
    }

    /// Releases the models unused for `keep_alive` (a model a stream or a call still holds is in
    /// use: its clock starts again); returns how long until the next one may be due, `None` when
    /// none is loaded. Streams holding a released model keep it until they end.
    pub fn release_idle(&self, keep_alive: Duration, now: Instant) -> Option<Duration> {
        let mut loaded = crate::lock(&self.loaded);
        let mut next: Option<Duration> = None;
        let mut released = false;
        loaded.retain_mut(|l| {
            if Arc::strong_count(&l.model) > 1 {
                // Its use may end any time: looked at every second, so it is released no more
                // than a second before its keep-alive after the end.
                l.last_used = now;
                next = Some(next.map_or(IN_USE_RECHECK, |n| n.min(IN_USE_RECHECK)));
                return true;
            }
            let idle = now.saturating_duration_since(l.last_used);
            if idle >= keep_alive {
                tracing::info!(model = %l.path.display(), idle_s = idle.as_secs(), "releasing a model nothing used for its keep-alive");
                released = true;
                return false;
            }
            let due = keep_alive - idle;
            next = Some(next.map_or(due, |n| n.min(due)));
            true
        });
        drop(loaded);
        if released {
            // Freed now: nothing else held it (a held model is never released above).
            give_freed_memory_back();
        }
        next
    }

    /// Whether the model at `path` is loaded now (tests and `server.info`).
    pub fn is_loaded(&self, path: &Path) -> bool {
        crate::lock(&self.loaded).iter().any(|l| l.path == path)
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
            TranscriberChoice::Model { path, .. } => {
                let loaded = crate::lock(&self.loaded);
                match loaded.iter().find(|l| &l.path == path) {
                    Some(l) => (Some(l.model.name().to_string()), true),
                    None => (Some(path.display().to_string()), false),
                }
            }
        }
    }

    /// A transcriber for one stream or one call: the daemon's model.
    pub async fn get(&self, admission: &Admission) -> Result<Arc<dyn Transcriber>, RpcError> {
        self.get_model(admission, None).await
    }

    /// A transcriber for one stream or one call: the model file at `model` (an installed model
    /// the handler resolved), or the daemon's own when `None`. With the fake transcriber there is
    /// no model to choose: naming one is -32602 on `field`.
    pub async fn get_model(
        &self,
        admission: &Admission,
        model: Option<(&Path, &str)>,
    ) -> Result<Arc<dyn Transcriber>, RpcError> {
        let (own, loader) = match &self.choice {
            TranscriberChoice::Fake => {
                return match model {
                    None => Ok(Arc::new(FakeTranscriber::new())),
                    Some((_, field)) => Err(RpcError::invalid_params(
                        field,
                        "this daemon runs the fake transcriber (hark serve --transcriber fake): no models to choose",
                    )),
                };
            }
            TranscriberChoice::Model { path, loader } => (path, loader.clone()),
        };
        let path = model.map_or_else(|| own.clone(), |(p, _)| p.to_path_buf());
        if let Some(t) = self.cached(&path) {
            return Ok(t);
        }
        let _one_load = self.loading.lock().await;
        if let Some(t) = self.cached(&path) {
            return Ok(t);
        }
        let _permit = admission.acquire().await?;
        tracing::info!(model = %path.display(), "loading the model");
        let load_path = path.clone();
        // The identity is taken before loading: a file replaced during the load is loaded again
        // on its next use.
        let loaded = tokio::task::spawn_blocking(move || (identity(&load_path), loader(&load_path)))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the model loader panicked");
                RpcError::internal()
            })?;
        let (file, loaded) = loaded;
        let loaded = loaded.map_err(|e| {
            tracing::warn!(error = %e, "model failed to load");
            model_error(e)
        })?;
        let loaded: Arc<dyn Transcriber> = Arc::new(Gated::new(loaded, self.gate.clone()));
        {
            let mut cache = crate::lock(&self.loaded);
            if cache.len() >= MAX_LOADED {
                let dropped = cache.remove(0);
                tracing::info!(model = %dropped.path.display(), "unloading the least recently used model");
            }
            cache.push(Loaded { path, file, model: loaded.clone(), last_used: Instant::now() });
        }
        self.loaded_signal.notify_one();
        Ok(loaded)
    }
}

/// Hands the allocator's free memory back to the system, after a model was released.
///
/// glibc's malloc keeps what a program frees for its next allocations, in every thread's arena:
/// after a meeting (a model of 75 MiB and more, each stream's whisper state, its audio buffers)
/// the daemon kept about as much again as the model itself resident, unused until its next
/// allocations (BENCHMARKS.md, "Six minutes after a meeting": the desktop app at 175 MiB without
/// this, 101 MiB with it, 84 MiB before the meeting). `malloc_trim(0)` returns the free pages at
/// the top of each arena and `madvise`s the free pages inside them. It walks the arenas: on a
/// blocking thread when there is a runtime. Other allocators and systems: nothing is done.
fn give_freed_memory_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(unsafe_code)]
        fn trim() {
            // SAFETY: malloc_trim takes a size and only changes the allocator's own free lists
            // (under its arena locks, so concurrent allocation is safe); nothing of ours is read.
            let gave_back = unsafe { libc::malloc_trim(0) };
            tracing::debug!(gave_back = gave_back == 1, "freed memory handed back after a model release");
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(trim)),
            Err(_) => trim(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_with(paths: &[&str], at: Instant) -> Engine {
        let e = Engine::new(TranscriberChoice::Fake);
        for p in paths {
            crate::lock(&e.loaded).push(Loaded {
                path: PathBuf::from(p),
                file: None,
                model: Arc::new(FakeTranscriber::new()),
                last_used: at,
            });
        }
        e
    }

    #[test]
    fn a_model_unused_for_its_keep_alive_is_released() {
        let t0 = Instant::now();
        let keep = Duration::from_secs(300);
        let e = engine_with(&["a", "b"], t0);
        crate::lock(&e.loaded)[1].last_used = t0 + Duration::from_secs(100);
        assert_eq!(e.release_idle(keep, t0 + Duration::from_secs(10)), Some(Duration::from_secs(290)));
        assert_eq!(e.release_idle(keep, t0 + Duration::from_secs(300)), Some(Duration::from_secs(100)));
        assert!(!e.is_loaded(Path::new("a")) && e.is_loaded(Path::new("b")));
        assert_eq!(e.release_idle(keep, t0 + Duration::from_secs(400)), None);
        assert!(!e.is_loaded(Path::new("b")));
    }

    #[test]
    fn a_model_a_stream_holds_is_in_use_and_its_clock_starts_again_when_it_is_let_go() {
        let t0 = Instant::now();
        let keep = Duration::from_millis(10);
        let e = engine_with(&["a"], t0);
        let held = crate::lock(&e.loaded)[0].model.clone();
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(e.release_idle(keep, later), Some(IN_USE_RECHECK), "held: rechecked, not released");
        assert!(e.is_loaded(Path::new("a")));
        drop(held);
        assert_eq!(e.release_idle(keep, later + Duration::from_millis(5)), Some(Duration::from_millis(5)));
        assert_eq!(e.release_idle(keep, later + Duration::from_millis(10)), None);
        assert!(!e.is_loaded(Path::new("a")));
    }

    #[test]
    fn a_zero_keep_alive_releases_at_once_what_nothing_holds() {
        let e = engine_with(&["a"], Instant::now());
        assert_eq!(e.release_idle(Duration::ZERO, Instant::now()), None);
        assert!(!e.is_loaded(Path::new("a")));
    }
}
