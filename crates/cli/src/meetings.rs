//! `hark meetings list|show|search|export|rename|delete|retranscribe|reindex`, and `hark record`.
//!
//! Through the running daemon when one answers (with the host token, so what it shows is what
//! the window shows); otherwise straight on the data dir's files and index, like `hark models`
//! (the index is rebuilt from the files when it is missing, corrupt or of an older schema). Both
//! paths produce the same JSON as the daemon's methods, so printing is one code path.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hark_protocol::meeting::{ExportFormat, MeetingMetadata, SearchHit, Segment};
use hark_store::export::hms as clock;
use hark_store::{Index, MeetingStore};
use serde_json::{Value, json};

use crate::Location;
use crate::client::Client;

#[derive(clap::Args, Debug)]
pub struct MeetingsArgs {
    #[command(flatten)]
    location: Location,
    #[command(subcommand)]
    command: MeetingsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum MeetingsCommand {
    /// Meetings, newest first.
    List {
        /// Only meetings whose title or transcript has these words.
        #[arg(long)]
        query: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// One meeting: its details and transcript.
    Show {
        id: String,
        /// A transcript revision (default: the latest).
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Full-text search over every meeting's transcript.
    Search {
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// A meeting as md, txt, srt, vtt or json, on stdout (or into --output).
    Export {
        id: String,
        #[arg(long, value_parser = parse_format, default_value = "md")]
        format: ExportFormat,
        #[arg(long)]
        revision: Option<u32>,
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Give a meeting a new title.
    Rename { id: String, title: String },
    /// Delete a meeting: its transcript, audio and index entries.
    Delete { id: String },
    /// Transcribe a stopped meeting again from its audio (a new revision; needs the daemon).
    Retranscribe {
        id: String,
        /// An installed model (default: the daemon's).
        #[arg(long)]
        model: Option<String>,
    },
    /// Rebuild the search index from the meeting files (no daemon may be running).
    Reindex,
}

fn parse_format(s: &str) -> Result<ExportFormat, String> {
    serde_json::from_value(json!(s)).map_err(|_| format!("expected md, txt, srt, vtt or json, got {s:?}"))
}

/// Where the meeting methods are answered.
enum Backend {
    Daemon(Client),
    /// On the files, holding the data dir's daemon lock so no daemon starts on them meanwhile.
    Files {
        store: MeetingStore,
        index: Index,
        _lock: std::fs::File,
    },
}

/// The data dir's daemon lock, when no daemon holds it (the same lock `hark serve` takes).
fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = hark_core::paths::data_lock(data_dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "a hark daemon owns {} but does not answer on its socket; try again, or stop it",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("cannot lock the data dir"),
    }
}

impl Backend {
    async fn open(location: &Location) -> anyhow::Result<Backend> {
        if let Some(client) = crate::status::connect_host(location).await? {
            return Ok(Backend::Daemon(client));
        }
        Self::files(location)
    }

    fn files(location: &Location) -> anyhow::Result<Backend> {
        let lock = lock_data_dir(&location.data_dir())?;
        let store = MeetingStore::new(location.data_dir());
        let (index, report) =
            Index::open(&store.layout().index(), &store).context("cannot open the meeting index")?;
        if report.rebuilt {
            eprintln!(
                "(the meeting index was rebuilt from the files: {})",
                report.reason.unwrap_or_default()
            );
        }
        Ok(Backend::Files { store, index, _lock: lock })
    }

    /// A meeting method, answered by the daemon or from the files, with the daemon's result shape.
    async fn call(&mut self, method: &str, p: Value) -> anyhow::Result<Value> {
        let (store, index) = match self {
            Backend::Daemon(client) => return client.call(method, p).await,
            Backend::Files { store, index, .. } => (store, index),
        };
        let id = || p["meeting_id"].as_str().unwrap_or_default().to_string();
        let check = |id: &str| {
            anyhow::ensure!(hark_protocol::ids::is_valid_meeting_id(id), "not a meeting id: {id:?}");
            Ok(())
        };
        Ok(match method {
            "meeting.list" => {
                let (meetings, total) = index.list(
                    p["limit"].as_u64().unwrap_or(20) as u32,
                    p["offset"].as_u64().unwrap_or(0) as u32,
                    p["query"].as_str(),
                )?;
                json!({ "meetings": meetings, "total": total })
            }
            "meeting.get" | "meeting.export" => {
                let id = id();
                check(&id)?;
                let metadata = store.read_metadata(&id)?;
                let revision = p["revision"].as_u64().map_or(metadata.revision, |r| r as u32);
                let segments = store.read_segments(&id, revision)?;
                if method == "meeting.get" {
                    json!({ "metadata": metadata, "revision": revision, "segments": segments })
                } else {
                    let format: ExportFormat = serde_json::from_value(p["format"].clone())?;
                    json!({ "format": format, "content": hark_store::export(&metadata, &segments, format) })
                }
            }
            "meeting.search" => {
                json!({ "hits": index.search(p["query"].as_str().unwrap_or(""), p["limit"].as_u64().unwrap_or(20) as u32)? })
            }
            "meeting.update" => {
                let id = id();
                check(&id)?;
                let mut metadata = store.read_metadata(&id)?;
                metadata.title = p["title"].as_str().unwrap_or_default().to_string();
                store.write_metadata(&metadata)?;
                index.upsert_meeting(&metadata)?;
                json!(metadata)
            }
            "meeting.delete" => {
                let id = id();
                check(&id)?;
                let m = store.read_metadata(&id)?;
                anyhow::ensure!(
                    m.status != hark_protocol::meeting::MeetingStatus::Recording,
                    "meeting {id} is marked recording (its daemon stopped without finishing it): start `hark serve` once to recover it, then delete it"
                );
                store.delete(&id)?;
                index.delete_meeting(&id)?;
                json!({ "deleted": true })
            }
            other => bail!("{other} needs a running daemon"),
        })
    }
}

fn one_line(m: &MeetingMetadata) -> String {
    let started = m.started_at.get(..16).unwrap_or(&m.started_at).replace('T', " ");
    let status =
        serde_json::to_value(m.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    format!(
        "{:<14} {started}  {status:<11} {:>8} {:>5}  {}",
        m.id,
        clock(m.duration_ms),
        m.segment_count,
        m.title
    )
}

pub fn run(args: MeetingsArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: MeetingsArgs) -> anyhow::Result<ExitCode> {
    if let MeetingsCommand::Reindex = args.command {
        if crate::status::connect_host(&args.location).await?.is_some() {
            bail!(
                "a daemon is running on this data dir and keeps its index up to date; stop it first (it also rebuilds a missing or corrupt index when it starts)"
            );
        }
        let Backend::Files { store, mut index, .. } = Backend::files(&args.location)? else { unreachable!() };
        index.rebuild(&store)?;
        let (_, total) = index.list(1, 0, None)?;
        let counts = index.counts()?;
        println!("reindexed {total} meetings, {} segments", counts.segments);
        return Ok(ExitCode::SUCCESS);
    }
    let mut backend = Backend::open(&args.location).await?;
    let mut out = std::io::stdout().lock();
    match args.command {
        MeetingsCommand::List { query, limit, offset } => {
            let r = backend
                .call("meeting.list", json!({ "limit": limit, "offset": offset, "query": query }))
                .await?;
            let meetings: Vec<MeetingMetadata> = serde_json::from_value(r["meetings"].clone())?;
            if meetings.is_empty() {
                eprintln!("no meetings");
            }
            for m in &meetings {
                writeln!(out, "{}", one_line(m))?;
            }
            if r["total"].as_u64().unwrap_or(0) > meetings.len() as u64 {
                eprintln!("({} of {}; --offset for more)", meetings.len(), r["total"]);
            }
        }
        MeetingsCommand::Show { id, revision } => {
            let r = backend.call("meeting.get", json!({ "meeting_id": id, "revision": revision })).await?;
            let m: MeetingMetadata = serde_json::from_value(r["metadata"].clone())?;
            let segments: Vec<Segment> = serde_json::from_value(r["segments"].clone())?;
            writeln!(out, "{}\n  id        {}\n  started   {}", m.title, m.id, m.started_at)?;
            writeln!(
                out,
                "  status    {:?}, {} long, {} segments",
                m.status,
                clock(m.duration_ms),
                m.segment_count
            )?;
            let sources: Vec<String> =
                m.sources.iter().map(|s| format!("{} ({})", s.name(), s.role)).collect();
            writeln!(out, "  sources   {}", sources.join(", "))?;
            if let Some(rec) = &m.recovered {
                writeln!(
                    out,
                    "  recovered {} after a crash: {} broken lines set aside, {} WAVs fixed, {} set aside",
                    rec.recovered_at, rec.broken_lines, rec.wavs_fixed, rec.wavs_moved_aside
                )?;
            }
            writeln!(out, "  revision  {} of {}\n", r["revision"], m.revisions.len())?;
            write!(out, "{}", hark_store::export(&m, &segments, ExportFormat::Txt))?;
        }
        MeetingsCommand::Search { query, limit } => {
            let r = backend.call("meeting.search", json!({ "query": query, "limit": limit })).await?;
            let hits: Vec<SearchHit> = serde_json::from_value(r["hits"].clone())?;
            if hits.is_empty() {
                eprintln!("nothing found");
            }
            for h in hits {
                // `title` is Hark's own field: another daemon's hits have none.
                let title = if h.title.is_empty() { String::new() } else { format!("{}: ", h.title) };
                writeln!(out, "{:<14} {}  {title}{}", h.meeting_id, clock(h.t0_ms), h.snippet)?;
            }
        }
        MeetingsCommand::Export { id, format, revision, output } => {
            let r = backend
                .call("meeting.export", json!({ "meeting_id": id, "format": format, "revision": revision }))
                .await?;
            let content = r["content"].as_str().unwrap_or_default();
            match output {
                Some(path) => {
                    std::fs::write(&path, content)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => write!(out, "{content}")?,
            }
        }
        MeetingsCommand::Rename { id, title } => {
            anyhow::ensure!(!title.trim().is_empty(), "the title must not be blank");
            let m = backend.call("meeting.update", json!({ "meeting_id": id, "title": title })).await?;
            writeln!(out, "{}", m["title"].as_str().unwrap_or_default())?;
        }
        MeetingsCommand::Delete { id } => {
            backend.call("meeting.delete", json!({ "meeting_id": id })).await?;
            eprintln!("deleted {id}");
        }
        MeetingsCommand::Retranscribe { id, model } => {
            let Backend::Daemon(client) = &mut backend else {
                bail!(
                    "transcribing again needs the daemon (its model and admission): start `hark serve` first"
                );
            };
            let r = client.call("meeting.retranscribe", json!({ "meeting_id": id, "model": model })).await?;
            writeln!(
                out,
                "revision {} of {id}: {} segments ({})",
                r["revision"],
                r["segment_count"],
                r["model"].as_str().unwrap_or("the daemon's model")
            )?;
        }
        MeetingsCommand::Reindex => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    location: Location,
    /// What to record: mic, system, or a WAV file (repeatable; default: mic).
    #[arg(long = "source", value_name = "mic|system|FILE.wav")]
    sources: Vec<String>,
    #[arg(long)]
    title: Option<String>,
    /// Do not keep the audio (only the transcript).
    #[arg(long)]
    no_audio: bool,
}

/// `hark record`: a meeting through the running daemon (or, when none runs, one started in this
/// process) until Ctrl-C (or until every file source has been read), printing finals as they
/// land; then the meeting id.
pub fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(record_async(args))
}

fn source_param(s: &str) -> anyhow::Result<Value> {
    if s == "mic" || s == "system" {
        return Ok(json!(s));
    }
    let path = std::path::Path::new(s);
    anyhow::ensure!(path.is_file(), "--source {s:?}: expected mic, system or a WAV file");
    let path = std::fs::canonicalize(path)?;
    let stem: String = path
        .file_stem()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .take(32)
                .collect()
        })
        .unwrap_or_else(|| "file".into());
    Ok(
        json!({ "kind": "file", "path": path, "realtime": false, "name": if stem.is_empty() { "file".into() } else { stem } }),
    )
}

async fn record_async(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let sources = if args.sources.is_empty() { vec!["mic".to_string()] } else { args.sources.clone() };
    let sources: Vec<Value> = sources.iter().map(|s| source_param(s)).collect::<anyhow::Result<_>>()?;
    // The running daemon, or one started in this process for as long as the recording lasts
    // (the same daemon as `hark serve`: it takes the data dir, agents find it the same way).
    let (mut client, embedded) = match crate::status::connect_host(&args.location).await? {
        Some(client) => (client, None),
        None => {
            let config = crate::serve::default_config(&args.location)?;
            let running = hark_core::start(config, tokio_util::sync::CancellationToken::new())
                .await
                .context("cannot start the daemon for this recording")?;
            eprintln!(
                "(no daemon was running: started one in this process, at {})",
                running.discovery.ws_url
            );
            let client = crate::status::connect_host(&args.location)
                .await?
                .context("cannot connect to the daemon just started")?;
            (client, Some(running))
        }
    };
    let started = client
        .call(
            "meeting.start",
            // If this command dies, the meeting ends with it (what was heard stays stored).
            json!({ "title": args.title, "sources": sources, "persist_audio": !args.no_audio, "stop_on_disconnect": true }),
        )
        .await?;
    let id = started["id"].as_str().unwrap_or_default().to_string();
    let streams: Vec<String> = serde_json::from_value(started["voice_session_ids"].clone())?;
    eprintln!("recording {:?} ({id}); Ctrl-C to stop", started["title"].as_str().unwrap_or_default());
    let mut done = 0;
    let mut stdout = std::io::stdout();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                eprintln!("stopping…");
                let m = client.call("meeting.stop", json!({ "meeting_id": id })).await?;
                eprintln!("{} segments, {}", m["segment_count"], clock(m["duration_ms"].as_u64().unwrap_or(0)));
                break;
            }
            n = client.notification() => {
                let Some(n) = n? else { bail!("the daemon closed the connection") };
                if n["method"] != "voice.event" || !streams.iter().any(|s| n["params"]["session_id"] == json!(s)) {
                    continue;
                }
                let e = &n["params"]["event"];
                match e["type"].as_str() {
                    Some("transcript") => {
                        let t0 = e["t0_ms"].as_u64().unwrap_or(0);
                        writeln!(stdout, "[{}] {}: {}", clock(t0), e["role"].as_str().unwrap_or(""), e["text"].as_str().unwrap_or(""))?;
                    }
                    Some("error") => eprintln!("error: {}", e["message"].as_str().unwrap_or("")),
                    Some("done") => {
                        done += 1;
                        if done == streams.len() {
                            eprintln!("every source has ended");
                            // The meeting ends by itself now; its recorder may still be writing
                            // the last of it. meeting.stop waits for that (a meeting already
                            // finished answers "not recording"), so what follows this command
                            // (a list, a search, a shutdown) sees the meeting stopped.
                            if client.call("meeting.stop", json!({ "meeting_id": id })).await.is_err() {
                                let m = client.call("meeting.get", json!({ "meeting_id": id })).await?;
                                if m["metadata"]["status"] == "recording" {
                                    bail!("meeting {id} is still recording after its sources ended");
                                }
                            }
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    writeln!(stdout, "{id}")?;
    if let Some(running) = embedded {
        drop(client);
        running.shutdown(std::time::Duration::from_secs(3)).await;
    }
    Ok(ExitCode::SUCCESS)
}
