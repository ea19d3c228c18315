//! `hark models list|pull|import|remove|default`: the data dir's `models/` through hark-core's
//! model store, with no daemon needed (works offline, except `pull`). A running daemon sees the
//! changes on its next `models.list`; it keeps the model it started with until it restarts. Two
//! pulls of one model (here and in a daemon) never share a file: the second is refused.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use hark_core::models::{ModelStore, catalog};

use crate::Location;

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ModelsCommand {
    /// The catalog and the installed models (size, installed, default, path).
    List {
        #[command(flatten)]
        location: Location,
        /// Print `models.list`'s JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a catalog model into <data dir>/models (from $HARK_MODEL_BASE_URL, default
    /// Hugging Face). A cut download resumes; the SHA-256 is checked before it is installed.
    Pull {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Install a whisper ggml file from this machine (checked first; never overwrites).
    Import {
        path: PathBuf,
        /// The name to install it under [default: the file name without `ggml-` and `.bin`].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        location: Location,
    },
    /// Write a quantized copy of an installed model (q8_0, q5_0 or q5_1) with ggml's own
    /// quantizer, installed as NAME-TYPE: smaller, and on most CPUs faster (BENCHMARKS.md).
    Quantize {
        /// An installed model (f16 or f32, like the catalog's plain ones).
        name: String,
        /// q8_0, q5_0 or q5_1.
        #[arg(value_name = "TYPE")]
        to: String,
        /// The name to install it under [default: NAME-TYPE, the catalog's naming].
        #[arg(long = "as")]
        out: Option<String>,
        #[command(flatten)]
        location: Location,
    },
    /// Delete an installed model (and the default setting, if it was the default).
    Remove {
        name: String,
        #[command(flatten)]
        location: Location,
    },
    /// Show the default model, or set it (must be installed). `hark serve` and `hark transcribe`
    /// use it when neither --model nor $HARK_MODEL names one.
    Default {
        name: Option<String>,
        #[command(flatten)]
        location: Location,
    },
}

/// `$HARK_MODEL_BASE_URL`, else Hugging Face's whisper.cpp repository.
pub fn base_url() -> String {
    std::env::var("HARK_MODEL_BASE_URL")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| catalog::DEFAULT_BASE_URL.to_string())
}

/// `$HARK_MODEL_CATALOG` (a JSON file of `[{name, size_bytes, sha256}]`, for a mirror or a test)
/// replaces the built-in catalog; a file that cannot be read or parsed is an error naming it.
pub fn catalog() -> anyhow::Result<Vec<catalog::CatalogEntry>> {
    let Some(path) = std::env::var_os("HARK_MODEL_CATALOG").filter(|p| !p.is_empty()) else {
        return Ok(catalog::builtin());
    };
    let path = std::path::PathBuf::from(path);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("HARK_MODEL_CATALOG: cannot read {}: {e}", path.display()))?;
    catalog::parse(&text).map_err(|e| anyhow::anyhow!("HARK_MODEL_CATALOG: {}: {e}", path.display()))
}

/// The store of a data dir with the configured catalog (see [`catalog`]).
pub fn store(data_dir: &Path) -> anyhow::Result<ModelStore> {
    Ok(ModelStore::new(data_dir, catalog()?, base_url()))
}

/// The store for finding a model's path and the default, where the catalog only words a
/// message: a catalog file that does not parse falls back to the built-in one here (`hark serve`
/// and `hark models` report it).
pub fn local_store(data_dir: &Path) -> ModelStore {
    ModelStore::new(data_dir, catalog().unwrap_or_else(|_| catalog::builtin()), base_url())
}

/// A size as people read it: MiB, or GiB from 1 GiB up (medium, large-v3-turbo).
fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 { format!("{:.2} GiB", mib / 1024.0) } else { format!("{mib:.1} MiB") }
}

/// "12.0/74.1 MiB": the unit once, unless the two differ ("512.0 MiB/1.51 GiB").
fn done_of(bytes: u64, total: u64) -> String {
    let (done, all) = (mib(bytes), mib(total));
    match (done.rsplit_once(' '), all.rsplit_once(' ')) {
        (Some((n, unit)), Some((_, same))) if unit == same => format!("{n}/{all}"),
        _ => format!("{done}/{all}"),
    }
}

pub fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ModelsCommand::List { location, json } => {
            let store = store(&location.data_dir())?;
            let models = store.list()?;
            let mut out = std::io::stdout().lock();
            if json {
                let result = hark_protocol::models::ListResult { models };
                writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(out, "{:<20} {:>11}  {:<9} {:<26} PATH", "NAME", "SIZE", "HINT", "STATUS")?;
            for m in models {
                let mut status = vec![if m.installed { "installed" } else { "-" }];
                if m.default {
                    status.push("default");
                }
                if !m.catalog {
                    status.push("imported");
                } else if m.installed && store.catalog_entry(&m.name).is_some_and(|c| c.sha256 != m.sha256) {
                    // Imported under a catalog name (a conversion of your own, say): not the
                    // catalog's file, so `pull` will not replace it.
                    status.push("own file");
                }
                let path = m.path.unwrap_or_default();
                let (size, hint) = (mib(m.size_bytes), m.hint.as_deref().unwrap_or("-"));
                writeln!(out, "{:<20} {size:>11}  {hint:<9} {:<26} {path}", m.name, status.join(", "))?;
            }
            // The legend for a person at a terminal; a pipe gets the table alone.
            if std::io::stdout().is_terminal() {
                writeln!(
                    out,
                    "\nfast: tiny, base (real time on any CPU, rougher words); balanced: small, medium; \
                     accurate: large-v3-turbo (the best words, the most compute).\n-q8_0, -q5_*: \
                     quantized, smaller copies; on tiny.en q8_0 kept the words, q5 lost many \
                     (BENCHMARKS.md)."
                )?;
            }
        }
        ModelsCommand::Pull { name, location } => {
            let store = store(&location.data_dir())?;
            let bar = Bar::new(&name, std::io::stderr().is_terminal());
            let mut report = |bytes, total| bar.show(bytes, total);
            let result = store.pull(&name, &mut report, &|| false);
            bar.done();
            let installed = result?;
            println!("{} {}  sha256 {}", installed.name, installed.path, installed.sha256);
        }
        ModelsCommand::Import { path, name, location } => {
            let installed = store(&location.data_dir())?.import(&path, name.as_deref())?;
            println!("{} {}  sha256 {}", installed.name, installed.path, installed.sha256);
        }
        ModelsCommand::Quantize { name, to, out, location } => quantize(&name, &to, out, &location)?,
        ModelsCommand::Remove { name, location } => {
            store(&location.data_dir())?.remove(&name)?;
            println!("removed {name}");
        }
        ModelsCommand::Default { name: None, location } => {
            let store = store(&location.data_dir())?;
            match store.default_model() {
                Some(name) => println!("{name}"),
                None => println!("{} (no default set)", store.default_or_fallback()),
            }
        }
        ModelsCommand::Default { name: Some(name), location } => {
            store(&location.data_dir())?
                .set_default(&name)
                .with_context(|| format!("cannot make {name:?} the default"))?;
            println!("default: {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "whisper")]
fn quantize(name: &str, to: &str, out: Option<String>, location: &Location) -> anyhow::Result<()> {
    use hark_transcribe::quantize::QuantType;
    let to: QuantType = to.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let store = local_store(&location.data_dir());
    hark_core::models::check_name(name)?;
    if !store.is_installed(name) {
        anyhow::bail!("{name} is not installed (hark models list shows what is)");
    }
    let out = out.unwrap_or_else(|| format!("{name}-{to}"));
    hark_core::models::check_name(&out)?;
    if store.is_installed(&out) {
        anyhow::bail!("{out} is installed already (hark models remove {out} first)");
    }
    let started = std::time::Instant::now();
    let q = hark_transcribe::quantize::quantize(&store.path_of(name), &store.path_of(&out), to)?;
    let sha = store.installed_sha256(&out)?;
    println!(
        "{out} {}  sha256 {sha}\n{} -> {} ({} tensors {to}, {} kept) in {:.1} s",
        q.path.display(),
        mib(q.bytes_in),
        mib(q.bytes_out),
        q.quantized,
        q.kept,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(not(feature = "whisper"))]
fn quantize(_: &str, _: &str, _: Option<String>, _: &Location) -> anyhow::Result<()> {
    anyhow::bail!("this hark was built without whisper, whose quantizer this uses")
}

/// `pulling tiny.en [#####---------------]  25%  18.5/74.1 MiB` on stderr, redrawn in place on
/// a terminal; plain lines at 25% steps otherwise (logs stay readable). The store already calls
/// it at most about 10 times a second.
struct Bar {
    name: String,
    tty: bool,
    last_step: std::cell::Cell<Option<u64>>,
}

impl Bar {
    fn new(name: &str, tty: bool) -> Self {
        Bar { name: name.to_string(), tty, last_step: std::cell::Cell::new(None) }
    }

    fn show(&self, bytes: u64, total: u64) {
        let pct = (bytes * 100).checked_div(total).unwrap_or(100).min(100);
        let step = if self.tty { pct } else { pct / 25 * 25 };
        if self.last_step.replace(Some(step)) == Some(step) && !self.tty {
            return;
        }
        let filled = (pct / 5) as usize;
        let line = format!(
            "pulling {} [{}{}] {pct:3}%  {}",
            self.name,
            "#".repeat(filled),
            "-".repeat(20 - filled),
            done_of(bytes, total)
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { write!(err, "\r{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    fn done(&self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_mib_or_gib() {
        assert_eq!(mib(77_704_715), "74.1 MiB");
        assert_eq!(mib(1_624_555_275), "1.51 GiB");
        assert_eq!(done_of(12 << 20, 77_704_715), "12.0/74.1 MiB");
        assert_eq!(done_of(512 << 20, 1_624_555_275), "512.0 MiB/1.51 GiB");
        assert_eq!(done_of(1_624_555_275, 1_624_555_275), "1.51/1.51 GiB");
    }
}
