//! Slow and half-open clients: the connection layer's header, body and idle timeouts, its cap on
//! connections and its header size limit, each driven over raw TCP as such a client behaves.

use std::time::{Duration, Instant};

use kassa::listen::{Limits, NetConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::backend_tests;
use crate::fixtures::{closed_within, read_response};
use crate::helpers::{Backend, Options, TestApp};

backend_tests!(
    slow_headers_are_cut_off_while_others_are_served,
    a_stalled_body_is_answered_408_and_closed,
    idle_keep_alive_connections_are_closed,
    past_the_connection_cap_the_answer_is_503,
    a_head_over_the_limit_is_answered_431,
);

async fn spawn_with_limits(backend: Backend, limits: Limits) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            net: NetConfig {
                limits,
                ..NetConfig::default()
            },
            ..Options::default()
        },
    )
    .await
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: kassa.test\r\n\r\n")
}

/// A slowloris crowd (connections that trickle header lines and never finish, and connections
/// that send nothing) does not stop others being served, and each of its connections is closed
/// once its head has taken the header read timeout, however steadily it trickles.
async fn slow_headers_are_cut_off_while_others_are_served(backend: Backend) {
    let app = spawn_with_limits(
        backend,
        Limits {
            header_read_timeout: Duration::from_millis(1500),
            ..Limits::default()
        },
    )
    .await;
    let addr = addr(&app);
    let mut crowd = Vec::new();
    for n in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        if n % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: kassa.test\r\n")
                .await
                .unwrap();
        }
        crowd.push(stream);
    }
    let started = Instant::now();
    // The trickle: a header line every 200 ms on every other connection, for 4 seconds.
    let trickle = tokio::spawn(async move {
        let mut open = crowd.len();
        while started.elapsed() < Duration::from_secs(4) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for stream in crowd.iter_mut().step_by(2) {
                let _ = stream.write_all(b"X-Slow: yes\r\n").await;
            }
        }
        for stream in &mut crowd {
            if closed_within(stream, Duration::from_millis(100)).await {
                open -= 1;
            }
        }
        open
    });
    // Meanwhile a real client is served promptly, on new connections and on a kept-alive one.
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let res = reqwest::Client::new()
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "served in {:?}",
            t.elapsed()
        );
        let token = app.implicit_token().await;
        assert!(!token.is_empty());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(trickle.await.unwrap(), 0, "every slow connection was closed");
}

/// A body that promises 100 bytes and sends 10 is answered 408 (an Elastic Path error) once the
/// body read timeout has passed, and its connection is closed; a body that arrives slowly but in
/// time is served.
async fn a_stalled_body_is_answered_408_and_closed(backend: Backend) {
    let app = spawn_with_limits(
        backend,
        Limits {
            body_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"POST /oauth/access_token HTTP/1.1\r\nHost: kassa.test\r\nOrigin: http://shop.test\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type",
        )
        .await
        .unwrap();
    let res = read_response(&mut stream, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert_eq!(res.status, 408, "{res:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let body = res.json();
    assert_eq!(body["errors"][0]["status"], 408);
    assert_eq!(body["errors"][0]["title"], "Request Timeout");
    assert_eq!(res.header("connection"), Some("close"));
    assert!(res.header("x-request-id").is_some(), "the request keeps its id");
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);

    // In time, however slowly: three pieces over 600 ms.
    let form = format!("grant_type=implicit&client_id={}", app.client_id);
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /oauth/access_token HTTP/1.1\r\nHost: kassa.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n",
                form.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    for piece in form.as_bytes().chunks(form.len() / 3 + 1) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(piece).await.unwrap();
    }
    let res = read_response(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert!(res.json()["access_token"].is_string());
}

/// A kept-alive connection without a request is closed after the idle timeout; one that keeps
/// sending requests stays open.
async fn idle_keep_alive_connections_are_closed(backend: Backend) {
    let app = spawn_with_limits(
        backend,
        Limits {
            idle_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
    )
    .await;
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(get("/healthz").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut idle, Duration::from_secs(2)).await.status, 200);
    let after_response = Instant::now();

    let mut busy = TcpStream::connect(addr(&app)).await.unwrap();
    for _ in 0..6 {
        busy.write_all(get("/healthz").as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut busy, Duration::from_secs(2)).await.status, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // 3 s later the busy connection still serves; the idle one was closed long ago.
    busy.write_all(get("/healthz").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut busy, Duration::from_secs(2)).await.status, 200);
    assert!(closed_within(&mut idle, Duration::from_millis(100)).await);
    assert!(after_response.elapsed() >= Duration::from_secs(1));

    // And when it goes quiet, it is closed about a second later.
    let quiet = Instant::now();
    assert!(closed_within(&mut busy, Duration::from_secs(3)).await);
    let after = quiet.elapsed();
    assert!(after >= Duration::from_millis(800), "closed after {after:?}");
}

/// Past `max_connections` a new connection is answered 503 with `Retry-After` and an Elastic
/// Path error, and closed; once a connection ends, new ones are served again.
async fn past_the_connection_cap_the_answer_is_503(backend: Backend) {
    let app = spawn_with_limits(
        backend,
        Limits {
            max_connections: 4,
            ..Limits::default()
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        stream.write_all(get("/healthz").as_bytes()).await.unwrap();
        assert_eq!(
            read_response(&mut stream, Duration::from_secs(2)).await.status,
            200
        );
        held.push(stream);
    }
    let mut extra = TcpStream::connect(addr(&app)).await.unwrap();
    extra.write_all(get("/healthz").as_bytes()).await.unwrap();
    let res = read_response(&mut extra, Duration::from_secs(2)).await;
    assert_eq!(res.status, 503, "{res:?}");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(res.header("connection"), Some("close"));
    let body = res.json();
    assert_eq!(body["errors"][0]["status"], 503);
    assert!(
        body["errors"][0]["detail"].as_str().unwrap().contains("(4)"),
        "{body}"
    );
    assert!(closed_within(&mut extra, Duration::from_secs(2)).await);
    // The held connections still serve.
    held[0].write_all(get("/healthz").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut held[0], Duration::from_secs(2)).await.status,
        200
    );

    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        stream.write_all(get("/healthz").as_bytes()).await.unwrap();
        let res = read_response(&mut stream, Duration::from_secs(2)).await;
        if res.status == 200 {
            break;
        }
        assert_eq!(res.status, 503);
        assert!(Instant::now() < deadline, "a freed place is used again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A request head over the limit is answered 431 and the connection closed (the 200 KB
/// header included); a head under it is served.
async fn a_head_over_the_limit_is_answered_431(backend: Backend) {
    let app = spawn_with_limits(
        backend,
        Limits {
            max_header_bytes: 16 * 1024,
            ..Limits::default()
        },
    )
    .await;
    for (size, status) in [(12 * 1024, 200), (20 * 1024, 431), (200 * 1024, 431)] {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: kassa.test\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        // The server may answer and close before the whole head is written.
        let _ = stream.write_all(request.as_bytes()).await;
        let res = read_response(&mut stream, Duration::from_secs(3)).await;
        assert_eq!(res.status, status, "{size} bytes: {res:?}");
        if status == 431 {
            assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
        }
    }
    // The default limit is 32 KiB.
    let app = TestApp::spawn(backend).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: kassa.test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let _ = stream.write_all(request.as_bytes()).await;
    assert_eq!(
        read_response(&mut stream, Duration::from_secs(3)).await.status,
        431
    );
}
