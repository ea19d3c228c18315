//! Chat with an agent (PROTOCOL §13): `agents.chat`, `agent.chat.event`, `agents.chat.cancel`,
//! `agents.chat.history`. The routes live in [`crate::chat`].
//!
//! Decided here where PROTOCOL is silent:
//! - the agent is the connection that claimed `agent_id` with `session.auth`, else the one that
//!   registered it with `host.register_agent`; neither → -32010;
//! - a `session_id` the host passes is either an earlier session (continued: its turns are
//!   appended to the same file) or a new id of the host's choosing (1 to 128 of
//!   `[A-Za-z0-9_-]`); absent, the daemon mints `chat-<hex>`; a session whose chat is still
//!   running → -32012;
//! - the prompt is stored before the agent is called, so the history keeps what the person
//!   asked even when the agent refuses (its error is the agent's turn);
//! - the agent's error reply to `agent.chat` is relayed as it came (its code and message);
//! - `agents.chat.cancel` answers `cancelled: true` when it closed a running chat, `false` when
//!   there was none (already finished or cancelled): calling it again changes nothing;
//! - prompts are at most 64 KiB; `agent.chat.event` deltas and texts at most 64 KiB each, its
//!   other fields (a tool call's) 64 KiB together; an agent's `agent_id` in them is ignored;
//! - the agent's first events may reach the host before the `agents.chat` result (the ack and
//!   the events race on the agent's connection): a host that wants to match them from the start
//!   passes its own `session_id`.

use std::time::Duration;

use hark_protocol::RpcError;
use hark_protocol::chat::{
    CancelResult, ChatEventParams, ChatParams, ChatResult, ChatRole, ChatTurn, HistoryParams, HistoryResult,
    SessionIdParams,
};
use hark_protocol::time::now_rfc3339;
use hark_store::chats::is_valid_session_id;
use serde_json::{Value, json};

use super::host::require_host;
use super::{Reply, parse, reply};
use crate::caller::Caller;
use crate::chat::EventOutcome;
use crate::connection::callbacks::CallFailure;
use crate::daemon::Daemon;

/// How long the agent has to acknowledge `agent.chat` (PROTOCOL §13).
pub const ACK_DEADLINE: Duration = Duration::from_secs(5);
const MAX_PROMPT_BYTES: usize = 64 << 10;
const MAX_EVENT_TEXT_BYTES: usize = 64 << 10;

pub async fn chat(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let p: ChatParams = parse(params)?;
    if p.prompt.is_empty() || p.prompt.len() > MAX_PROMPT_BYTES {
        return Err(RpcError::invalid_params("prompt", "1 byte to 64 KiB"));
    }
    if p.agent_id.is_empty() || p.agent_id.len() > 256 {
        return Err(RpcError::invalid_params("agent_id", "1 to 256 bytes"));
    }
    let session_id = match p.session_id {
        Some(id) if is_valid_session_id(&id) => id,
        Some(_) => return Err(RpcError::invalid_params("session_id", "1 to 128 of A-Z a-z 0-9 _ -")),
        None => format!("chat-{}", crate::mint_id()),
    };
    let agent = daemon
        .agent_connection(&p.agent_id)
        .ok_or_else(|| RpcError::not_found("agent", &format!("{} (it is not connected)", p.agent_id)))?;
    daemon.chats.open(&session_id, &p.agent_id, &agent.session_id, agent.outbound.clone(), caller)?;

    let prompt_turn = ChatTurn {
        role: ChatRole::User,
        text: p.prompt.clone(),
        tool_calls: vec![],
        error: None,
        ended: None,
        truncated: false,
        at: now_rfc3339(),
    };
    if let Err(e) = daemon.chats.append(&p.agent_id, &session_id, vec![prompt_turn]).await {
        daemon.chats.abandon(&session_id, "the daemon could not store the prompt", "error");
        return Err(e);
    }

    let host_client_id = caller.client_id.clone().unwrap_or_else(|| caller.session_id.clone());
    let params = json!({
        "session_id": session_id,
        "prompt": p.prompt,
        "context": { "host_client_id": host_client_id },
    });
    match agent.call("agent.chat", params, ACK_DEADLINE).await {
        Ok(Ok(_ack)) => reply(&ChatResult { accepted: true, session_id }),
        Ok(Err(refused)) => {
            daemon.chats.abandon(&session_id, &refused.message, "refused");
            Err(refused)
        }
        Err(CallFailure::TimedOut) => {
            daemon.chats.abandon(&session_id, "the agent did not acknowledge the chat", "timeout");
            Err(RpcError::new(
                hark_protocol::ErrorCode::DeadlineExceeded,
                format!(
                    "agent {} did not acknowledge agent.chat within {} s",
                    p.agent_id,
                    ACK_DEADLINE.as_secs()
                ),
            ))
        }
        Err(CallFailure::Closed) => {
            daemon.chats.abandon(&session_id, "the agent disconnected", "agent_disconnected");
            Err(RpcError::not_found("agent", &format!("{} (it disconnected)", p.agent_id)))
        }
    }
}

/// `agent.chat.event`, normally a notification (no reply); as a request it answers
/// `{accepted}`.
pub fn event(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: ChatEventParams = parse(params)?;
    for (field, text) in [("delta", &p.delta), ("text", &p.text), ("error", &p.error)] {
        if text.as_ref().is_some_and(|t| t.len() > MAX_EVENT_TEXT_BYTES) {
            return Err(RpcError::invalid_params(field, "at most 64 KiB"));
        }
    }
    if super::tools::json_size(&p.extra) > MAX_EVENT_TEXT_BYTES {
        return Err(RpcError::invalid_params("params", "an event's other fields are at most 64 KiB"));
    }
    let outcome = daemon.chats.event(&caller.session_id, p);
    reply(&json!({ "accepted": outcome == EventOutcome::Forwarded }))
}

pub fn cancel(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let SessionIdParams { session_id } = parse(params)?;
    reply(&CancelResult { cancelled: daemon.chats.cancel(&session_id) })
}

pub async fn history(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    require_host(caller)?;
    let p: HistoryParams = parse(params)?;
    let limit = p.limit.unwrap_or(20);
    if limit == 0 || limit > 200 {
        return Err(RpcError::invalid_params("limit", "1 to 200"));
    }
    let sessions = daemon.chats.history(p.agent_id, p.session_id, limit).await?;
    reply(&HistoryResult { sessions })
}
