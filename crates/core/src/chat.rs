//! Chat routes (PROTOCOL §13): which host hears which agent's `agent.chat.event`s, and what the
//! history file gets when a turn ends.
//!
//! A route is opened by `agents.chat` BEFORE the agent is called (an event the agent sends
//! right after it acks must not be lost) and closed by the agent's `done`/`error`, by
//! `agents.chat.cancel`, by either side leaving (through the one cleanup path), or after
//! `idle` without an event. A close by a departure or the idle sweeper tells whoever is still
//! there (the host gets a final `error` event, the agent `agent.chat.cancel`); a cancel tells
//! the agent; a refused or unacknowledged call is the host's error reply. The
//! agent's turn (joined deltas, tool calls, error, how it ended) is appended to the history
//! once, when the route closes, and queued before anyone is told it closed. Events are
//! forwarded under the routes' lock, so a host sees an
//! agent's events in the order the agent sent them.
//!
//! The history files are written and read by ONE thread (`hark-chats`), in the order the jobs
//! were queued: a `agents.chat.history` asked after an agent's `done` sees its turn, without
//! any file I/O on the runtime or the connection's read loop.
//!
//! Domain state holds `Caller`s and outboxes, never a connection: the agent is called by the
//! handler, which looks its connection up in the daemon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hark_protocol::RpcError;
use hark_protocol::chat::{
    ChatEventKind, ChatEventParams, ChatRole, ChatSession, ChatTurn, ForwardedChatEvent,
};
use hark_protocol::jsonrpc;
use hark_protocol::time::now_rfc3339;
use hark_store::ChatLog;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::caller::{Caller, Outbox, OwnedBySession};

/// Chats one agent may be answering at once (PROTOCOL §13).
pub const MAX_CHATS_PER_AGENT: usize = 4;
/// The part of a reply the history keeps (the host saw all of it live).
const MAX_REPLY_BYTES: usize = 1 << 20;
/// Tool calls one turn keeps.
const MAX_TOOL_CALLS: usize = 256;

struct Route {
    agent_id: String,
    agent_session: String,
    agent: Arc<dyn Outbox>,
    host: Caller,
    last_event: Instant,
    reply: String,
    truncated: bool,
    tool_calls: Vec<Value>,
}

impl Route {
    fn take_turn(&mut self, error: Option<String>, ended: Option<&str>) -> ChatTurn {
        ChatTurn {
            role: ChatRole::Agent,
            text: std::mem::take(&mut self.reply),
            tool_calls: std::mem::take(&mut self.tool_calls),
            error,
            ended: ended.map(str::to_string),
            truncated: self.truncated,
            at: now_rfc3339(),
        }
    }

    fn tell_host(&self, session_id: &str, kind: ChatEventKind, error: Option<&str>) {
        let event = ForwardedChatEvent {
            agent_id: &self.agent_id,
            session_id,
            kind,
            delta: None,
            text: None,
            error,
            extra: &serde_json::Map::new(),
        };
        self.host.send(&jsonrpc::notification("agents.chat.event", json!(event)));
    }

    fn forward(&self, event: &ChatEventParams) {
        let forwarded = ForwardedChatEvent {
            agent_id: &self.agent_id,
            session_id: &event.session_id,
            kind: event.kind,
            delta: event.delta.as_deref(),
            text: event.text.as_deref(),
            error: event.error.as_deref(),
            extra: &event.extra,
        };
        self.host.send(&jsonrpc::notification("agents.chat.event", json!(forwarded)));
    }

    fn tell_agent_cancel(&self, session_id: &str, reason: &str) {
        let note =
            jsonrpc::notification("agent.chat.cancel", json!({ "session_id": session_id, "reason": reason }));
        self.agent.push_text(note.to_string());
    }
}

/// What an `agent.chat.event` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Forwarded,
    /// No open route for that session (finished, cancelled, or never opened).
    NoRoute,
    /// Sent by a connection other than the one the chat's agent is bound to.
    NotTheAgent,
}

/// Work for the history thread.
enum Job {
    Append {
        agent_id: String,
        session_id: String,
        turns: Vec<ChatTurn>,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// Answered once every job queued before it is done.
    Barrier(oneshot::Sender<()>),
    Read {
        agent_id: Option<String>,
        session_id: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<ChatSession>, String>>,
    },
}

fn history_thread(log: ChatLog, jobs: mpsc::Receiver<Job>) {
    for job in jobs {
        match job {
            Job::Append { agent_id, session_id, turns, done } => {
                let written = log.append(&agent_id, &session_id, &turns).map_err(|e| e.to_string());
                if let Err(e) = &written {
                    tracing::warn!(error = %e, chat = %session_id, "cannot append to the chat history");
                }
                if let Some(done) = done {
                    let _ = done.send(written);
                }
            }
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Read { agent_id, session_id, limit, reply } => {
                let read = log.sessions(agent_id.as_deref(), session_id.as_deref(), limit);
                let _ = reply.send(read.map_err(|e| e.to_string()));
            }
        }
    }
}

pub struct Chats {
    jobs: mpsc::Sender<Job>,
    idle: Duration,
    routes: Mutex<HashMap<String, Route>>,
}

impl std::fmt::Debug for Chats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chats")
    }
}

impl Chats {
    pub fn new(log: ChatLog, idle: Duration) -> Self {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("hark-chats".into())
            .spawn(move || history_thread(log, queue))
            .expect("spawn the chat history thread");
        Chats { jobs, idle, routes: Mutex::default() }
    }

    fn queue(&self, job: Job) {
        if self.jobs.send(job).is_err() {
            tracing::error!("the chat history thread is gone");
        }
    }

    /// Appends `turns` to a session's history and waits until they are written.
    pub async fn append(
        &self,
        agent_id: &str,
        session_id: &str,
        turns: Vec<ChatTurn>,
    ) -> Result<(), RpcError> {
        let (done, written) = oneshot::channel();
        self.queue(Job::Append {
            agent_id: agent_id.to_string(),
            session_id: session_id.to_string(),
            turns,
            done: Some(done),
        });
        match written.await {
            Ok(Ok(())) => Ok(()),
            _ => Err(RpcError::internal()),
        }
    }

    /// Stored sessions newest first, after every turn queued before this call is written.
    pub async fn history(
        &self,
        agent_id: Option<String>,
        session_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<ChatSession>, RpcError> {
        let (reply, read) = oneshot::channel();
        self.queue(Job::Read { agent_id, session_id, limit, reply });
        match read.await {
            Ok(Ok(mut sessions)) => {
                let routes = crate::lock(&self.routes);
                for session in &mut sessions {
                    session.active = routes.contains_key(&session.session_id);
                }
                Ok(sessions)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the chat history");
                Err(RpcError::internal())
            }
            Err(_) => Err(RpcError::internal()),
        }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Opens the route of `session_id` from `host` to the agent `agent_id` whose connection is
    /// `agent_session` / `agent`.
    pub fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        agent_session: &str,
        agent: Arc<dyn Outbox>,
        host: &Caller,
    ) -> Result<(), RpcError> {
        let mut routes = crate::lock(&self.routes);
        if routes.contains_key(session_id) {
            return Err(RpcError::conflict(format!("chat session {session_id} is already running")));
        }
        if routes.values().filter(|r| r.agent_id == agent_id).count() >= MAX_CHATS_PER_AGENT {
            return Err(RpcError::conflict(format!(
                "agent {agent_id} is already answering {MAX_CHATS_PER_AGENT} chats; wait for one to finish"
            )));
        }
        routes.insert(
            session_id.to_string(),
            Route {
                agent_id: agent_id.to_string(),
                agent_session: agent_session.to_string(),
                agent,
                host: host.clone(),
                last_event: Instant::now(),
                reply: String::new(),
                truncated: false,
                tool_calls: Vec::new(),
            },
        );
        Ok(())
    }

    /// Closes a route the agent never took (it refused `agent.chat`, did not ack in time, or
    /// left): the turn records why; nobody is told (the host gets the error as its reply).
    pub fn abandon(&self, session_id: &str, error: &str, ended: &str) {
        let route = crate::lock(&self.routes).remove(session_id);
        if let Some(mut route) = route {
            if ended == "timeout" {
                route.tell_agent_cancel(session_id, "timeout");
            }
            let turn = route.take_turn(Some(error.to_string()), Some(ended));
            self.persist(route.agent_id, session_id.to_string(), turn);
        }
    }

    /// One `agent.chat.event` from the connection `from_session`.
    pub fn event(&self, from_session: &str, event: ChatEventParams) -> EventOutcome {
        let mut routes = crate::lock(&self.routes);
        let Some(route) = routes.get_mut(&event.session_id) else {
            tracing::debug!(chat = %event.session_id, "agent.chat.event for no open chat; dropped");
            return EventOutcome::NoRoute;
        };
        if route.agent_session != from_session {
            tracing::warn!(
                chat = %event.session_id,
                from = %from_session,
                "agent.chat.event from a connection that is not the chat's agent; dropped"
            );
            return EventOutcome::NotTheAgent;
        }
        route.last_event = Instant::now();
        let mut event = event;
        // The forwarded event's own fields are the daemon's: an agent cannot name another agent.
        for reserved in ["agent_id", "session_id", "kind", "delta", "text", "error"] {
            event.extra.remove(reserved);
        }
        if event.kind.is_terminal() {
            // Queued before the host hears of the end, so a history read it makes then sees it.
            let mut route = routes.remove(&event.session_id).expect("present");
            if let Some(text) = &event.text {
                // The agent's final text is its answer; the deltas were the way there.
                route.reply.clear();
                route.truncated = false;
                append_capped(&mut route.reply, &mut route.truncated, text);
            }
            let ended = (event.kind == ChatEventKind::Error).then_some("error");
            let turn = route.take_turn(event.error.clone(), ended);
            self.persist(route.agent_id.clone(), event.session_id.clone(), turn);
            route.forward(&event);
            return EventOutcome::Forwarded;
        }
        route.forward(&event);
        match event.kind {
            ChatEventKind::Token => {
                if let Some(delta) = &event.delta {
                    append_capped(&mut route.reply, &mut route.truncated, delta);
                }
            }
            ChatEventKind::ToolCall => {
                if route.tool_calls.len() < MAX_TOOL_CALLS {
                    route.tool_calls.push(Value::Object(event.extra));
                }
            }
            ChatEventKind::Done | ChatEventKind::Error => {}
        }
        EventOutcome::Forwarded
    }

    /// `agents.chat.cancel`: true when this call closed an open route.
    pub fn cancel(&self, session_id: &str) -> bool {
        let route = crate::lock(&self.routes).remove(session_id);
        let Some(mut route) = route else { return false };
        let turn = route.take_turn(None, Some("cancelled"));
        self.persist(route.agent_id.clone(), session_id.to_string(), turn);
        route.tell_agent_cancel(session_id, "cancelled");
        true
    }

    /// Closes every route without an event for `idle` (the sweeper calls this).
    pub fn sweep(&self, now: Instant) {
        let idle: Vec<(String, Route)> = {
            let mut routes = crate::lock(&self.routes);
            let ids: Vec<String> = routes
                .iter()
                .filter(|(_, r)| now.saturating_duration_since(r.last_event) >= self.idle)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter().filter_map(|id| routes.remove(&id).map(|r| (id, r))).collect()
        };
        for (session_id, mut route) in idle {
            let error = "the agent sent nothing for too long";
            let turn = route.take_turn(Some(error.to_string()), Some("idle_timeout"));
            self.persist(route.agent_id.clone(), session_id.clone(), turn);
            route.tell_host(&session_id, ChatEventKind::Error, Some(error));
            route.tell_agent_cancel(&session_id, "idle_timeout");
        }
    }

    /// Waits until every turn queued so far is written (shutdown calls it last).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        self.queue(Job::Barrier(done));
        let _ = written.await;
    }

    /// Queues a finished turn for the history.
    fn persist(&self, agent_id: String, session_id: String, turn: ChatTurn) {
        self.queue(Job::Append { agent_id, session_id, turns: vec![turn], done: None });
    }
}

fn append_capped(reply: &mut String, truncated: &mut bool, more: &str) {
    let room = MAX_REPLY_BYTES.saturating_sub(reply.len());
    if more.len() <= room {
        reply.push_str(more);
    } else {
        let mut cut = room;
        while !more.is_char_boundary(cut) {
            cut -= 1;
        }
        reply.push_str(&more[..cut]);
        *truncated = true;
    }
}

impl OwnedBySession for Chats {
    /// Part of the cleanup path: the routes of a departed host or agent close, and the other
    /// side is told.
    fn release_session(&self, session_id: &str) {
        let gone: Vec<(String, Route)> = {
            let mut routes = crate::lock(&self.routes);
            let ids: Vec<String> = routes
                .iter()
                .filter(|(_, r)| r.agent_session == session_id || r.host.session_id == session_id)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter().filter_map(|id| routes.remove(&id).map(|r| (id, r))).collect()
        };
        for (chat, mut route) in gone {
            let agent_left = route.agent_session == session_id;
            let ended = if agent_left { "agent_disconnected" } else { "host_disconnected" };
            let turn = route.take_turn(None, Some(ended));
            self.persist(route.agent_id.clone(), chat.clone(), turn);
            if agent_left {
                route.tell_host(&chat, ChatEventKind::Error, Some("the agent disconnected"));
            } else {
                route.tell_agent_cancel(&chat, "host_disconnected");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_capped_at_a_char_boundary() {
        let (mut reply, mut truncated) = ("a".repeat(MAX_REPLY_BYTES - 1), false);
        append_capped(&mut reply, &mut truncated, "é");
        assert_eq!(reply.len(), MAX_REPLY_BYTES - 1);
        assert!(truncated);
        let (mut reply, mut truncated) = (String::new(), false);
        append_capped(&mut reply, &mut truncated, "hello");
        assert_eq!((reply.as_str(), truncated), ("hello", false));
    }
}
