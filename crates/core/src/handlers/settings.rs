//! `settings.get` and `settings.update` (Hark's own; PROTOCOL.md has no settings): the person's
//! settings, host only (-32002 otherwise): they decide what every meeting records and keeps,
//! which is the person's choice, not an agent's. Each change is followed by a
//! `settings.changed` host event carrying the settings after it.

use hark_protocol::RpcError;
use hark_protocol::settings::{SettingsResult, UpdateParams};
use serde_json::{Value, json};

use super::host::require_host;
use super::{Reply, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;

pub fn get(daemon: &Daemon, caller: &Caller) -> Result<Reply, RpcError> {
    require_host(caller)?;
    reply(&SettingsResult { settings: daemon.settings.get() })
}

pub fn update(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let p: UpdateParams = parse(params)?;
    let settings = daemon.settings.update(&p.settings)?;
    daemon.host.emit(
        "settings.changed",
        None,
        "settings changed".into(),
        json!({ "settings": settings, "changed": p.settings.keys().collect::<Vec<_>>() }),
    );
    reply(&SettingsResult { settings })
}
