//! The connection's ONE ordered, bounded outbound queue (PROTOCOL §3). Everything sent to a
//! client (responses, notifications, callbacks, pings, the close frame) goes through it, in push
//! order, drained by a single writer task.
//!
//! Producers never wait: a slow client must never slow the daemon, other clients, the audio
//! pipeline or the transcriber. So `push` is synchronous and the bound is enforced by policy:
//! - the queue is full at `capacity` messages or `max_bytes` bytes; while full, coalescable
//!   messages (voice `partial`s) replace an older queued message with the same key;
//! - a client that takes nothing for `slow_consumer` (10 s) while messages wait for it is
//!   disconnected (close 1008 "slow consumer"): the writer takes everything queued at once, so
//!   messages wait only while a write is blocked, and the writer gives each batch (its writes and
//!   flush) `slow_consumer` to finish. This catches a client that stops reading whatever the
//!   size of what waits (the socket's buffers fill first, then the writer blocks, then nothing
//!   moves), and costs no timer while nothing blocks: an idle connection (the desktop tray's)
//!   wakes the daemon only for its ping;
//! - at 4x `capacity` messages or 4x `max_bytes` the connection is dropped at once
//!   ([`Outbound::overflowed`] fires), so memory stays bounded however fast a flood arrives.
//!
//! Nothing that is not coalescable is ever dropped while the connection lives.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Default byte bound of one connection's queue.
pub const DEFAULT_MAX_BYTES: usize = 8 << 20;

/// A frame for the writer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Text(String),
    Ping,
    /// The last frame: the writer sends it and stops.
    Close(u16, String),
}

impl Outgoing {
    fn bytes(&self) -> usize {
        match self {
            Outgoing::Text(t) => t.len(),
            Outgoing::Ping => 2,
            Outgoing::Close(_, r) => r.len() + 4,
        }
    }
}

#[derive(Debug)]
struct Item {
    frame: Outgoing,
    coalesce_key: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Item>,
    bytes: usize,
    closing: bool,
    overflowed: bool,
}

#[derive(Debug)]
pub struct Outbound {
    inner: Mutex<Inner>,
    notify: Notify,
    /// Cancelled when a flood went past the hard bound (the read loop waits on it).
    overflow: CancellationToken,
    capacity: usize,
    max_bytes: usize,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Replaced an older queued message with the same coalesce key.
    Coalesced,
    /// The connection is closing or overflowed; the message was not queued.
    Refused,
}

impl Outbound {
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Outbound {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            overflow: CancellationToken::new(),
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::lock(&self.inner)
    }

    pub fn push_text(&self, text: String) -> Pushed {
        self.push(Item { frame: Outgoing::Text(text), coalesce_key: None })
    }

    /// A message that may be replaced by a newer one with the same key while the queue is full
    /// (the newest `partial` of a voice session wins; finals are never coalescable).
    pub fn push_coalescable(&self, key: String, text: String) -> Pushed {
        self.push(Item { frame: Outgoing::Text(text), coalesce_key: Some(key) })
    }

    pub fn push_ping(&self) -> Pushed {
        self.push(Item { frame: Outgoing::Ping, coalesce_key: None })
    }

    /// Queues the close frame after everything already queued; later pushes are refused.
    pub fn close(&self, code: u16, reason: &str) {
        self.close_inner(code, reason, false);
    }

    /// Drops what is queued and sends only the close frame (a client that does not read would
    /// otherwise never reach it).
    pub fn close_now(&self, code: u16, reason: &str) {
        self.close_inner(code, reason, true);
    }

    fn close_inner(&self, code: u16, reason: &str, discard: bool) {
        let mut inner = self.lock();
        if inner.closing {
            return;
        }
        inner.closing = true;
        if discard {
            inner.items.clear();
            inner.bytes = 0;
        }
        let frame = Outgoing::Close(code, reason.to_string());
        inner.bytes += frame.bytes();
        inner.items.push_back(Item { frame, coalesce_key: None });
        drop(inner);
        self.notify.notify_one();
    }

    fn is_full(&self, inner: &Inner) -> bool {
        inner.items.len() >= self.capacity || inner.bytes >= self.max_bytes
    }

    fn push(&self, item: Item) -> Pushed {
        let mut inner = self.lock();
        if inner.closing || inner.overflowed {
            return Pushed::Refused;
        }
        if self.is_full(&inner) {
            if let Some(key) = &item.coalesce_key {
                let same = inner.items.iter_mut().rev().find(|i| i.coalesce_key.as_ref() == Some(key));
                if let Some(slot) = same {
                    let (old, new) = (slot.frame.bytes(), item.frame.bytes());
                    slot.frame = item.frame;
                    inner.bytes = inner.bytes - old + new;
                    return Pushed::Coalesced;
                }
            }
            if inner.items.len() >= self.capacity * 4 || inner.bytes >= self.max_bytes.saturating_mul(4) {
                inner.overflowed = true;
                drop(inner);
                self.overflow.cancel();
                return Pushed::Refused;
            }
        }
        inner.bytes += item.frame.bytes();
        inner.items.push_back(item);
        drop(inner);
        self.notify.notify_one();
        Pushed::Queued
    }

    /// Returns once a flood went past the hard bound: the connection must be dropped.
    pub async fn overflowed(&self) {
        self.overflow.cancelled().await
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Waits for queued frames and takes up to `max` of them, in order.
    pub async fn next_batch(&self, max: usize) -> Vec<Outgoing> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.lock();
                if !inner.items.is_empty() {
                    let n = inner.items.len().min(max.max(1));
                    let batch: Vec<Outgoing> = inner.items.drain(..n).map(|i| i.frame).collect();
                    inner.bytes -= batch.iter().map(Outgoing::bytes).sum::<usize>();
                    return batch;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Outgoing {
        Outgoing::Text(s.into())
    }

    #[tokio::test]
    async fn keeps_order_and_batches() {
        let q = Outbound::new(8, 1 << 20);
        for i in 0..5 {
            q.push_text(i.to_string());
        }
        assert_eq!(q.next_batch(3).await, vec![text("0"), text("1"), text("2")]);
        assert_eq!(q.next_batch(10).await, vec![text("3"), text("4")]);
        assert_eq!(q.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn coalesces_only_when_full_and_never_drops_others() {
        let q = Outbound::new(2, 1 << 20);
        assert_eq!(q.push_coalescable("p".into(), "p1".into()), Pushed::Queued);
        assert_eq!(q.push_text("final".into()), Pushed::Queued);
        assert_eq!(q.push_coalescable("p".into(), "p2".into()), Pushed::Coalesced);
        assert_eq!(q.push_text("final2".into()), Pushed::Queued, "over capacity but not dropped");
        assert_eq!(q.next_batch(10).await, vec![text("p2"), text("final"), text("final2")]);
    }

    #[tokio::test]
    async fn hard_bounds_count_messages_and_bytes() {
        use std::time::Duration;
        let q = Outbound::new(2, 1 << 20);
        for i in 0..8 {
            assert_eq!(q.push_text(i.to_string()), Pushed::Queued);
        }
        let early = tokio::time::timeout(Duration::from_millis(20), q.overflowed()).await;
        assert!(early.is_err(), "4x capacity queued is not yet an overflow");
        assert_eq!(q.push_text("x".into()), Pushed::Refused);
        tokio::time::timeout(Duration::from_secs(5), q.overflowed()).await.expect("overflowed");

        let q = Outbound::new(1000, 1000);
        for _ in 0..4 {
            assert_eq!(q.push_text("x".repeat(1000)), Pushed::Queued);
        }
        assert_eq!(q.push_text("y".into()), Pushed::Refused, "4 x max_bytes reached");
    }

    #[tokio::test]
    async fn close_is_last_and_close_now_skips_the_backlog() {
        let q = Outbound::new(4, 1 << 20);
        q.push_text("a".into());
        q.close(1001, "bye");
        assert_eq!(q.push_text("b".into()), Pushed::Refused);
        assert_eq!(q.next_batch(10).await, vec![text("a"), Outgoing::Close(1001, "bye".into())]);
        let q = Outbound::new(4, 1 << 20);
        q.push_text("a".into());
        q.close_now(1008, "slow consumer");
        assert_eq!(q.next_batch(10).await, vec![Outgoing::Close(1008, "slow consumer".into())]);
    }
}
