//! A bounded broadcast channel that holds nothing while idle.
//!
//! Like `tokio::sync::broadcast` (same errors, same lag rule: a receiver more than `capacity`
//! items behind is told how many it missed, and senders never wait), but it keeps only the
//! items some receiver has yet to read, instead of a ring of `capacity` slots allocated up
//! front. Every signed-in socket listens to its user's topic and every shared subscription
//! has a channel of its own, so a preallocated ring of 256 slots (about 10 KiB) per topic was
//! most of what an idle socket of a distinct user cost (#14).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};

struct Shared<T> {
    state: Mutex<State<T>>,
    notify: tokio::sync::Notify,
    capacity: usize,
    /// The number the next item sent will have, `u64::MAX` once closed: a receiver that
    /// has read everything sees so without taking the lock (thousands of receivers look
    /// after every item, #14).
    end: AtomicU64,
}

struct State<T> {
    /// Each item with how many receivers have yet to read it.
    items: VecDeque<(T, usize)>,
    /// The number of `items[0]`.
    first: u64,
    receivers: usize,
    closed: bool,
}

impl<T> State<T> {
    /// Drops the items every receiver has read.
    fn trim(&mut self) {
        while self.items.front().is_some_and(|(_, unread)| *unread == 0) {
            self.items.pop_front();
            self.first += 1;
        }
        if self.items.is_empty() && self.items.capacity() > 16 {
            self.items.shrink_to_fit(); // after a burst
        }
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending half; receivers see `Closed` once it is dropped and they have read the rest.
pub struct Sender<T>(Arc<Shared<T>>);

/// One receiver: it reads every item sent after it subscribed, in order.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The number of the next item to read.
    next: u64,
}

pub fn channel<T: Clone>(capacity: usize) -> Sender<T> {
    Sender(Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            first: 0,
            receivers: 0,
            closed: false,
        }),
        notify: tokio::sync::Notify::new(),
        capacity: capacity.max(1),
        end: AtomicU64::new(0),
    }))
}

impl<T: Clone> Sender<T> {
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.0.lock();
        state.receivers += 1;
        Receiver {
            shared: self.0.clone(),
            next: state.first + state.items.len() as u64,
        }
    }

    /// Hands `value` to every receiver (kept only if there is one).
    pub fn send(&self, value: T) {
        let mut state = self.0.lock();
        if state.receivers == 0 {
            return;
        }
        let receivers = state.receivers;
        state.items.push_back((value, receivers));
        while state.items.len() > self.0.capacity {
            state.items.pop_front();
            state.first += 1;
        }
        let end = state.first + state.items.len() as u64;
        self.0.end.store(end, Ordering::Release);
        drop(state);
        self.0.notify.notify_waiters();
    }

    pub fn receiver_count(&self) -> usize {
        self.0.lock().receivers
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.end.store(u64::MAX, Ordering::Release);
        self.0.notify.notify_waiters();
    }
}

impl<T: Clone> Receiver<T> {
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        // Counted against the task's budget, as tokio's own channels are: a receiver draining
        // a long backlog yields now and then. Before anything is taken, so that a `recv`
        // dropped while it yields loses nothing.
        tokio::task::consume_budget().await;
        loop {
            if self.waiting() {
                let notified = self.shared.notify.notified();
                tokio::pin!(notified);
                // Registered before looking again, so a send in between is not missed.
                notified.as_mut().enable();
                if self.waiting() {
                    notified.await;
                }
                continue;
            }
            match self.try_recv() {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Lagged(missed)) => return Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => unreachable!("an item was announced"),
            }
        }
    }

    /// Whether every item sent so far was read, and the sender is still there.
    fn waiting(&self) -> bool {
        self.shared.end.load(Ordering::Acquire) == self.next
    }

    /// The next item if one is waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.lock();
        if self.next < state.first {
            let missed = state.first - self.next;
            self.next = state.first;
            return Err(TryRecvError::Lagged(missed));
        }
        let at = (self.next - state.first) as usize;
        if let Some((value, unread)) = state.items.get_mut(at) {
            *unread -= 1;
            let value = value.clone();
            self.next += 1;
            state.trim();
            return Ok(value);
        }
        Err(if state.closed {
            TryRecvError::Closed
        } else {
            TryRecvError::Empty
        })
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receivers -= 1;
        let from = self.next.saturating_sub(state.first) as usize;
        for (_, unread) in state.items.iter_mut().skip(from) {
            *unread -= 1;
        }
        state.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn receivers_read_what_was_sent_after_they_subscribed_in_order() {
        let tx = channel::<u32>(8);
        tx.send(0); // nobody listens: not kept
        let mut a = tx.subscribe();
        tx.send(1);
        let mut b = tx.subscribe();
        tx.send(2);
        assert_eq!(a.recv().await, Ok(1));
        assert_eq!(a.recv().await, Ok(2));
        assert_eq!(b.recv().await, Ok(2));
        // Everything read by everyone is gone.
        assert!(tx.0.lock().items.is_empty());
        drop(tx);
        assert_eq!(a.recv().await, Err(RecvError::Closed));
    }

    #[tokio::test]
    async fn a_receiver_too_far_behind_is_told_how_much_it_missed() {
        let tx = channel::<u32>(2);
        let mut slow = tx.subscribe();
        let mut fast = tx.subscribe();
        for n in 0..5 {
            tx.send(n);
            assert_eq!(fast.recv().await, Ok(n));
        }
        assert_eq!(slow.recv().await, Err(RecvError::Lagged(3)));
        assert_eq!(slow.recv().await, Ok(3));
        assert_eq!(slow.recv().await, Ok(4));
        assert!(tx.0.lock().items.is_empty());
    }

    #[tokio::test]
    async fn a_receiver_that_leaves_releases_what_it_did_not_read() {
        let tx = channel::<u32>(8);
        let mut stays = tx.subscribe();
        let leaves = tx.subscribe();
        tx.send(1);
        tx.send(2);
        drop(leaves);
        assert_eq!(tx.receiver_count(), 1);
        assert_eq!(stays.recv().await, Ok(1));
        assert_eq!(stays.recv().await, Ok(2));
        assert!(tx.0.lock().items.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_send() {
        let tx = channel::<u32>(8);
        let mut rx = tx.subscribe();
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.send(7);
        assert_eq!(waiting.await.unwrap(), Ok(7));
    }
}
