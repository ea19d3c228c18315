//! The shell's controller against real daemons (in this process, on port 0, a fake microphone
//! playing jfk.wav in real time), with a fake [`Shell`] that records what the tray would show:
//! click-to-record and stop, the roster count, notifications, Quit stopping a meeting cleanly;
//! using a daemon that already runs on the data dir (and stopping only its own meetings on
//! Quit), starting its own when that one goes away, and saying why when no daemon can start.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hark_audio::source::{AudioSource, FakeDevice, FakeDeviceConfig, InputDevice, SourceError};
use hark_core::DaemonConfig;
use hark_core::voice::capture::CaptureBackend;
use hark_desktop::controller::{Action, Controller, LinkStatus, Shell};
use hark_desktop::link::Link;
use hark_desktop::state::{MenuEntry, Note, Settings, TrayView};
use hark_test_support::{Client, TestDaemon, eventually};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(20);

/// A microphone that hears jfk.wav, then a minute of silence, in real time (or only silence).
#[derive(Debug)]
struct FakeMic {
    speech: bool,
}

const JFK_THEN_SILENCE: FakeMic = FakeMic { speech: true };

impl CaptureBackend for FakeMic {
    fn inputs(&self) -> Result<Vec<InputDevice>, SourceError> {
        Ok(vec![InputDevice {
            id: "fake:mic".into(),
            name: "Fake".into(),
            default: true,
            sample_rates: vec![16_000],
        }])
    }
    fn system_capture(&self) -> bool {
        false
    }
    fn open_mic(&self, _device: Option<String>) -> Result<Box<dyn AudioSource>, SourceError> {
        let jfk = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/jfk.wav");
        let mut audio = if self.speech {
            hark_audio::wav::read_file_16k_mono(&jfk).expect("jfk.wav").0
        } else {
            Vec::new()
        };
        audio.extend(std::iter::repeat_n(0.0, 60 * 16_000));
        Ok(Box::new(FakeDevice::start(FakeDeviceConfig {
            audio,
            rate: 16_000,
            channels: 1,
            frames_per_callback: 160,
            realtime: true,
            queue_samples: 16_000 * 120,
            fail_at_end: false,
        })?))
    }
    fn open_system(&self) -> Result<Box<dyn AudioSource>, SourceError> {
        Err(SourceError::Unsupported("no system audio in this test".into()))
    }
}

#[derive(Default)]
struct Seen {
    views: Vec<TrayView>,
    notes: Vec<Note>,
    settings: Vec<Settings>,
    linked: Vec<LinkStatus>,
    exits: Vec<i32>,
}

/// Records everything the controller asks of the desktop.
#[derive(Clone, Default)]
struct FakeShell(Arc<Mutex<Seen>>);

impl Shell for FakeShell {
    fn show(&self, view: &TrayView) {
        self.0.lock().unwrap().views.push(view.clone());
    }
    fn notify(&self, note: &Note) {
        self.0.lock().unwrap().notes.push(note.clone());
    }
    fn apply_settings(&self, settings: &Settings) {
        self.0.lock().unwrap().settings.push(settings.clone());
    }
    fn linked(&self, status: &LinkStatus) {
        self.0.lock().unwrap().linked.push(status.clone());
    }
    fn exit(&self, code: i32) {
        self.0.lock().unwrap().exits.push(code);
    }
}

impl FakeShell {
    fn view(&self) -> TrayView {
        self.0.lock().unwrap().views.last().cloned().expect("a view was drawn")
    }
    fn labels(&self) -> Vec<String> {
        self.view()
            .menu
            .iter()
            .filter_map(|e| match e {
                MenuEntry::Item { label, .. } => Some(label.clone()),
                MenuEntry::Separator => None,
            })
            .collect()
    }
    fn has_label(&self, label: &str) -> bool {
        self.labels().iter().any(|l| l == label)
    }
    fn notes(&self) -> Vec<Note> {
        self.0.lock().unwrap().notes.clone()
    }
    async fn wait_for(&self, what: &str, f: impl Fn(&FakeShell) -> bool) {
        let shell = self.clone();
        eventually(what, WAIT, || {
            let ok = !shell.0.lock().unwrap().views.is_empty() && f(&shell);
            async move { ok }
        })
        .await;
    }
}

struct Running {
    shell: FakeShell,
    actions: mpsc::UnboundedSender<Action>,
    status: watch::Receiver<LinkStatus>,
    task: tokio::task::JoinHandle<i32>,
}

impl Running {
    fn start(config: DaemonConfig) -> Running {
        let shell = FakeShell::default();
        let (actions, actions_rx) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(LinkStatus::Starting);
        let task = tokio::spawn(Controller::new(shell.clone(), config, actions_rx, status_tx).run());
        Running { shell, actions, status, task }
    }

    async fn link(&mut self, own: bool) -> Link {
        let waited = tokio::time::timeout(
            WAIT,
            self.status.wait_for(|s| matches!(s, LinkStatus::Ready(l) if l.own == own)),
        )
        .await
        .map(|r| r.unwrap().clone());
        match waited {
            Ok(LinkStatus::Ready(link)) => link,
            _ => panic!("no link with own={own}: {:?}", *self.status.borrow()),
        }
    }

    async fn quit(self) -> FakeShell {
        self.actions.send(Action::Quit).unwrap();
        let code = tokio::time::timeout(Duration::from_secs(30), self.task).await.expect("quits").unwrap();
        assert_eq!(code, 0);
        assert_eq!(self.shell.0.lock().unwrap().exits, [0]);
        self.shell
    }
}

fn config(root: &Path) -> DaemonConfig {
    let mut config = DaemonConfig::new(root.join("data"), root.join("run"));
    config.port = 0;
    config.inference_permits = 2;
    config.capture = Arc::new(JFK_THEN_SILENCE);
    config
}

async fn host(link: &Link) -> Client {
    let c = Client::connect_tcp(&link.ws_url).await.unwrap();
    c.call("session.auth", json!({ "host_token": link.host_token })).await.unwrap();
    c
}

async fn next_host_event(c: &Client, kind: &str) -> Value {
    loop {
        let n = c.next_method("host.event", WAIT).await.unwrap_or_else(|| panic!("no {kind} host event"));
        if n["params"]["kind"] == kind {
            return n["params"]["payload"].clone();
        }
    }
}

fn client_token(runtime_dir: &Path) -> String {
    std::fs::read_to_string(runtime_dir.join("auth-token")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_to_record_stop_the_roster_and_a_clean_quit_with_its_own_daemon() {
    let root = tempfile::tempdir().unwrap();
    let mut app = Running::start(config(root.path()));
    let link = app.link(true).await;
    assert_eq!(link.pid, std::process::id(), "the daemon runs in the app's process");
    let shell = app.shell.clone();
    shell.wait_for("an idle tray", |s| s.labels()[..2] == ["Idle", "Start recording"]).await;
    assert!(!shell.view().recording);
    assert!(shell.has_label("No meetings yet"));
    assert_eq!(shell.0.lock().unwrap().settings, [Settings::default()], "defaults applied once at start");

    let observer = host(&link).await;
    observer.call("host.subscribe", json!({})).await.unwrap();
    app.actions.send(Action::Start).unwrap();
    let started = next_host_event(&observer, "meeting.started").await;
    let id = started["meeting_id"].as_str().unwrap().to_string();
    assert_eq!(started["meeting"]["started_by"], "hark-desktop");
    assert_eq!(started["meeting"]["sources"][0]["kind"], "mic");
    shell.wait_for("the recording tray", |s| s.view().recording && s.has_label("Stop recording")).await;
    assert!(shell.view().tooltip.starts_with("Hark: Recording “Meeting "), "{}", shell.view().tooltip);
    let segment = next_host_event(&observer, "meeting.segment").await;
    assert!(segment["segment"]["text"].as_str().unwrap().starts_with("speech 1 ("), "{segment}");
    assert_eq!(shell.notes()[0].title, "Recording");

    // The roster count follows agents coming and going.
    let agent = Client::connect_tcp(&link.ws_url).await.unwrap();
    agent.call("session.auth", json!({ "token": client_token(&root.path().join("run")) })).await.unwrap();
    agent.call("host.register_agent", json!({ "name": "Notes" })).await.unwrap();
    shell.wait_for("one agent", |s| s.has_label("1 agent connected")).await;
    agent.close().await;
    shell.wait_for("no agent", |s| s.has_label("No agents connected")).await;

    app.actions.send(Action::Stop).unwrap();
    shell.wait_for("an idle tray again", |s| !s.view().recording && s.has_label("Start recording")).await;
    let stopped = next_host_event(&observer, "meeting.stopped").await;
    assert_eq!(stopped["meeting"]["status"], "stopped");
    assert!(stopped["meeting"]["segment_count"].as_u64().unwrap() >= 1);
    eventually("the stop notification", WAIT, || {
        let ok = shell.notes().iter().any(|n| n.title == "Recording stopped");
        async move { ok }
    })
    .await;
    let title = stopped["meeting"]["title"].as_str().unwrap().to_string();
    assert!(shell.has_label(&title), "the meeting is in the recent list: {:?}", shell.labels());

    // Quit while recording: the meeting is stopped cleanly before the daemon goes.
    app.actions.send(Action::Toggle).unwrap();
    let second =
        next_host_event(&observer, "meeting.started").await["meeting_id"].as_str().unwrap().to_string();
    next_host_event(&observer, "meeting.segment").await;
    drop(observer);
    let shell = app.quit().await;
    assert!(
        shell
            .view()
            .menu
            .iter()
            .any(|e| matches!(e, MenuEntry::Item { label, .. } if label == "Stopping and quitting…"))
    );
    assert!(!root.path().join("run/daemon.json").exists(), "a clean shutdown removes the discovery file");
    let after = TestDaemon::start_in(root.path(), |_| {}).await;
    let h = after.host().await;
    for meeting in [&id, &second] {
        let got = h.call("meeting.get", json!({ "meeting_id": meeting })).await.unwrap();
        assert_eq!(got["metadata"]["status"], "stopped", "{meeting}: stopped, not interrupted");
        assert!(!got["segments"].as_array().unwrap().is_empty());
    }
    after.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_follows_the_settings_and_tells_of_a_meeting_that_stopped_by_itself() {
    let root = tempfile::tempdir().unwrap();
    let mut config = config(root.path());
    config.capture = Arc::new(FakeMic { speech: false });
    let mut app = Running::start(config);
    let link = app.link(true).await;
    let shell = app.shell.clone();
    let h = host(&link).await;
    let last_settings = |s: &FakeShell| s.0.lock().unwrap().settings.last().cloned().unwrap_or_default();

    // 1.2 s of silence stops a meeting ("1 second"); the shortcut and start-at-login reach the shell.
    h.call(
        "settings.update",
        json!({ "settings": { "auto_stop_minutes": 0.02, "global_shortcut": "CommandOrControl+Shift+R" } }),
    )
    .await
    .unwrap();
    shell
        .wait_for("the new settings", |s| {
            last_settings(s).global_shortcut.as_deref() == Some("CommandOrControl+Shift+R")
        })
        .await;
    app.actions.send(Action::Start).unwrap();
    shell.wait_for("recording", |s| s.view().recording).await;
    shell
        .wait_for("the auto-stop", |s| {
            s.notes().iter().any(|n| {
                n.title == "Recording stopped by itself"
                    && n.body.ends_with("stopped after 1 second of silence.")
            })
        })
        .await;
    shell.wait_for("an idle tray", |s| !s.view().recording && s.has_label("Start recording")).await;

    // With notifications off, a start shows none; errors still would.
    let before = shell.notes().len();
    h.call("settings.update", json!({ "settings": { "notifications": false, "auto_stop_minutes": 0 } }))
        .await
        .unwrap();
    shell.wait_for("notifications off", |s| !last_settings(s).notifications).await;
    app.actions.send(Action::Toggle).unwrap();
    shell.wait_for("recording again", |s| s.view().recording).await;
    app.actions.send(Action::Toggle).unwrap();
    shell.wait_for("stopped again", |s| !s.view().recording).await;
    assert_eq!(shell.notes().len(), before, "{:?}", shell.notes());
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uses_the_daemon_already_running_and_stops_only_its_own_meetings_on_quit() {
    let root = tempfile::tempdir().unwrap();
    let other = TestDaemon::start_in(root.path(), |c| c.capture = Arc::new(JFK_THEN_SILENCE)).await;
    let mut app = Running::start(config(root.path()));
    let link = app.link(false).await;
    assert_eq!(link.ws_url, other.url);
    assert_eq!(link.host_token, other.host_token);
    let shell = app.shell.clone();
    let pid = std::process::id();
    shell
        .wait_for("it says whose daemon", |s| {
            s.labels()[0] == format!("Idle (daemon pid {pid}, not this app's)")
        })
        .await;
    assert!(
        shell.notes()[0].body.starts_with("Using the Hark daemon already running"),
        "{:?}",
        shell.notes()
    );

    let h = other.host().await;
    h.call("host.subscribe", json!({})).await.unwrap();
    app.actions.send(Action::Start).unwrap();
    let mine = next_host_event(&h, "meeting.started").await["meeting_id"].as_str().unwrap().to_string();
    let theirs = h
        .call("meeting.start", json!({ "title": "An agent's", "sources": [{ "kind": "pcm_push" }] }))
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    shell
        .wait_for("two recordings", |s| {
            s.labels()[0] == format!("Recording 2 meetings (daemon pid {pid}, not this app's)")
        })
        .await;

    app.quit().await;
    let status = |m: &str| h.call("meeting.get", json!({ "meeting_id": m.to_string() }));
    assert_eq!(status(&mine).await.unwrap()["metadata"]["status"], "stopped");
    assert_eq!(status(&theirs).await.unwrap()["metadata"]["status"], "recording", "not the app's to stop");
    assert!(h.call("server.info", json!({})).await.is_ok(), "the other daemon goes on");
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_daemon_it_used_goes_away_it_starts_its_own() {
    let root = tempfile::tempdir().unwrap();
    let other = TestDaemon::start_in(root.path(), |_| {}).await;
    let mut app = Running::start(config(root.path()));
    let before = app.link(false).await;
    other.stop().await;
    let own = app.link(true).await;
    assert_ne!(own.ws_url, before.ws_url);
    assert_ne!(own.host_token, before.host_token);
    app.shell.wait_for("its own daemon", |s| s.labels()[0] == "Idle").await;
    let linked = app.shell.0.lock().unwrap().linked.clone();
    assert!(linked.contains(&LinkStatus::Ready(before)) && linked.contains(&LinkStatus::Ready(own)));
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_daemon_can_start_says_why_and_still_quits() {
    let root = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = config(root.path());
    config.port = taken.local_addr().unwrap().port();
    let mut app = Running::start(config);
    let status = tokio::time::timeout(WAIT, app.status.wait_for(|s| matches!(s, LinkStatus::Unavailable(_))))
        .await
        .unwrap()
        .unwrap()
        .clone();
    let LinkStatus::Unavailable(why) = status else { unreachable!() };
    assert!(why.contains("cannot listen on 127.0.0.1:"), "{why}");
    app.shell.wait_for("the reason in the tray", |s| s.labels()[0].starts_with("Not running: ")).await;
    assert!(!app.shell.has_label("Stop recording"));
    app.quit().await;
}
