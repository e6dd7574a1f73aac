//! The stdio transport: rmcp's line reader, and a writer that encodes each outgoing message
//! with Janee's own encoder ([`super::encode`]). rmcp's own writer serialises into a buffer
//! that grows by doubling, through serde's byte-at-a-time string escaping; for a tool result of
//! several megabytes that is most of the cost and a large share of the peak memory. Here a
//! large tool result text is escaped piece by piece straight onto the pipe; the bytes on the
//! wire are the same.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::{StdioReader, StdioWriter, Transport};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::encode::Encoded;

/// Standard output, shared by the writer of messages and the reader's own error replies; each
/// holder writes whole lines.
type Out = Arc<Mutex<Option<StdioWriter>>>;
type OutGuard = OwnedMutexGuard<Option<StdioWriter>>;

pub(super) struct StdioTransport {
    read: AsyncRwTransport<RoleServer, StdioReader, ReplyWriter>,
    out: Out,
}

impl StdioTransport {
    pub(super) fn new() -> Self {
        widen_stdout_pipe();
        let (stdin, stdout) = rmcp::transport::stdio_pipes();
        let out: Out = Arc::new(Mutex::new(Some(stdout)));
        Self {
            read: AsyncRwTransport::new_server(stdin, ReplyWriter::new(out.clone())),
            out,
        }
    }
}

impl Transport<RoleServer> for StdioTransport {
    type Error = io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let out = self.out.clone();
        async move {
            let mut out = out.lock().await;
            let Some(w) = out.as_mut() else {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "Transport is closed",
                ));
            };
            write_message(w, item).await
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.read.receive()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.read.close().await?;
        drop(self.out.lock().await.take());
        Ok(())
    }
}

/// Input bytes escaped per write when a large text is streamed out.
const CHUNK: usize = 256 * 1024;

/// The pipe size asked for on standard output (Linux's default limit for unprivileged
/// processes). Each write to a pipe can wake the reader; with the default 64 KiB pipe a
/// multi-megabyte result costs over a hundred such round trips, with this a few dozen.
const PIPE_SIZE: i32 = 1 << 20;

fn widen_stdout_pipe() {
    #[cfg(target_os = "linux")]
    {
        // Not a pipe, or a lower limit: the pipe stays as it is, which is only slower.
        let _ = nix::fcntl::fcntl(
            std::io::stdout(),
            nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE),
        );
    }
}

/// Write one message as rmcp's codec writes it: compact JSON and `\n`. A large tool result
/// text is escaped and written piece by piece, so the line never exists whole in memory.
async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    item: ServerJsonRpcMessage,
) -> io::Result<()> {
    let mut message = Encoded::new(item, true)?;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        message.fill(&mut buf, CHUNK);
        if buf.is_empty() {
            return w.flush().await;
        }
        w.write_all(&buf).await?;
    }
}

/// The reader's writer, for the error replies it sends itself (a line that is JSON but not a
/// JSON-RPC message): buffers what it is given and writes it under the [`Out`] lock on flush.
struct ReplyWriter {
    out: Out,
    pending: Vec<u8>,
    written: usize,
    locking: Option<Pin<Box<dyn Future<Output = OutGuard> + Send>>>,
    guard: Option<OutGuard>,
}

impl ReplyWriter {
    fn new(out: Out) -> Self {
        Self {
            out,
            pending: Vec::new(),
            written: 0,
            locking: None,
            guard: None,
        }
    }

    /// Write out everything pending under the lock, then let go of it.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_empty() && self.guard.is_none() {
            return Poll::Ready(Ok(()));
        }
        if self.guard.is_none() {
            let out = self.out.clone();
            let locking = self
                .locking
                .get_or_insert_with(|| Box::pin(out.lock_owned()));
            self.guard = Some(ready!(locking.as_mut().poll(cx)));
            self.locking = None;
        }
        let Some(guard) = self.guard.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let Some(w) = guard.as_mut() else {
            self.guard = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "Transport is closed",
            )));
        };
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut *w).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        ready!(Pin::new(&mut *w).poll_flush(cx))?;
        self.pending.clear();
        self.written = 0;
        self.guard = None;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReplyWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ContentBlock, NumberOrString, ServerResult};

    #[tokio::test]
    async fn lines_are_what_rmcp_writes() {
        let big: String = (0..40_000)
            .map(|i| format!("{{\"n\":{i},\"s\":\"a\\\\b\\n\\u0001é\"}}\n"))
            .collect();
        for text in [big, "small".into()] {
            let msg = ServerJsonRpcMessage::response(
                ServerResult::CallToolResult(CallToolResult::success(vec![ContentBlock::text(
                    text,
                )])),
                NumberOrString::Number(7),
            );
            let mut want = serde_json::to_vec(&msg).unwrap();
            want.push(b'\n');
            let mut got = Vec::new();
            write_message(&mut got, msg).await.unwrap();
            assert_eq!(got, want);
        }
    }
}
