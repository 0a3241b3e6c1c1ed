//! The part of a request body the application did not read.
//!
//! A handler may answer without reading the body (415 on the content type,
//! 401, 404, a 503 shed under load) or stop part-way (413 past the body
//! limit). hyper writes that response as keep-alive, and only afterwards,
//! finding the body abandoned, reads what is already buffered and closes
//! the connection if the rest has not arrived. A pooled client then sends
//! its next request on a closed connection (EPIPE or reset mid-body), and
//! closing a socket with unread data resets it, which can destroy the
//! response before the client reads it. So the server reads the rest
//! itself, up to a bound, before answering; past the bound it answers with
//! `Connection: close`, so no client reuses the connection.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};

/// Longest wait for the rest of a body the application left unread.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The request body, shared between the application and the connection,
/// which reads what the application left.
#[derive(Clone)]
pub struct SharedBody(Arc<Mutex<Incoming>>);

impl SharedBody {
    pub fn new(body: Incoming) -> SharedBody {
        SharedBody(Arc::new(Mutex::new(body)))
    }

    fn lock(&self) -> MutexGuard<'_, Incoming> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads and discards the rest of the body, up to `limit` bytes and
    /// `DRAIN_TIMEOUT`: true once it is read to its end (the connection can
    /// serve another request), false if some is left (it will be closed).
    /// With `may_read` false (the client waits for `100 Continue` before
    /// sending a body) nothing more is read.
    pub async fn finish(&self, limit: usize, may_read: bool) -> bool {
        {
            let body = self.lock();
            if body.is_end_stream() {
                return true;
            }
            if !may_read || body.size_hint().lower() > limit as u64 {
                return false;
            }
        }
        let drain = async {
            let mut read = 0usize;
            loop {
                match poll_fn(|cx| Pin::new(&mut *self.lock()).poll_frame(cx)).await {
                    None => return true,
                    Some(Ok(frame)) => {
                        read += frame.data_ref().map_or(0, |d| d.len());
                        if read > limit {
                            return false;
                        }
                    }
                    Some(Err(_)) => return false,
                }
            }
        };
        tokio::time::timeout(DRAIN_TIMEOUT, drain).await.unwrap_or(false)
    }
}

impl Body for SharedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut *self.lock()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.lock().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.lock().size_hint()
    }
}
