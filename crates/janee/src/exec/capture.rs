//! Reading one output pipe: scrub as a stream, keep a bounded amount, drain the rest.

use tokio::io::{AsyncRead, AsyncReadExt as _};
use zeroize::Zeroizing;

use crate::scrub::Stream;

/// Bytes per read.
const CHUNK: usize = 64 * 1024;
/// Raw bytes a stream may write beyond `max_output_bytes` before the group is killed. Up to
/// this, dropped output is drained (memory stays flat) so a chatty command still finishes.
pub(super) const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// How a [`pump`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PumpEnd {
    /// End of file: every writer closed the pipe.
    Eof,
    /// The stream passed `max_output_bytes + DRAIN_LIMIT`: kill the group.
    Flood,
    /// A read failed; the output so far is kept and marked truncated.
    Failed,
}

/// Scrubbed output of one stream, bounded.
#[derive(Debug)]
pub(super) struct Capture {
    stream: Stream,
    kept: Vec<u8>,
    max: usize,
    raw_bytes: u64,
    /// Scrubbed output was dropped.
    truncated: bool,
    /// The cap was reached: the scrubber is no longer fed and its held-back bytes are never
    /// emitted, so the cut can never expose the start of a secret.
    stopped: bool,
    eof: bool,
}

/// A finished [`Capture`].
#[derive(Debug)]
pub(super) struct Captured {
    pub text: String,
    pub truncated: bool,
    pub hits: u64,
    pub raw_bytes: u64,
}

impl Capture {
    pub fn new(stream: Stream, max: usize) -> Capture {
        Capture {
            stream,
            kept: Vec::new(),
            max,
            raw_bytes: 0,
            truncated: false,
            stopped: false,
            eof: false,
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.raw_bytes = self
            .raw_bytes
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if !self.stopped {
            let out = self.stream.push(chunk);
            self.keep(&out);
        }
    }

    fn keep(&mut self, out: &[u8]) {
        let room = self.max.saturating_sub(self.kept.len());
        if out.len() > room {
            self.kept.extend_from_slice(&out[..room]);
            self.truncated = true;
            self.stopped = true;
        } else {
            self.kept.extend_from_slice(out);
        }
    }

    fn flooded(&self) -> bool {
        let max = u64::try_from(self.max).unwrap_or(u64::MAX);
        self.raw_bytes > max.saturating_add(DRAIN_LIMIT)
    }

    /// End of file: flush what the scrubber held back (the child really ended there).
    fn eof(&mut self) {
        self.eof = true;
        if !self.stopped {
            let tail = self.stream.finish();
            self.keep(&tail);
        }
    }

    /// The result. A stream that did not reach end of file (flood, read error, or a pipe
    /// still open after the grace) is truncated, and what the scrubber held back is dropped:
    /// it may be the start of a secret whose end never arrived.
    pub fn finish(self) -> Captured {
        let truncated = self.truncated || !self.eof;
        Captured {
            text: text(self.kept, truncated),
            truncated,
            hits: u64::try_from(self.stream.hits()).unwrap_or(u64::MAX),
            raw_bytes: self.raw_bytes,
        }
    }
}

/// Reads `pipe` to end of file into `cap`, or until it floods or fails.
pub(super) async fn pump<R: AsyncRead + Unpin>(pipe: Option<R>, cap: &mut Capture) -> PumpEnd {
    let Some(mut pipe) = pipe else {
        cap.eof();
        return PumpEnd::Eof;
    };
    // Raw reads hold unscrubbed secrets: wipe the buffer when done.
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    loop {
        match pipe.read(&mut buf[..]).await {
            Ok(0) => {
                cap.eof();
                return PumpEnd::Eof;
            }
            Ok(n) => {
                cap.feed(&buf[..n]);
                if cap.flooded() {
                    return PumpEnd::Flood;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return PumpEnd::Failed,
        }
    }
}

/// Lossless UTF-8 where valid, lossy otherwise. When `truncated`, an invalid sequence at the
/// very end (most likely a character cut by the cap) is dropped instead of replaced.
fn text(bytes: Vec<u8>, truncated: bool) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut out = String::with_capacity(bytes.len() + 16);
            let mut chunks = bytes.utf8_chunks().peekable();
            while let Some(chunk) = chunks.next() {
                out.push_str(chunk.valid());
                let cut_at_end = truncated && chunks.peek().is_none();
                if !chunk.invalid().is_empty() && !cut_at_end {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
            out
        }
    }
}
