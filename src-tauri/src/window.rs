//! The window runs in a process of its own: `hark-desktop --window [--route R]`, started by the
//! tray process on "Open Hark" (and at launch), ended when the person closes the window.
//!
//! Why: a WebKitGTK webview, once created, keeps its web context, WebKit's network process and
//! the library's heap for as long as its process lives, even after the window is destroyed (the
//! app held RSS 229 / PSS 146 MiB with its window closed; the tray process alone holds 85 / 76
//! MiB; BENCHMARKS.md, "The desktop app at rest"). With the window in its
//! own process, closing it gives all of that back, and the tray process (tray, daemon,
//! notifications, start at login, shortcut) never creates a web context at all.
//!
//! The two talk over the child's stdin and stdout, one JSON object per line (`ToWindow`,
//! `FromWindow`): the tray sends where the daemon is (at spawn and on every change: the host token
//! travels here, never in an argument or the environment, which other processes can read) and
//! "open" (show, focus, go to a route); the window sends "quit" (its Quit button) and "closed"
//! (its window is gone: the next "open" starts a new process instead of reaching this one, which
//! is on its way out, so a click then is never lost). The window
//! talks to the daemon itself, over WebSocket, as before. The window process ends when its window
//! closes, or when its stdin ends (the tray process is gone).

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::controller::{Action, LinkStatus};

/// The argument that makes `hark-desktop` the window process.
pub const WINDOW_ARG: &str = "--window";
/// `--route R`: the window opens at `index.html#R`.
pub const ROUTE_ARG: &str = "--route";
/// The main window's label (tauri.conf.json and capabilities/main.json name it too).
pub const MAIN_WINDOW: &str = "main";
/// The event the window hears when its daemon changed (it asks `daemon_connection` again).
pub const DAEMON_CHANGED: &str = "daemon-changed";

/// What the tray process tells the window process (a line on its stdin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToWindow {
    /// Where the daemon is: sent first, then on every change.
    Status { status: LinkStatus },
    /// Show the window and bring it to the front; with a route, go there.
    Open { route: Option<String> },
}

/// What the window process tells the tray process (a line on its stdout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FromWindow {
    /// The window's Quit: the whole app quits (meetings stopped cleanly first).
    Quit,
    /// The window was destroyed; the process exits next.
    Closed,
}

/// The tray side: the window process, started on demand. Cheap to clone (one shared slot).
#[derive(Clone)]
pub struct Windows {
    inner: Arc<Inner>,
}

struct Inner {
    program: PathBuf,
    args: Vec<String>,
    /// Variables of this process the window process does not get.
    env_remove: Vec<String>,
    actions: mpsc::UnboundedSender<Action>,
    /// The last status the controller gave: what a new window process hears first.
    status: watch::Sender<LinkStatus>,
    current: Mutex<Option<Current>>,
    spawned: AtomicU64,
}

/// The running window process: its number, and the queue its stdin is written from.
struct Current {
    id: u64,
    to: mpsc::UnboundedSender<ToWindow>,
}

impl Windows {
    /// Window processes are `program args... [--route R]` (the app: its own executable and
    /// `--window`; tests: a script).
    pub fn new(program: PathBuf, args: Vec<String>, actions: mpsc::UnboundedSender<Action>) -> Self {
        Self::with_env_remove(program, args, Vec::new(), actions)
    }

    fn with_env_remove(
        program: PathBuf,
        args: Vec<String>,
        env_remove: Vec<String>,
        actions: mpsc::UnboundedSender<Action>,
    ) -> Self {
        let inner = Inner {
            program,
            args,
            env_remove,
            actions,
            status: watch::channel(LinkStatus::Starting).0,
            current: Mutex::new(None),
            spawned: AtomicU64::new(0),
        };
        Windows { inner: Arc::new(inner) }
    }

    /// The window process of this very executable; `without_gdk_gl`: started without the
    /// `GDK_GL` the tray process set for itself (lib.rs, `no_gl_in_the_tray`).
    pub fn of_this_app(
        actions: mpsc::UnboundedSender<Action>,
        without_gdk_gl: bool,
    ) -> std::io::Result<Self> {
        let env_remove = if without_gdk_gl { vec!["GDK_GL".to_string()] } else { Vec::new() };
        Ok(Windows::with_env_remove(
            std::env::current_exe()?,
            vec![WINDOW_ARG.to_string()],
            env_remove,
            actions,
        ))
    }

    /// Where the daemon is now; a running window hears it at once, a later one when it starts.
    pub fn set_status(&self, status: &LinkStatus) {
        self.inner.status.send_replace(status.clone());
    }

    /// Shows the window: the running window process is told to come to the front (at `route`),
    /// or one is started. Must run inside the tokio runtime (it spawns the process's tasks).
    pub fn open(&self, route: Option<String>) {
        let mut current = crate::lock(&self.inner.current);
        if let Some(running) = current.as_ref()
            && running.to.send(ToWindow::Open { route: route.clone() }).is_ok()
        {
            return;
        }
        *current = None;
        match self.spawn(route) {
            Ok(running) => *current = Some(running),
            Err(e) => {
                tracing::error!(error = %e, program = %self.inner.program.display(), "cannot open the window")
            }
        }
    }

    fn spawn(&self, route: Option<String>) -> std::io::Result<Current> {
        let mut command = tokio::process::Command::new(&self.inner.program);
        command.args(&self.inner.args);
        for name in &self.inner.env_remove {
            command.env_remove(name);
        }
        if let Some(route) = &route {
            command.arg(ROUTE_ARG).arg(route);
        }
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both were asked to be piped");
        };
        let id = self.inner.spawned.fetch_add(1, Ordering::Relaxed);
        tracing::info!(pid = child.id(), "window opened");
        let (to, mut queue) = mpsc::unbounded_channel::<ToWindow>();

        // stdin: the status now and on every change, and each "open". It ends, closing the
        // window process's stdin, when the process is gone or the tray forgets it.
        let mut status = self.inner.status.subscribe();
        tokio::spawn(async move {
            let mut next = Some(ToWindow::Status { status: status.borrow_and_update().clone() });
            while let Some(message) = next {
                let mut line = serde_json::to_vec(&message).expect("a message serializes");
                line.push(b'\n');
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    return;
                }
                next = tokio::select! {
                    changed = status.changed() => match changed {
                        Ok(()) => Some(ToWindow::Status { status: status.borrow_and_update().clone() }),
                        Err(_) => None,
                    },
                    queued = queue.recv() => queued,
                };
            }
        });

        // stdout: the window's messages, until it ends; then the slot is free for the next one.
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let forget = || {
                let mut current = crate::lock(&inner.current);
                if current.as_ref().is_some_and(|c| c.id == id) {
                    *current = None;
                }
            };
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<FromWindow>(&line) {
                    Ok(FromWindow::Quit) => {
                        let _ = inner.actions.send(Action::Quit);
                    }
                    Ok(FromWindow::Closed) => forget(),
                    Err(_) => tracing::debug!(line, "the window process wrote a line that is not a message"),
                }
            }
            forget();
            match child.wait().await {
                Ok(status) if status.success() => tracing::info!("window closed"),
                Ok(status) => tracing::warn!(%status, "the window process ended with an error"),
                Err(e) => tracing::warn!(error = %e, "cannot wait for the window process"),
            }
        });
        Ok(Current { id, to })
    }
}

/// `--window [--route R]` in the arguments: the route (or `None`) when this is the window process.
pub fn window_args(args: &[String]) -> Option<Option<String>> {
    if args.get(1).map(String::as_str) != Some(WINDOW_ARG) {
        return None;
    }
    let route = args.windows(2).find(|w| w[0] == ROUTE_ARG).map(|w| w[1].clone());
    Some(route)
}

/// The window process: one window on the embedded UI, the three commands, until the window
/// closes or the tray process is gone.
pub fn run(route: Option<String>) -> ExitCode {
    match hark_cli::serve::default_config(&hark_cli::Location { data_dir: None }) {
        Ok(config) => hark_cli::serve::init_logging(&config.data_dir),
        Err(e) => eprintln!("hark-desktop --window: {e:#} (logging to stderr only)"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hark-desktop --window: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    tauri::async_runtime::set(runtime.handle().clone());
    let context = tauri::tauri_build_context!(); // generated by build.rs from ../tauri.conf.json
    let (status, status_rx) = watch::channel(LinkStatus::Starting);
    let built = tauri::Builder::default()
        .plugin(tauri_plugin_opener::init())
        .manage(crate::commands::Links(status_rx))
        .invoke_handler(tauri::generate_handler![
            crate::commands::daemon_connection,
            crate::commands::open_external,
            crate::commands::quit_app
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            build_window(&handle, route)?;
            tauri::async_runtime::spawn(hear_the_tray(handle, status));
            Ok(())
        })
        .build(context);
    let app = match built {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the window");
            eprintln!("hark-desktop --window: cannot open the window: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The window's close ends this process (Tauri exits when its last window is gone); the tray
    // hears of it first, so an "open" from now on starts a new window process.
    let code = app.run_return(|_, event| {
        if let tauri::RunEvent::WindowEvent { label, event: tauri::WindowEvent::Destroyed, .. } = event
            && label == MAIN_WINDOW
            && let Err(e) = tell_the_tray(&FromWindow::Closed)
        {
            tracing::debug!(error = %e, "cannot tell the tray the window closed");
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// A message to the tray process: the window's Quit (the `quit_app` command), or its close.
pub fn tell_the_tray(message: &FromWindow) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, message)?;
    out.write_all(b"\n")?;
    out.flush()
}

fn build_window(app: &AppHandle, route: Option<String>) -> tauri::Result<()> {
    let Some(mut config) = app.config().app.windows.iter().find(|w| w.label == MAIN_WINDOW).cloned() else {
        return Err(tauri::Error::WindowNotFound);
    };
    if let Some(route) = route {
        config.url = WebviewUrl::App(format!("index.html#{route}").into());
    }
    let window = WebviewWindowBuilder::from_config(app, &config)?.build()?;
    let _ = window.set_focus();
    Ok(())
}

/// Reads the tray's messages until its pipe ends, then closes the window (the tray is gone).
async fn hear_the_tray(app: AppHandle, status: watch::Sender<LinkStatus>) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match serde_json::from_str::<ToWindow>(&line) {
            Ok(ToWindow::Status { status: now }) => {
                let before = status.send_replace(now.clone());
                // The window asks `daemon_connection` when it loads: it hears only of a later
                // change (the daemon it used is gone and the tray linked to another one).
                if let (LinkStatus::Ready(before), LinkStatus::Ready(now)) = (&before, &now)
                    && before != now
                {
                    let _ = app.emit_to(MAIN_WINDOW, DAEMON_CHANGED, ());
                }
            }
            Ok(ToWindow::Open { route }) => show(&app, route),
            Err(e) => tracing::warn!(error = %e, "the tray sent a line that is not a message"),
        }
    }
    tracing::info!("the tray process is gone: closing the window");
    app.exit(0);
}

fn show(app: &AppHandle, route: Option<String>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else { return };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
    if let Some(route) = route {
        let hash = serde_json::to_string(&format!("#{route}")).expect("a string serializes");
        let _ = window.eval(format!("window.location.hash = {hash}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_process_is_told_by_its_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(window_args(&args(&["hark-desktop"])), None);
        assert_eq!(window_args(&args(&["hark-desktop", "--route", "/x"])), None);
        assert_eq!(window_args(&args(&["hark-desktop", "--window"])), Some(None));
        assert_eq!(
            window_args(&args(&["hark-desktop", "--window", "--route", "/settings"])),
            Some(Some("/settings".into()))
        );
    }

    #[test]
    fn messages_are_one_json_line_each_way() {
        let link = crate::link::Link {
            ws_url: "ws://127.0.0.1:9470/".into(),
            host_token: Some("secret".into()),
            pid: 7,
            own: true,
        };
        for message in [
            ToWindow::Status { status: LinkStatus::Starting },
            ToWindow::Status { status: LinkStatus::Ready(link) },
            ToWindow::Status { status: LinkStatus::Unavailable("no daemon\nat all".into()) },
            ToWindow::Open { route: Some("/meetings/a b".into()) },
            ToWindow::Open { route: None },
        ] {
            let line = serde_json::to_string(&message).unwrap();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(serde_json::from_str::<ToWindow>(&line).unwrap(), message);
        }
        assert_eq!(serde_json::to_string(&FromWindow::Quit).unwrap(), r#"{"kind":"quit"}"#);
        assert_eq!(serde_json::to_string(&FromWindow::Closed).unwrap(), r#"{"kind":"closed"}"#);
    }

    /// A stand-in window process (sh) that logs each line it hears, says "quit" when sent to
    /// /quit, exits when sent to /close, and says "closed" then takes 3 s to exit when sent to
    /// /linger: what the tray sends, and when a new one starts.
    const FAKE_WINDOW: &str = r#"log="$1"; echo "started${2:+ $2 $3}" >> "$log"
while IFS= read -r line; do
  printf '%s\n' "$line" >> "$log"
  case "$line" in
    *'"/quit"'*) printf 'not a message\n{"kind":"quit"}\n' ;;
    *'"/close"'*) exit 0 ;;
    *'"/linger"'*) printf '{"kind":"closed"}\n'; sleep 3; exit 0 ;;
  esac
done"#;

    #[tokio::test]
    async fn the_tray_starts_one_window_process_tells_it_where_the_daemon_is_and_hears_its_quit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("window.log");
        let (actions, mut actions_rx) = mpsc::unbounded_channel();
        let windows = Windows::new(
            "sh".into(),
            vec!["-c".into(), FAKE_WINDOW.into(), "sh".into(), log.display().to_string()],
            actions,
        );
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        let heard = |n: usize| async move {
            for _ in 0..200 {
                let lines: Vec<String> = read().lines().map(String::from).collect();
                if lines.len() >= n {
                    return lines;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("the window process heard only {:?}", read());
        };
        let link = crate::link::Link {
            ws_url: "ws://127.0.0.1:1/".into(),
            host_token: Some("t".into()),
            pid: 1,
            own: true,
        };

        windows.open(None);
        let lines = heard(2).await;
        assert_eq!(lines[0], "started");
        assert_eq!(
            serde_json::from_str::<ToWindow>(&lines[1]).unwrap(),
            ToWindow::Status { status: LinkStatus::Starting }
        );
        windows.set_status(&LinkStatus::Ready(link.clone()));
        let lines = heard(3).await;
        assert_eq!(
            serde_json::from_str::<ToWindow>(&lines[2]).unwrap(),
            ToWindow::Status { status: LinkStatus::Ready(link.clone()) }
        );

        // A second open goes to the running process, not to a new one.
        windows.open(Some("/quit".into()));
        let quit = tokio::time::timeout(std::time::Duration::from_secs(5), actions_rx.recv()).await;
        assert_eq!(quit.unwrap(), Some(Action::Quit));
        assert_eq!(heard(4).await.iter().filter(|l| *l == "started").count(), 1);

        // Once it has exited (its window closed), the next open starts a new one at the route,
        // which hears the status first, at once.
        windows.open(Some("/close".into()));
        heard(5).await;
        for _ in 0..200 {
            if crate::lock(&windows.inner.current).is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        windows.open(Some("/settings".into()));
        let lines = heard(7).await;
        assert_eq!(lines[5], "started --route /settings");
        assert_eq!(
            serde_json::from_str::<ToWindow>(&lines[6]).unwrap(),
            ToWindow::Status { status: LinkStatus::Ready(link) }
        );
    }

    #[tokio::test]
    async fn an_open_after_the_window_closed_starts_a_new_process_while_the_old_one_winds_down() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("window.log");
        let (actions, _actions_rx) = mpsc::unbounded_channel();
        let windows = Windows::new(
            "sh".into(),
            vec!["-c".into(), FAKE_WINDOW.into(), "sh".into(), log.display().to_string()],
            actions,
        );
        let started = || std::fs::read_to_string(&log).unwrap_or_default().matches("started").count();
        windows.open(None);
        windows.open(Some("/linger".into()));
        // "closed" frees the slot at once, though the process lives on for 3 s more.
        let t = std::time::Instant::now();
        while crate::lock(&windows.inner.current).is_some() {
            assert!(t.elapsed() < std::time::Duration::from_secs(2), "the tray did not hear \"closed\"");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        windows.open(Some("/settings".into()));
        while started() < 2 {
            assert!(t.elapsed() < std::time::Duration::from_secs(2), "no new window process: {}", started());
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(std::fs::read_to_string(&log).unwrap().contains("started --route /settings"));
        // The old one's exit does not forget the new one.
        tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
        assert!(crate::lock(&windows.inner.current).is_some());
    }
}
