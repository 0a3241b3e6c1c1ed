//! Which open connections are between requests, and since when, so that a
//! server at its connection cap can close the one idle the longest instead
//! of leaving new clients in the listen backlog.
//!
//! Each connection has one atomic state word. Its socket's reads mark it
//! busy (a request has begun, even if only half its headers came); the drop
//! of its response's body marks it answered, and the flush that follows
//! marks it idle since then. A connection that has sent nothing since it
//! was accepted counts as idle from its accept. Requests touch only their
//! own word; the registry's lock is taken to open or close a connection and
//! to pick one to evict, and the registry holds at most one entry per open
//! connection (`server.max_connections`).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A request is being read or answered.
const BUSY: u64 = 0;
/// The response's body is done; idle once it is flushed.
const ANSWERED: u64 = 1;
/// Chosen to be closed (evicted, or idle at shutdown).
const CLOSING: u64 = 2;
/// From here up: idle since `state - IDLE` nanoseconds after the epoch.
const IDLE: u64 = 3;

/// What connections share with the registry.
struct Shared {
    epoch: Instant,
    /// Set while the accept loop waits for a busy connection to go idle.
    waiting: AtomicBool,
    went_idle: Notify,
}

impl Shared {
    fn idle_now(&self) -> u64 {
        IDLE + self.epoch.elapsed().as_nanos() as u64
    }
}

/// The open connections.
pub struct Registry {
    shared: Arc<Shared>,
    open: Mutex<(u64, HashMap<u64, Arc<Slot>>)>,
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry {
            shared: Arc::new(Shared {
                epoch: Instant::now(),
                waiting: AtomicBool::new(false),
                went_idle: Notify::new(),
            }),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Registers a connection just accepted (idle: it has sent nothing
    /// yet); it leaves the registry when the registration is dropped.
    pub fn open(self: &Arc<Self>) -> Registration {
        let slot = Arc::new(Slot {
            state: AtomicU64::new(self.shared.idle_now()),
            evicted: Notify::new(),
            shared: self.shared.clone(),
        });
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let id = open.0;
        open.0 += 1;
        open.1.insert(id, slot.clone());
        Registration {
            registry: self.clone(),
            id,
            slot,
        }
    }

    /// Marks the connection idle the longest as closing and wakes its task
    /// to drop it. False when none is idle (each has a request in flight):
    /// `went_idle` then wakes the caller when one finishes its request.
    pub fn evict_oldest_idle(&self) -> bool {
        // Set before looking, so a connection going idle after the look
        // sees it and notifies (`went_idle` keeps that wake-up).
        self.shared.waiting.store(true, SeqCst);
        loop {
            let oldest = {
                let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
                open.1
                    .values()
                    .map(|s| (s.state.load(SeqCst), s))
                    .filter(|(state, _)| *state >= IDLE)
                    .min_by_key(|(state, _)| *state)
                    .map(|(state, s)| (state, s.clone()))
            };
            let Some((state, slot)) = oldest else {
                return false;
            };
            // It may have begun a request since: then look again.
            if slot
                .state
                .compare_exchange(state, CLOSING, SeqCst, SeqCst)
                .is_ok()
            {
                self.shared.waiting.store(false, SeqCst);
                slot.evicted.notify_one();
                return true;
            }
        }
    }

    /// Resolves after a connection went idle while `evict_oldest_idle` had
    /// found none (or spuriously: the caller looks again).
    pub async fn went_idle(&self) {
        self.shared.went_idle.notified().await;
    }

    /// The accept loop has a free slot again: connections stop notifying.
    pub fn stop_waiting(&self) {
        self.shared.waiting.store(false, SeqCst);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().unwrap().1.len()
    }
}

/// A connection's place in the registry.
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
    slot: Arc<Slot>,
}

impl Registration {
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.1.remove(&self.id);
    }
}

/// One connection's state.
pub struct Slot {
    state: AtomicU64,
    evicted: Notify,
    shared: Arc<Shared>,
}

impl Slot {
    /// A request has begun (bytes arrived, or hyper called the service).
    pub fn busy(&self) {
        let mut state = self.state.load(SeqCst);
        while state != BUSY && state != CLOSING {
            match self.state.compare_exchange_weak(state, BUSY, SeqCst, SeqCst) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }

    /// The response's body is done (written to hyper's buffer, or dropped).
    fn answered(&self) {
        let _ = self.state.compare_exchange(BUSY, ANSWERED, SeqCst, SeqCst);
    }

    /// The socket was flushed: an answered connection is now idle.
    fn flushed(&self) {
        if self.state.load(SeqCst) == ANSWERED
            && self
                .state
                .compare_exchange(ANSWERED, self.shared.idle_now(), SeqCst, SeqCst)
                .is_ok()
            && self.shared.waiting.load(SeqCst)
        {
            self.shared.went_idle.notify_one();
        }
    }

    /// Marks an idle connection closing; false if it has a request in
    /// flight (or was already chosen: then true, it is being closed).
    pub fn close_if_idle(&self) -> bool {
        let mut state = self.state.load(SeqCst);
        loop {
            match state {
                CLOSING => return true,
                BUSY | ANSWERED => return false,
                _ => match self.state.compare_exchange_weak(state, CLOSING, SeqCst, SeqCst) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                },
            }
        }
    }

    /// Resolves once the registry chose this connection to make room.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

/// The client socket, reporting reads and flushes to the connection's slot.
pub struct Watched {
    stream: TcpStream,
    slot: Arc<Slot>,
}

impl Watched {
    pub fn new(stream: TcpStream, slot: Arc<Slot>) -> Watched {
        Watched { stream, slot }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.slot.busy();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        // hyper flushes once its write buffer is empty, so after the last
        // byte of a response.
        if let Poll::Ready(Ok(())) = polled {
            self.slot.flushed();
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A response body that marks its connection answered when hyper is done
/// with it (hyper drops a body after its last frame, or on error).
pub struct Tracked<B> {
    inner: B,
    slot: Arc<Slot>,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, slot: Arc<Slot>) -> Tracked<B> {
        Tracked { inner, slot }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.slot.answered();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(r: &Registration) -> u64 {
        r.slot.state.load(SeqCst)
    }

    #[test]
    fn the_oldest_idle_connection_is_evicted_and_busy_ones_never() {
        let registry = Registry::new();
        let a = registry.open();
        let b = registry.open();
        let c = registry.open();
        // a: a request in flight; b: answered, not yet flushed; c: idle.
        a.slot().busy();
        b.slot().busy();
        b.slot().answered();
        assert!(registry.evict_oldest_idle());
        assert_eq!(state(&c), CLOSING);
        // c is being closed; nothing else is idle.
        assert!(!registry.evict_oldest_idle());
        // b flushed: idle now, and the waiting accept loop is told.
        b.slot().flushed();
        assert!(state(&b) >= IDLE);
        let woke = futures::FutureExt::now_or_never(registry.went_idle());
        assert!(woke.is_some(), "went_idle wakes the accept loop");
        // A closing connection stays closing whatever its socket does.
        c.slot().busy();
        assert_eq!(state(&c), CLOSING);
        // Of two idle connections, the one idle longer goes first.
        a.slot().answered();
        a.slot().flushed();
        assert!(registry.evict_oldest_idle());
        assert_eq!(state(&b), CLOSING);
        assert!(state(&a) >= IDLE);
        drop((a, b, c));
        assert_eq!(registry.len(), 0, "closed connections leave the registry");
    }

    #[test]
    fn close_if_idle_spares_a_request_in_flight() {
        let registry = Registry::new();
        let a = registry.open();
        assert!(a.slot().close_if_idle(), "accepted, nothing sent: idle");
        let b = registry.open();
        b.slot().busy();
        assert!(!b.slot().close_if_idle());
        b.slot().answered();
        assert!(!b.slot().close_if_idle(), "answered but not flushed");
        b.slot().flushed();
        assert!(b.slot().close_if_idle());
    }
}
