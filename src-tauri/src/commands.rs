//! The webview's commands, kept few: `daemon_connection` (where the daemon answers and the host
//! token, asked once; the token never goes into a URL or storage), `open_external` (an `https:`
//! link in the system browser, nothing else) and `quit_app` (the window's Quit, for desktops
//! without a tray). Each needs its `allow-*` permission, which only the main window's capability
//! grants (`capabilities/main.json`). They run in the window process (`window`): what they know
//! of the daemon, and the Quit they pass on, go through its pipe to the tray process.

use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, State, Url};
use tauri_plugin_opener::OpenerExt;
use tokio::sync::watch;

use crate::controller::LinkStatus;
use crate::window::FromWindow;

/// The controller's link status as the tray process last sent it, for `daemon_connection`.
pub struct Links(pub watch::Receiver<LinkStatus>);

#[derive(Debug, Serialize)]
pub struct DaemonConnection {
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    /// `null` when the daemon runs without authentication (`hark serve --no-auth`).
    pub host_token: Option<String>,
}

/// How long the window may wait for the daemon at launch (it starts in well under a second).
const LINK_WAIT: Duration = Duration::from_secs(15);

#[tauri::command]
pub async fn daemon_connection(links: State<'_, Links>) -> Result<DaemonConnection, String> {
    let mut links = links.0.clone();
    let status = tokio::time::timeout(LINK_WAIT, links.wait_for(|s| *s != LinkStatus::Starting))
        .await
        .map_err(|_| "the daemon is still starting".to_string())?
        .map_err(|_| "the app is shutting down".to_string())?
        .clone();
    match status {
        LinkStatus::Ready(link) => {
            Ok(DaemonConnection { url: link.url().to_string(), host_token: link.host_token })
        }
        LinkStatus::Unavailable(why) => Err(why),
        LinkStatus::Starting => unreachable!("waited for another status"),
    }
}

#[tauri::command]
pub fn open_external(app: AppHandle, url: String) -> Result<(), String> {
    let url = external_url(&url)?;
    app.opener().open_url(url.as_str(), None::<&str>).map_err(|e| format!("cannot open the browser: {e}"))
}

#[tauri::command]
pub fn quit_app() -> Result<(), String> {
    crate::window::tell_the_tray(&FromWindow::Quit).map_err(|e| format!("cannot reach the tray: {e}"))
}

/// An `https:` URL with a host and no user name or password (`https://bank.example@evil.example`
/// reads as the first site and goes to the second); anything else is refused.
pub fn external_url(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if parsed.scheme() != "https" {
        return Err(format!("only https: links open in the browser, not {}:", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the link has no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("links with a user name or password are not opened".into());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::external_url;

    #[test]
    fn only_plain_https_links_open() {
        assert_eq!(external_url("https://example.com/a?b#c").unwrap().as_str(), "https://example.com/a?b#c");
        for refused in [
            "http://example.com",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,hi",
            "tauri://localhost/",
            "https://user@example.com/",
            "https://:pw@example.com/",
            "ws://127.0.0.1:9470",
            "/relative",
            "",
        ] {
            assert!(external_url(refused).is_err(), "{refused} was accepted");
        }
    }
}
