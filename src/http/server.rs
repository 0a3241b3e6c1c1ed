//! The connection loop (in place of `axum::serve`, which has none of these):
//! a header read timeout that also closes idle keep-alive connections, a cap
//! on open connections that closes the connection idle the longest to make
//! room for a new one, request bodies read to their end (or the connection
//! marked `Connection: close`) so pooled clients can reuse connections
//! safely, and a graceful-shutdown deadline after which the connections
//! still open are dropped.

mod conns;
mod unread;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use conns::{Registry, Slot, Tracked, Watched};
use unread::SharedBody;

/// Connection limits (`server.*` settings).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
    /// Most bytes of a request body the application left unread that are
    /// read and discarded to keep the connection (`server.body_limit_bytes`).
    pub drain_limit_bytes: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, closes idle connections, asks the others to finish their
/// request and close, and drops those still open after `shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // A permit per open connection. A client accepted at the cap takes the
    // place of the connection idle the longest (between requests, or never
    // sent one), which is closed; only while every connection has a request
    // in flight does it wait (and the clients after it in the kernel's
    // backlog, costing no file descriptor). Accepting before evicting keeps
    // connections open until a client actually needs the room.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Registry::new();
    let (stop, stopped) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    'serve: loop {
        while conns.try_join_next().is_some() {}
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => loop {
                let evicted = registry.evict_oldest_idle();
                tokio::select! {
                    p = permits.clone().acquire_owned() => break p.expect("the semaphore is never closed"),
                    // None was idle and one is now: evict it.
                    _ = registry.went_idle(), if !evicted => continue,
                    _ = &mut shutdown => break 'serve,
                }
            },
        };
        registry.stop_waiting();
        let _ = stream.set_nodelay(true);
        let registration = registry.open();
        let slot = registration.slot().clone();
        let service = ConnService {
            app: app.clone(),
            slot: slot.clone(),
            drain_limit: limits.drain_limit_bytes,
        };
        let conn = builder.serve_connection(TokioIo::new(Watched::new(stream, slot.clone())), service);
        let mut stopped = stopped.clone();
        conns.spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Chosen while idle: no request is lost by dropping it.
                _ = slot.evicted() => tracing::debug!("closed the connection idle the longest to make room"),
                _ = stopped.changed() => {
                    if !slot.close_if_idle() {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            }
            drop(registration);
            drop(permit);
        });
    }
    drop(listener);
    let open = conns.len();
    stop.send_replace(true);
    let closed = tokio::time::timeout(limits.shutdown_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if closed.is_err() {
        tracing::warn!(
            open = conns.len(),
            "graceful-shutdown deadline passed; dropping the connections still open"
        );
    }
    tracing::info!(open_at_signal = open, "connections closed");
    conns.shutdown().await;
}

/// The application as one connection serves it: marks the connection busy
/// for each request and answered when its response is done, and reads
/// what the application left of the request body.
#[derive(Clone)]
struct ConnService {
    app: Router,
    slot: Arc<Slot>,
    drain_limit: usize,
}

type Answer = Result<Response<Tracked<Body>>, Infallible>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked<Body>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.slot.busy();
        let app = self.app.clone();
        let slot = self.slot.clone();
        let drain_limit = self.drain_limit;
        Box::pin(async move {
            // A client that waits for `100 Continue` has not sent the body
            // the application did not ask for; reading it would ask for it.
            let may_read = !req
                .headers()
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            let (parts, body) = req.into_parts();
            let body = SharedBody::new(body);
            let resp = app.oneshot(Request::from_parts(parts, body.clone())).await;
            let mut resp = resp.unwrap_or_else(|e| match e {});
            if !body.finish(drain_limit, may_read).await {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(resp.map(|b| Tracked::new(b, slot)))
        })
    }
}
