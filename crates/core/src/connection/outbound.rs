//! The connection's ONE ordered, bounded outbound queue (PROTOCOL §3). Everything sent to a
//! client (responses, notifications, callbacks, pings, the close frame) goes through it, in push
//! order, drained by a single writer task.
//!
//! Producers never wait: a slow client must never slow the daemon, other clients, the audio
//! pipeline or the transcriber. So `push` is synchronous and the bound is enforced by policy:
//! - at `capacity` the queue counts as full: coalescable messages (voice `partial`s) replace an
//!   older queued message with the same key instead of growing the queue;
//! - a queue that stays full for `slow_consumer` (10 s) disconnects its client (close 1008,
//!   "slow consumer"): the connection's watchdog checks [`Outbound::full_for`];
//! - a queue that reaches `4 x capacity` disconnects at once, so memory stays bounded even if a
//!   flood arrives faster than the watchdog ticks.
//!
//! Nothing that is not coalescable is ever dropped while the connection lives.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A frame for the writer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Text(String),
    Ping,
    /// The last frame: the writer sends it and stops.
    Close(u16, String),
}

#[derive(Debug)]
struct Item {
    frame: Outgoing,
    coalesce_key: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Item>,
    full_since: Option<Instant>,
    closing: bool,
    overflowed: bool,
}

#[derive(Debug)]
pub struct Outbound {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
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
    pub fn new(capacity: usize) -> Self {
        Outbound { inner: Mutex::new(Inner::default()), notify: Notify::new(), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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
        let mut inner = self.lock();
        if inner.closing {
            return;
        }
        inner.closing = true;
        inner.items.push_back(Item { frame: Outgoing::Close(code, reason.to_string()), coalesce_key: None });
        drop(inner);
        self.notify.notify_one();
    }

    fn push(&self, item: Item) -> Pushed {
        let mut inner = self.lock();
        if inner.closing || inner.overflowed {
            return Pushed::Refused;
        }
        let len = inner.items.len();
        if len >= self.capacity {
            if let Some(key) = &item.coalesce_key {
                let same = inner.items.iter_mut().rev().find(|i| i.coalesce_key.as_ref() == Some(key));
                if let Some(slot) = same {
                    slot.frame = item.frame;
                    return Pushed::Coalesced;
                }
            }
            if len >= self.capacity * 4 {
                inner.overflowed = true;
                return Pushed::Refused;
            }
        }
        inner.items.push_back(item);
        if inner.items.len() >= self.capacity && inner.full_since.is_none() {
            inner.full_since = Some(Instant::now());
        }
        drop(inner);
        self.notify.notify_one();
        Pushed::Queued
    }

    /// How long the queue has been full, if it is.
    pub fn full_for(&self) -> Option<Duration> {
        self.lock().full_since.map(|t| t.elapsed())
    }

    /// True once a flood went past the hard bound: the connection must be dropped.
    pub fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
                    if inner.items.len() < self.capacity {
                        inner.full_since = None;
                    }
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
        let q = Outbound::new(8);
        for i in 0..5 {
            q.push_text(i.to_string());
        }
        assert_eq!(q.next_batch(3).await, vec![text("0"), text("1"), text("2")]);
        assert_eq!(q.next_batch(10).await, vec![text("3"), text("4")]);
    }

    #[tokio::test]
    async fn coalesces_only_when_full_and_never_drops_others() {
        let q = Outbound::new(2);
        assert_eq!(q.push_coalescable("p".into(), "p1".into()), Pushed::Queued);
        assert_eq!(q.push_text("final".into()), Pushed::Queued);
        assert!(q.full_for().is_some());
        assert_eq!(q.push_coalescable("p".into(), "p2".into()), Pushed::Coalesced);
        assert_eq!(q.push_text("final2".into()), Pushed::Queued, "over capacity but not dropped");
        assert_eq!(q.next_batch(10).await, vec![text("p2"), text("final"), text("final2")]);
        assert!(q.full_for().is_none(), "drained: no longer full");
    }

    #[test]
    fn hard_bound_overflows() {
        let q = Outbound::new(2);
        for i in 0..8 {
            assert_eq!(q.push_text(i.to_string()), Pushed::Queued);
        }
        assert_eq!(q.push_text("x".into()), Pushed::Refused);
        assert!(q.overflowed());
    }

    #[tokio::test]
    async fn close_is_last() {
        let q = Outbound::new(4);
        q.push_text("a".into());
        q.close(1001, "bye");
        assert_eq!(q.push_text("b".into()), Pushed::Refused);
        assert_eq!(q.next_batch(10).await, vec![text("a"), Outgoing::Close(1001, "bye".into())]);
    }
}
