//! Janee's encoder for outgoing JSON-RPC messages (stdio, and the stateless HTTP fast path).
//! The bytes are those of `serde_json::to_vec`, but a tool result made of one large text
//! block is not encoded whole through serde: the message around the text is, and the text is
//! escaped piece by piece as the message is written. A block from [`json::deferred_text`]
//! (an upstream body inside the JSON of an `execute` result) has its large string escaped
//! twice in one pass, straight from the body.

use rmcp::model::{ContentBlock, ServerJsonRpcMessage, ServerResult, TextContent};

use crate::mcp::json;

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Written as it is.
    Raw,
    /// Escaped into a JSON string.
    Once,
    /// Escaped into a JSON string that is itself escaped into another.
    Twice,
}

/// One message, ready to be written in pieces by [`Encoded::fill`].
#[derive(Debug)]
pub(super) struct Encoded {
    segments: Vec<(Kind, String)>,
    /// The segment being written, and how many of its bytes are done.
    segment: usize,
    at: usize,
}

impl Drop for Encoded {
    fn drop(&mut self) {
        // A twice-escaped segment is an upstream body.
        for (kind, s) in &mut self.segments {
            if matches!(kind, Kind::Twice) {
                crate::proxy::recycle(std::mem::take(s));
            }
        }
    }
}

impl Encoded {
    /// `item` encoded as compact JSON, followed by a newline if `newline`.
    pub(super) fn new(mut item: ServerJsonRpcMessage, newline: bool) -> serde_json::Result<Self> {
        let end = if newline { "\n" } else { "" };
        // The text (and deferred large string) of a single-text tool result worth streaming,
        // with the placeholder left in its place.
        let taken = single_text(&mut item).and_then(|block| {
            let deferred = json::take_deferred(block);
            (deferred.is_some() || block.text.len() >= json::LARGE).then(|| {
                (
                    std::mem::replace(&mut block.text, json::placeholder()),
                    deferred,
                )
            })
        });
        let mut segments = Vec::new();
        if let Some((text, deferred)) = taken {
            let shell = serde_json::to_string(&item)?;
            if let Some((before, after)) = json::split(&shell) {
                segments.push((Kind::Raw, format!("{before}\"")));
                match deferred.as_ref().and_then(|_| json::split(&text)) {
                    Some((text_before, text_after)) => {
                        segments.push((Kind::Once, text_before.to_string()));
                        segments.push((Kind::Raw, "\\\"".to_string()));
                        segments.push((Kind::Twice, deferred.unwrap_or_default()));
                        segments.push((Kind::Raw, "\\\"".to_string()));
                        segments.push((Kind::Once, text_after.to_string()));
                    }
                    // Not deferred (or, against `deferred_text`'s check, without the
                    // placeholder): the text goes out as it is.
                    None => segments.push((Kind::Once, text)),
                }
                segments.push((Kind::Raw, format!("\"{after}{end}")));
                return Ok(Self::from(segments));
            }
            // The message itself holds the placeholder elsewhere: encode it whole.
            if let Some(block) = single_text(&mut item) {
                block.text = match deferred {
                    Some(large) => json::splice(&text, &large).unwrap_or(text),
                    None => text,
                };
            }
        }
        let mut line = serde_json::to_string(&item)?;
        line.push_str(end);
        segments.push((Kind::Raw, line));
        Ok(Self::from(segments))
    }

    /// Append the next piece of the message to `buf`, stopping once it holds at least
    /// `target` bytes; nothing is appended when the message is all written.
    pub(super) fn fill(&mut self, buf: &mut Vec<u8>, target: usize) {
        while buf.len() < target {
            let Some((kind, s)) = self.segments.get(self.segment) else {
                return;
            };
            let rest = &s.as_bytes()[self.at..];
            // Escaping at most doubles a byte (seven times for a control byte, which is rare):
            // take what fits as if each byte stayed one.
            let take = rest.len().min(target - buf.len());
            let piece = &rest[..take];
            match kind {
                Kind::Raw => buf.extend_from_slice(piece),
                Kind::Once => json::escape_into(buf, piece),
                Kind::Twice => json::escape_twice_into(buf, piece),
            }
            self.at += take;
            if self.at == s.len() {
                self.segment += 1;
                self.at = 0;
            }
        }
    }

    /// The whole message.
    pub(super) fn into_vec(mut self) -> Vec<u8> {
        let input: usize = self.segments.iter().map(|(_, s)| s.len()).sum();
        let mut out = Vec::with_capacity(input + input / 2);
        self.fill(&mut out, usize::MAX);
        out
    }
}

impl From<Vec<(Kind, String)>> for Encoded {
    fn from(segments: Vec<(Kind, String)>) -> Self {
        Self {
            segments,
            segment: 0,
            at: 0,
        }
    }
}

/// The text of a tool result made of one text block.
fn single_text(item: &mut ServerJsonRpcMessage) -> Option<&mut TextContent> {
    let ServerJsonRpcMessage::Response(resp) = item else {
        return None;
    };
    let ServerResult::CallToolResult(result) = &mut resp.result else {
        return None;
    };
    match result.content.as_mut_slice() {
        [ContentBlock::Text(t)] => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, NumberOrString};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Reply<'a> {
        status: u16,
        body: &'a str,
        truncated: bool,
    }

    fn message(block: TextContent, error: bool) -> ServerJsonRpcMessage {
        let content = vec![ContentBlock::Text(block)];
        let result = if error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        };
        ServerJsonRpcMessage::response(
            ServerResult::CallToolResult(result),
            NumberOrString::Number(7),
        )
    }

    fn written(msg: ServerJsonRpcMessage, newline: bool, target: usize) -> Vec<u8> {
        let mut enc = Encoded::new(msg, newline).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            enc.fill(&mut buf, target);
            if buf.is_empty() {
                return out;
            }
            out.extend_from_slice(&buf);
        }
    }

    fn serde_line(msg: &ServerJsonRpcMessage, newline: bool) -> Vec<u8> {
        let mut want = serde_json::to_vec(msg).unwrap();
        if newline {
            want.push(b'\n');
        }
        want
    }

    #[test]
    fn messages_are_what_serde_writes() {
        let big: String = (0..40_000)
            .map(|i| format!("{{\"n\":{i},\"s\":\"a\\\\b\\n\\u0001é\"}}\n"))
            .collect();
        for (text, error) in [(big.clone(), false), (big, true), ("small".into(), false)] {
            for (newline, target) in [(true, 1 << 16), (false, 7), (true, usize::MAX)] {
                let msg = message(TextContent::new(text.clone()), error);
                let want = serde_line(&msg, newline);
                assert_eq!(written(msg.clone(), newline, target), want);
                assert_eq!(Encoded::new(msg, newline).unwrap().into_vec(), want);
            }
        }
    }

    #[test]
    fn a_deferred_body_is_written_as_if_it_were_in_the_text() {
        let bodies = [
            (0..30_000)
                .map(|i| format!("{{\"n\":{i},\"q\":\"\\\"\\\\\\u0007\",\"é\":\"\\t\"}}\r\n"))
                .collect::<String>(),
            "x".repeat(json::LARGE),
            String::new(),
        ];
        for body in bodies {
            let inline = serde_json::to_string(&Reply {
                status: 200,
                body: &body,
                truncated: false,
            })
            .unwrap();
            let want = serde_line(&message(TextContent::new(inline), false), true);
            let holder = json::placeholder();
            let shell = Reply {
                status: 200,
                body: &holder,
                truncated: false,
            };
            for target in [1 << 16, 5, usize::MAX] {
                let block = json::deferred_text(&shell, body.clone()).unwrap();
                assert_eq!(written(message(block, false), true, target), want);
            }
        }
    }
}
