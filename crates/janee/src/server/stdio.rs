//! The stdio transport: rmcp's line reader, and a writer that encodes each outgoing message
//! once, at its final size. rmcp's own writer serialises into a buffer that grows by doubling,
//! through serde's byte-at-a-time string escaping; for a tool result of several megabytes that
//! is most of the cost and a large share of the peak memory. Here a large tool result text is
//! escaped piece by piece straight onto the pipe ([`crate::mcp::json`]); the bytes on the wire
//! are the same.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ContentBlock, ServerJsonRpcMessage, ServerResult};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::{StdioReader, StdioWriter, Transport};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::mcp::json;

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
const CHUNK: usize = 64 * 1024;

/// Write one message as rmcp's codec writes it: compact JSON and `\n`. A large tool result
/// text is escaped and written piece by piece, so the line never exists whole in memory.
async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut item: ServerJsonRpcMessage,
) -> io::Result<()> {
    if let Some(text) = large_text(&mut item) {
        let large = std::mem::replace(text, json::placeholder());
        let shell = serde_json::to_string(&item)?;
        if let Some((before, after)) = json::split(&shell) {
            let mut buf = String::with_capacity(2 * CHUNK);
            buf.push_str(before);
            buf.push('"');
            let mut rest = large.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(CHUNK);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                json::push_escaped(&mut buf, &rest[..cut]);
                rest = &rest[cut..];
                if buf.len() >= CHUNK {
                    w.write_all(buf.as_bytes()).await?;
                    buf.clear();
                }
            }
            buf.push('"');
            buf.push_str(after);
            buf.push('\n');
            w.write_all(buf.as_bytes()).await?;
            return w.flush().await;
        }
        if let Some(text) = large_text(&mut item) {
            *text = large;
        }
    }
    let mut line = serde_json::to_vec(&item)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

/// The text of a tool result made of one large text block.
fn large_text(item: &mut ServerJsonRpcMessage) -> Option<&mut String> {
    let ServerJsonRpcMessage::Response(resp) = item else {
        return None;
    };
    let ServerResult::CallToolResult(result) = &mut resp.result else {
        return None;
    };
    match result.content.as_mut_slice() {
        [ContentBlock::Text(t)] if t.text.len() >= json::LARGE => Some(&mut t.text),
        _ => None,
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
    use rmcp::model::{CallToolResult, NumberOrString};

    #[tokio::test]
    async fn lines_are_what_rmcp_writes() {
        let big: String = (0..40_000)
            .map(|i| format!("{{\"n\":{i},\"s\":\"a\\\\b\\n\\u0001é\"}}\n"))
            .collect();
        for (text, error) in [(big.clone(), false), (big, true), ("small".into(), false)] {
            let result = if error {
                CallToolResult::error(vec![ContentBlock::text(text)])
            } else {
                CallToolResult::success(vec![ContentBlock::text(text)])
            };
            let msg = ServerJsonRpcMessage::response(
                ServerResult::CallToolResult(result),
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
