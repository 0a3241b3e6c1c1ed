//! A TCP proxy the tests put between the service and Postgres, and cut to
//! make an outage without touching the shared server: cutting drops every
//! proxied connection and closes new ones at once, as a stopped database
//! would; restoring forwards again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to `target` (host:port).
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let target = target.to_string();
        let accept = tokio::spawn({
            let (cut, conns) = (cut.clone(), conns.clone());
            async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let h = tokio::spawn(async move {
                        if let Ok(mut out) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    });
                    let mut c = conns.lock().unwrap();
                    c.retain(|h| !h.is_finished());
                    c.push(h);
                }
            }
        });
        Proxy {
            port,
            cut,
            conns,
            accept,
        }
    }

    /// The database is gone: open connections drop, new ones are closed.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    /// The database is back.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// `url` (a Postgres URL on 127.0.0.1:5432 or another port) through this proxy.
    pub fn route(&self, url: &str) -> String {
        let (scheme_host, rest) = url.split_once("@").unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme_host}@127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// host:port of the Postgres server the tests use.
pub fn pg_target() -> String {
    let admin = crate::helpers::pg_admin_url();
    let rest = admin.split_once('@').unwrap().1;
    rest.split_once('/').unwrap().0.to_string()
}
