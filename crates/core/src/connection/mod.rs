//! One WebSocket connection: its state ([`Connection`]), its read loop (auth gate, JSON-RPC
//! classification, batches, callback replies, the idle timeout, a queue overflow), its writer
//! (which also enforces the slow-consumer deadline), and
//! the ONE cleanup path ([`Daemon::release_connection`](crate::daemon::Daemon::release_connection))
//! that runs however the read loop ends: close frame, socket error, vanished peer, shutdown.

pub mod callbacks;
pub mod outbound;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use hark_protocol::RpcError;
use hark_protocol::jsonrpc::{self, Id, Incoming, Message};
use hark_protocol::session::Role;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use crate::daemon::Daemon;
use crate::journal::Journal;
use crate::proposal::SessionRuntime;
use crate::router;
use callbacks::Callbacks;
use outbound::{Outbound, Outgoing, Pushed};

/// Close codes the daemon uses (RFC 6455 §7.4.1).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Unix,
}

/// Who the connection authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    pub role: Role,
    pub agent_id: Option<String>,
    /// False for the implicit client role of a `--no-auth` connection that has not called
    /// `session.auth` yet (it may still do so once, to claim an agent id or the host role).
    pub explicit: bool,
}

pub struct Connection {
    pub session_id: String,
    pub transport: Transport,
    /// Shared with the `Caller`s made from this connection (domains hold those, never the connection).
    pub outbound: Arc<Outbound>,
    /// A child of the daemon's shutdown token: cancelling it ends the read loop.
    pub cancel: CancellationToken,
    pub callbacks: Callbacks,
    /// Tools, policies and the state map of CAR's per-session runtime (created lazily by use).
    pub runtime: Mutex<SessionRuntime>,
    pub journal: Journal,
    auth: Mutex<Option<AuthInfo>>,
    /// Holds one of the daemon's unauthenticated slots until it authenticates or ends.
    unauthenticated_slot: std::sync::atomic::AtomicBool,
    /// Requests and notifications being handled (each batch member counts).
    inflight: std::sync::atomic::AtomicUsize,
    /// `auth.is_some()`, readable without the lock on every frame.
    authenticated: std::sync::atomic::AtomicBool,
    client_id: Mutex<Option<String>>,
    close_reason: Mutex<Option<(u16, String)>>,
    _alive: Alive,
}

/// Counts live `Connection` objects (see `Daemon::live_connection_objects`).
struct Alive(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("session_id", &self.session_id).finish_non_exhaustive()
    }
}

use crate::lock;

impl Connection {
    pub fn new(daemon: &Daemon, transport: Transport) -> Self {
        let session_id = crate::mint_id();
        let implicit = (!daemon.auth_enabled()).then_some(AuthInfo {
            role: Role::Client,
            agent_id: None,
            explicit: false,
        });
        Connection {
            journal: Journal::new(
                daemon.disk.clone(),
                crate::paths::journals_dir(&daemon.config.data_dir),
                &session_id,
            ),
            session_id,
            transport,
            outbound: Arc::new(Outbound::new(
                daemon.config.limits.outbound_queue,
                daemon.config.limits.outbound_bytes,
            )),
            inflight: std::sync::atomic::AtomicUsize::new(0),
            unauthenticated_slot: std::sync::atomic::AtomicBool::new(true),
            cancel: daemon.shutdown.child_token(),
            callbacks: Callbacks::new(),
            runtime: Mutex::new(SessionRuntime::default()),
            authenticated: std::sync::atomic::AtomicBool::new(implicit.is_some()),
            auth: Mutex::new(implicit),
            client_id: Mutex::new(None),
            close_reason: Mutex::new(None),
            _alive: {
                daemon.live_connection_objects.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                Alive(daemon.live_connection_objects.clone())
            },
        }
    }

    pub fn auth(&self) -> Option<AuthInfo> {
        lock(&self.auth).clone()
    }

    pub(crate) fn set_auth(&self, info: AuthInfo) {
        *lock(&self.auth) = Some(info);
        self.authenticated.store(true, std::sync::atomic::Ordering::Release);
    }

    /// True exactly once: when the unauthenticated slot taken at accept is given back.
    pub(crate) fn take_unauthenticated_slot(&self) -> bool {
        self.unauthenticated_slot.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Takes an in-flight slot if one is free (`max_inflight_requests`).
    fn try_enter(&self, max: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    /// Requests and notifications of this connection being handled now (what holds a slot of
    /// `max_inflight_requests`). Tests wait on it instead of on time.
    pub fn inflight(&self) -> usize {
        self.inflight.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn is_host(&self) -> bool {
        self.auth().is_some_and(|a| a.role == Role::Host)
    }

    pub fn agent_id(&self) -> Option<String> {
        self.auth().and_then(|a| a.agent_id)
    }

    pub fn client_id(&self) -> Option<String> {
        lock(&self.client_id).clone()
    }

    pub fn set_client_id(&self, id: Option<String>) {
        *lock(&self.client_id) = id;
    }

    /// This connection as the caller of a request: its identity now, and its outbox.
    pub fn caller(&self) -> crate::caller::Caller {
        let auth = self.auth();
        crate::caller::Caller {
            session_id: self.session_id.clone(),
            role: auth.as_ref().map_or(Role::Client, |a| a.role),
            agent_id: auth.and_then(|a| a.agent_id),
            client_id: self.client_id(),
            outbox: self.outbound.clone(),
            gone: self.cancel.clone(),
        }
    }

    /// Queues one JSON message for this client, in order.
    pub fn send(&self, message: &Value) -> Pushed {
        self.outbound.push_text(message.to_string())
    }

    /// Ends the connection with a close code (the read loop notices at once).
    pub fn disconnect(&self, code: u16, reason: &str) {
        lock(&self.close_reason).get_or_insert((code, reason.to_string()));
        self.cancel.cancel();
    }

    fn close_reason(&self) -> Option<(u16, String)> {
        lock(&self.close_reason).clone()
    }
}

/// How long a connection the daemon closed keeps draining what the peer still sends: until the
/// peer's close frame or EOF, at most this (a lingering close, as nginx does).
const LINGER: Duration = Duration::from_secs(2);

/// Serves one upgraded WebSocket until it ends, then releases everything it owned.
///
/// When the daemon ends the connection (a message too big, a bad frame, no authentication, a
/// slow consumer, shutdown), its close frame is sent, then the socket's write side is shut and
/// everything the peer still sends is read and dropped until the peer closes or [`LINGER`]
/// passes. Dropping a socket with unread input makes the kernel answer with a reset, and a peer
/// still writing (the rest of a 2 MiB message) would lose our close frame with it: its
/// WebSocket library would report "no close frame received" instead of the code.
pub async fn serve<T>(daemon: Arc<Daemon>, ws: WebSocketStream<T>, transport: Transport)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Connection::new(&daemon, transport));
    daemon.connection_opened(&conn);
    let (sink, mut stream) = ws.split();
    let writer_conn = conn.clone();
    let slow = daemon.config.limits.slow_consumer;
    let writer = tokio::spawn(async move { write_loop(sink, &writer_conn, slow).await });

    let mut handlers: JoinSet<()> = JoinSet::new();
    let (code, reason) = read_loop(&daemon, &conn, &mut stream, &mut handlers).await;
    tracing::debug!(session = %conn.session_id, code, %reason, "connection ending");
    if code == close::POLICY && reason == SLOW_CONSUMER {
        conn.outbound.close_now(code, &reason); // it would never reach a close frame behind its backlog
    } else {
        conn.outbound.close(code, &reason);
    }
    // Every handler task is aborted AND finished before the cleanup runs, so none can register
    // anything (a subscription, an agent, an approval) for this connection after it.
    conn.cancel.cancel();
    handlers.shutdown().await;
    daemon.release_connection(&conn);
    // The close frame gets a short grace; a client that never reads does not hold us up.
    let mut writer = writer;
    let sink = match tokio::time::timeout(LINGER, &mut writer).await {
        Ok(Ok(sink)) => sink,
        _ => {
            writer.abort();
            None
        }
    };
    // The peer ended it (its close frame, EOF, a socket error: all read as NORMAL): nothing to drain.
    if code != close::NORMAL
        && let Some(sink) = sink
        && let Ok(mut ws) = stream.reunite(sink)
    {
        linger(ws.get_mut(), LINGER).await;
    }
}

/// Shuts the write side (our close frame is out) and drops the peer's input until its EOF or
/// `deadline`.
async fn linger<T: AsyncRead + AsyncWrite + Unpin>(socket: &mut T, deadline: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = socket.shutdown().await;
    let mut scratch = vec![0u8; 16 << 10];
    let drain = async {
        while let Ok(n) = socket.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(deadline, drain).await;
}

/// What writing one batch came to.
enum Wrote {
    Batch,
    /// The close frame is out: the socket lingers next.
    Closed,
    Failed,
}

/// Writes the outbound queue until it ends. Returns the sink when it sent the close frame (the
/// socket then lingers), `None` when the socket failed.
///
/// The slow-consumer rule lives here: the writer takes everything queued as it comes, so
/// messages wait only while a write blocks, and each batch (its frames and the flush) gets `slow`
/// to go out. A client that takes nothing for that long is disconnected with 1008 "slow
/// consumer"; the read loop hears it through [`Connection::disconnect`]. No timer runs while
/// writes complete at once (a timeout registers its timer only when the write has to wait), so
/// an idle connection costs nothing between its pings.
async fn write_loop<K>(mut sink: K, conn: &Connection, slow: Duration) -> Option<K>
where
    K: Sink<WsMessage, Error = WsError> + Unpin,
{
    loop {
        let batch = conn.outbound.next_batch(64).await;
        match tokio::time::timeout(slow, write_batch(&mut sink, batch)).await {
            Ok(Wrote::Batch) => {}
            Ok(Wrote::Closed) => return Some(sink),
            Ok(Wrote::Failed) => {
                conn.disconnect(close::NORMAL, "");
                return None;
            }
            Err(_) => {
                tracing::info!(session = %conn.session_id, queued = conn.outbound.len(),
                    bytes = conn.outbound.queued_bytes(), "slow consumer");
                // The read loop ends the connection; what is queued is dropped for the close
                // frame (`close_now`), which this loop then tries to send, within the linger.
                conn.disconnect(close::POLICY, SLOW_CONSUMER);
            }
        }
    }
}

async fn write_batch<K>(sink: &mut K, batch: Vec<Outgoing>) -> Wrote
where
    K: Sink<WsMessage, Error = WsError> + Unpin,
{
    for frame in batch {
        let (message, last) = match frame {
            Outgoing::Text(t) => (WsMessage::text(t), false),
            Outgoing::Ping => (WsMessage::Ping(Default::default()), false),
            Outgoing::Close(code, reason) => {
                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                (WsMessage::Close(Some(frame)), true)
            }
        };
        if sink.feed(message).await.is_err() {
            return Wrote::Failed;
        }
        if last {
            return if sink.flush().await.is_ok() { Wrote::Closed } else { Wrote::Failed };
        }
    }
    if sink.flush().await.is_err() { Wrote::Failed } else { Wrote::Batch }
}

/// Returns the close code and reason to send.
async fn read_loop<R>(
    daemon: &Arc<Daemon>,
    conn: &Arc<Connection>,
    stream: &mut R,
    handlers: &mut JoinSet<()>,
) -> (u16, String)
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let limits = &daemon.config.limits;
    let mut last_inbound = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let overflowed = conn.outbound.overflowed();
    tokio::pin!(overflowed);
    let auth_deadline = tokio::time::sleep(limits.auth_timeout);
    tokio::pin!(auth_deadline);
    let cancelled = conn.cancel.cancelled();
    tokio::pin!(cancelled);
    // A binary frame whose push waits for room: nothing more is read until it is queued.
    let mut held: Option<tokio::sync::oneshot::Receiver<()>> = None;

    loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => {
                return conn.close_reason().unwrap_or((close::GOING_AWAY, "server shutting down".into()));
            }
            _ = async { held.as_mut().expect("guarded").await }, if held.is_some() => {
                held = None;
                last_inbound = Instant::now(); // the client was waiting on us, not idle
            }
            frame = stream.next(), if held.is_none() => match frame {
                None => return (close::NORMAL, String::new()),
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                    tracing::info!(session = %conn.session_id, size, max_size, "message too big");
                    return (close::TOO_BIG, format!("message too big (max {max_size} bytes)"));
                }
                Some(Err(WsError::Protocol(e))) => {
                    tracing::debug!(session = %conn.session_id, error = %e, "protocol error");
                    return (close::PROTOCOL_ERROR, "protocol error".into());
                }
                Some(Err(e)) => {
                    tracing::debug!(session = %conn.session_id, error = %e, "socket error");
                    return (close::NORMAL, String::new());
                }
                Some(Ok(message)) => {
                    last_inbound = Instant::now();
                    let outcome = match message {
                        WsMessage::Text(text) => on_text(daemon, conn, handlers, text.as_str()),
                        WsMessage::Binary(bytes) => match on_binary(daemon, conn, handlers, bytes) {
                            Ok(end) => end,
                            Err(waiting) => {
                                held = Some(waiting);
                                None
                            }
                        },
                        WsMessage::Close(_) => return (close::NORMAL, String::new()),
                        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => None,
                    };
                    if let Some(end) = outcome {
                        return end;
                    }
                }
            },
            () = &mut overflowed => {
                tracing::info!(session = %conn.session_id, queued = conn.outbound.len(),
                    bytes = conn.outbound.queued_bytes(), "slow consumer: its queue overflowed");
                return (close::POLICY, SLOW_CONSUMER.into());
            }
            _ = ping.tick() => {
                if held.is_none() && last_inbound.elapsed() >= limits.idle_timeout {
                    return (close::GOING_AWAY, "idle timeout".into());
                }
                conn.outbound.push_ping();
            }
            Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
            _ = &mut auth_deadline, if !conn.is_authenticated() => {
                return (close::POLICY, "authentication timeout".into());
            }
        }
    }
}

/// A binary audio frame. `Err(waiting)`: its push waits for room in its stream, and the read
/// loop reads nothing more until `waiting` fires (backpressure: a client pushing faster than its
/// stream takes audio is slowed by its own socket, and holds one frame, never a task per frame).
fn on_binary(
    daemon: &Arc<Daemon>,
    conn: &Arc<Connection>,
    handlers: &mut JoinSet<()>,
    bytes: tokio_tungstenite::tungstenite::Bytes,
) -> Result<Option<(u16, String)>, tokio::sync::oneshot::Receiver<()>> {
    if !conn.is_authenticated() {
        return Ok(Some((close::POLICY, "authentication required".into())));
    }
    let max = daemon.config.limits.max_binary_frame_bytes;
    if bytes.len() > max {
        return Ok(Some((close::TOO_BIG, format!("binary frame too big (max {max} bytes)"))));
    }
    // Short or unknown frames are answered with nothing and logged.
    let Some((id, _)) = hark_protocol::voice::parse_audio_frame(&bytes) else {
        tracing::debug!(session = %conn.session_id, len = bytes.len(), "unknown binary frame dropped");
        return Ok(None);
    };
    let (daemon, conn) = (daemon.clone(), conn.clone());
    let (done, waited) = tokio::sync::oneshot::channel();
    // Polled inline first, so frames reach their stream in the order they came. One that has to
    // wait (its stream holds its budget of audio) holds the read loop until it is queued.
    let queued = run_inline_or_spawn(handlers, async move {
        let pcm = &bytes[hark_protocol::voice::AUDIO_FRAME_HEADER..];
        if let Err(e) = daemon.voice.push(&conn.caller(), &id, pcm).await {
            tracing::debug!(session = %conn.session_id, stream = %id, error = %e, "binary audio frame dropped");
        }
        let _ = done.send(());
    });
    if !queued {
        return Err(waited);
    }
    Ok(None)
}

/// Handles one text frame. Returns a close code when the connection must end.
fn on_text(
    daemon: &Arc<Daemon>,
    conn: &Arc<Connection>,
    handlers: &mut JoinSet<()>,
    text: &str,
) -> Option<(u16, String)> {
    let incoming = Incoming::parse(text);
    if !conn.is_authenticated() {
        return on_first_frame(daemon, conn, incoming);
    }
    let max = daemon.config.limits.max_inflight_requests;
    match incoming {
        Incoming::Invalid(error) => {
            conn.send(&jsonrpc::failure(&Id::null(), &error));
        }
        // Replies to our callbacks and invalid messages are handled inline: no task needed.
        Incoming::Single(Ok(Message::Response(reply))) => {
            if !conn.callbacks.resolve(&reply.id, reply.outcome) {
                tracing::debug!(session = %conn.session_id, id = ?reply.id, "reply with an unknown id ignored");
            }
        }
        Incoming::Single(Err((id, error))) => {
            conn.send(&jsonrpc::failure(&id, &error));
        }
        Incoming::Single(Ok(Message::Request(request))) if !conn.try_enter(max) => {
            conn.send(&jsonrpc::failure(&request.id, &busy()));
        }
        Incoming::Single(Ok(Message::Notification(n))) if !conn.try_enter(max) => {
            tracing::debug!(session = %conn.session_id, method = %n.method, "notification dropped: too many in flight");
        }
        Incoming::Single(Ok(Message::Request(request))) => {
            let (daemon, conn) = (daemon.clone(), conn.clone());
            run_inline_or_spawn(handlers, async move {
                let _slot = InflightSlot(&conn.inflight);
                let reply = router::dispatch(&daemon, &conn, &request.method, request.params).await;
                conn.outbound.push_text(reply_text(&request.id, reply));
            });
        }
        Incoming::Single(Ok(item)) => {
            let (daemon, conn) = (daemon.clone(), conn.clone());
            run_inline_or_spawn(handlers, async move {
                let _slot = InflightSlot(&conn.inflight);
                process(&daemon, &conn, Ok(item)).await;
            });
        }
        Incoming::Batch(items) => {
            // Each member takes its own in-flight slot, so a batch is no way around the limit.
            let items: Vec<(bool, _)> = items
                .into_iter()
                .map(|item| match &item {
                    Ok(Message::Request(_) | Message::Notification(_)) => (conn.try_enter(max), item),
                    _ => (false, item),
                })
                .collect();
            let (daemon, conn) = (daemon.clone(), conn.clone());
            // Inline like a single message: members that finish on the first poll (most, and
            // notifications such as agent.chat.event) run now, in read order with the frames
            // around the batch.
            run_inline_or_spawn(handlers, async move {
                let replies = futures_util::future::join_all(items.into_iter().map(|(slot, item)| {
                    let (daemon, conn) = (&daemon, &conn);
                    async move {
                        let _slot = slot.then(|| InflightSlot(&conn.inflight));
                        match item {
                            Ok(Message::Request(r)) if !slot => {
                                Some(jsonrpc::failure(&r.id, &busy()).to_string())
                            }
                            Ok(Message::Notification(_)) if !slot => None,
                            item => process(daemon, conn, item).await,
                        }
                    }
                }))
                .await;
                let replies: Vec<String> = replies.into_iter().flatten().collect();
                // An all-notification batch gets no reply at all (JSON-RPC 2.0 §6).
                if !replies.is_empty() {
                    conn.outbound.push_text(format!("[{}]", replies.join(",")));
                }
            });
        }
    }
    None
}

const SLOW_CONSUMER: &str = "slow consumer";

fn busy() -> RpcError {
    RpcError::busy("too many requests in flight on this connection; retry later")
}

/// Gives an in-flight slot back when its handler ends (or is aborted).
struct InflightSlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for InflightSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Polls a handler once right here; only one that has to wait (an approval, a callback, a
/// permit) becomes a task. Most requests finish on the first poll, which saves a task spawn and
/// a wake-up of this loop per request. The spawned task polls again with its own waker, so what
/// the first poll registered with the no-op waker is replaced at once.
/// Returns true when the handler finished inline.
fn run_inline_or_spawn(
    handlers: &mut JoinSet<()>,
    handler: impl Future<Output = ()> + Send + 'static,
) -> bool {
    let mut handler = Box::pin(handler);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if handler.as_mut().poll(&mut cx).is_pending() {
        handlers.spawn(handler);
        return false;
    }
    true
}

/// A request's reply as text.
fn reply_text(id: &Id, reply: Result<crate::handlers::Reply, RpcError>) -> String {
    match reply {
        Ok(result) => jsonrpc::success_text(id, result.get()),
        Err(error) => jsonrpc::failure(id, &error).to_string(),
    }
}

/// Runs one classified message; returns the reply to send, if any.
async fn process(
    daemon: &Arc<Daemon>,
    conn: &Arc<Connection>,
    item: Result<Message, (Id, RpcError)>,
) -> Option<String> {
    match item {
        Err((id, error)) => Some(jsonrpc::failure(&id, &error).to_string()),
        Ok(Message::Response(reply)) => {
            conn.callbacks.resolve(&reply.id, reply.outcome);
            None
        }
        Ok(Message::Notification(n)) => {
            if let Err(e) = router::dispatch(daemon, conn, &n.method, n.params).await {
                tracing::debug!(session = %conn.session_id, method = %n.method, error = %e, "notification failed");
            }
            None
        }
        Ok(Message::Request(r)) => {
            Some(reply_text(&r.id, router::dispatch(daemon, conn, &r.method, r.params).await))
        }
    }
}

/// Before `session.auth` succeeds only `session.auth` is served; anything else gets -32001 and
/// the connection closes (PROTOCOL §2.4).
fn on_first_frame(daemon: &Arc<Daemon>, conn: &Arc<Connection>, incoming: Incoming) -> Option<(u16, String)> {
    let request = match incoming {
        Incoming::Single(Ok(Message::Request(r))) if r.method == "session.auth" => r,
        Incoming::Single(Ok(Message::Request(r))) => {
            let error =
                RpcError::unauthorized("authentication required: the first message must be session.auth");
            conn.send(&jsonrpc::failure(&r.id, &error));
            return Some((close::POLICY, "authentication required".into()));
        }
        // A notification never gets a reply, not even this one.
        Incoming::Single(Ok(Message::Notification(_))) => {
            return Some((close::POLICY, "authentication required".into()));
        }
        _ => {
            let error =
                RpcError::unauthorized("authentication required: the first message must be session.auth");
            conn.send(&jsonrpc::failure(&Id::null(), &error));
            return Some((close::POLICY, "authentication required".into()));
        }
    };
    match crate::handlers::session::authenticate(daemon, conn, request.params) {
        Ok(result) => {
            conn.outbound.push_text(jsonrpc::success_text(&request.id, result.get()));
            None
        }
        Err(error) => {
            conn.send(&jsonrpc::failure(&request.id, &error));
            Some((close::POLICY, "authentication failed".into()))
        }
    }
}
