//! HTTP connections served by one single-threaded runtime per core.
//!
//! One task accepts connections and hands them out in turn to the workers; each worker is a
//! thread with a runtime of its own, which serves its connections from start to end. A call's
//! request, its upstream exchange (the upstream pool keeps each thread's connections apart)
//! and its answer all run on one thread, so a call wakes no other thread, and no worker steals
//! work from another.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::thread;

use anyhow::{Context as _, anyhow};
use axum::ServiceExt as _;
use axum::extract::Request;
use axum::response::Response;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// How many workers serve HTTP: one per available core.
pub(super) fn count() -> usize {
    thread::available_parallelism().map_or(1, usize::from)
}

/// A connection handed to a worker: the socket (still non-blocking) and its peer.
type Handed = (std::net::TcpStream, SocketAddr);

/// The listener a worker's `axum::serve` takes its connections from.
struct Handoff {
    rx: mpsc::UnboundedReceiver<Handed>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            // Closed: the acceptor stopped at shutdown; the graceful shutdown ends the server.
            let Some((socket, peer)) = self.rx.recv().await else {
                return std::future::pending().await;
            };
            match TcpStream::from_std(socket) {
                Ok(s) => return (s, peer),
                Err(e) => tracing::warn!("could not take a connection from {peer}: {e}"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serve `app` on `listener` with `workers` worker threads until `shutdown`, then wait for
/// every worker to finish its connections.
pub(super) async fn serve<S>(
    listener: TcpListener,
    app: S,
    workers: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
{
    let local = listener.local_addr()?;
    let mut queues = Vec::with_capacity(workers);
    let mut finished = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel::<anyhow::Result<()>>();
        let (app, shutdown) = (app.clone(), shutdown.clone());
        thread::Builder::new()
            .name(format!("janee-http-{i}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("could not start an HTTP worker runtime")
                    .and_then(|rt| {
                        rt.block_on(async move {
                            axum::serve(Handoff { rx, local }, app.into_make_service())
                                .with_graceful_shutdown(shutdown.cancelled_owned())
                                .await
                                .context("HTTP worker")
                        })
                    });
                let _ = done_tx.send(result);
            })
            .context("could not start an HTTP worker thread")?;
        queues.push(tx);
        finished.push(done_rx);
    }
    let mut next = 0;
    loop {
        let (socket, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: pause rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on a connection from {peer}: {e}");
        }
        let mut handed = match socket.into_std() {
            Ok(socket) => (socket, peer),
            Err(e) => {
                tracing::warn!("could not hand over a connection from {peer}: {e}");
                continue;
            }
        };
        let mut sent = false;
        for _ in 0..queues.len() {
            let queue = &queues[next];
            next = (next + 1) % queues.len();
            match queue.send(handed) {
                Ok(()) => {
                    sent = true;
                    break;
                }
                // That worker has stopped: give the connection to the next one.
                Err(mpsc::error::SendError(back)) => handed = back,
            }
        }
        if !sent {
            // Every worker has stopped; their results say why.
            shutdown.cancel();
            break;
        }
    }
    drop(queues);
    let mut result = Ok(());
    for done in finished {
        let r = done
            .await
            .unwrap_or_else(|_| Err(anyhow!("an HTTP worker stopped")));
        if result.is_ok() {
            result = r;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The name of the thread that answered one request on a fresh connection.
    async fn answered_by(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out.rsplit("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_go_to_the_workers_in_turn_and_shutdown_waits_for_them() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/who",
            axum::routing::get(|| async {
                thread::current().name().unwrap_or("unnamed").to_string()
            }),
        );
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app, 3, shutdown.clone()));
        let mut names = Vec::new();
        for _ in 0..6 {
            names.push(answered_by(addr).await);
        }
        assert_eq!(
            names,
            [
                "janee-http-0",
                "janee-http-1",
                "janee-http-2",
                "janee-http-0",
                "janee-http-1",
                "janee-http-2"
            ]
        );
        shutdown.cancel();
        let result = tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .expect("the server stops")
            .expect("join");
        assert!(result.is_ok(), "{result:?}");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "nothing listens after shutdown"
        );
    }
}
