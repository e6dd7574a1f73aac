//! The stdio transport: rmcp's line reader behind a pump that answers plain tool calls itself,
//! and a writer that encodes each outgoing message with Janee's own encoder
//! ([`super::encode`]).
//!
//! The pump reads each line first. A plain `tools/call` (as on the HTTP fast path: nothing but
//! a name and arguments, no `_meta`, not `janee_exec`, from a client on a protocol version
//! before 2026-07-28, and not an `execute` that could stop to ask the client for approval)
//! is answered by the same [`JaneeMcp`] tool code without rmcp's service loop and per-request
//! tasks; every other line goes on to rmcp unchanged, through an in-memory pipe.
//!
//! rmcp's own writer serialises into a buffer that grows by doubling, through serde's
//! byte-at-a-time string escaping; for a tool result of several megabytes that is most of the
//! cost and a large share of the peak memory. Here a large tool result text is escaped piece by
//! piece straight onto the pipe; the bytes on the wire are the same.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, JsonObject, RequestId, ServerJsonRpcMessage};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::{StdioReader, StdioWriter, Transport};
use serde::Deserialize;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::task::JoinSet;

use super::encode::Encoded;
use super::fast::{Call, LEGACY_VERSIONS, Params, legacy_reply};
use crate::mcp::JaneeMcp;

/// Standard output, shared by the writer of messages and the reader's own error replies; each
/// holder writes whole lines.
type Out = Arc<Mutex<Option<StdioWriter>>>;
type OutGuard = OwnedMutexGuard<Option<StdioWriter>>;

pub(super) struct StdioTransport {
    read: AsyncRwTransport<RoleServer, DuplexStream, ReplyWriter>,
    out: Out,
}

/// Room in the in-memory pipe from the pump to rmcp's reader.
const TO_RMCP: usize = 256 * 1024;

impl StdioTransport {
    /// Serve stdin/stdout; plain tool calls are answered by `handler`.
    pub(super) fn new(handler: JaneeMcp) -> Self {
        widen_stdout_pipe();
        let (stdin, stdout) = rmcp::transport::stdio_pipes();
        let out: Out = Arc::new(Mutex::new(Some(stdout)));
        let (to_rmcp, from_pump) = tokio::io::duplex(TO_RMCP);
        let pump = Pump {
            handler,
            out: out.clone(),
            initializing: None,
            client: None,
        };
        tokio::spawn(pump.run(stdin, to_rmcp));
        Self {
            read: AsyncRwTransport::new_server(from_pump, ReplyWriter::new(out.clone())),
            out,
        }
    }
}

/// What the client said of itself in `initialize`.
#[derive(Debug, Clone)]
struct Client {
    /// `clientInfo.name`, the label rmcp reports for each request.
    label: Arc<str>,
    /// It offered elicitation, so an `execute` may ask it for approval.
    elicits: bool,
    /// Its protocol version is one rmcp answers in the shape before 2026-07-28.
    legacy: bool,
}

/// Reads the client's lines: answers plain tool calls, passes everything else to rmcp.
struct Pump {
    handler: JaneeMcp,
    out: Out,
    /// From `initialize`, until `notifications/initialized` completes the handshake.
    initializing: Option<Client>,
    /// Set once the handshake is complete; no call is answered here before.
    client: Option<Client>,
}

impl Pump {
    async fn run(mut self, stdin: StdioReader, mut to_rmcp: DuplexStream) {
        let mut input = BufReader::with_capacity(64 * 1024, stdin);
        let mut line = Vec::with_capacity(4096);
        let mut calls = JoinSet::new();
        loop {
            line.clear();
            match read_line(&mut input, &mut line, MAX_LINE).await {
                Ok(Line::Whole) => {}
                Ok(Line::TooLong) => {
                    tracing::error!(
                        max_line_length = MAX_LINE,
                        "an incoming message exceeded the maximum line length; discarded"
                    );
                    continue;
                }
                Ok(Line::End) | Err(_) => break,
            }
            while calls.try_join_next().is_some() {}
            if let Some((client, id, params)) = self.plain_call(&line) {
                tracing::trace!(tool = %params.name, "tools/call answered by the stdio pump");
                calls.spawn(answer(
                    self.handler.clone(),
                    self.out.clone(),
                    client.label,
                    id,
                    params,
                ));
                continue;
            }
            self.watch_handshake(&line);
            if to_rmcp.write_all(&line).await.is_err() {
                break;
            }
        }
        // Calls in flight are answered before rmcp sees the end of the input.
        while calls.join_next().await.is_some() {}
    }

    /// The call on `line`, if it is one to answer here.
    fn plain_call(&self, line: &[u8]) -> Option<(Client, RequestId, Params)> {
        let client = self.client.as_ref().filter(|c| c.legacy)?;
        let call = serde_json::from_slice::<Call<'_>>(line).ok()?;
        if call.jsonrpc != "2.0" || call.method != "tools/call" || call.params.name == "janee_exec"
        {
            return None;
        }
        if client.elicits && call.params.name == "execute" {
            let capability = call.params.arguments.as_ref().and_then(|a| a.capability());
            if capability.is_some_and(|c| self.handler.may_ask_approval(&c)) {
                return None;
            }
        }
        Some((client.clone(), call.id, call.params))
    }

    /// Follow the handshake rmcp carries out: `initialize`, then `notifications/initialized`.
    fn watch_handshake(&mut self, line: &[u8]) {
        if self.client.is_some() || memchr::memmem::find(line, b"initialize").is_none() {
            return;
        }
        let Ok(msg) = serde_json::from_slice::<Handshake>(line) else {
            return;
        };
        match (msg.method.as_str(), msg.params) {
            ("initialize", Some(p)) if self.initializing.is_none() => {
                self.initializing = Some(Client {
                    label: p.client_info.name.into(),
                    elicits: p.capabilities.contains_key("elicitation"),
                    legacy: LEGACY_VERSIONS.contains(&p.protocol_version.as_str()),
                });
            }
            ("notifications/initialized", _) => self.client = self.initializing.take(),
            _ => {}
        }
    }
}

/// The longest line read (rmcp's own limit): a longer one is dropped as it arrives, never held.
const MAX_LINE: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;

enum Line {
    /// `line` holds one line, its `\n` included.
    Whole,
    /// A line longer than the limit was read and dropped.
    TooLong,
    /// The input ended (a last line without `\n` is dropped, as rmcp drops it).
    End,
}

/// Read one line into `line` without letting it grow past `max` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    let mut discarding = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::End);
        }
        let newline = memchr::memchr(b'\n', available);
        let take = newline.map_or(available.len(), |i| i + 1);
        if !discarding && line.len() + take > max {
            line.clear();
            discarding = true;
        }
        if !discarding {
            line.extend_from_slice(&available[..take]);
        }
        input.consume(take);
        if newline.is_some() {
            return Ok(if discarding {
                Line::TooLong
            } else {
                Line::Whole
            });
        }
    }
}

#[derive(Deserialize)]
struct Handshake {
    method: String,
    #[serde(default)]
    params: Option<InitializeParams>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: String,
    client_info: ClientInfo,
    #[serde(default)]
    capabilities: JsonObject,
}

#[derive(Deserialize)]
struct ClientInfo {
    name: String,
}

/// Answer one call and write the answer as rmcp would have.
async fn answer(handler: JaneeMcp, out: Out, label: Arc<str>, id: RequestId, params: Params) {
    let (name, arguments) = params.into_parts();
    let outcome = handler
        .call_tool_stateless(None, &label, &name, arguments)
        .await;
    let Some(message) = legacy_reply(outcome, id) else {
        return;
    };
    let mut out = out.lock().await;
    if let Some(w) = out.as_mut()
        && let Err(e) = write_message(w, message).await
    {
        tracing::debug!("stdout: {e}");
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
    async fn lines_are_read_whole_and_a_long_one_is_dropped_unheld() {
        let mut input: Vec<u8> = b"{\"a\":1}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend_from_slice(b"\nshort\nno newline");
        let mut reader = BufReader::with_capacity(4096, &input[..]);
        let mut line = Vec::new();
        let mut seen = Vec::new();
        loop {
            line.clear();
            match read_line(&mut reader, &mut line, 100_000).await.unwrap() {
                Line::Whole => seen.push(String::from_utf8(line.clone()).unwrap()),
                Line::TooLong => {
                    assert!(line.capacity() <= 2 * 100_000, "the long line was held");
                    seen.push("too long".into());
                }
                Line::End => break,
            }
        }
        assert_eq!(seen, ["{\"a\":1}\n", "too long", "short\n"]);
    }

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
