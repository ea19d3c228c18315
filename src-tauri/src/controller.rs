//! The one owner of the shell's state (HOUSE-STYLE §5): a task that links to a daemon (`link`:
//! its own, in-process, or the one already running on the data dir), keeps one host connection
//! to it (`host`), applies its host events to a [`ShellState`], and turns the person's actions
//! (tray menu, global shortcut, the window's `quit_app`, SIGTERM) into daemon calls. It draws
//! through a [`Shell`], which the Tauri app implements and the tests fake, so all of this runs,
//! and is tested, without a display.
//!
//! Quit while recording stops the meeting cleanly first: with its own daemon, the daemon's
//! shutdown stops every running meeting (last segment stored, WAV headers final) before it closes
//! anything; with another process's daemon, the meetings this app started are stopped with
//! `meeting.stop` (the rest are that daemon's business).

use std::collections::BTreeSet;
use std::time::Duration;

use hark_core::{DaemonConfig, RunningDaemon};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::host::{CallError, HostClient};
use crate::link::{self, Link};
use crate::state::{Busy, DaemonState, Note, Settings, ShellState, TrayView};

/// What the person asked for, from the tray, the shortcut, the window or a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    /// The global shortcut: start when idle, stop when recording.
    Toggle,
    Quit,
}

/// Where the window's daemon is: what `daemon_connection` answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LinkStatus {
    Starting,
    Ready(Link),
    Unavailable(String),
}

/// The desktop around the controller: the Tauri app, or a test's recorder.
pub trait Shell: Send + Sync + 'static {
    /// Draws the tray: icon, tooltip, menu. Called only when the view changed.
    fn show(&self, view: &TrayView);
    fn notify(&self, note: &Note);
    /// Start-at-login and the global shortcut follow the settings (at start and on change).
    fn apply_settings(&self, settings: &Settings);
    /// The daemon the window should use changed (the window asks `daemon_connection` again).
    fn linked(&self, status: &LinkStatus);
    /// Ends the app (after the daemon is stopped).
    fn exit(&self, code: i32);
}

/// The name the shell's connection gives the daemon (`started_by` of the meetings it starts).
pub const CLIENT_ID: &str = "hark-desktop";
/// How long another daemon that holds the data dir may take to write its discovery file.
pub const DISCOVERY_WAIT: Duration = Duration::from_secs(10);
/// The shutdown grace for connections and files, after meetings are stopped (as `hark serve`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// `meeting.stop` waits for the last segment's transcription.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Controller<S: Shell> {
    shell: S,
    config: DaemonConfig,
    actions: mpsc::UnboundedReceiver<Action>,
    status: watch::Sender<LinkStatus>,
    state: ShellState,
    drawn: Option<TrayView>,
    /// Meetings this app started (stopped on Quit when the daemon is another process's).
    started_here: BTreeSet<String>,
    backoff: Duration,
    /// The first link, already under way (`starting`).
    first: Option<tokio::task::JoinHandle<Result<link::Linked, link::LinkError>>>,
}

enum Ended {
    /// The person quit; the connection, if there was one.
    Quit(Option<HostClient>),
    /// The connection failed or ended.
    Lost(CallError),
}

enum Next {
    Event(Option<Value>),
    Action(Option<Action>),
}

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl<S: Shell> Controller<S> {
    pub fn new(
        shell: S,
        config: DaemonConfig,
        actions: mpsc::UnboundedReceiver<Action>,
        status: watch::Sender<LinkStatus>,
    ) -> Self {
        Controller {
            shell,
            config,
            actions,
            status,
            state: ShellState::default(),
            drawn: None,
            started_here: BTreeSet::new(),
            backoff: BACKOFF_MIN,
            first: None,
        }
    }

    /// The first link is this task's (`link::start_or_adopt` on the same configuration, spawned
    /// before the shell was built, so the daemon answers without waiting for the desktop's
    /// libraries to load).
    pub fn starting(mut self, first: tokio::task::JoinHandle<Result<link::Linked, link::LinkError>>) -> Self {
        self.first = Some(first);
        self
    }

    /// Runs until the person quits; returns the exit code it gave the shell.
    pub async fn run(mut self) -> i32 {
        loop {
            self.state.daemon = DaemonState::Connecting;
            self.redraw();
            let attempt = match self.first.take() {
                Some(first) => first.await.unwrap_or_else(|e| Err(link::LinkError::Task(e.to_string()))),
                None => link::start_or_adopt(self.config.clone(), DISCOVERY_WAIT).await,
            };
            let linked = match attempt {
                Ok(linked) => linked,
                Err(e) => {
                    tracing::error!(error = %e, "no daemon to use");
                    self.set_status(LinkStatus::Unavailable(e.to_string()));
                    self.state.daemon = DaemonState::Unavailable(e.to_string());
                    self.redraw();
                    if self.pause_or_quit().await {
                        return self.quit(None, None).await;
                    }
                    continue;
                }
            };
            let (link, own) = (linked.link, linked.own);
            if !link.own {
                tracing::info!(url = %link.ws_url, pid = link.pid, "a Hark daemon already runs on this data dir: using it");
                eprintln!(
                    "hark-desktop: a Hark daemon already runs on this data dir (pid {}, {}): using it",
                    link.pid, link.ws_url
                );
            } else {
                tracing::info!(url = %link.ws_url, "hark daemon ready (in the app)");
            }
            let mut told = false;
            loop {
                match self.session(&link, &mut told).await {
                    Ended::Quit(client) => return self.quit(own, client).await,
                    Ended::Lost(e) => {
                        tracing::warn!(error = %e, url = %link.ws_url, "lost the daemon connection");
                        self.state.daemon = DaemonState::Connecting;
                        self.state.recording.clear();
                        self.set_status(LinkStatus::Starting);
                        self.redraw();
                        if self.pause_or_quit().await {
                            return self.quit(own, None).await;
                        }
                        if own.is_none() {
                            break; // another process's daemon: it may be gone, link again
                        }
                    }
                }
            }
        }
    }

    /// One connection to the linked daemon, until it ends or the person quits.
    async fn session(&mut self, link: &Link, told: &mut bool) -> Ended {
        let (client, mut events) = match HostClient::connect(link, CLIENT_ID).await {
            Ok(c) => c,
            Err(e) => return Ended::Lost(e),
        };
        match client.call("host.subscribe", json!({})).await {
            Ok(snapshot) => self.state.apply_snapshot(&snapshot),
            Err(e) => return Ended::Lost(e),
        }
        self.refresh_settings(&client, true).await;
        self.refresh_recent(&client).await;
        self.state.daemon = DaemonState::Ready { own: link.own, pid: link.pid };
        self.backoff = BACKOFF_MIN;
        self.set_status(LinkStatus::Ready(link.clone()));
        self.redraw();
        if !link.own && !*told {
            *told = true;
            self.note(&Note {
                title: "Hark".into(),
                body: format!("Using the Hark daemon already running on this data dir (pid {}).", link.pid),
            });
        }
        loop {
            let next = tokio::select! {
                event = events.recv() => Next::Event(event),
                action = self.actions.recv() => Next::Action(action),
            };
            match next {
                Next::Event(None) => return Ended::Lost(CallError::Closed),
                Next::Event(Some(n)) => {
                    if n["method"] == "host.event" {
                        self.on_host_event(&client, &n["params"]).await;
                    }
                }
                Next::Action(None | Some(Action::Quit)) => return Ended::Quit(Some(client)),
                Next::Action(Some(action)) => {
                    if let Err(CallError::Closed) = self.on_action(&client, action).await {
                        return Ended::Lost(CallError::Closed);
                    }
                }
            }
        }
    }

    async fn on_host_event(&mut self, client: &HostClient, event: &Value) {
        let fx = self.state.apply_event(event);
        if fx.refresh_settings {
            self.refresh_settings(client, false).await;
        }
        if fx.refresh_recent {
            self.refresh_recent(client).await;
        }
        if let Some(note) = &fx.note {
            self.note(note);
        }
        if fx.redraw || fx.refresh_recent {
            self.redraw();
        }
    }

    async fn on_action(&mut self, client: &HostClient, action: Action) -> Result<(), CallError> {
        let action = match action {
            Action::Toggle if self.state.is_recording() => Action::Stop,
            Action::Toggle => Action::Start,
            other => other,
        };
        match action {
            Action::Start if !self.state.is_recording() && self.state.busy.is_none() => {
                self.state.busy = Some(Busy::Starting);
                self.redraw();
                let started =
                    client.call("meeting.start", crate::state::start_params(&self.state.settings)).await;
                self.state.busy = None;
                match started {
                    Ok(r) => {
                        let id = r["id"].as_str().unwrap_or_default().to_string();
                        let title = r["title"].as_str().unwrap_or_default().to_string();
                        self.started_here.insert(id.clone());
                        self.state.recording.insert(id, title); // meeting.started may come later
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not start recording");
                        // The person clicked and nothing else would say why: shown whatever the setting.
                        self.shell
                            .notify(&Note { title: "Could not start recording".into(), body: e.to_string() });
                    }
                }
                self.refresh_recent(client).await;
                self.redraw();
                Ok(())
            }
            Action::Stop if self.state.is_recording() && self.state.busy.is_none() => {
                self.state.busy = Some(Busy::Stopping);
                self.redraw();
                let ids: Vec<String> = self.state.recording.keys().cloned().collect();
                let mut outcome = Ok(());
                for id in ids {
                    match client.call_with("meeting.stop", json!({ "meeting_id": id }), STOP_TIMEOUT).await {
                        // -32012: it stopped meanwhile (by itself, or someone else stopped it).
                        Ok(_) | Err(CallError::Rpc { code: -32012, .. }) => {
                            self.state.recording.remove(&id);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, meeting = %id, "could not stop the meeting");
                            self.shell.notify(&Note {
                                title: "Could not stop recording".into(),
                                body: e.to_string(),
                            });
                            outcome = Err(e);
                        }
                    }
                }
                self.state.busy = None;
                self.refresh_recent(client).await;
                self.redraw();
                outcome
            }
            _ => Ok(()), // already recording / idle / busy: nothing to do
        }
    }

    async fn refresh_settings(&mut self, client: &HostClient, first: bool) {
        let settings = match client.call("settings.get", json!({})).await {
            Ok(r) => crate::state::settings_from(&r),
            Err(e) if e.is_method_not_found() => {
                if first {
                    tracing::info!("this daemon has no settings.get: using the default settings");
                }
                Settings::default()
            }
            Err(e) => {
                tracing::warn!(error = %e, "settings.get failed: keeping the settings in force");
                return;
            }
        };
        if first || settings != self.state.settings {
            self.shell.apply_settings(&settings);
        }
        self.state.settings = settings;
    }

    async fn refresh_recent(&mut self, client: &HostClient) {
        match client.call("meeting.list", json!({ "limit": crate::state::RECENT })).await {
            Ok(list) => self.state.set_recent(&list),
            Err(e) => tracing::warn!(error = %e, "meeting.list failed"),
        }
    }

    async fn quit(&mut self, own: Option<RunningDaemon>, client: Option<HostClient>) -> i32 {
        self.state.busy = Some(Busy::Quitting);
        self.redraw();
        match (own, client) {
            (Some(running), client) => {
                drop(client);
                if self.state.is_recording() {
                    tracing::info!("quitting: stopping the running meetings first");
                }
                running.shutdown(SHUTDOWN_GRACE).await; // stops every meeting, then closes
                tracing::info!("hark daemon stopped");
            }
            (None, Some(client)) => {
                let mine: Vec<String> = self
                    .state
                    .recording
                    .keys()
                    .filter(|id| self.started_here.contains(*id))
                    .cloned()
                    .collect();
                for id in mine {
                    if let Err(e) =
                        client.call_with("meeting.stop", json!({ "meeting_id": id }), STOP_TIMEOUT).await
                    {
                        tracing::warn!(error = %e, meeting = %id, "could not stop the meeting on quit");
                    }
                }
            }
            (None, None) => {}
        }
        self.shell.exit(0);
        0
    }

    /// Waits out the backoff (doubling, at most 5 s); true when the person quit meanwhile.
    async fn pause_or_quit(&mut self) -> bool {
        let pause = tokio::time::sleep(self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => return false,
                action = self.actions.recv() => match action {
                    None | Some(Action::Quit) => return true,
                    Some(_) => {} // no daemon to record with
                },
            }
        }
    }

    fn note(&self, note: &Note) {
        if self.state.settings.notifications {
            self.shell.notify(note);
        }
    }

    fn set_status(&self, status: LinkStatus) {
        let changed = self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status.clone();
            changed
        });
        if changed {
            self.shell.linked(&status);
        }
    }

    fn redraw(&mut self) {
        let view = self.state.view();
        if self.drawn.as_ref() != Some(&view) {
            self.shell.show(&view);
            self.drawn = Some(view);
        }
    }
}
