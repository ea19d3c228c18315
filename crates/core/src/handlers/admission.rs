//! `admission.status` (PROTOCOL §10).

use hark_protocol::RpcError;
use serde_json::{Value, json};

use crate::daemon::Daemon;

pub fn status(daemon: &Daemon) -> Result<Value, RpcError> {
    Ok(json!(daemon.admission.status()))
}
