//! HTTPS served by kassa itself: a client trusting the development CA over HTTP/1.1 and HTTP/2,
//! a client that does not trust it, a slow handshake, links that say `https`, and the HTTP/2
//! limits. The binary's side (bad files, SIGHUP, both listeners, Node.js, Chromium) is in
//! `tls_process.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kassa::listen::{Limits, NetConfig, TlsSetting};
use reqwest::Version;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::backend_tests;
use crate::fixtures::{ca_dir, closed_within, png, trusting, uploaded};
use crate::helpers::{Backend, Options, Resp, TestApp};

backend_tests!(
    the_api_is_served_over_http1_and_http2,
    a_client_that_does_not_trust_the_ca_is_refused,
    a_slow_handshake_is_bounded_like_a_slow_header,
    http2_limits_hold_per_stream,
);

async fn spawn_https(backend: Backend, limits: Limits) -> (TestApp, PathBuf) {
    let dir = ca_dir();
    let app = TestApp::spawn_with(
        backend,
        Options {
            net: NetConfig {
                tls: Some(TlsSetting::SelfSigned {
                    dir: dir.clone(),
                    names: Vec::new(),
                }),
                limits,
                ..NetConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    assert!(app.url.starts_with("https://127.0.0.1:"), "{}", app.url);
    (app, dir.join("ca.pem"))
}

/// The whole API over HTTPS with either protocol: tokens, JSON writes and reads, a multipart
/// upload and its download (a streamed body), request ids; `links` name `https`.
async fn the_api_is_served_over_http1_and_http2(backend: Backend) {
    let (app, ca) = spawn_https(backend, Limits::default()).await;
    let clients = [
        (Version::HTTP_11, trusting(&ca).http1_only().build().unwrap()),
        (Version::HTTP_2, trusting(&ca).build().unwrap()),
        // HTTP/2 without ALPN's offer of HTTP/1.1: the server must speak it.
        (
            Version::HTTP_2,
            trusting(&ca).http2_prior_knowledge().build().unwrap(),
        ),
    ];
    let admin = app.admin_token().await;
    for (version, http) in clients {
        // `localhost` is in the certificate as well as 127.0.0.1.
        let port = app.url.rsplit(':').next().unwrap();
        for base in [app.url.clone(), format!("https://localhost:{port}")] {
            let res = http.get(format!("{base}/healthz")).send().await.unwrap();
            assert_eq!(res.version(), version, "{base}");
            assert_eq!(res.status(), 200);
            assert!(res.headers().contains_key("x-request-id"));
        }
        let res = http
            .post(format!("{}/v2/carts", app.url))
            .bearer_auth(&admin)
            .json(&json!({"data": {"name": "Over TLS"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.version(), version);
        let cart = Resp::read(res).await;
        assert_eq!(cart.status, 201, "{}", cart.body);
        let self_link = cart.body["data"]["links"]["self"].as_str().unwrap();
        assert!(
            self_link.starts_with(&format!("{}/v2/carts/", app.url)),
            "{self_link}"
        );

        let image = png(4, 4);
        let file = uploaded(&app, &admin, "tls.png", &image).await;
        let href = file["link"]["href"].as_str().unwrap();
        assert!(href.starts_with(&format!("{}/files/", app.url)), "{href}");
        let res = http.get(href).send().await.unwrap();
        assert_eq!((res.version(), res.status().as_u16()), (version, 200));
        assert_eq!(res.bytes().await.unwrap().as_ref(), image.as_slice());

        let res = http
            .get(format!("{}/v2/carts?page[limit]=1", app.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let list = Resp::read(res).await;
        assert!(
            list.body["links"]["first"]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{}",
            list.body
        );
    }
}

/// A client without the development CA fails the handshake, as does plain HTTP to the HTTPS
/// port; the server goes on serving those that trust it.
async fn a_client_that_does_not_trust_the_ca_is_refused(backend: Backend) {
    let (app, ca) = spawn_https(backend, Limits::default()).await;
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let err = stranger
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let text = format!("{err:?}");
    assert!(
        text.contains("UnknownIssuer") || text.contains("certificate"),
        "{text}"
    );

    // Another CA (another store's) is no better.
    let other = ca_dir();
    kassa::tls::dev_ca(&other, &[]).unwrap();
    let err = trusting(&other.join("ca.pem"))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");

    let plain = app.url.replace("https://", "http://");
    assert!(
        reqwest::Client::new()
            .get(format!("{plain}/healthz"))
            .send()
            .await
            .is_err()
    );

    let res = trusting(&ca)
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A handshake that never comes, or stops half-way, is cut off after the header read timeout
/// while others are served.
async fn a_slow_handshake_is_bounded_like_a_slow_header(backend: Backend) {
    let (app, ca) = spawn_https(
        backend,
        Limits {
            header_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
    )
    .await;
    let addr = app.url.trim_start_matches("https://").to_owned();
    let started = Instant::now();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut halfway = TcpStream::connect(&addr).await.unwrap();
    // A TLS record header promising a 512-byte ClientHello, and 3 bytes of it.
    halfway
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .await
        .unwrap();
    let http = trusting(&ca).build().unwrap();
    let res = http.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 200, "others are served meanwhile");
    for stream in [&mut silent, &mut halfway] {
        assert!(closed_within(stream, Duration::from_secs(3)).await);
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// Over HTTP/2 the header limit refuses the stream with 431 and the body timeout answers 408,
/// each on its own stream: the connection serves the next request.
async fn http2_limits_hold_per_stream(backend: Backend) {
    let (app, ca) = spawn_https(
        backend,
        Limits {
            max_header_bytes: 16 * 1024,
            body_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
    )
    .await;
    let http = trusting(&ca).http2_prior_knowledge().build().unwrap();
    let res = http
        .get(format!("{}/healthz", app.url))
        .header("x-big", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!((res.version(), res.status().as_u16()), (Version::HTTP_2, 431));

    // A body that stalls: a stream of one chunk and then nothing.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"grant_type".to_vec())).await.unwrap();
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let started = Instant::now();
    let res = http
        .post(format!("{}/oauth/access_token", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 408);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let error = Resp::read(res).await;
    assert_eq!(error.body["errors"][0]["status"], 408, "{}", error.body);
    drop(tx);

    let res = http.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert_eq!((res.version(), res.status().as_u16()), (Version::HTTP_2, 200));
}
