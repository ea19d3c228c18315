//! Models (PROTOCOL §15): `models.list/pull/import/remove/set_default` and the
//! `models.pull_progress` notification.

use serde::{Deserialize, Serialize};

/// `models.pull`, `models.remove`, `models.set_default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameParams {
    pub name: String,
}

/// `models.import`: a whisper ggml file on this machine, installed under `name` (default: the
/// file's name without `ggml-` and `.bin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportParams {
    pub path: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// One row of `models.list`: a catalog entry (pullable) or an installed model, or both.
/// `size_bytes` and `sha256` describe the installed file when there is one, else what a pull
/// would fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub installed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub default: bool,
    /// In the catalog (`models.pull` can fetch it) [Hark's own].
    pub catalog: bool,
    /// What the model's family is for: `"fast"`, `"balanced"` or `"accurate"`; absent for a
    /// name outside the whisper families (an import of one's own) [Hark's own].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResult {
    pub models: Vec<ModelEntry>,
}

/// The result of `models.pull` and `models.import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    pub name: String,
    pub path: String,
    pub sha256: String,
}

/// `models.pull_progress`, sent to the caller of `models.pull` while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullProgress {
    pub name: String,
    pub bytes: u64,
    pub total: u64,
}
