//! HTTPS from the binary as an operator runs it: bad certificate files, keys of every PEM kind,
//! a certificate swapped and reloaded on `SIGHUP`, plain HTTP beside HTTPS, the development CA
//! made once and reused, and headless Chromium trusting it for a page that calls the API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::backend_tests;
use crate::browser::{Page, element_text, rendered_dom_with_home, trust_ca_in};
use crate::fixtures::{ca_dir, read_response, trusting};
use crate::helpers::{Backend, TestDatabase};
use crate::server_process::{Server, free_port, kassa};

backend_tests!(
    pem_keys_of_every_kind_and_chains_are_served,
    a_reloaded_certificate_is_served_to_the_next_connection_while_an_open_one_finishes,
    plain_http_beside_https_and_the_development_ca_made_once,
    a_browser_trusting_the_development_ca_calls_the_api_over_https,
);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/fixtures/tls")
        .join(name)
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

/// A missing, unreadable, malformed or mismatched certificate or key is one clear line, before
/// anything is printed or the database is made.
#[test]
fn bad_tls_files_exit_with_one_clear_line() {
    let dir = ca_dir();
    let a = kassa::tls::dev_ca(&dir.join("a"), &[]).unwrap();
    let b = kassa::tls::dev_ca(&dir.join("b"), &[]).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let db = dir.join("never.db");
    let env = [
        ("KASSA_DATABASE_URL", format!("sqlite://{}", db.display())),
        ("KASSA_LISTEN", format!("127.0.0.1:{}", free_port())),
    ];
    let (cert, key) = (s(&a.cert), s(&a.key));
    let missing = s(&dir.join("missing.pem"));
    let a_dir = s(&dir.join("a"));
    let (garbage, b_key) = (s(&garbage), s(&b.key));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--tls-cert", &missing, "--tls-key", &key],
            "cannot read TLS certificate",
        ),
        (
            vec!["--tls-cert", &a_dir, "--tls-key", &key],
            "cannot read TLS certificate",
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &missing],
            "cannot read TLS key",
        ),
        (
            vec!["--tls-cert", &garbage, "--tls-key", &key],
            "invalid TLS certificate",
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &garbage],
            "invalid TLS key",
        ),
        (vec!["--tls-cert", &cert, "--tls-key", &cert], "invalid TLS key"),
        (
            vec!["--tls-cert", &cert, "--tls-key", &b_key],
            "does not fit certificate",
        ),
        (vec!["--tls-cert", &cert], "must be given together"),
        (
            vec!["--tls", "self-signed", "--tls-cert", &cert, "--tls-key", &key],
            "exclude each other",
        ),
        (vec!["--tls", "on"], "invalid TLS mode"),
        (vec!["--tls", "files"], "needs --tls-cert and --tls-key"),
        (vec!["--listen-http", "127.0.0.1:1"], "needs --tls-cert"),
        (vec!["--tls-name", "shop.test"], "add --tls self-signed"),
        (vec!["--header-read-timeout", "0"], "invalid header read timeout"),
        (vec!["--max-header-size", "100"], "invalid largest header size"),
        (vec!["--max-connections", "0"], "invalid connection limit"),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["serve"];
        args.extend(flags);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = kassa(&args, &env).stdin(Stdio::null()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("kassa: error:"))
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: one error line, got: {stderr}");
        assert!(
            lines[0].contains(expected),
            "{args:?}: {expected:?} not in {stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!db.exists(), "{args:?} made the database");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A TLS client trusting only `cas`, speaking HTTP/1.1.
fn connector(cas: &[&Path]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    #[allow(deprecated)] // ring, as the server (tls.rs)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(connector: &tokio_rustls::TlsConnector, addr: &str) -> Tls {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

fn peer_chain(stream: &Tls) -> Vec<Vec<u8>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .unwrap()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect()
}

fn first_cert(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

async fn healthz_over(stream: &mut Tls) -> u16 {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    read_response(stream, Duration::from_secs(5)).await.status
}

/// PKCS#1 RSA, SEC1 EC and PKCS#8 keys are all served; a chain file is sent whole.
async fn pem_keys_of_every_kind_and_chains_are_served(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dev = ca_dir();
    let dev = kassa::tls::dev_ca(&dev, &[]).unwrap();
    let ca = fixture("ca.pem");
    let cases = [
        (fixture("rsa-chain.pem"), fixture("rsa-key.pem"), ca.clone(), 2),
        (fixture("ec-cert.pem"), fixture("ec-key.pem"), ca.clone(), 1),
        (dev.cert.clone(), dev.key.clone(), dev.ca.clone(), 1),
    ];
    for (cert, key, ca, chain_len) in cases {
        let server = Server::start_with(
            &["serve", "--tls-cert", &s(&cert), "--tls-key", &s(&key)],
            &db.url,
            &[],
        );
        let mut stream = connect(&connector(&[&ca]), &server.addr).await;
        assert_eq!(peer_chain(&stream).len(), chain_len, "{}", cert.display());
        assert_eq!(healthz_over(&mut stream).await, 200, "{}", key.display());
    }
}

/// The certificate files replaced and `SIGHUP` sent: the next connection gets the new
/// certificate, a connection opened before finishes its request on the old one; a broken file
/// at the next `SIGHUP` leaves the last good certificate in use.
async fn a_reloaded_certificate_is_served_to_the_next_connection_while_an_open_one_finishes(
    backend: Backend,
) {
    let db = TestDatabase::create(backend).await;
    let dir = ca_dir();
    let old = kassa::tls::dev_ca(&dir.join("old"), &[]).unwrap();
    let new = kassa::tls::dev_ca(&dir.join("new"), &[]).unwrap();
    let (cert, key) = (dir.join("served-cert.pem"), dir.join("served-key.pem"));
    std::fs::copy(&old.cert, &cert).unwrap();
    std::fs::copy(&old.key, &key).unwrap();
    let creds = [
        ("KASSA_CLIENT_ID", "admin"),
        ("KASSA_CLIENT_SECRET", "admin-secret"),
    ];
    let mut server = Server::start_with(
        &["serve", "--tls-cert", &s(&cert), "--tls-key", &s(&key)],
        &db.url,
        &creds,
    );
    let tls = connector(&[&old.ca, &new.ca]);
    let mut open = connect(&tls, &server.addr).await;
    assert_eq!(peer_chain(&open)[0], first_cert(&old.cert));
    let body = "grant_type=client_credentials&client_id=admin&client_secret=admin-secret";
    open.write_all(
        format!(
            "POST /oauth/access_token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{}",
            body.len(),
            &body[..10]
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    open.flush().await.unwrap();

    std::fs::copy(&new.cert, &cert).unwrap();
    std::fs::copy(&new.key, &key).unwrap();
    server.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = connect(&tls, &server.addr).await;
        if peer_chain(&next)[0] == first_cert(&new.cert) {
            assert_eq!(healthz_over(&mut next).await, 200);
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection from before the reload finishes its request.
    open.write_all(&body.as_bytes()[10..]).await.unwrap();
    let res = read_response(&mut open, Duration::from_secs(5)).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert!(res.json()["access_token"].is_string());
    assert_eq!(peer_chain(&open)[0], first_cert(&old.cert));

    // A broken file is refused at reload; the server goes on with the last good certificate.
    std::fs::write(&cert, "broken").unwrap();
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut after = connect(&tls, &server.addr).await;
    assert_eq!(peer_chain(&after)[0], first_cert(&new.cert));
    assert_eq!(healthz_over(&mut after).await, 200);
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)), "a clean exit");
    let _ = std::fs::remove_dir_all(dir);
}

/// `--tls self-signed` makes a CA beside the database once and prints how Node.js trusts it;
/// the next start reuses CA and certificate. `--listen-http` adds plain HTTP beside HTTPS (a
/// load balancer's health check), while the HTTPS port refuses plain HTTP. A name outside what
/// the CA was made for is refused at start.
async fn plain_http_beside_https_and_the_development_ca_made_once(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let tls_dir = ca_dir();
    let plain = format!("127.0.0.1:{}", free_port());
    let args = [
        "serve",
        "--tls",
        "self-signed",
        "--tls-dir",
        &s(&tls_dir),
        "--tls-name",
        "kassa.test",
        "--listen-http",
        &plain,
    ];
    let mut first = Server::start_with(&args, &db.url, &[]);
    let ca = tls_dir.canonicalize().unwrap().join("ca.pem");
    let line = first.line_containing("NODE_EXTRA_CA_CERTS=");
    assert_eq!(
        line.trim(),
        format!(
            "Node.js trusts it with:  export NODE_EXTRA_CA_CERTS={}",
            ca.display()
        )
    );
    assert!(
        first
            .line_containing("development CA")
            .contains("new development CA")
    );
    let http = trusting(&ca).build().unwrap();
    let https_url = format!("https://{}/healthz", first.addr);
    assert_eq!(http.get(&https_url).send().await.unwrap().status(), 200);
    // The extra name is in the certificate.
    let port: u16 = first.addr.rsplit(':').next().unwrap().parse().unwrap();
    let named = trusting(&ca)
        .resolve("kassa.test", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let res = named
        .get(format!("https://kassa.test:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Plain HTTP on its own address; not on the HTTPS one.
    let res = reqwest::get(format!("http://{plain}/readyz")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        reqwest::get(format!("http://{}/healthz", first.addr))
            .await
            .is_err()
    );
    let files = |name: &str| std::fs::read(tls_dir.join(name)).unwrap();
    let (ca_pem, cert_pem) = (files("ca.pem"), files("cert.pem"));
    first.signal("-TERM");
    assert!(first.wait(Duration::from_secs(10)));

    let second = Server::start_with(&args, &db.url, &[]);
    assert!(
        second
            .line_containing("development CA")
            .contains("existing development CA")
    );
    assert_eq!(files("ca.pem"), ca_pem, "the CA is reused");
    assert_eq!(files("cert.pem"), cert_pem, "the certificate is reused");
    assert_eq!(
        http.get(format!("https://{}/healthz", second.addr))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(second);

    let out = kassa(
        &[
            "serve",
            "--tls",
            "self-signed",
            "--tls-dir",
            &s(&tls_dir),
            "--tls-name",
            "shop.example.com",
        ],
        &[
            ("KASSA_DATABASE_URL", db.url.as_str()),
            ("KASSA_LISTEN", &format!("127.0.0.1:{}", free_port())),
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("may only sign for") && stderr.contains("shop.example.com"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(tls_dir);
}

/// Headless Chromium whose NSS database trusts the development CA (as `certutil` makes it)
/// loads a page on another origin that calls the API over HTTPS with CORS; without the CA the
/// same page's calls fail.
async fn a_browser_trusting_the_development_ca_calls_the_api_over_https(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let page = Page::serve(String::new()).await;
    let tls_dir = ca_dir();
    let server = Server::start_with(
        &[
            "serve",
            "--demo",
            "--tls",
            "self-signed",
            "--tls-dir",
            &s(&tls_dir),
        ],
        &db.url,
        &[("KASSA_CORS_ORIGINS", page.origin.as_str())],
    );
    server.line_containing("export KASSA=");
    let port = server.addr.rsplit(':').next().unwrap();
    let api = format!("https://localhost:{port}");
    page.set(format!(
        r#"<!doctype html><p id="out">pending</p><script>
        const api = "{api}";
        fetch(api + "/oauth/access_token", {{method: "POST",
              body: new URLSearchParams({{grant_type: "implicit", client_id: "kassa-demo"}})}})
          .then((r) => r.json())
          .then(async (t) => {{
            const auth = {{headers: {{Authorization: "Bearer " + t.access_token}}}};
            const products = await fetch(api + "/catalog/products", auth).then((r) => r.json());
            const cart = await fetch(api + "/v2/carts/browser-cart", auth).then((r) => r.json());
            document.getElementById("out").textContent = "products "
              + products.data.map((p) => p.attributes.sku).sort().join(",") + " " + cart.data.links.self;
          }})
          .catch((e) => {{ document.getElementById("out").textContent = "failed: " + e; }});
        </script>"#
    ));
    let trusting_home = tls_dir.join("home");
    trust_ca_in(&trusting_home, &tls_dir.join("ca.pem"));
    let dom = rendered_dom_with_home(&page.url(), Some(&trusting_home)).await;
    let out = element_text(&dom, "out");
    assert!(
        out == format!("products DEMO-HOODIE,DEMO-MUG,DEMO-TEE {api}/v2/carts/browser-cart"),
        "{out}"
    );

    let stranger = tls_dir.join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    let dom = rendered_dom_with_home(&page.url(), Some(&stranger)).await;
    assert!(element_text(&dom, "out").starts_with("failed:"), "{dom}");
    let _ = std::fs::remove_dir_all(tls_dir);
}
