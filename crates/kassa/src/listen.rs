//! kassa's connection layer: accepting connections on every listener (plain HTTP and HTTPS),
//! bounding what a slow or half-open client can hold, and handing requests to the API.
//!
//! Every connection, plain or TLS, HTTP/1.1 or HTTP/2, goes through [`serve_connection`]:
//!
//! - a TLS handshake must finish within the header read timeout;
//! - a request's head must arrive within the header read timeout, counted from the connection's
//!   start (or its handshake's end) for the first request and from the first byte of each later one;
//! - a request's body must arrive within the body read timeout, counted from its head: a body
//!   that stalls is answered `408` and its connection closed;
//! - a connection with no request in flight is closed after the idle timeout;
//! - a head larger than the header size limit is answered `431` (HTTP/2: the stream is refused);
//! - at most `max_connections` connections are served at once; one more is answered `503` with
//!   `Retry-After` and closed (a few at a time: past that it is closed at once).
//!
//! The connection tracks its state in one atomic word that the I/O wrapper, the request and the
//! response body update. The I/O wrapper fails a read whose head is late; a watchdog in the
//! connection's own task closes it when it has been idle too long.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, Version, header};
use axum::response::IntoResponse;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kassa_api::error::ApiError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::tls::Tls;

/// Bounds on what one client connection may hold; each is configurable (`config.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A TLS handshake and a request head must each arrive within this.
    pub header_read_timeout: Duration,
    /// A request body must arrive within this, counted from the end of its head.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once, over all listeners.
    pub max_connections: usize,
    /// The largest request head (request line and headers) in bytes.
    pub max_header_bytes: usize,
}

pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's smallest read buffer; a head limit below it could not be told from a full buffer.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// Connections over the cap that are answered `503` at once; past this they are closed unanswered,
/// so a flood cannot turn the answers themselves into the exhaustion.
const MAX_REFUSING: usize = 64;

/// One bound address: plain HTTP, or HTTPS when `tls` is set.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Tls>,
}

impl Listener {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// The API as the connection layer calls it.
pub trait App:
    tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> App for S where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// What every connection shares.
struct Shared<A> {
    app: A,
    limits: Limits,
    connections: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    /// Flips once, when the server stops: connections finish what is in flight and close.
    stopping: watch::Receiver<bool>,
}

/// Serves every listener until `shutdown` resolves, then stops accepting, lets every connection
/// finish its in-flight requests and returns when all are closed.
pub async fn serve<A: App>(
    listeners: Vec<Listener>,
    app: A,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (stop_tx, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        app,
        connections: Arc::new(Semaphore::new(limits.max_connections)),
        refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        limits,
        stopping,
    });
    // Each connection task holds a receiver: when all are dropped, every connection is closed.
    let (open_tx, open_rx) = watch::channel(());
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| tokio::spawn(accept_loop(listener, Arc::clone(&shared), open_rx.clone())))
        .collect();
    drop(open_rx);
    shutdown.await;
    let _ = stop_tx.send(true);
    for task in accepting {
        let _ = task.await;
    }
    drop(shared);
    open_tx.closed().await;
}

async fn accept_loop<A: App>(listener: Listener, shared: Arc<Shared<A>>, open: watch::Receiver<()>) {
    let mut stopping = shared.stopping.clone();
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => return,
        };
        let _ = tcp.set_nodelay(true);
        let tls = listener.tls.as_ref().map(Tls::acceptor);
        let shared = Arc::clone(&shared);
        let open = open.clone();
        match Arc::clone(&shared.connections).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    serve_connection(tcp, tls, &shared, Mode::Serve).await;
                    drop((permit, open));
                });
            }
            Err(_) => match Arc::clone(&shared.refusing).try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        serve_connection(tcp, tls, &shared, Mode::Refuse).await;
                        drop((permit, open));
                    });
                }
                Err(_) => drop(tcp),
            },
        }
    }
}

async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// As hyper's and axum's servers do: per-connection errors are the client's; anything else
/// (out of file descriptors) is waited out rather than spun on.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    /// Over the connection cap: every request is answered 503 and the connection closed.
    Refuse,
}

async fn serve_connection<A: App>(
    tcp: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: &Shared<A>,
    mode: Mode,
) {
    let limits = &shared.limits;
    match tls {
        None => {
            let watch = Arc::new(ConnWatch::new(false));
            let io = Watched::new(tcp, Arc::clone(&watch), limits.header_read_timeout);
            drive(io, watch, false, shared, mode).await;
        }
        Some(acceptor) => {
            let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                // A client that does not trust the certificate, speaks plain HTTP, or stalls.
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let watch = Arc::new(ConnWatch::new(h2));
            let io = Watched::new(stream, Arc::clone(&watch), limits.header_read_timeout);
            drive(io, watch, true, shared, mode).await;
        }
    }
}

/// Runs one connection with hyper under the watchdog.
async fn drive<A: App, I>(io: Watched<I>, watch: Arc<ConnWatch>, https: bool, shared: &Shared<A>, mode: Mode)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let service = ConnService {
        app: shared.app.clone(),
        watch: Arc::clone(&watch),
        body_read_timeout: limits.body_read_timeout,
        https,
        mode,
        max_connections: limits.max_connections,
    };
    let io = TokioIo::new(io);
    if watch.h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.max_header_list_size(limits.max_header_bytes.try_into().unwrap_or(u32::MAX));
        let conn = builder.serve_connection(io, service);
        watchdog(conn, &watch, limits, shared.stopping.clone()).await;
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            // The watchdog bounds heads; hyper's own timer would also count idle time.
            .header_read_timeout(None)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(64 * 1024));
        let conn = builder.serve_connection(io, service);
        watchdog(conn, &watch, limits, shared.stopping.clone()).await;
    }
}

/// A hyper connection that can be asked to finish what is in flight and close.
trait Graceful: Future<Output = hyper::Result<()>> {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S> Graceful for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> Graceful for hyper::server::conn::http2::Connection<I, S, TokioExecutor>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Drives `conn` until it ends, closing it when it has been idle too long, and asking it to
/// finish when the server stops. (A head's deadline is kept by [`Watched`], which hyper polls
/// while it waits for one.)
async fn watchdog<C: Graceful>(
    conn: C,
    watch: &ConnWatch,
    limits: &Limits,
    mut stopping: watch::Receiver<bool>,
) {
    tokio::pin!(conn);
    // Nothing wakes the watchdog when a request ends: it looks again when the earliest moment the
    // connection could have been idle for long enough has come. Nothing per request.
    let sleep = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(sleep);
    let mut stop_asked = false;
    // An HTTP/2 connection asked to close (GOAWAY) gets a grace period, then is dropped.
    let mut closing_until: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut sleep => {
                let now = Instant::now();
                if closing_until.is_some_and(|t| t <= now) {
                    return;
                }
                let next = match watch.idle_deadline(limits) {
                    Some(deadline) if deadline <= now => {
                        if !watch.h2 {
                            return;
                        }
                        conn.as_mut().graceful();
                        let until = now + limits.header_read_timeout;
                        closing_until = Some(until);
                        until
                    }
                    Some(deadline) => deadline,
                    // Busy, or reading a head: not idle before a whole idle timeout from now.
                    None => now + limits.idle_timeout,
                };
                let next = closing_until.map_or(next, |c| c.min(next));
                sleep.as_mut().reset(tokio::time::Instant::from_std(next));
            }
            () = stopped(&mut stopping), if !stop_asked => {
                stop_asked = true;
                conn.as_mut().graceful();
            }
        }
    }
}

const PHASE_HEAD: u64 = 0;
const PHASE_IDLE: u64 = 1;
const PHASE_BUSY: u64 = 2;

/// One connection's state: whether a request is in flight, and since when it has been waiting
/// for a head or idle.
struct ConnWatch {
    started: Instant,
    h2: bool,
    /// Phase in the top two bits, the phase's start in milliseconds since `started` below.
    state: AtomicU64,
    in_flight: AtomicU32,
}

impl ConnWatch {
    fn new(h2: bool) -> Self {
        Self {
            started: Instant::now(),
            h2,
            state: AtomicU64::new(PHASE_HEAD << 62),
            in_flight: AtomicU32::new(0),
        }
    }

    fn set(&self, phase: u64) {
        let since = self.started.elapsed().as_millis() as u64 & ((1 << 62) - 1);
        self.state.store(phase << 62 | since, Ordering::Release);
    }

    fn phase(&self) -> (u64, Instant) {
        let state = self.state.load(Ordering::Acquire);
        let since = self.started + Duration::from_millis(state & ((1 << 62) - 1));
        (state >> 62, since)
    }

    /// Bytes arrived: on an idle HTTP/1 connection they start the next head.
    fn on_read(&self) {
        if !self.h2 && self.state.load(Ordering::Relaxed) >> 62 == PHASE_IDLE {
            self.set(PHASE_HEAD);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.set(PHASE_BUSY);
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.set(PHASE_IDLE);
        }
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When the head being waited for must have arrived (none while a request is in flight).
    fn head_deadline(&self, timeout: Duration) -> Option<Instant> {
        match self.phase() {
            (PHASE_HEAD, since) if self.idle() => Some(since + timeout),
            _ => None,
        }
    }

    /// When an idle connection is closed (none unless idle).
    fn idle_deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.phase() {
            (PHASE_HEAD, _) => None,
            (_, since) if self.idle() => Some(since + limits.idle_timeout),
            _ => None,
        }
    }
}

/// The connection's byte stream: tells the watch when bytes arrive, and fails the read (so hyper
/// closes the connection) when a head has not arrived in time. hyper polls the read whenever it
/// waits for a head, so the timer is set only while a head is incomplete, never per request.
struct Watched<I> {
    inner: I,
    watch: Arc<ConnWatch>,
    header_read_timeout: Duration,
    head_timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> Watched<I> {
    fn new(inner: I, watch: Arc<ConnWatch>, header_read_timeout: Duration) -> Self {
        Self {
            inner,
            watch,
            header_read_timeout,
            head_timer: None,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.watch.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.watch.head_deadline(this.header_read_timeout) else {
                    return Poll::Pending;
                };
                let deadline = tokio::time::Instant::from_std(deadline);
                let timer = match &mut this.head_timer {
                    Some(timer) => {
                        if timer.deadline() != deadline {
                            timer.as_mut().reset(deadline);
                        }
                        timer
                    }
                    None => this
                        .head_timer
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head did not arrive within the header read timeout",
                )))
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Set on requests that arrived over TLS, so `links` say `https`.
pub use kassa_api::envelope::Https;

/// hyper's service for one connection: counts the request in flight until its response body is
/// sent, bounds the request body's arrival, and hands the request to the API.
#[derive(Clone)]
struct ConnService<A> {
    app: A,
    watch: Arc<ConnWatch>,
    body_read_timeout: Duration,
    https: bool,
    mode: Mode,
    max_connections: usize,
}

impl<A: App> hyper::service::Service<Request<Incoming>> for ConnService<A> {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.watch.request_started();
        let in_flight = InFlight(Arc::clone(&self.watch));
        if self.mode == Mode::Refuse {
            let max = self.max_connections;
            let version = req.version();
            return Box::pin(async move {
                let mut res = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    format!(
                        "The server is serving the most connections it allows ({max}); try again shortly"
                    ),
                )
                .into_response();
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                close_after(&mut res, version);
                Ok(res.map(|body| Tracked {
                    body,
                    _in_flight: in_flight,
                }))
            });
        }
        let version = req.version();
        let (mut parts, incoming) = req.into_parts();
        if self.https {
            parts.extensions.insert(Https);
        }
        let (body, timed_out) = if hyper::body::Body::is_end_stream(&incoming) {
            (Body::new(incoming), None)
        } else {
            let timed_out = Arc::new(AtomicBool::new(false));
            let body = Deadline {
                inner: incoming,
                deadline: tokio::time::Instant::now() + self.body_read_timeout,
                sleep: None,
                timed_out: Arc::clone(&timed_out),
            };
            (Body::new(body), Some(timed_out))
        };
        let app = self.app.clone();
        let timeout = self.body_read_timeout;
        Box::pin(async move {
            let Ok(mut res) = app.oneshot(Request::from_parts(parts, body)).await;
            if timed_out.is_some_and(|t| t.load(Ordering::Acquire)) {
                res = body_timed_out(res, timeout, version);
            }
            Ok(res.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// The API's answer to a request whose body stalled, replaced by a 408 (keeping the CORS and
/// request id headers the API added), and the connection closed.
fn body_timed_out(original: Response<Body>, timeout: Duration, version: Version) -> Response<Body> {
    let mut res = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "Request Timeout",
        format!(
            "The request body did not arrive within {} seconds",
            timeout.as_secs_f64()
        ),
    )
    .into_response();
    for (name, value) in original.headers() {
        let name_str = name.as_str();
        if name_str.starts_with("access-control-") || name_str == "vary" || name_str == "x-request-id" {
            res.headers_mut().append(name.clone(), value.clone());
        }
    }
    close_after(&mut res, version);
    res
}

fn close_after(res: &mut Response<Body>, version: Version) {
    // HTTP/2 has no `Connection` header; there a stalled stream ends alone.
    if version <= Version::HTTP_11 {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Counts a request in flight from its head until its response has been sent (or dropped).
struct InFlight(Arc<ConnWatch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The response body, holding the request's place in flight until hyper has sent it.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that must have arrived by a deadline. The timer is set only when the body is
/// waited for, so a body that is already there costs none.
struct Deadline {
    inner: Incoming,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

/// The error a stalled body ends with (the handler sees a body it could not read).
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The soft limit on open files, where the system tells it (Linux), to warn when the connection
/// cap cannot be reached.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// Configuration: `kassa serve`'s flags for listeners, TLS and connection limits.

/// `kassa serve`'s flags for HTTPS and for bounding client connections.
#[derive(Debug, Default, clap::Args)]
pub struct NetArgs {
    /// Serve HTTPS on --listen with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "KASSA_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, RSA or EC) of --tls-cert.
    #[arg(long, env = "KASSA_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// `self-signed`: serve HTTPS on --listen with a development certificate signed by a local
    /// CA, both made once and kept beside the database (in `kassa-tls/`); `files`: with
    /// --tls-cert and --tls-key (what giving those two alone means).
    #[arg(long, env = "KASSA_TLS", value_name = "MODE")]
    pub tls: Option<String>,
    /// A further host name or IP address for the development certificate (repeat the flag, or
    /// separate with commas). [always: localhost, 127.0.0.1, ::1]
    #[arg(
        long = "tls-name",
        env = "KASSA_TLS_NAMES",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub tls_names: Vec<String>,
    /// Where --tls self-signed keeps its CA and certificate. [default: `kassa-tls/` beside the
    /// SQLite database, or in the working directory with PostgreSQL]
    #[arg(long, env = "KASSA_TLS_DIR", value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Also serve plain HTTP on this address while --listen serves HTTPS (e.g. for a load
    /// balancer's health checks). [default: none]
    #[arg(long, env = "KASSA_LISTEN_HTTP", value_name = "ADDR")]
    pub listen_http: Option<String>,
    /// Seconds a client has for a TLS handshake, and for each request's headers. [default: 10]
    #[arg(long, env = "KASSA_HEADER_READ_TIMEOUT", value_name = "SECONDS")]
    pub header_read_timeout: Option<f64>,
    /// Seconds a client has to send a request's body, from the end of its headers. [default: 60]
    #[arg(long, env = "KASSA_BODY_READ_TIMEOUT", value_name = "SECONDS")]
    pub body_read_timeout: Option<f64>,
    /// Seconds a keep-alive connection may stay open without a request. [default: 75]
    #[arg(long, env = "KASSA_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub idle_timeout: Option<f64>,
    /// Client connections served at once; one more is answered 503. [default: 4096]
    #[arg(long, env = "KASSA_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// The largest request head (request line and headers) in bytes; a larger one is answered
    /// 431. [default: 32768]
    #[arg(long, env = "KASSA_MAX_HEADER_SIZE", value_name = "BYTES")]
    pub max_header_size: Option<usize>,
}

/// The same settings from `kassa.toml`.
#[derive(Debug, Default)]
pub struct NetFile {
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls: Option<String>,
    pub tls_names: Option<Vec<String>>,
    pub tls_dir: Option<PathBuf>,
    pub listen_http: Option<String>,
    pub header_read_timeout: Option<f64>,
    pub body_read_timeout: Option<f64>,
    pub idle_timeout: Option<f64>,
    pub max_connections: Option<usize>,
    pub max_header_size: Option<usize>,
}

/// How `--listen` serves HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSetting {
    /// A certificate chain and key from PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// The development CA and certificate kept in `dir`, for the default names and these.
    SelfSigned { dir: PathBuf, names: Vec<String> },
}

/// Listeners, TLS and connection limits, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetConfig {
    pub tls: Option<TlsSetting>,
    /// A plain HTTP listener beside the HTTPS one.
    pub listen_http: Option<SocketAddr>,
    pub limits: Limits,
}

fn seconds(name: &str, value: Option<f64>, default: Duration, max: f64) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(s) if (0.1..=max).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => anyhow::bail!("invalid {name} {s}: it must be between 0.1 and {max} seconds"),
    }
}

impl NetConfig {
    /// Flags beat the file; `database_dir` is where a development CA is kept.
    pub fn resolve(args: NetArgs, file: NetFile, database_dir: &Path) -> anyhow::Result<Self> {
        let cert = args.tls_cert.or(file.tls_cert);
        let key = args.tls_key.or(file.tls_key);
        let mode = args.tls.or(file.tls);
        let names_flagged = !args.tls_names.is_empty();
        let names = match args.tls_names {
            flags if !flags.is_empty() => flags,
            _ => file.tls_names.unwrap_or_default(),
        };
        let dir = args.tls_dir.or(file.tls_dir);
        let tls = match (mode.as_deref(), cert, key) {
            (Some("self-signed"), None, None) => Some(TlsSetting::SelfSigned {
                dir: dir.unwrap_or_else(|| database_dir.join("kassa-tls")),
                names,
            }),
            (Some("self-signed"), _, _) => {
                anyhow::bail!("--tls self-signed and --tls-cert/--tls-key exclude each other: choose one")
            }
            (Some("files") | None, Some(cert), Some(key)) => Some(TlsSetting::Files { cert, key }),
            (Some("files"), _, _) => anyhow::bail!("--tls files needs --tls-cert and --tls-key"),
            (Some(other), _, _) => {
                anyhow::bail!(
                    "invalid TLS mode {other:?}: expected self-signed, or files (with --tls-cert and --tls-key)"
                )
            }
            (None, None, None) => None,
            (None, _, _) => anyhow::bail!("--tls-cert and --tls-key must be given together"),
        };
        // Names from the file are for whenever the development certificate is used; a flag
        // without it is a mistake.
        if names_flagged && !matches!(tls, Some(TlsSetting::SelfSigned { .. })) {
            anyhow::bail!("--tls-name is for the development certificate: add --tls self-signed");
        }
        let listen_http = match args.listen_http.or(file.listen_http) {
            None => None,
            Some(addr) => Some(addr.parse().map_err(|_| {
                anyhow::anyhow!(
                    "invalid plain HTTP listen address {addr:?}: expected IP:PORT, e.g. 127.0.0.1:8081"
                )
            })?),
        };
        if listen_http.is_some() && tls.is_none() {
            anyhow::bail!(
                "--listen-http adds plain HTTP beside HTTPS: it needs --tls-cert/--tls-key or --tls self-signed"
            );
        }
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if !(1..=1_000_000).contains(&max_connections) {
            anyhow::bail!("invalid connection limit {max_connections}: it must be between 1 and 1000000");
        }
        let max_header_bytes = args
            .max_header_size
            .or(file.max_header_size)
            .unwrap_or(DEFAULT_MAX_HEADER_BYTES);
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&max_header_bytes) {
            anyhow::bail!(
                "invalid largest header size {max_header_bytes} bytes: it must be between {MIN_HEADER_BYTES} and {MAX_HEADER_BYTES}"
            );
        }
        let limits = Limits {
            header_read_timeout: seconds(
                "header read timeout",
                args.header_read_timeout.or(file.header_read_timeout),
                DEFAULT_HEADER_READ_TIMEOUT,
                300.0,
            )?,
            body_read_timeout: seconds(
                "body read timeout",
                args.body_read_timeout.or(file.body_read_timeout),
                DEFAULT_BODY_READ_TIMEOUT,
                3600.0,
            )?,
            idle_timeout: seconds(
                "idle timeout",
                args.idle_timeout.or(file.idle_timeout),
                DEFAULT_IDLE_TIMEOUT,
                3600.0,
            )?,
            max_connections,
            max_header_bytes,
        };
        Ok(Self {
            tls,
            listen_http,
            limits,
        })
    }
}
