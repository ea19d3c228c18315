//! Proposals (PROTOCOL §5): validating a CAR Agent IR `ActionProposal` into a [`Plan`] and running
//! it against one connection's [`SessionRuntime`]. Free of transport: tool calls go out through a
//! [`ToolInvoker`] (the `tools.execute` callback machinery, or a fake in tests) and events through
//! a [`JournalSink`].
//!
//! - `validate.rs` owns the shape rules, id assignment and the dependency DAG ([`validate`]).
//! - `policy.rs` owns CAR's built-in policy rules (`deny_tool`, `deny_tool_param`,
//!   `require_state`).
//! - `precondition.rs` owns precondition evaluation against the state map.
//! - `execute.rs` owns scheduling, attempts, failure behaviours and the cost summary
//!   ([`execute`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hark_protocol::session::{PolicyDefinition, ToolDefinition};
use serde_json::Value;

mod execute;
mod policy;
mod precondition;
mod validate;

#[cfg(test)]
mod tests;

pub use execute::execute;
pub use validate::{Plan, validate};

/// The per-connection state proposals run against: the state map that `state_write`,
/// `expected_effects` and preconditions use, and the tools and policies the client registered.
/// Created lazily with the connection's first need (PROTOCOL §4).
#[derive(Debug, Clone, Default)]
pub struct SessionRuntime {
    pub state: HashMap<String, Value>,
    pub tools: BTreeMap<String, ToolDefinition>,
    pub policies: BTreeMap<String, PolicyDefinition>,
}

/// One attempt of a `tool_call` action, for the invoker to send as a `tools.execute` callback.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub action_id: String,
    pub tool: String,
    pub parameters: Value,
    /// The effective tool timeout: the action's `timeout_ms`, else the tool definition's.
    pub timeout_ms: Option<u64>,
    /// How long the invoker waits for the reply before giving up with [`ToolError::TimedOut`]
    /// (and sending `tools.cancel`). The invoker owns this deadline; the engine does not race it.
    pub wait: Duration,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
}

/// Why a tool call produced no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The client answered with an error; its `message`.
    #[error("{0}")]
    Failed(String),
    /// No reply within [`ToolCall::wait`].
    #[error("tool call timed out after {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The connection is gone. The engine neither retries nor continues after this.
    #[error("callback channel closed")]
    ChannelClosed,
}

/// Runs a client's tool: the seam between the engine and the `tools.execute` callbacks.
pub trait ToolInvoker: Send + Sync {
    fn invoke(&self, call: ToolCall) -> impl std::future::Future<Output = Result<Value, ToolError>> + Send;
}

/// Where proposal events go (the connection's journal, PROTOCOL §4). Must not block for long:
/// it is called from inside the running proposal.
pub trait JournalSink: Send + Sync {
    fn record(&self, kind: &str, action_id: Option<&str>, proposal_id: Option<&str>, data: Value);
}

/// A journal that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJournal;

impl JournalSink for NoJournal {
    fn record(&self, _: &str, _: Option<&str>, _: Option<&str>, _: Value) {}
}
