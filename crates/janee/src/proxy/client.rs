//! The upstream client of `execute`.
//!
//! Janee keeps its own pool of HTTP/1.1 keep-alive connections, one list per origin (and per
//! thread under a single-threaded runtime). There, a connection has no task of its own: the
//! call using it drives its I/O while it waits for the response and reads the body, so an
//! exchange costs no hand-over between tasks. Under a multi-threaded runtime each connection
//! is driven by a task of its own. A request goes out in origin form with the Host of its URL;
//! no redirect is followed; TLS is rustls with the Web PKI roots and HTTP/1.1 by ALPN. A
//! connection goes back to the pool only once its response has been read to the end, and a
//! request that a pooled connection closed under before it was sent is sent again on another.
//!
//! When the environment names an HTTP proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, in
//! either case), requests go through reqwest instead, which honours it and `NO_PROXY`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, HOST, HeaderMap, HeaderValue, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use url::{Position, Url};

/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 256;
/// Sent when the request names no User-Agent of its own.
const USER_AGENT_VALUE: &str = concat!("janee/", env!("CARGO_PKG_VERSION"));

/// The client every `execute` call goes through.
#[derive(Debug)]
pub enum Upstream {
    /// Janee's own connection pool.
    Direct(Pool),
    /// The environment names a proxy: reqwest, which honours it.
    Proxied(reqwest::Client),
}

/// One request, as it will be sent. Its `Debug` shows neither the query (which may carry a
/// credential) nor the header values.
pub struct Outgoing<'a> {
    pub method: hyper::Method,
    pub url: &'a Url,
    pub headers: HeaderMap,
    pub body: Option<&'a str>,
    /// For the whole exchange: connecting, sending, and reading the body to its end.
    pub timeout: Duration,
}

impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("method", &self.method)
            .field("origin", &self.url.origin().ascii_serialization())
            .field("path", &self.url.path())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.map(str::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why an exchange failed, in words that never hold the URL (which may carry a query
/// credential).
#[derive(Debug)]
pub enum Failure {
    Timeout,
    Connect(String),
    Other(String),
}

impl Upstream {
    /// The direct pool, unless the environment names a proxy.
    pub fn new(proxied: reqwest::Client) -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let proxy = [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .iter()
        .any(|k| env(k));
        Ok(if proxy {
            tracing::info!("a proxy is set in the environment: upstream calls go through it");
            Self::Proxied(proxied)
        } else {
            Self::Direct(Pool::new(webpki_roots())?)
        })
    }

    pub async fn send(&self, req: Outgoing<'_>) -> Result<Response, Failure> {
        match self {
            Self::Direct(pool) => pool.send(req).await.map(Response::Direct),
            Self::Proxied(client) => {
                let mut builder = client
                    .request(req.method, req.url.clone())
                    .headers(req.headers)
                    .timeout(req.timeout);
                if let Some(b) = req.body {
                    builder = builder.body(b.to_string());
                }
                builder
                    .send()
                    .await
                    .map(Response::Proxied)
                    .map_err(|e| Failure::of_reqwest(&e))
            }
        }
    }
}

impl Failure {
    fn of_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() {
            Self::Connect(innermost(e))
        } else {
            Self::Other(innermost(e))
        }
    }

    fn of_hyper(e: &hyper::Error) -> Self {
        Self::Other(innermost(e))
    }

    /// In words, for an error message (`timeout` is the service's).
    pub fn describe(&self, timeout: Duration) -> String {
        match self {
            Self::Timeout => format!(
                "no answer within {}",
                crate::duration::format_duration(timeout)
            ),
            Self::Connect(why) if why.is_empty() => "could not connect".into(),
            Self::Connect(why) => format!("could not connect: {why}"),
            Self::Other(why) if why.is_empty() => "request failed".into(),
            Self::Other(why) => why.clone(),
        }
    }
}

/// The message of the innermost cause (the outer ones of reqwest name the URL).
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = String::new();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    if msg.is_empty() && !e.to_string().contains("://") {
        msg = e.to_string();
    }
    msg
}

/// A response whose body is still to be read.
#[derive(Debug)]
pub enum Response {
    Direct(Reply),
    Proxied(reqwest::Response),
}

impl Response {
    pub fn status(&self) -> u16 {
        match self {
            Self::Direct(r) => r.head.status.as_u16(),
            Self::Proxied(r) => r.status().as_u16(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Self::Direct(r) => &r.head.headers,
            Self::Proxied(r) => r.headers(),
        }
    }

    /// The declared body length, if any.
    pub fn content_length(&self) -> Option<u64> {
        match self {
            Self::Direct(r) => r
                .head
                .headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
            Self::Proxied(r) => r.content_length(),
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        match self {
            Self::Direct(r) => r.chunk().await,
            Self::Proxied(r) => r.chunk().await.map_err(|e| Failure::of_reqwest(&e)),
        }
    }
}

/// Where a connection goes: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    /// As in the URL (an IPv6 address in brackets).
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Result<Self, Failure> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(Failure::Other(format!("unsupported scheme {other}"))),
        };
        let host = url
            .host_str()
            .ok_or_else(|| Failure::Other("the URL has no host".into()))?
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Failure::Other("the URL has no port".into()))?;
        Ok(Self { tls, host, port })
    }

    /// The host without the brackets of an IPv6 address.
    fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

type Sender = SendRequest<Full<Bytes>>;
/// The I/O side of one connection (hyper's `Connection`): it reads and writes only while polled.
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// Who drives a connection's I/O.
enum Io {
    /// The call using the connection, while it waits for the response and reads the body. Under
    /// a single-threaded runtime (the HTTP server's workers) this saves two hand-overs between
    /// tasks per exchange.
    Inline(Driver),
    /// A task of its own: under a multi-threaded runtime, where another worker can run it.
    Task,
    /// Nobody: the connection has ended.
    Ended,
}

impl Io {
    /// Start driving `driver` the way that suits the current runtime.
    fn start(driver: Driver) -> Self {
        if single_threaded() {
            Self::Inline(driver)
        } else {
            tokio::spawn(driver);
            Self::Task
        }
    }

    /// Polls an inline driver; marks the connection ended once it has (its pending request
    /// then fails).
    fn poll(&mut self, cx: &mut Context<'_>) {
        if let Self::Inline(d) = self
            && d.as_mut().poll(cx).is_ready()
        {
            *self = Self::Ended;
        }
    }
}

/// One connection: where requests go in, and who drives its I/O.
struct Conn {
    sender: Sender,
    io: Io,
}

/// Run `fut` (a step of a connection's exchange) to its end, driving the connection's I/O
/// meanwhile if that is the caller's job. An inline driver is polled around `fut`, so that a
/// request `fut` hands over is written, and a response the driver reads is taken, in the same
/// poll.
async fn drive<T>(io: &mut Io, fut: impl Future<Output = T>) -> T {
    if !matches!(io, Io::Inline(_)) {
        return fut.await;
    }
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        io.poll(cx);
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        if !matches!(io, Io::Inline(_)) {
            return Poll::Pending;
        }
        io.poll(cx);
        fut.as_mut().poll(cx)
    })
    .await
}

impl Conn {
    /// Whether the connection is still open, having let an inline driver take in what arrived
    /// while it sat in the pool (a close by the server).
    fn is_open(&mut self) -> bool {
        self.io.poll(&mut Context::from_waker(Waker::noop()));
        !matches!(self.io, Io::Ended) && !self.sender.is_closed()
    }
}

/// Which thread's idle connections a call may use: its own under a single-threaded runtime,
/// any (`None`) under a multi-threaded one, whose workers share one I/O driver.
fn pool_thread() -> Option<ThreadId> {
    single_threaded().then(|| std::thread::current().id())
}

/// Whether the calling task runs under a single-threaded runtime.
fn single_threaded() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

type IdleByOrigin = HashMap<Origin, Vec<Idle>>;

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Janee's own pool of upstream connections.
pub struct Pool(Arc<PoolInner>);

struct PoolInner {
    /// Idle connections by the thread that gave them back and their origin: a connection's
    /// I/O is registered with the runtime of the thread that opened it, and under one runtime per
    /// thread (the HTTP server's workers) using it from another thread would wake that thread
    /// for each of its reads.
    idle: Mutex<HashMap<Option<ThreadId>, IdleByOrigin>>,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

/// The roots reqwest trusts as built for Janee: the Web PKI's.
fn webpki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

impl Pool {
    /// A pool whose TLS connections trust `roots`.
    pub fn new(roots: rustls::RootCertStore) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self(Arc::new(PoolInner {
            idle: Mutex::new(HashMap::new()),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })))
    }

    pub async fn send(&self, req: Outgoing<'_>) -> Result<Reply, Failure> {
        let deadline = Instant::now() + req.timeout;
        let origin = Origin::of(req.url)?;
        let target = &req.url[Position::BeforePath..Position::AfterQuery];
        let mut headers = req.headers;
        let authority = &req.url[Position::BeforeHost..Position::AfterPort];
        let host = HeaderValue::from_str(authority)
            .map_err(|_| Failure::Other("the host is not a valid header value".into()))?;
        headers.insert(HOST, host);
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        let body = Full::new(
            req.body
                .map_or_else(Bytes::new, |b| Bytes::copy_from_slice(b.as_bytes())),
        );
        let mut request = hyper::Request::builder()
            .method(req.method)
            .uri(target)
            .body(body)
            .map_err(|e| Failure::Other(format!("could not form the request: {e}")))?;
        *request.headers_mut() = headers;

        let exchange = async {
            let mut request = request;
            loop {
                let (mut conn, reused) = match self.checkout(&origin) {
                    Some(c) => (c, true),
                    None => (self.connect(&origin).await?, false),
                };
                if reused && drive(&mut conn.io, conn.sender.ready()).await.is_err() {
                    continue;
                }
                match drive(&mut conn.io, conn.sender.try_send_request(request)).await {
                    Ok(resp) => return Ok((conn, resp)),
                    Err(mut e) => match e.take_message() {
                        // The pooled connection closed before the request went out.
                        Some(unsent) if reused => request = unsent,
                        _ => return Err(Failure::of_hyper(&e.into_error())),
                    },
                }
            }
        };
        let (conn, resp) = timeout_at(deadline, exchange)
            .await
            .map_err(|_| Failure::Timeout)??;
        let (head, body) = resp.into_parts();
        Ok(Reply {
            head,
            body,
            deadline,
            conn: Some(conn),
            back: Some((self.0.clone(), origin)),
        })
    }

    /// An idle connection to `origin` that is still open, if there is one.
    fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let thread = pool_thread();
        let mut idle = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(&thread)?.get_mut(origin)?;
        while let Some(mut c) = list.pop() {
            if c.since.elapsed() < IDLE_TIMEOUT && c.conn.is_open() {
                return Some(c.conn);
            }
        }
        None
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, Failure> {
        let connect = |e: std::io::Error| Failure::Connect(e.to_string());
        let addrs: Vec<SocketAddr> = match origin.bare_host().parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
            Err(_) => tokio::net::lookup_host((origin.host.as_str(), origin.port))
                .await
                .map_err(connect)?
                .collect(),
        };
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(stream) = stream else {
            return Err(last.map_or_else(
                || Failure::Connect("the host name has no address".into()),
                connect,
            ));
        };
        stream.set_nodelay(true).map_err(connect)?;
        if origin.tls {
            let name = rustls::pki_types::ServerName::try_from(origin.bare_host().to_string())
                .map_err(|_| Failure::Connect("the host is not a valid TLS server name".into()))?;
            let tls = self
                .0
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| Failure::Connect(format!("TLS: {e}")))?;
            Conn::over(tls).await
        } else {
            Conn::over(stream).await
        }
    }
}

impl Conn {
    /// An HTTP/1.1 connection over `io` (no bytes are exchanged yet).
    async fn over<I>(io: I) -> Result<Self, Failure>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::Connect(innermost(&e)))?;
        Ok(Self {
            sender,
            io: Io::start(Box::pin(conn)),
        })
    }
}

impl PoolInner {
    fn give_back(&self, origin: Origin, conn: Conn) {
        let thread = pool_thread();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(thread).or_default().entry(origin).or_default();
        list.retain(|c| {
            !matches!(c.conn.io, Io::Ended)
                && !c.conn.sender.is_closed()
                && c.since.elapsed() < IDLE_TIMEOUT
        });
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// A response of the direct pool; its connection goes back to the pool once the body has been
/// read to its end.
pub struct Reply {
    head: hyper::http::response::Parts,
    body: Incoming,
    deadline: Instant,
    /// The connection the body arrives on, driven while the body is read.
    conn: Option<Conn>,
    /// Where the connection goes once the body has been read to its end.
    back: Option<(Arc<PoolInner>, Origin)>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.head.status)
            .finish_non_exhaustive()
    }
}

impl Reply {
    async fn chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            let frame = self.body.frame();
            let frame = match self.conn.as_mut() {
                Some(conn) => timeout_at(self.deadline, drive(&mut conn.io, frame)).await,
                None => timeout_at(self.deadline, frame).await,
            }
            .map_err(|_| Failure::Timeout)?;
            match frame {
                None => {
                    if let (Some((pool, origin)), Some(conn)) = (self.back.take(), self.conn.take())
                    {
                        pool.give_back(origin, conn);
                    }
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.back = None;
                    self.conn = None;
                    return Err(Failure::of_hyper(&e));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                    // Trailers are not passed on.
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// How the test server behaves.
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        /// Answers every request on a keep-alive connection.
        KeepAlive,
        /// Closes each connection after its first answer (without saying so).
        CloseAfterOne,
        /// Reads the request and never answers.
        Silent,
    }

    /// A loopback HTTP/1.1 server whose answers name the request line and Host it received;
    /// with `tls`, behind that certificate. Returns its port and a count of connections.
    async fn server(mode: Mode, tls: Option<tokio_rustls::TlsAcceptor>) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let conns = Arc::new(AtomicUsize::new(0));
        let count = conns.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(tcp).await {
                                answer(s, mode).await;
                            }
                        }
                        None => answer(tcp, mode).await,
                    }
                });
            }
        });
        (port, conns)
    }

    async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, mode: Mode) {
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let Ok(n) = s.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            if mode == Mode::Silent {
                continue;
            }
            let line = head.lines().next().unwrap_or_default().to_string();
            let host = head
                .lines()
                .find_map(|l| l.strip_prefix("host: "))
                .unwrap_or_default()
                .to_string();
            let body = format!("{line}|{host}");
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if s.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
            if mode == Mode::CloseAfterOne {
                let _ = s.shutdown().await;
                return;
            }
        }
    }

    /// A certificate for "localhost", its acceptor, and roots that trust it.
    fn localhost_tls() -> (tokio_rustls::TlsAcceptor, rustls::RootCertStore) {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let der: CertificateDer<'static> = cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("root");
        (tokio_rustls::TlsAcceptor::from(Arc::new(config)), roots)
    }

    async fn get(pool: &Pool, url: &str, timeout: Duration) -> Result<(u16, String), Failure> {
        let url = Url::parse(url).expect("url");
        let mut reply = pool
            .send(Outgoing {
                method: hyper::Method::GET,
                url: &url,
                headers: HeaderMap::new(),
                body: None,
                timeout,
            })
            .await?;
        let status = reply.head.status.as_u16();
        let mut body = Vec::new();
        while let Some(c) = reply.chunk().await? {
            body.extend_from_slice(&c);
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    const SECOND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn https_requests_share_one_verified_connection() {
        share_one_verified_connection().await;
    }

    /// Under a multi-threaded runtime each connection is driven by a task of its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn https_requests_share_one_connection_driven_by_its_own_task() {
        share_one_verified_connection().await;
    }

    async fn share_one_verified_connection() {
        let (acceptor, roots) = localhost_tls();
        let (port, conns) = server(Mode::KeepAlive, Some(acceptor)).await;
        let pool = Pool::new(roots).expect("pool");
        for i in 0..3 {
            let (status, body) = get(
                &pool,
                &format!("https://localhost:{port}/v1/x?n={i}"),
                SECOND,
            )
            .await
            .unwrap_or_else(|e| panic!("{}", e.describe(SECOND)));
            assert_eq!(status, 200);
            assert_eq!(body, format!("GET /v1/x?n={i} HTTP/1.1|localhost:{port}"));
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "the connection was reused");
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_refused_before_any_request() {
        let (acceptor, _) = localhost_tls();
        let (port, _) = server(Mode::KeepAlive, Some(acceptor)).await;
        let pool = Pool::new(webpki_roots()).expect("pool");
        let err = get(&pool, &format!("https://localhost:{port}/"), SECOND)
            .await
            .expect_err("refused");
        let words = err.describe(SECOND);
        assert!(matches!(err, Failure::Connect(_)), "{words}");
        assert!(words.starts_with("could not connect: TLS"), "{words}");
        assert!(words.contains("certificate"), "{words}");
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        let (port, conns) = server(Mode::CloseAfterOne, None).await;
        let pool = Pool::new(webpki_roots()).expect("pool");
        for _ in 0..4 {
            let (status, body) = get(&pool, &format!("http://127.0.0.1:{port}/a"), SECOND)
                .await
                .unwrap_or_else(|e| panic!("{}", e.describe(SECOND)));
            assert_eq!(status, 200);
            assert_eq!(body, format!("GET /a HTTP/1.1|127.0.0.1:{port}"));
        }
        assert_eq!(conns.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_silent_upstream_times_out_and_its_connection_is_not_reused() {
        let (port, conns) = server(Mode::Silent, None).await;
        let pool = Pool::new(webpki_roots()).expect("pool");
        let short = Duration::from_millis(200);
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let err = get(&pool, &format!("http://127.0.0.1:{port}/slow"), short)
                .await
                .expect_err("timed out");
            assert!(matches!(err, Failure::Timeout));
            assert_eq!(err.describe(short), "no answer within 200ms");
            assert!(started.elapsed() < Duration::from_secs(3));
        }
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_left_unread_keeps_its_connection_out_of_the_pool() {
        let (port, conns) = server(Mode::KeepAlive, None).await;
        let pool = Pool::new(webpki_roots()).expect("pool");
        let url = Url::parse(&format!("http://127.0.0.1:{port}/a")).expect("url");
        let reply = pool
            .send(Outgoing {
                method: hyper::Method::GET,
                url: &url,
                headers: HeaderMap::new(),
                body: None,
                timeout: SECOND,
            })
            .await
            .unwrap_or_else(|e| panic!("{}", e.describe(SECOND)));
        drop(reply);
        get(&pool, url.as_str(), SECOND)
            .await
            .unwrap_or_else(|e| panic!("{}", e.describe(SECOND)));
        get(&pool, url.as_str(), SECOND)
            .await
            .unwrap_or_else(|e| panic!("{}", e.describe(SECOND)));
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn debug_shows_no_query_and_no_header_value() {
        let url =
            Url::parse("https://api.example.com/v1/x?api_key=sk_canary_debug_123").expect("url");
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("sk_canary_debug_456"));
        let out = Outgoing {
            method: hyper::Method::GET,
            url: &url,
            headers,
            body: Some("{}"),
            timeout: SECOND,
        };
        let shown = format!("{out:?}");
        assert!(
            shown.contains("x-api-key") && shown.contains("/v1/x"),
            "{shown}"
        );
        assert!(!shown.contains("sk_canary"), "{shown}");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_failure() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let pool = Pool::new(webpki_roots()).expect("pool");
        let err = get(&pool, &format!("http://127.0.0.1:{port}/"), SECOND)
            .await
            .expect_err("refused");
        assert!(err.describe(SECOND).starts_with("could not connect: "));
    }
}
