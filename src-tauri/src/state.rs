//! What the tray shows, as plain data: the shell's view of the daemon (which meetings record,
//! which agents are on the roster, the last five meetings, the person's settings), how host
//! events change it, and the menu, tooltip and notifications that follow from it. Pure: no
//! Tauri, no I/O. The controller feeds it, the shell draws it, the tests below pin it down.
//!
//! On Linux the tray delivers no clicks and shows no tooltip (appindicator), so every action is
//! a menu item and the first item says the state in words.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The person's settings (`settings.get`): the protocol's own type, so the shell reads exactly
/// what the daemon writes. The shell follows `start_at_login`, `global_shortcut`,
/// `notifications` and `system_audio`; the daemon applies the rest itself (a meeting's language,
/// kept audio and input device when `meeting.start` leaves them out).
pub use hark_protocol::settings::Settings;

/// `settings.get`'s result (`{settings}`); the defaults, with a warning, when it does not parse.
pub fn settings_from(result: &Value) -> Settings {
    serde_json::from_value(result["settings"].clone()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "settings.get's result does not parse: the default settings apply");
        Settings::default()
    })
}

/// `meeting.start`'s params for click-to-record: the microphone, plus the computer's sound when
/// `system_audio` is on. The daemon fills in the rest from the same settings (language, kept
/// audio, the chosen input device, falling back to the default one when it is unplugged).
pub fn start_params(settings: &Settings) -> Value {
    let mut sources = vec![json!("mic")];
    if settings.system_audio {
        sources.push(json!("system"));
    }
    json!({ "sources": sources })
}

/// Which daemon the shell is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonState {
    Connecting,
    /// `own`: started by this app; otherwise another process's daemon (`pid`).
    Ready {
        own: bool,
        pid: u32,
    },
    Unavailable(String),
}

/// A call the person asked for that has not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Starting,
    Stopping,
    Quitting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentMeeting {
    pub id: String,
    pub title: String,
    pub recording: bool,
}

/// What a host event asks of the controller besides redrawing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// The state changed: redraw the tray.
    pub redraw: bool,
    /// Reload the recent meetings (`meeting.list`).
    pub refresh_recent: bool,
    /// Reload the settings (`settings.get`).
    pub refresh_settings: bool,
    /// A notification to show (when the `notifications` setting is on).
    pub note: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShellState {
    pub daemon: DaemonState,
    /// Meetings recording now: id -> title.
    pub recording: BTreeMap<String, String>,
    /// The agent roster: id -> name.
    pub agents: BTreeMap<String, String>,
    /// The newest meetings, newest first (at most [`RECENT`]).
    pub recent: Vec<RecentMeeting>,
    pub settings: Settings,
    pub busy: Option<Busy>,
}

/// How many meetings the tray lists.
pub const RECENT: usize = 5;

impl Default for ShellState {
    fn default() -> Self {
        ShellState {
            daemon: DaemonState::Connecting,
            recording: BTreeMap::new(),
            agents: BTreeMap::new(),
            recent: Vec::new(),
            settings: Settings::default(),
            busy: None,
        }
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl ShellState {
    /// A fresh connection's `host.subscribe` snapshot: the roster and the running meetings.
    pub fn apply_snapshot(&mut self, snapshot: &Value) {
        self.agents = snapshot["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| (str_of(a, "id").to_string(), str_of(a, "name").to_string()))
            .collect();
        self.recording = snapshot["meetings_active"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| (str_of(m, "id").to_string(), str_of(m, "title").to_string()))
            .collect();
    }

    /// `meeting.list`'s result.
    pub fn set_recent(&mut self, list: &Value) {
        self.recent = list["meetings"]
            .as_array()
            .into_iter()
            .flatten()
            .take(RECENT)
            .map(|m| RecentMeeting {
                id: str_of(m, "id").to_string(),
                title: str_of(m, "title").to_string(),
                recording: str_of(m, "status") == "recording",
            })
            .collect();
    }

    /// One `host.event`'s params (`{kind, payload, ...}`).
    pub fn apply_event(&mut self, event: &Value) -> Effects {
        let payload = &event["payload"];
        let mut fx = Effects::default();
        match str_of(event, "kind") {
            "meeting.started" => {
                let id = str_of(payload, "meeting_id").to_string();
                let title = str_of(&payload["meeting"], "title").to_string();
                fx.note = Some(Note {
                    title: "Recording".into(),
                    body: format!("“{title}” is being recorded."),
                });
                self.recording.insert(id, title);
                fx.redraw = true;
                fx.refresh_recent = true;
            }
            "meeting.stopped" => {
                let id = str_of(payload, "meeting_id");
                let meeting = &payload["meeting"];
                self.recording.remove(id);
                fx.note = Some(self.stopped_note(payload, meeting));
                fx.redraw = true;
                fx.refresh_recent = true;
            }
            "meeting.recovered" | "meeting.deleted" => fx.refresh_recent = true,
            "meeting.updated" => {
                // A rename: the recent list reloads, and a running meeting's label follows.
                let id = str_of(payload, "meeting_id");
                let title = str_of(&payload["meeting"], "title");
                if let Some(shown) = self.recording.get_mut(id).filter(|t| t.as_str() != title) {
                    *shown = title.to_string();
                    fx.redraw = true;
                }
                fx.refresh_recent = true;
            }
            "agent.registered" | "agent.status_changed" => {
                let name = str_of(payload, "name").to_string();
                fx.redraw = self.agents.insert(str_of(payload, "id").to_string(), name.clone()) != Some(name);
            }
            "agent.unregistered" => fx.redraw = self.agents.remove(str_of(payload, "id")).is_some(),
            "settings.changed" => fx.refresh_settings = true,
            _ => {}
        }
        fx
    }

    fn stopped_note(&self, payload: &Value, meeting: &Value) -> Note {
        let title = str_of(meeting, "title");
        if str_of(payload, "reason") == "auto_stop" {
            let silence = payload
                .get("silence_ms")
                .and_then(Value::as_u64)
                .or_else(|| {
                    let m = self.settings.auto_stop_minutes;
                    (m > 0.0).then(|| (m * 60_000.0).round() as u64)
                })
                .map(describe_silence)
                .unwrap_or_else(|| "a long silence".into());
            return Note {
                title: "Recording stopped by itself".into(),
                body: format!("“{title}” stopped after {silence} of silence."),
            };
        }
        let segments = meeting["segment_count"].as_u64().unwrap_or(0);
        Note {
            title: "Recording stopped".into(),
            body: format!(
                "“{title}”: {}, {} segment{}.",
                clock(meeting["duration_ms"].as_u64().unwrap_or(0)),
                segments,
                if segments == 1 { "" } else { "s" }
            ),
        }
    }

    pub fn is_recording(&self) -> bool {
        !self.recording.is_empty()
    }

    /// The state in words: the tooltip (after "Hark: ") and the menu's first line.
    pub fn status_line(&self) -> String {
        match &self.daemon {
            DaemonState::Connecting => return "Connecting to the daemon…".into(),
            DaemonState::Unavailable(why) => return format!("Not running: {why}"),
            DaemonState::Ready { .. } => {}
        }
        let state = match (self.busy, self.recording.len()) {
            (Some(Busy::Quitting), _) => "Quitting…".to_string(),
            (_, 0) => "Idle".to_string(),
            (_, 1) => format!("Recording “{}”", short(self.recording.values().next().expect("one"))),
            (_, n) => format!("Recording {n} meetings"),
        };
        match self.daemon {
            DaemonState::Ready { own: false, pid } => format!("{state} (daemon pid {pid}, not this app's)"),
            _ => state,
        }
    }

    /// Icon, tooltip and menu, rebuilt from scratch on every change.
    pub fn view(&self) -> TrayView {
        let ready = matches!(self.daemon, DaemonState::Ready { .. });
        let mut menu = vec![MenuEntry::info(self.status_line())];
        menu.push(match (self.busy, self.is_recording()) {
            (Some(Busy::Starting), _) => MenuEntry::info("Starting…"),
            (Some(Busy::Stopping), _) => MenuEntry::info("Stopping…"),
            (Some(Busy::Quitting), _) => MenuEntry::info("Stopping and quitting…"),
            (None, true) => MenuEntry::action(MenuId::Stop, "Stop recording", ready),
            (None, false) => MenuEntry::action(MenuId::Start, "Start recording", ready),
        });
        menu.push(MenuEntry::action(MenuId::Open, "Open Hark", true));
        if ready {
            menu.push(MenuEntry::Separator);
            if self.recent.is_empty() {
                menu.push(MenuEntry::info("No meetings yet"));
            }
            for m in &self.recent {
                let label = if m.recording { format!("● {}", short(&m.title)) } else { short(&m.title) };
                menu.push(MenuEntry::action(MenuId::Meeting(m.id.clone()), label, true));
            }
            menu.push(MenuEntry::Separator);
            menu.push(MenuEntry::info(match self.agents.len() {
                0 => "No agents connected".to_string(),
                1 => "1 agent connected".to_string(),
                n => format!("{n} agents connected"),
            }));
        }
        menu.push(MenuEntry::action(MenuId::Settings, "Settings…", true));
        menu.push(MenuEntry::Separator);
        menu.push(MenuEntry::action(MenuId::Quit, "Quit Hark", self.busy != Some(Busy::Quitting)));
        TrayView { recording: self.is_recording(), tooltip: format!("Hark: {}", self.status_line()), menu }
    }
}

/// A title cut to 40 characters for a menu.
fn short(title: &str) -> String {
    let title = if title.trim().is_empty() { "Untitled meeting" } else { title.trim() };
    if title.chars().count() <= 40 {
        title.to_string()
    } else {
        format!("{}…", title.chars().take(39).collect::<String>())
    }
}

/// `15 minutes`, `1 minute`, `30 seconds`, `1.5 minutes`.
fn describe_silence(ms: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if ms.is_multiple_of(60_000) {
        plural(ms / 60_000, "minute")
    } else if ms < 60_000 {
        plural(((ms + 500) / 1000).max(1), "second")
    } else {
        format!("{:.1} minutes", ms as f64 / 60_000.0)
    }
}

/// `1:05` or `1:02:03`.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// The recording icon (else the idle one).
    pub recording: bool,
    pub tooltip: String,
    pub menu: Vec<MenuEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuEntry {
    /// `id: None`: a line of information, never enabled.
    Item {
        id: Option<MenuId>,
        label: String,
        enabled: bool,
    },
    Separator,
}

impl MenuEntry {
    fn info(label: impl Into<String>) -> Self {
        MenuEntry::Item { id: None, label: label.into(), enabled: false }
    }
    fn action(id: MenuId, label: impl Into<String>, enabled: bool) -> Self {
        MenuEntry::Item { id: Some(id), label: label.into(), enabled }
    }
}

/// A menu item's action; its string form is the menu item's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuId {
    Start,
    Stop,
    Open,
    /// Open the window on this meeting.
    Meeting(String),
    Settings,
    Quit,
}

impl MenuId {
    pub fn as_id(&self) -> String {
        match self {
            MenuId::Start => "start".into(),
            MenuId::Stop => "stop".into(),
            MenuId::Open => "open".into(),
            MenuId::Meeting(id) => format!("meeting:{id}"),
            MenuId::Settings => "settings".into(),
            MenuId::Quit => "quit".into(),
        }
    }

    pub fn parse(id: &str) -> Option<MenuId> {
        Some(match id {
            "start" => MenuId::Start,
            "stop" => MenuId::Stop,
            "open" => MenuId::Open,
            "settings" => MenuId::Settings,
            "quit" => MenuId::Quit,
            other => MenuId::Meeting(other.strip_prefix("meeting:").filter(|m| !m.is_empty())?.to_string()),
        })
    }
}

/// The window's route for a meeting (the UI routes on the URL's hash).
pub fn meeting_route(id: &str) -> String {
    format!("/meetings/{id}")
}

pub const SETTINGS_ROUTE: &str = "/settings";

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> ShellState {
        ShellState { daemon: DaemonState::Ready { own: true, pid: 1 }, ..Default::default() }
    }

    fn labels(view: &TrayView) -> Vec<String> {
        view.menu
            .iter()
            .map(|e| match e {
                MenuEntry::Item { id: Some(_), label, enabled: true } => label.clone(),
                MenuEntry::Item { label, .. } => format!("({label})"),
                MenuEntry::Separator => "---".into(),
            })
            .collect()
    }

    fn agents_line(s: &ShellState) -> String {
        labels(&s.view()).into_iter().find(|l| l.contains("connected")).expect("an agents line")
    }

    fn started(id: &str, title: &str) -> Value {
        json!({ "kind": "meeting.started", "payload": { "meeting_id": id, "meeting": { "id": id, "title": title, "status": "recording" } } })
    }

    #[test]
    fn idle_menu_has_every_action_as_an_item() {
        let mut s = ready();
        s.set_recent(&json!({ "meetings": [
            { "id": "a", "title": "Weekly sync", "status": "stopped" },
            { "id": "b", "title": "Design review & planning", "status": "interrupted" },
        ], "total": 2 }));
        let view = s.view();
        assert!(!view.recording);
        assert_eq!(view.tooltip, "Hark: Idle");
        assert_eq!(
            labels(&view),
            [
                "(Idle)",
                "Start recording",
                "Open Hark",
                "---",
                "Weekly sync",
                "Design review & planning",
                "---",
                "(No agents connected)",
                "Settings…",
                "---",
                "Quit Hark"
            ]
        );
        let ids: Vec<_> = view
            .menu
            .iter()
            .filter_map(|e| match e {
                MenuEntry::Item { id: Some(id), .. } => Some(id.as_id()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["start", "open", "meeting:a", "meeting:b", "settings", "quit"]);
        for id in &ids {
            assert_eq!(MenuId::parse(id).map(|m| m.as_id()).as_deref(), Some(id.as_str()));
        }
        assert_eq!(MenuId::parse("meeting:"), None);
        assert_eq!(MenuId::parse("nonsense"), None);
    }

    #[test]
    fn recording_switches_icon_tooltip_and_the_first_action() {
        let mut s = ready();
        let fx = s.apply_event(&started("m1", "Budget"));
        assert!(fx.redraw && fx.refresh_recent);
        assert_eq!(fx.note.unwrap().body, "“Budget” is being recorded.");
        s.set_recent(&json!({ "meetings": [{ "id": "m1", "title": "Budget", "status": "recording" }] }));
        let view = s.view();
        assert!(view.recording);
        assert_eq!(view.tooltip, "Hark: Recording “Budget”");
        assert_eq!(
            labels(&view)[..5],
            ["(Recording “Budget”)", "Stop recording", "Open Hark", "---", "● Budget"]
        );

        s.apply_event(&started("m2", "Other"));
        assert_eq!(s.status_line(), "Recording 2 meetings");

        s.busy = Some(Busy::Stopping);
        assert_eq!(labels(&s.view())[1], "(Stopping…)");
        let fx = s.apply_event(&json!({ "kind": "meeting.stopped", "payload": { "meeting_id": "m1",
            "meeting": { "title": "Budget", "duration_ms": 65_000, "segment_count": 12 } } }));
        assert_eq!(
            fx.note.unwrap(),
            Note { title: "Recording stopped".into(), body: "“Budget”: 1:05, 12 segments.".into() }
        );
        s.apply_event(&json!({ "kind": "meeting.stopped", "payload": { "meeting_id": "m2", "meeting": { "title": "Other" } } }));
        s.busy = None;
        assert!(!s.view().recording);
        assert_eq!(labels(&s.view())[1], "Start recording");
    }

    #[test]
    fn renames_and_deletions_reload_the_recent_list_and_relabel_a_recording() {
        let mut s = ready();
        s.apply_event(&started("m1", "Budget"));
        let fx = s.apply_event(&json!({ "kind": "meeting.updated", "payload": { "meeting_id": "m1",
            "meeting": { "id": "m1", "title": "Budget review", "status": "recording" }, "change": "renamed" } }));
        assert!(fx.refresh_recent && fx.redraw && fx.note.is_none());
        assert_eq!(labels(&s.view())[0], "(Recording “Budget review”)");
        let fx = s.apply_event(&json!({ "kind": "meeting.updated", "payload": { "meeting_id": "old",
            "meeting": { "id": "old", "title": "Older", "status": "stopped" }, "change": "revision" } }));
        assert!(fx.refresh_recent && !fx.redraw, "not recording: only the list reloads");
        let fx = s.apply_event(&json!({ "kind": "meeting.deleted", "payload": { "meeting_id": "old" } }));
        assert!(fx.refresh_recent && !fx.redraw && fx.note.is_none());
    }

    #[test]
    fn an_auto_stop_says_after_how_much_silence() {
        let mut s = ready();
        s.settings.auto_stop_minutes = 15.0;
        s.apply_event(&started("m1", "Standup"));
        let stopped = |extra: Value| {
            let mut payload =
                json!({ "meeting_id": "m1", "reason": "auto_stop", "meeting": { "title": "Standup" } });
            payload.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            json!({ "kind": "meeting.stopped", "payload": payload })
        };
        let note = s.apply_event(&stopped(json!({}))).note.unwrap();
        assert_eq!(note.title, "Recording stopped by itself");
        assert_eq!(note.body, "“Standup” stopped after 15 minutes of silence.");
        for (ms, words) in [(60_000, "1 minute"), (30_000, "30 seconds"), (90_000, "1.5 minutes")] {
            let note = s.apply_event(&stopped(json!({ "silence_ms": ms }))).note.unwrap();
            assert_eq!(note.body, format!("“Standup” stopped after {words} of silence."));
        }
        let note = s
            .apply_event(&json!({ "kind": "meeting.stopped", "payload": { "meeting_id": "m1", "reason": "sources_ended",
                "meeting": { "title": "Standup", "duration_ms": 1000, "segment_count": 1 } } }))
            .note
            .unwrap();
        assert_eq!(note.body, "“Standup”: 0:01, 1 segment.");
    }

    #[test]
    fn the_roster_counts_agents() {
        let mut s = ready();
        s.apply_snapshot(&json!({ "agents": [{ "id": "notes", "name": "Notes" }], "meetings_active": [
            { "id": "x", "title": "Live", "status": "recording" }] }));
        assert_eq!(agents_line(&s), "(1 agent connected)");
        assert!(s.is_recording());
        assert!(
            s.apply_event(&json!({ "kind": "agent.registered", "payload": { "id": "b", "name": "B" } }))
                .redraw
        );
        assert!(
            !s.apply_event(&json!({ "kind": "agent.status_changed", "payload": { "id": "b", "name": "B" } }))
                .redraw
        );
        assert_eq!(agents_line(&s), "(2 agents connected)");
        assert!(s.apply_event(&json!({ "kind": "agent.unregistered", "payload": { "id": "notes" } })).redraw);
        assert!(
            !s.apply_event(&json!({ "kind": "agent.unregistered", "payload": { "id": "notes" } })).redraw
        );
        assert_eq!(agents_line(&s), "(1 agent connected)");
        assert_eq!(
            s.apply_event(&json!({ "kind": "a2ui.surface_updated", "payload": {} })),
            Effects::default()
        );
        assert!(s.apply_event(&json!({ "kind": "settings.changed", "payload": {} })).refresh_settings);
    }

    #[test]
    fn not_ready_offers_only_the_window_and_quit() {
        let mut s = ShellState {
            daemon: DaemonState::Unavailable("port 9470 is in use".into()),
            ..Default::default()
        };
        assert_eq!(
            labels(&s.view()),
            [
                "(Not running: port 9470 is in use)",
                "(Start recording)",
                "Open Hark",
                "Settings…",
                "---",
                "Quit Hark"
            ]
        );
        s.daemon = DaemonState::Ready { own: false, pid: 42 };
        assert_eq!(s.status_line(), "Idle (daemon pid 42, not this app's)");
        s.busy = Some(Busy::Quitting);
        assert_eq!(
            labels(&s.view())[..2],
            ["(Quitting… (daemon pid 42, not this app's))", "(Stopping and quitting…)"]
        );
        assert_eq!(labels(&s.view()).last().unwrap(), "(Quit Hark)");
    }

    #[test]
    fn settings_come_from_settings_get_and_shape_the_start() {
        assert_eq!(settings_from(&json!({})), Settings::default());
        assert_eq!(settings_from(&json!({ "settings": { "language": 3 } })), Settings::default());
        let s = settings_from(
            &json!({ "settings": { "system_audio": true, "global_shortcut": "CommandOrControl+Shift+R",
            "auto_stop_minutes": 0.5, "notifications": false } }),
        );
        assert!(s.system_audio && !s.notifications);
        assert_eq!(s.global_shortcut.as_deref(), Some("CommandOrControl+Shift+R"));
        assert_eq!(start_params(&s), json!({ "sources": ["mic", "system"] }));
        assert_eq!(start_params(&Settings::default()), json!({ "sources": ["mic"] }));
    }

    #[test]
    fn long_titles_are_cut_and_clocks_read_well() {
        assert_eq!(short(&"x".repeat(41)), format!("{}…", "x".repeat(39)));
        assert_eq!(short("  "), "Untitled meeting");
        assert_eq!(clock(3_723_000), "1:02:03");
        assert_eq!(clock(59_999), "0:59");
    }
}
