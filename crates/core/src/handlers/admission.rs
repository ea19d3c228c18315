//! `admission.status` (PROTOCOL §10).

use hark_protocol::RpcError;

use super::{Reply, reply};
use crate::daemon::Daemon;

pub fn status(daemon: &Daemon) -> Result<Reply, RpcError> {
    reply(&daemon.admission.status())
}
