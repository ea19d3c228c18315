//! Hark's wire types: the JSON-RPC 2.0 envelope, error codes, and the params and results of every
//! method the daemon serves (PROTOCOL.md). Serde only: no tokio, no I/O. This is the one place that
//! knows JSON shapes; the daemon, the CLI and the tests all speak through these types.

pub mod admission;
pub mod chat;
pub mod error;
pub mod host;
pub mod ids;
pub mod jsonrpc;
pub mod meeting;
pub mod models;
pub mod proposal;
pub mod session;
pub mod settings;
pub mod time;
pub mod voice;

pub use error::{ErrorCode, RpcError};
pub use jsonrpc::{Id, Incoming, Message, Notification, Request, Response};

/// The highest CAR wire protocol version Hark speaks (`server.info.protocol_version`).
pub const PROTOCOL_VERSION: u32 = 3;
/// Every CAR wire protocol version Hark answers `server.handshake` with.
pub const SUPPORTED_PROTOCOL_VERSIONS: [u32; 3] = [1, 2, 3];
