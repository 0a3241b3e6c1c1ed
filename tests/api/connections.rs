//! Connections as real clients use them: idle keep-alive connections past
//! the cap make room for new clients instead of locking them out, and a
//! request body the application did not read never leaves a pooled client
//! holding a connection the server is about to close.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, Backend, TestApp};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads one response (a Content-Length body); its status and its head in
/// lower case.
async fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                return Ok((status, head));
            }
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the server closed `s` (end of stream or reset within 2 s).
async fn closed(s: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Twice the cap of connections, each answered once and then left idle;
/// a new client is answered at once, the oldest idle connections were
/// closed to make room, and the newest still serve requests.
async fn idle_connections_past_the_cap_make_room(backend: Backend) {
    const CAP: usize = 50;
    let Some(app) = spawn_app_with(backend, |s| s.server.max_connections = CAP).await else {
        return;
    };
    let t = Instant::now();
    let mut idle = Vec::new();
    for i in 0..2 * CAP {
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            let mut s = connect(&app).await;
            s.write_all(HEALTHZ).await.unwrap();
            let (status, _) = read_response(&mut s).await.unwrap();
            (s, status)
        })
        .await;
        let (s, status) = answered.unwrap_or_else(|_| panic!("connection {i} is answered"));
        assert_eq!(status, 200);
        idle.push(s);
    }
    let opened = t.elapsed();
    // A new client (its own connection), on a route that writes to the store.
    let client = reqwest::Client::new();
    let t = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        client
            .post(app.url("/events"))
            .json(&json!({"user_id": "ana", "course_id": "c1", "type": "view"}))
            .send(),
    )
    .await
    .expect("a new client is answered")
    .unwrap();
    let took = t.elapsed();
    assert_eq!(r.status(), 202);
    eprintln!(
        "{backend:?}: {} idle connections at a cap of {CAP} (opened and answered in {opened:?}); \
         a new client answered in {took:?}",
        2 * CAP
    );
    assert!(took < Duration::from_secs(1), "a new client waited {took:?}");
    // Each connection past the cap, and the new client, closed the one idle
    // the longest.
    for (i, s) in idle.iter_mut().enumerate().take(CAP + 1) {
        assert!(closed(s).await, "connection {i} was closed to make room");
    }
    for (i, s) in idle.iter_mut().enumerate().skip(CAP + 1) {
        s.write_all(HEALTHZ).await.unwrap();
        let (status, _) = read_response(s)
            .await
            .unwrap_or_else(|e| panic!("connection {i} still serves: {e}"));
        assert_eq!(status, 200);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_make_room_on_sqlite() {
    idle_connections_past_the_cap_make_room(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_make_room_on_postgres() {
    idle_connections_past_the_cap_make_room(Backend::Postgres).await;
}

/// At the cap with a request in flight on every connection, a new client
/// waits, and takes the place of the first connection to finish its
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_with_every_connection_busy_the_first_to_go_idle_makes_room() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.max_connections = 2;
        s.server.header_read_timeout_ms = 60_000;
    })
    .await
    .unwrap();
    // Two requests in flight: half their headers sent.
    let mut a = connect(&app).await;
    a.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut b = connect(&app).await;
    b.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Until the server has read those bytes, a and b count as idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = app.url("/healthz");
    let waiting = tokio::spawn(async move {
        let r = reqwest::Client::new().get(url).send().await.unwrap();
        r.status().as_u16()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "no connection is idle: the new client waits"
    );
    // a's request ends; a is idle, and closed for the waiting client.
    a.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_response(&mut a).await.unwrap().0, 200);
    let t = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting client is answered")
        .unwrap();
    assert_eq!(status, 200);
    eprintln!("waiting client answered {:?} after a went idle", t.elapsed());
    assert!(closed(&mut a).await, "a made room");
    // b's request was never cut.
    b.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_response(&mut b).await.unwrap().0, 200);
    app.stop().await;
}

/// Bodies answered before they were read (415 on the content type) or
/// read in part (413 past the body limit) are read to their end before the
/// answer, so the connection serves the next request; a body too large or
/// too slow to read is answered with `Connection: close`.
async fn unread_bodies_leave_the_connection_usable(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let mut s = connect(&app).await;
    // The 415 is decided on the headers; the body comes 200 ms later.
    s.write_all(
        b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n\r\n",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(&[b'x'; 20]).await.unwrap();
    let (status, head) = read_response(&mut s).await.unwrap();
    assert_eq!(status, 415);
    assert!(!head.contains("connection: close"), "{head}");
    // 3 MiB against the 2 MiB limit, on the same connection.
    let body =
        json!({"user_id": "u", "course_id": "c", "type": "view", "padding": "x".repeat(3 << 20)}).to_string();
    let head = format!(
        "POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let (status, head) = read_response(&mut s).await.unwrap();
    assert_eq!(status, 413);
    assert!(!head.contains("connection: close"), "{head}");
    // Still usable.
    s.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut s).await.unwrap().0, 200);
    assert_eq!(app.event_count().await, 0);

    // Declared larger than the drain bound: answered at once, and closed.
    let mut s = connect(&app).await;
    s.write_all(b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 100000000\r\n\r\nxxxxxxxxxx")
        .await
        .unwrap();
    let t = Instant::now();
    let (status, head) = read_response(&mut s).await.unwrap();
    assert_eq!(status, 415);
    assert!(head.contains("connection: close"), "{head}");
    assert!(t.elapsed() < Duration::from_millis(900), "{:?}", t.elapsed());
    assert!(closed(&mut s).await);
    // A body that never comes: answered after the drain wait, and closed.
    let mut s = connect(&app).await;
    s.write_all(
        b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n\r\n",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let (status, head) = read_response(&mut s).await.unwrap();
    let waited = t.elapsed();
    assert_eq!(status, 415);
    assert!(head.contains("connection: close"), "{head}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&waited),
        "{waited:?}"
    );
    assert!(closed(&mut s).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_bodies_on_sqlite() {
    unread_bodies_leave_the_connection_usable(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_bodies_on_postgres() {
    unread_bodies_leave_the_connection_usable(Backend::Postgres).await;
}
