//! The upstream every figure calls, directly and through Janee: nginx from the distribution when
//! installed, else a minimal HTTP/1.1 server in this process.
//!
//! Routes: `GET /v1/big` answers [`BIG_LEN`] bytes of JSON lines; anything else answers
//! `{"ok":true}` (11 bytes, `application/json`). Both keep connections alive.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util;

pub const SMALL_PATH: &str = "/v1/ping";
pub const BIG_PATH: &str = "/v1/big";
pub const SMALL_BODY: &[u8] = br#"{"ok":true}"#;
/// Size of the large response (5 MiB).
pub const BIG_LEN: usize = 5 * 1024 * 1024;

/// A running upstream; stopped when dropped.
#[derive(Debug)]
pub struct Upstream {
    pub port: u16,
    /// What serves it, for the report ("nginx/1.22.1, 1 worker" or "built-in").
    pub kind: String,
    /// The nginx process (for its CPU time), when nginx serves.
    pub pid: Option<u32>,
    child: Option<Child>,
}

impl Upstream {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
            util::unregister_child(c.id());
        }
    }
}

/// JSON lines, cut to exactly [`BIG_LEN`] bytes: escaping work for Janee's JSON encoders.
pub fn big_body() -> Vec<u8> {
    let mut out = Vec::with_capacity(BIG_LEN + 64);
    let mut i = 0u64;
    while out.len() < BIG_LEN {
        out.extend_from_slice(format!("{{\"id\":{i},\"name\":\"item-{i}\"}}\n").as_bytes());
        i += 1;
    }
    out.truncate(BIG_LEN);
    out
}

/// Start nginx when found, else the built-in server. `dir` holds nginx's files.
pub fn start(dir: &Path) -> Result<Upstream> {
    let big = big_body();
    match util::find_exe("nginx") {
        Some(nginx) => start_nginx(&nginx, dir, &big),
        None => {
            eprintln!("janee-bench: nginx not found; using the built-in upstream");
            start_builtin(big)
        }
    }
}

fn start_nginx(nginx: &Path, dir: &Path, big: &[u8]) -> Result<Upstream> {
    let ng = dir.join("nginx");
    std::fs::create_dir_all(ng.join("www"))?;
    util::set_mode(&ng, 0o755)?;
    util::set_mode(&ng.join("www"), 0o755)?;
    let big_file = ng.join("www/big.json");
    std::fs::write(&big_file, big)?;
    util::set_mode(&big_file, 0o644)?;
    let port = util::free_port()?;
    let d = ng.display();
    // One worker: on a small machine nginx must not crowd out the server under test.
    let conf = format!(
        r#"worker_processes 1;
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp_body;
  proxy_temp_path {d}/tmp_proxy;
  fastcgi_temp_path {d}/tmp_fastcgi;
  uwsgi_temp_path {d}/tmp_uwsgi;
  scgi_temp_path {d}/tmp_scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    location = {BIG_PATH} {{ default_type application/json; alias {d}/www/big.json; }}
    location / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
  }}
}}
"#
    );
    let conf_path = ng.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let log = std::fs::File::create(ng.join("stderr.log"))?;
    let child = Command::new(nginx)
        .arg("-e")
        .arg(ng.join("error.log"))
        .arg("-p")
        .arg(&ng)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {}", nginx.display()))?;
    util::register_child(child.id());
    let pid = child.id();
    let mut up = Upstream {
        port,
        kind: format!("{}, 1 worker", nginx_version(nginx)),
        pid: Some(pid),
        child: Some(child),
    };
    if let Err(e) = wait_ready(port) {
        let log = std::fs::read_to_string(ng.join("error.log")).unwrap_or_default();
        if let Some(c) = &mut up.child {
            let _ = c.kill();
        }
        bail!("nginx did not answer: {e}; error.log: {log}");
    }
    Ok(up)
}

fn nginx_version(nginx: &Path) -> String {
    Command::new(nginx)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .split_whitespace()
                .find(|w| w.starts_with("nginx/"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "nginx".into())
}

/// Poll until `GET /v1/ping` answers 200 (at most 5 s).
fn wait_ready(port: u16) -> Result<()> {
    let start = Instant::now();
    loop {
        let attempt = || -> Result<bool> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            s.write_all(
                format!(
                    "GET {SMALL_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf)?;
            Ok(buf.starts_with(b"HTTP/1.1 200"))
        };
        match attempt() {
            Ok(true) => return Ok(()),
            Ok(false) => bail!("unexpected answer from the upstream"),
            Err(e) if start.elapsed() > Duration::from_secs(5) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The fallback: one thread, one current-thread runtime (like one nginx worker).
fn start_builtin(big: Vec<u8>) -> Result<Upstream> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let big = Arc::new(big);
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("janee-bench: built-in upstream: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((sock, _)) = listener.accept().await {
                    let _ = sock.set_nodelay(true);
                    tokio::spawn(serve_conn(sock, big.clone()));
                }
            });
        })?;
    wait_ready(port)?;
    Ok(Upstream {
        port,
        kind: "built-in (tokio, 1 thread)".into(),
        pid: None,
        child: None,
    })
}

/// HTTP/1.1 keep-alive: read a request head (and skip any Content-Length body), answer.
async fn serve_conn(mut sock: tokio::net::TcpStream, big: Arc<Vec<u8>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut tmp = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let body_len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        let body: &[u8] = if path == BIG_PATH { &big } else { SMALL_BODY };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // One write per answer, as nginx does for small bodies.
        let mut out = Vec::with_capacity(head.len() + body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(body);
        if sock.write_all(&out).await.is_err() {
            return;
        }
    }
}
