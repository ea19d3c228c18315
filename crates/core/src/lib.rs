//! The Hark daemon, GUI-free: transport (TCP + Unix socket) -> connection (auth gate, codec,
//! outbound queue) -> router -> handlers/<area>.rs -> domain state (sessions, host surface,
//! permissions, admission, proposals). See ARCHITECTURE.md for the map and its invariants.

pub mod a2a;
pub mod a2ui;
pub mod admission;
pub mod caller;
pub mod chat;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod disk;
pub mod handlers;
pub mod host;
pub mod journal;
pub mod meetings;
pub mod models;
pub mod paths;
pub mod permissions;
pub mod proposal;
pub mod router;
pub mod runs;
pub mod runtime_files;
pub mod settings;
pub mod transport;
pub mod voice;

pub use config::{ApprovalPolicy, DaemonConfig, TransportLimits};
pub use daemon::{Daemon, RunningDaemon, StartError, start};

/// 12 lowercase hex chars of a fresh UUIDv4: session, proposal and approval ids.
pub fn mint_id() -> String {
    hark_protocol::ids::short_hex_id(uuid::Uuid::new_v4().into_bytes())
}

/// Locks a std mutex, recovering from poisoning: every critical section here is short and leaves
/// its data consistent, so a panic elsewhere must not take the daemon down with it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
