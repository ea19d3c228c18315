//! The person's settings (`settings.get`, `settings.update`, the `settings.changed` host event):
//! what the window's Settings view edits and what the daemon and the desktop shell follow.
//! PROTOCOL.md is silent on settings; these are Hark's own methods (host only).
//!
//! An update is a JSON object of some keys; it is checked as a whole before anything changes
//! (an unknown key or a bad value is -32602 naming `settings.<key>`, and nothing is applied).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::RpcError;

/// At most a day, for the two durations given in minutes.
pub const MAX_MINUTES: f64 = 1440.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The microphone a meeting's `mic` source opens when it names none (`voice.devices.list`
    /// ids); `None`: the system default.
    pub input_device: Option<String>,
    /// A meeting's language when `meeting.start` names none: ISO 639-1 or `"auto"`.
    pub language: String,
    /// A meeting keeps its audio (`persist_audio`) when `meeting.start` does not say.
    pub keep_audio: bool,
    /// Click-to-record (the tray, the window) records the computer's sound too.
    pub system_audio: bool,
    /// A meeting whose every source has been silent this long stops by itself (the guard for
    /// forgotten recordings); 0 turns the guard off. Minutes, fractions allowed.
    pub auto_stop_minutes: f64,
    /// A loaded model unused this long is released (Ollama's `keep_alive`); 0 releases it as
    /// soon as nothing uses it. Minutes, fractions allowed.
    pub model_keep_alive_minutes: f64,
    /// The TCP port the desktop app's daemon listens on at its next start (`HARK_PORT` wins);
    /// `None`: the default port.
    pub port: Option<u16>,
    /// The desktop app starts when the person logs in.
    pub start_at_login: bool,
    /// The desktop app's global record/stop shortcut (e.g. `"CommandOrControl+Shift+R"`), or none.
    pub global_shortcut: Option<String>,
    /// The desktop app shows notifications (a meeting started, stopped, stopped by itself).
    pub notifications: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            input_device: None,
            language: "en".into(),
            keep_audio: true,
            system_audio: false,
            auto_stop_minutes: 15.0,
            model_keep_alive_minutes: 5.0,
            port: None,
            start_at_login: false,
            global_shortcut: None,
            notifications: true,
        }
    }
}

/// `settings.update`'s params.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UpdateParams {
    pub settings: Map<String, Value>,
}

/// The result of `settings.get` and `settings.update`, and the `settings.changed` event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsResult {
    pub settings: Settings,
}

fn bad(key: &str, reason: &str) -> RpcError {
    RpcError::invalid_params(&format!("settings.{key}"), reason)
}

fn boolean(key: &str, v: &Value) -> Result<bool, RpcError> {
    v.as_bool().ok_or_else(|| bad(key, "expected true or false"))
}

fn minutes(key: &str, v: &Value) -> Result<f64, RpcError> {
    match v.as_f64() {
        Some(m) if m.is_finite() && (0.0..=MAX_MINUTES).contains(&m) => Ok(m),
        _ => Err(bad(key, "expected minutes from 0 to 1440")),
    }
}

/// A short text or null: a device id or a shortcut.
fn optional_text(key: &str, v: &Value, max: usize) -> Result<Option<String>, RpcError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if s.len() <= max && !s.chars().any(char::is_control) => Ok(Some(s.clone())),
        _ => Err(bad(key, &format!("expected null or a text of at most {max} bytes"))),
    }
}

impl Settings {
    /// These settings with `update` applied, or the first bad key's error (then nothing changes).
    /// Languages are checked for their shape here (two lowercase letters or `"auto"`); the daemon
    /// also checks that its transcriber knows them.
    pub fn updated(&self, update: &Map<String, Value>) -> Result<Settings, RpcError> {
        let mut next = self.clone();
        for (key, v) in update {
            match key.as_str() {
                "input_device" => next.input_device = optional_text(key, v, 256)?,
                "language" => {
                    next.language = match v.as_str() {
                        Some(l)
                            if l == "auto" || (l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())) =>
                        {
                            l.to_string()
                        }
                        _ => return Err(bad(key, "expected an ISO 639-1 code (e.g. \"en\") or \"auto\"")),
                    }
                }
                "keep_audio" => next.keep_audio = boolean(key, v)?,
                "system_audio" => next.system_audio = boolean(key, v)?,
                "auto_stop_minutes" => next.auto_stop_minutes = minutes(key, v)?,
                "model_keep_alive_minutes" => next.model_keep_alive_minutes = minutes(key, v)?,
                "port" => {
                    next.port = match v {
                        Value::Null => None,
                        _ => match v.as_u64() {
                            Some(p @ 1..=65535) => Some(p as u16),
                            _ => return Err(bad(key, "expected null or a port from 1 to 65535")),
                        },
                    }
                }
                "start_at_login" => next.start_at_login = boolean(key, v)?,
                "global_shortcut" => next.global_shortcut = optional_text(key, v, 64)?,
                "notifications" => next.notifications = boolean(key, v)?,
                _ => return Err(RpcError::invalid_params(&format!("settings.{key}"), "unknown setting")),
            }
        }
        Ok(next)
    }

    /// `auto_stop_minutes` as a duration; `None` when the guard is off.
    pub fn auto_stop(&self) -> Option<std::time::Duration> {
        (self.auto_stop_minutes > 0.0)
            .then(|| std::time::Duration::from_secs_f64(self.auto_stop_minutes * 60.0))
    }

    /// `model_keep_alive_minutes` as a duration.
    pub fn model_keep_alive(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.model_keep_alive_minutes * 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(v: Value) -> Result<Settings, RpcError> {
        Settings::default().updated(v.as_object().unwrap())
    }

    #[test]
    fn an_update_changes_only_its_keys() {
        let s = update(json!({ "system_audio": true, "auto_stop_minutes": 0.5, "port": 9999 })).unwrap();
        assert_eq!(
            s,
            Settings { system_audio: true, auto_stop_minutes: 0.5, port: Some(9999), ..Settings::default() }
        );
        assert_eq!(s.auto_stop(), Some(std::time::Duration::from_secs(30)));
        assert_eq!(update(json!({ "auto_stop_minutes": 0 })).unwrap().auto_stop(), None);
    }

    #[test]
    fn a_bad_key_or_value_names_its_field_and_changes_nothing() {
        for (v, field) in [
            (json!({ "keep_audio": true, "colour": "red" }), "settings.colour"),
            (json!({ "keep_audio": "yes" }), "settings.keep_audio"),
            (json!({ "auto_stop_minutes": -1 }), "settings.auto_stop_minutes"),
            (json!({ "model_keep_alive_minutes": 1441 }), "settings.model_keep_alive_minutes"),
            (json!({ "language": "English" }), "settings.language"),
            (json!({ "port": 0 }), "settings.port"),
            (json!({ "port": 70000 }), "settings.port"),
            (json!({ "input_device": 3 }), "settings.input_device"),
            (json!({ "global_shortcut": "a\nb" }), "settings.global_shortcut"),
        ] {
            let e = update(v.clone()).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::InvalidParams.code(), "{v}");
            assert!(e.message.contains(field), "{v}: {}", e.message);
        }
    }

    #[test]
    fn blank_text_means_none_and_missing_keys_take_defaults() {
        let s = update(json!({ "input_device": "  ", "global_shortcut": null })).unwrap();
        assert_eq!((s.input_device, s.global_shortcut), (None, None));
        let partial: Settings = serde_json::from_value(json!({ "language": "de" })).unwrap();
        assert_eq!(partial, Settings { language: "de".into(), ..Settings::default() });
    }
}
