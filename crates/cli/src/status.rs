//! `hark token` and `hark status`: both read the discovery file of the daemon that owns the data
//! dir, so they work whatever port it picked.

use std::process::ExitCode;

use anyhow::{Context, bail};
use hark_core::paths::RuntimePaths;
use hark_core::runtime_files::{Discovery, read_discovery};
use serde_json::{Value, json};

use crate::Location;
use crate::client::Client;

pub(crate) fn discovery(location: &Location) -> anyhow::Result<Discovery> {
    let paths = RuntimePaths::new(location.runtime_dir());
    match read_discovery(&paths.discovery()) {
        Some(d) => Ok(d),
        None => bail!(
            "no running hark daemon found (no {}); start one with `hark serve`",
            paths.discovery().display()
        ),
    }
}

pub(crate) fn read_token(path: &Option<std::path::PathBuf>) -> anyhow::Result<Option<String>> {
    match path {
        Some(p) => {
            let t = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok(Some(t.trim().to_string()))
        }
        None => Ok(None),
    }
}

pub fn token(location: &Location) -> anyhow::Result<ExitCode> {
    let d = discovery(location)?;
    let token = read_token(&d.token_file)?;
    println!("# hark daemon (pid {}), version {}", d.pid, d.version);
    println!("# Connect a WebSocket to the URL (or to the Unix socket), then send first:");
    match &token {
        Some(_) => println!(
            "#   {{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.auth\",\"params\":{{\"token\":\"$HARK_TOKEN\"}}}}"
        ),
        None => println!("#   nothing: authentication is disabled (--no-auth)"),
    }
    println!("export HARK_URL={}", d.ws_url);
    if let Some(socket) = &d.socket {
        println!("export HARK_SOCKET={}", socket.display());
    }
    if let Some(t) = &token {
        println!("export HARK_TOKEN={t}");
    }
    println!("# For CAR clients (car-runtime):");
    println!("export CAR_DAEMON_URL={}", d.ws_url.trim_end_matches('/'));
    println!("export CAR_AUTH_TOKEN={}", token.as_deref().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

pub fn status(location: &Location, raw: bool) -> anyhow::Result<ExitCode> {
    let d = discovery(location)?;
    let host_token = read_token(&d.host_token_file)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let info = runtime.block_on(async {
        let mut client = Client::connect(&d.ws_url).await?;
        let auth = match &host_token {
            Some(t) => json!({ "host_token": t }),
            None => json!({}),
        };
        client.call("session.auth", auth).await?;
        let info = client.call("server.info", json!({})).await?;
        let admission = client.call("admission.status", json!({})).await?;
        anyhow::Ok((info, admission))
    })?;
    let text = if raw {
        format!("{}\n", json!({ "server_info": info.0, "admission": info.1 }))
    } else {
        readable(&d, &info.0, &info.1)
    };
    // A reader that stops early (`hark status | head -3`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The readable status, every line ending in a newline.
fn readable(d: &Discovery, info: &Value, admission: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    // Writing to a String cannot fail.
    macro_rules! say {
        ($($arg:tt)*) => {
            let _ = writeln!(out, $($arg)*);
        };
    }
    let uptime_s = info["uptime_ms"].as_u64().unwrap_or(0) / 1000;
    say!(
        "hark {} (protocol v{}) — running, pid {}",
        info["server_version"].as_str().unwrap_or("?"),
        info["protocol_version"],
        d.pid
    );
    say!("  uptime        {}h {:02}m {:02}s", uptime_s / 3600, uptime_s / 60 % 60, uptime_s % 60);
    say!("  url           {}", d.ws_url);
    if let Some(socket) = &d.socket {
        say!("  socket        {}", socket.display());
    }
    say!("  data dir      {}", d.data_dir.display());
    say!(
        "  auth          {}",
        if info["auth_enabled"].as_bool() == Some(true) { "token" } else { "DISABLED" }
    );
    // This `status` connection is one of them.
    say!("  connections   {} (sessions {}, this one included)", info["connections"], info["sessions"]);
    let model = &info["model"];
    say!(
        "  model         {}",
        match model["name"].as_str() {
            Some(name) => format!(
                "{name} ({})",
                if model["loaded"].as_bool() == Some(true) { "loaded" } else { "not loaded" }
            ),
            None => "none".into(),
        }
    );
    say!(
        "  inference     {} of {} permits free, {} queued",
        admission["permits_available"],
        admission["permits_total"],
        admission["queued"]
    );
    let caps: Vec<&str> = info["capabilities"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    say!("  capabilities  {}", caps.join(", "));
    out
}

/// A host-role connection to the daemon that owns the data dir, when one runs and answers.
/// `None`: no daemon (or a discovery file a killed daemon left behind).
pub(crate) async fn connect_host(location: &Location) -> anyhow::Result<Option<Client>> {
    let Ok(d) = discovery(location) else { return Ok(None) };
    let Ok(mut client) = Client::connect(&d.ws_url).await else { return Ok(None) };
    let auth = match read_token(&d.host_token_file)? {
        Some(t) => json!({ "host_token": t }),
        None => json!({}),
    };
    client.call("session.auth", auth).await?;
    Ok(Some(client))
}
