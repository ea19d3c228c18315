//! Whisper models under `<data root>/models/` (PROTOCOL §15, §16): the catalog, downloads that
//! resume and are verified before they are moved into place, imports of local files, removal,
//! and the persisted default. Blocking file and network I/O: the daemon calls it on a blocking
//! thread, the CLI directly (it works on the data dir with no daemon running).
//!
//! Layout:
//! ```text
//! models/ggml-<name>.bin          an installed model (only ever appears complete: hard-linked in)
//! models/ggml-<name>.bin.sha256   its SHA-256, `sha256sum -c` format (trusted while newer than it)
//! models/default                  the default model's name (temp file + rename)
//! models/.partial/ggml-<name>.bin.part   a download in progress or cut; locked while one runs
//! models/.partial/import-*.tmp    an import being copied
//! ```
//! A model file is never overwritten: installing uses `hard_link` (fails if the name exists),
//! so two installers racing cannot replace each other's file, and a reader never sees a torn one.

pub mod catalog;
mod download;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hark_protocol::models::{Installed, ModelEntry};
use hark_protocol::{ErrorCode, RpcError};
use serde_json::json;
use sha2::{Digest, Sha256};

pub use catalog::{CatalogEntry, DEFAULT_BASE_URL};

/// The model the daemon and `hark transcribe` use when nothing else is named or set as default.
pub const FALLBACK_MODEL: &str = "tiny.en";

#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("invalid model name {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("no model {0:?} in the catalog (models.list shows what can be pulled)")]
    NotInCatalog(String),
    #[error("model {0:?} is not installed")]
    NotInstalled(String),
    #[error("model {0:?} is already installed{1}")]
    AlreadyInstalled(String, &'static str),
    #[error("a download of {0:?} is already under way; wait for it to finish")]
    PullInProgress(String),
    #[error("{path} cannot be imported: {reason}")]
    BadFile { path: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Remote { url: String, status: u16 },
    #[error("downloading {name:?} failed at {bytes} of {total} bytes: {reason}{}", resume_hint(*.bytes))]
    Download { name: String, reason: String, bytes: u64, total: u64 },
    #[error(
        "the download of {name:?} does not match the catalog (sha256 {actual}, expected {expected}); it was deleted"
    )]
    Checksum { name: String, expected: String, actual: String },
    #[error("the download of {0:?} was cancelled (what was fetched is kept)")]
    Cancelled(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn resume_hint(bytes: u64) -> &'static str {
    if bytes > 0 { " (what was fetched is kept: pull again to resume)" } else { "" }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ModelsError {
    let context = context.into();
    move |source| ModelsError::Io { context, source }
}

impl ModelsError {
    /// The JSON-RPC error (PROTOCOL §3). Every message is safe to show: it names only the model,
    /// the caller's own path or the download URL. A failed download is -32011 (retry later: the
    /// part is kept); a checksum mismatch is -32603 with its own message, since neither the
    /// caller nor a retry can fix a mirror that serves the wrong bytes.
    pub fn to_rpc(&self) -> RpcError {
        let message = self.to_string();
        match self {
            ModelsError::BadName { .. } => RpcError::invalid_params("name", message),
            ModelsError::NotInCatalog(_) | ModelsError::NotInstalled(_) => {
                RpcError::new(ErrorCode::NotFound, message)
                    .with_data(json!({ "field": "name", "reason": "not found" }))
            }
            ModelsError::BadFile { .. } => RpcError::invalid_params("path", message),
            ModelsError::AlreadyInstalled(..) => RpcError::conflict(message),
            ModelsError::PullInProgress(_) | ModelsError::Download { .. } | ModelsError::Cancelled(_) => {
                RpcError::busy(message)
            }
            ModelsError::Remote { status, .. } => {
                let code = if *status == 404 { ErrorCode::NotFound } else { ErrorCode::Busy };
                RpcError::new(code, message)
            }
            ModelsError::Checksum { expected, actual, .. } => {
                RpcError::new(ErrorCode::InternalError, message).with_data(
                    json!({ "reason": "checksum mismatch", "expected": expected, "actual": actual }),
                )
            }
            ModelsError::Io { .. } => {
                tracing::error!(error = %self, "model store I/O failed");
                RpcError::internal()
            }
        }
    }
}

/// Model names become file names: letters, digits, `.`, `_`, `-`; no path tricks.
pub fn check_name(name: &str) -> Result<(), ModelsError> {
    let bad = |reason| Err(ModelsError::BadName { name: name.to_string(), reason });
    if name.is_empty() || name.len() > 64 {
        return bad("1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("must start with a letter or digit");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return bad("only letters, digits, '.', '_' and '-'");
    }
    if name.contains("..") {
        return bad("no \"..\"");
    }
    Ok(())
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Writes `contents` to `path` through a temp file in the same dir, fsynced, then renamed: a
/// crash leaves the old file or the new one, never half of either.
fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The models dir of one data root, with the catalog and the base URL downloads come from.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    catalog: Vec<CatalogEntry>,
    base_url: String,
}

impl ModelStore {
    pub fn new(data_dir: &Path, catalog: Vec<CatalogEntry>, base_url: impl Into<String>) -> Self {
        ModelStore { dir: crate::paths::models_dir(data_dir), catalog, base_url: base_url.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn catalog(&self) -> &[CatalogEntry] {
        &self.catalog
    }

    pub fn catalog_entry(&self, name: &str) -> Option<&CatalogEntry> {
        self.catalog.iter().find(|e| e.name == name)
    }

    /// `models/ggml-<name>.bin`, installed or not.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("ggml-{name}.bin"))
    }

    fn sidecar(&self, name: &str) -> PathBuf {
        self.dir.join(format!("ggml-{name}.bin.sha256"))
    }

    fn partial_dir(&self) -> PathBuf {
        self.dir.join(".partial")
    }

    /// Where a download of `name` collects its bytes until verified.
    pub fn part_path(&self, name: &str) -> PathBuf {
        self.partial_dir().join(format!("ggml-{name}.bin.part"))
    }

    fn default_file(&self) -> PathBuf {
        self.dir.join("default")
    }

    fn url_of(&self, name: &str) -> String {
        format!("{}/ggml-{name}.bin", self.base_url.trim_end_matches('/'))
    }

    pub fn is_installed(&self, name: &str) -> bool {
        check_name(name).is_ok() && self.path_of(name).is_file()
    }

    /// The persisted default (`models.set_default`), if set and still a valid name.
    pub fn default_model(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.default_file()).ok()?;
        let name = text.trim();
        check_name(name).ok().map(|()| name.to_string())
    }

    /// The model to use when none is named: the persisted default, else [`FALLBACK_MODEL`].
    pub fn default_or_fallback(&self) -> String {
        self.default_model().unwrap_or_else(|| FALLBACK_MODEL.to_string())
    }

    /// Names of the installed models, sorted.
    pub fn installed(&self) -> Result<Vec<String>, ModelsError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("cannot read {}", self.dir.display()))(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let file = e.file_name().into_string().ok()?;
                let name = file.strip_prefix("ggml-")?.strip_suffix(".bin")?.to_string();
                check_name(&name).is_ok().then_some(name)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The installed file's SHA-256: from its sidecar while that is newer than the file (we
    /// write it after installing), else computed and the sidecar rewritten (a file put there by
    /// hand, or replaced since).
    pub fn installed_sha256(&self, name: &str) -> Result<String, ModelsError> {
        let path = self.path_of(name);
        let model_meta = std::fs::metadata(&path).map_err(|_| ModelsError::NotInstalled(name.into()))?;
        let sidecar = self.sidecar(name);
        if let (Ok(meta), Ok(text)) = (std::fs::metadata(&sidecar), std::fs::read_to_string(&sidecar))
            && let (Ok(sidecar_time), Ok(model_time)) = (meta.modified(), model_meta.modified())
            && sidecar_time >= model_time
            && let Some(sha) = text.split_whitespace().next().filter(|s| s.len() == 64)
        {
            return Ok(sha.to_string());
        }
        let sha = sha256_file(&path).map_err(io(format!("cannot read {}", path.display())))?;
        self.write_sidecar(name, &sha)?;
        Ok(sha)
    }

    fn write_sidecar(&self, name: &str, sha: &str) -> Result<(), ModelsError> {
        let sidecar = self.sidecar(name);
        write_atomic(&sidecar, format!("{sha}  ggml-{name}.bin\n").as_bytes())
            .map_err(io(format!("cannot write {}", sidecar.display())))
    }

    /// Catalog entries and installed models (imported ones too), the catalog first. May hash a
    /// model that has no up-to-date sidecar (see [`Self::installed_sha256`]).
    pub fn list(&self) -> Result<Vec<ModelEntry>, ModelsError> {
        let installed = self.installed()?;
        let default = self.default_model();
        let mut out = Vec::new();
        let entry = |name: &str, catalog: Option<&CatalogEntry>| -> Result<ModelEntry, ModelsError> {
            let is_installed = installed.iter().any(|n| n == name);
            let (size_bytes, sha256, path) = if is_installed {
                let path = self.path_of(name);
                let size =
                    std::fs::metadata(&path).map_err(io(format!("cannot read {}", path.display())))?.len();
                (size, self.installed_sha256(name)?, Some(path.display().to_string()))
            } else {
                let c = catalog.expect("a listed model is installed or in the catalog");
                (c.size_bytes, c.sha256.clone(), None)
            };
            Ok(ModelEntry {
                name: name.to_string(),
                size_bytes,
                sha256,
                installed: is_installed,
                path,
                default: default.as_deref() == Some(name),
                catalog: catalog.is_some(),
                hint: catalog::hint(name).map(str::to_string),
            })
        };
        for c in &self.catalog {
            out.push(entry(&c.name, Some(c))?);
        }
        for name in installed.iter().filter(|n| self.catalog_entry(n).is_none()) {
            out.push(entry(name, None)?);
        }
        Ok(out)
    }

    /// Copies a whisper ggml file into the store. The file is checked with
    /// [`hark_transcribe::ggml::inspect`] before anything is written and the copy again before it
    /// is linked in (the source may change meanwhile), so a truncated, foreign or weightless
    /// file never lands in `models/`.
    pub fn import(&self, source: &Path, name: Option<&str>) -> Result<Installed, ModelsError> {
        let shown = source.display().to_string();
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let file = source.file_name().and_then(|f| f.to_str()).unwrap_or_default();
                let base = file.strip_suffix(".bin").unwrap_or(file);
                base.strip_prefix("ggml-").unwrap_or(base).to_string()
            }
        };
        check_name(&name)?;
        if self.is_installed(&name) {
            return Err(ModelsError::AlreadyInstalled(name, " (remove it first)"));
        }
        let refuse = |e: hark_transcribe::TranscribeError| {
            let reason = match e {
                hark_transcribe::TranscribeError::BadModel { reason, .. } => reason,
                other => other.to_string(),
            };
            ModelsError::BadFile { path: shown.clone(), reason }
        };
        hark_transcribe::ggml::inspect(source).map_err(refuse)?;
        let partial = self.partial_dir();
        std::fs::create_dir_all(&partial).map_err(io(format!("cannot create {}", partial.display())))?;
        let tmp = partial.join(format!("import-{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = (|| {
            let sha = copy_hashing(source, &tmp).map_err(|e| ModelsError::BadFile {
                path: shown.clone(),
                reason: format!("cannot copy it: {e}"),
            })?;
            hark_transcribe::ggml::inspect(&tmp).map_err(refuse)?;
            self.link_in(&tmp, &name, &sha)
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// Hard-links a complete, verified file in as `ggml-<name>.bin` (never replacing one), then
    /// writes its sidecar. The caller removes `file`.
    fn link_in(&self, file: &Path, name: &str, sha: &str) -> Result<Installed, ModelsError> {
        let target = self.path_of(name);
        match std::fs::hard_link(file, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ModelsError::AlreadyInstalled(name.into(), " (remove it first)"));
            }
            Err(e) => return Err(io(format!("cannot install {}", target.display()))(e)),
        }
        self.write_sidecar(name, sha)?;
        Ok(Installed { name: name.into(), path: target.display().to_string(), sha256: sha.into() })
    }

    /// Deletes an installed model and its sidecar. If it was the default, the default is cleared
    /// (the fallback, tiny.en, applies from the next start). Whether the running daemon still
    /// needs it is the caller's decision (the handler refuses the daemon's own model).
    pub fn remove(&self, name: &str) -> Result<(), ModelsError> {
        check_name(name)?;
        let path = self.path_of(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelsError::NotInstalled(name.into()));
            }
            Err(e) => return Err(io(format!("cannot remove {}", path.display()))(e)),
        }
        let _ = std::fs::remove_file(self.sidecar(name));
        if self.default_model().as_deref() == Some(name) {
            let _ = std::fs::remove_file(self.default_file());
        }
        Ok(())
    }

    /// Persists `name` (installed) as the default model.
    pub fn set_default(&self, name: &str) -> Result<(), ModelsError> {
        check_name(name)?;
        if !self.is_installed(name) {
            return Err(ModelsError::NotInstalled(name.into()));
        }
        let file = self.default_file();
        write_atomic(&file, format!("{name}\n").as_bytes())
            .map_err(io(format!("cannot write {}", file.display())))
    }

    /// Downloads a catalog model (see `download.rs`): resumes a cut download, verifies the
    /// SHA-256 before the file is moved in. `progress(bytes, total)` is called at most about 10
    /// times a second and once at the end; `cancelled` is polled between reads.
    pub fn pull(
        &self,
        name: &str,
        progress: &mut dyn FnMut(u64, u64),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Installed, ModelsError> {
        download::pull(self, name, progress, cancelled)
    }
}

/// Copies `from` to a new file `to` (fsynced), returning the SHA-256 of what was written.
fn copy_hashing(from: &Path, to: &Path) -> std::io::Result<String> {
    let mut src = File::open(from)?;
    let mut dst = std::fs::OpenOptions::new().write(true).create_new(true).open(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
    }
    dst.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(root: &Path) -> ModelStore {
        ModelStore::new(root, vec![CatalogEntry::new("fake", 3, sha256_hex(b"abc"))], "http://127.0.0.1:9/")
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("f"), &big).unwrap();
        assert_eq!(sha256_file(&dir.path().join("f")).unwrap(), sha256_hex(&big), "chunked = whole");
    }

    #[test]
    fn names_that_could_escape_the_dir_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "a..b", "x y", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["tiny.en", "large-v3", "my_model.q5_1", "7"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn list_default_and_remove_on_a_hand_placed_file() {
        let root = tempfile::tempdir().unwrap();
        let s = store(root.path());
        assert!(s.list().unwrap().iter().all(|m| !m.installed));
        std::fs::create_dir_all(s.dir()).unwrap();
        std::fs::write(s.path_of("mine"), b"hello").unwrap();
        std::fs::write(s.dir().join("notes.txt"), b"ignored").unwrap();
        let list = s.list().unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        let mine = list.iter().find(|m| m.name == "mine").unwrap();
        assert_eq!(
            (mine.installed, mine.catalog, mine.size_bytes, mine.hint.as_deref()),
            (true, false, 5, None)
        );
        // A hint comes from the name's whisper family, in the catalog or not.
        std::fs::write(s.path_of("base.en-q8_0"), b"hi").unwrap();
        let list = s.list().unwrap();
        let own = list.iter().find(|m| m.name == "base.en-q8_0").unwrap();
        assert_eq!((own.catalog, own.hint.as_deref()), (false, Some("fast")));
        std::fs::remove_file(s.path_of("base.en-q8_0")).unwrap();
        std::fs::remove_file(s.dir().join("ggml-base.en-q8_0.bin.sha256")).unwrap();
        assert_eq!(mine.sha256, sha256_hex(b"hello"));
        assert!(s.dir().join("ggml-mine.bin.sha256").exists(), "the hash is remembered");
        assert!(matches!(s.set_default("fake"), Err(ModelsError::NotInstalled(_))));
        s.set_default("mine").unwrap();
        assert_eq!(s.default_model().as_deref(), Some("mine"));
        assert!(s.list().unwrap().iter().any(|m| m.name == "mine" && m.default));
        s.remove("mine").unwrap();
        assert_eq!(s.default_model(), None, "removing the default clears it");
        assert!(matches!(s.remove("mine"), Err(ModelsError::NotInstalled(_))));
        let left: Vec<_> = std::fs::read_dir(s.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("notes.txt")]);
    }

    #[test]
    fn errors_map_to_the_protocol_codes() {
        let e = |m: ModelsError| m.to_rpc().code;
        assert_eq!(e(ModelsError::BadName { name: "x".into(), reason: "r" }), -32602);
        assert_eq!(e(ModelsError::NotInCatalog("x".into())), -32010);
        assert_eq!(e(ModelsError::NotInstalled("x".into())), -32010);
        assert_eq!(e(ModelsError::AlreadyInstalled("x".into(), "")), -32012);
        assert_eq!(e(ModelsError::PullInProgress("x".into())), -32011);
        assert_eq!(e(ModelsError::Remote { url: "u".into(), status: 404 }), -32010);
        assert_eq!(e(ModelsError::BadFile { path: "p".into(), reason: "r".into() }), -32602);
    }
}
