//! End-to-end tests of the daemon over real WebSockets on port 0, TCP and Unix socket, with the
//! test-support client. Time limits in the daemon's config are shortened where a test waits on
//! them (approval timeout, slow-consumer rule, idle timeout).

mod a2ui;
mod capture;
mod chat;
mod disconnect;
mod host;
mod jsonrpc;
mod meetings;
mod models;
mod permissions;
mod proposals;
mod runs;
mod settings;
mod transport;
mod voice;

use std::time::Duration;

pub const SHORT: Duration = Duration::from_millis(300);
pub const LONG: Duration = Duration::from_secs(10);
