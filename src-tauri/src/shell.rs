//! The Tauri side of the [`Shell`]: the tray (icon, tooltip, a menu rebuilt from the
//! controller's view on every change), the main window (a process of its own, started on demand:
//! `window`), notifications, start-at-login and the global shortcut. Only drawing and forwarding: every
//! decision is in `state` and `controller`.

use std::sync::Mutex;

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_global_shortcut::{GlobalShortcutExt, ShortcutState};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::mpsc::UnboundedSender;

use crate::controller::{Action, LinkStatus, Shell};
use crate::state::{self, MenuEntry, MenuId, Note, Settings, ShellState, TrayView};
use crate::window::Windows;

const TRAY: &str = "hark";

const IDLE_ICON: Image<'static> = tauri::include_image!("icons/tray-idle.png");
const RECORDING_ICON: Image<'static> = tauri::include_image!("icons/tray-recording.png");

/// Creates the tray with the state before any daemon answered; menu clicks become actions.
pub fn create_tray(app: &AppHandle, actions: UnboundedSender<Action>) -> tauri::Result<()> {
    let view = ShellState::default().view();
    TrayIconBuilder::with_id(TRAY)
        .icon(IDLE_ICON)
        .tooltip(&view.tooltip)
        .menu(&menu(app, &view)?)
        .show_menu_on_left_click(true)
        .on_menu_event(move |app, event| match MenuId::parse(event.id().as_ref()) {
            Some(MenuId::Start) => {
                let _ = actions.send(Action::Start);
            }
            Some(MenuId::Stop) => {
                let _ = actions.send(Action::Stop);
            }
            Some(MenuId::Quit) => {
                let _ = actions.send(Action::Quit);
            }
            Some(MenuId::Open) => open_window(app, None),
            Some(MenuId::Settings) => open_window(app, Some(state::SETTINGS_ROUTE.to_string())),
            Some(MenuId::Meeting(id)) => open_window(app, Some(state::meeting_route(&id))),
            None => {}
        })
        .build(app)?;
    Ok(())
}

fn menu(app: &AppHandle, view: &TrayView) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    for (n, entry) in view.menu.iter().enumerate() {
        match entry {
            MenuEntry::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
            MenuEntry::Item { id, label, enabled } => {
                // Menus read `&` as a mnemonic marker; `&&` is a literal one (a title may hold it).
                let label = label.replace('&', "&&");
                let id = id.as_ref().map(MenuId::as_id).unwrap_or_else(|| format!("info:{n}"));
                menu.append(&MenuItem::with_id(app, id, label, *enabled, None::<&str>)?)?
            }
        }
    }
    Ok(menu)
}

/// Shows the main window: the running window process comes to the front (at `route`:
/// `#/settings`, `#/meetings/<id>`; the UI routes on the hash), or one is started (`window`).
/// On the async runtime: menu and D-Bus handlers run on the main thread, outside it.
pub fn open_window(app: &AppHandle, route: Option<String>) {
    let Some(windows) = app.try_state::<Windows>() else { return };
    let windows = windows.inner().clone();
    tauri::async_runtime::spawn(async move { windows.open(route) });
}

/// The shell the controller draws through.
pub struct TauriShell {
    app: AppHandle,
    actions: UnboundedSender<Action>,
    /// The global shortcut registered now.
    shortcut: Mutex<Option<String>>,
    windows: Windows,
}

impl TauriShell {
    pub fn new(app: AppHandle, actions: UnboundedSender<Action>, windows: Windows) -> Self {
        TauriShell { app, actions, shortcut: Mutex::new(None), windows }
    }

    fn set_start_at_login(&self, wanted: bool) {
        let autostart = self.app.autolaunch();
        if autostart.is_enabled().ok() == Some(wanted) {
            return;
        }
        let result = if wanted { autostart.enable() } else { autostart.disable() };
        match result {
            Ok(()) => tracing::info!(enabled = wanted, "start at login"),
            Err(e) => tracing::warn!(error = %e, enabled = wanted, "cannot change start at login"),
        }
    }

    fn set_shortcut(&self, wanted: Option<&str>) {
        let mut current = crate::lock(&self.shortcut);
        if current.as_deref() == wanted {
            return;
        }
        if let Some(old) = current.take()
            && let Err(e) = self.app.global_shortcut().unregister(old.as_str())
        {
            tracing::warn!(error = %e, shortcut = %old, "cannot release the global shortcut");
        }
        let Some(wanted) = wanted else { return };
        // Added on first use, never at start: on X11 its thread wakes every 50 ms (global-hotkey
        // polls the display) for as long as the app runs, so only a person who set a shortcut
        // pays for it.
        if self.app.try_state::<tauri_plugin_global_shortcut::GlobalShortcut<tauri::Wry>>().is_none()
            && let Err(e) = self.app.plugin(tauri_plugin_global_shortcut::Builder::new().build())
        {
            tracing::warn!(error = %e, "cannot start the global shortcut plugin");
            return;
        }
        let shortcuts = self.app.global_shortcut();
        let actions = self.actions.clone();
        let registered = shortcuts.on_shortcut(wanted, move |_app, _shortcut, event| {
            if event.state == ShortcutState::Pressed {
                let _ = actions.send(Action::Toggle);
            }
        });
        match registered {
            Ok(()) => {
                tracing::info!(shortcut = wanted, "global record/stop shortcut");
                *current = Some(wanted.to_string());
            }
            Err(e) => tracing::warn!(error = %e, shortcut = wanted, "cannot register the global shortcut"),
        }
    }
}

impl Shell for TauriShell {
    fn show(&self, view: &TrayView) {
        let Some(tray) = self.app.tray_by_id(TRAY) else { return };
        let drawn = menu(&self.app, view).and_then(|m| tray.set_menu(Some(m))).and_then(|()| {
            tray.set_icon(Some(if view.recording { RECORDING_ICON } else { IDLE_ICON }))?;
            tray.set_tooltip(Some(&view.tooltip))
        });
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "cannot update the tray");
        }
    }

    fn notify(&self, note: &Note) {
        if let Err(e) = self.app.notification().builder().title(&note.title).body(&note.body).show() {
            tracing::warn!(error = %e, "cannot show a notification");
        }
    }

    fn apply_settings(&self, settings: &Settings) {
        self.set_start_at_login(settings.start_at_login);
        self.set_shortcut(settings.global_shortcut.as_deref());
    }

    fn linked(&self, status: &LinkStatus) {
        self.windows.set_status(status); // the window process tells its page of a change
    }

    fn exit(&self, code: i32) {
        self.app.exit(code);
    }
}
