//! Streaming scrubber: removes secret values and their common encodings from
//! output before an untrusted agent sees it.
//!
//! For every secret `s` (as UTF-8 bytes) [`Patterns::new`] builds these variants:
//! - the raw value;
//! - base64, standard and url-safe: the full encoding of `s` with and without
//!   padding, plus, for each of the 3 alignments `k`, the *core* of
//!   `base64(k filler bytes + s)`: the characters whose 6 bits come from `s`
//!   alone. The core occurs in `base64(prefix + s + suffix)` for any prefix
//!   whose length is `k` mod 3 and any suffix (e.g. `Basic base64(user:s)`);
//! - hex, lower and upper case as two literal patterns (the automaton stays
//!   case-sensitive; mixed-case hex such as `DeAdBeEf` is *not* matched);
//! - percent-encoding of every byte outside RFC 3986 "unreserved", with upper-
//!   and lower-case hex digits, and the form-encoded (`space` → `+`) forms;
//! - JavaScript `encodeURIComponent` (which leaves `!'()*` unescaped);
//! - JSON string escaping (`serde_json`, without the quotes), also with `/` escaped as `\/`;
//! - shell escaping: `"$` `` ` `` `\` backslash-escaped, and `'` → `'\''`.
//!
//! Variants shorter than [`MIN_SECRET_LEN`] bytes are dropped and duplicates
//! removed. One Aho-Corasick automaton with leftmost-longest semantics replaces
//! each match by [`REDACTED`].
//!
//! **Wrapped lines.** The automaton matches the text with every line break (`\n` or
//! `\r\n`) that sits between two base64 bytes (`A-Za-z0-9+/=_-`) removed, and the
//! patterns are joined the same way; a match is replaced in the original text together with
//! the line breaks inside it. So base64 wrapped at any width (`base64`, MIME, PEM) is found,
//! and hex wrapped by `xxd -p` (hex digits are base64 bytes), as is a multi-line secret (a
//! PEM key) however its lines end. Text without such line
//! breaks is matched as it is, at no extra cost.
//!
//! A [`Stream`] outputs exactly what [`Patterns::scrub`] gives for the whole
//! input, however it is split. Its carry starts where the one-shot scan would
//! resume; with `L` = [`Patterns::max_len`], the carry alone decides whether a
//! match starts at (joined) offset `q` iff `q < limit = joined.len() - (L - 1)`.
//! So a match starting before `limit` is final (leftmost-longest: every candidate
//! at or before it fits) and is replaced, unmatched bytes before `limit` are
//! emitted, and at most `L - 1` joined bytes (plus the line breaks among them, and
//! a trailing line break whose next byte has not arrived) are carried to the next push.
//!
//! Limits: the automaton's own internal copies of the patterns are not zeroized
//! (our copies are); nested or mixed encodings (base64 of hex, mixed-case hex
//! or percent escapes) are not caught; a secret that itself contains parts of
//! `[REDACTED]` may be re-formed by adjacent replacements.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Secret values shorter than this many characters are refused at config time.
pub const MIN_SECRET_LEN: usize = 8;
/// What every match is replaced by.
pub const REDACTED: &str = "[REDACTED]";

/// An owned copy of a pattern, wiped when dropped.
type Pat = Zeroizing<Vec<u8>>;

/// A secret value that cannot be scrubbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrubError {
    /// The value has `len` characters, fewer than `min`.
    TooShort {
        /// Length of the value in characters.
        len: usize,
        /// Minimum length ([`MIN_SECRET_LEN`]).
        min: usize,
    },
}

impl fmt::Display for ScrubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len, min } => write!(
                f,
                "a secret value is {len} characters long; values shorter than {min} cannot be scrubbed safely"
            ),
        }
    }
}

impl std::error::Error for ScrubError {}

/// Checks at config time that `value` is long enough to be scrubbed
/// (at least [`MIN_SECRET_LEN`] characters, i.e. Unicode scalar values).
pub fn check_scrubbable(value: &str) -> Result<(), ScrubError> {
    let (len, min) = (value.chars().count(), MIN_SECRET_LEN);
    (len >= min)
        .then_some(())
        .ok_or(ScrubError::TooShort { len, min })
}

/// Percent-encodes every byte outside RFC 3986 "unreserved" (`A-Za-z0-9-._~`).
fn percent(s: &[u8], upper: bool, form: bool) -> Vec<u8> {
    percent_keeping(s, upper, form, b"-._~")
}

/// Percent-encodes every byte that is not alphanumeric or in `keep`.
fn percent_keeping(s: &[u8], upper: bool, form: bool, keep: &[u8]) -> Vec<u8> {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Vec::with_capacity(s.len() * 3);
    for &b in s {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b);
        } else if form && b == b' ' {
            out.push(b'+');
        } else {
            let (hi, lo) = (usize::from(b >> 4), usize::from(b & 15));
            out.extend([b'%', digits[hi], digits[lo]]);
        }
    }
    out
}

/// Prefixes each byte of `set` in `s` with a backslash.
fn backslash_escape(s: &[u8], set: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2);
    for &b in s {
        if set.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// All encodings of one secret (may contain duplicates and short ones).
fn variants(secret: &str) -> Vec<Pat> {
    let s = secret.as_bytes();
    let mut out: Vec<Pat> = Vec::new();
    let mut add = |v: Vec<u8>| out.push(Zeroizing::new(v));
    add(s.to_vec());
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        add(engine.encode(s).into_bytes());
    }
    for k in 0..3 {
        let mut buf: Pat = Zeroizing::new(Vec::with_capacity(k + s.len()));
        buf.resize(k, 0);
        buf.extend_from_slice(s);
        // Char j holds bits [6j, 6j+6); `s` holds bits [8k, 8(k+n)).
        let (start, end) = ((8 * k).div_ceil(6), 8 * (k + s.len()) / 6);
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let enc = Zeroizing::new(engine.encode(&*buf));
            if let Some(core) = enc.as_bytes().get(start..end) {
                add(core.to_vec());
            }
        }
    }
    add(hex::encode(s).into_bytes());
    add(hex::encode_upper(s).into_bytes());
    for (upper, form) in [(true, false), (false, false), (true, true), (false, true)] {
        add(percent(s, upper, form));
    }
    // JavaScript's encodeURIComponent leaves `!'()*` as they are.
    for upper in [true, false] {
        add(percent_keeping(s, upper, false, b"-._~!'()*"));
    }
    if let Ok(json) = serde_json::to_string(secret).map(Zeroizing::new)
        && let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"'))
    {
        add(inner.as_bytes().to_vec());
        // PHP and some other encoders also escape '/' as `\/`.
        add(inner.replace('/', "\\/").into_bytes());
    }
    add(backslash_escape(s, b"\"$`\\"));
    let single_quoted = Zeroizing::new(secret.replace('\'', "'\\''"));
    add(single_quoted.as_bytes().to_vec());
    out
}

/// How a [`Patterns`] set matches.
enum Matcher {
    /// No patterns: everything passes through.
    Empty,
    Ac(AhoCorasick),
    /// The automaton could not be built: fail closed, redacting all output.
    Failed,
}

/// Immutable, shareable set of patterns for a set of secrets
/// (`Send + Sync`; cloning is cheap, an `Arc` is shared).
#[derive(Clone)]
pub struct Patterns {
    matcher: Arc<Matcher>,
    /// Number of distinct patterns.
    count: usize,
    max_len: usize,
}

impl fmt::Debug for Patterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patterns")
            .field("patterns", &self.count)
            .field("max_len", &self.max_len)
            .field("failed", &matches!(*self.matcher, Matcher::Failed))
            .finish()
    }
}

/// Appends `hay` to `out` with every match replaced, committing only matches
/// that start before `limit` and emitting unmatched bytes only up to `limit`
/// (or up to the end of the last replaced match). Returns the number of bytes
/// of `hay` consumed and the number of matches replaced.
fn replace(ac: &AhoCorasick, hay: &[u8], limit: usize, out: &mut Vec<u8>) -> (usize, usize) {
    let (mut pos, mut hits) = (0, 0);
    for m in ac.find_iter(hay) {
        if m.start() >= limit {
            break;
        }
        out.extend_from_slice(&hay[pos..m.start()]);
        out.extend_from_slice(REDACTED.as_bytes());
        pos = m.end();
        hits += 1;
    }
    let end = limit.clamp(pos, hay.len());
    out.extend_from_slice(&hay[pos..end]);
    (end, hits)
}

/// A byte base64 (standard or url-safe) is written with.
fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// `hay` with the line breaks between base64 bytes removed, and where each removal was.
struct Joined {
    text: Zeroizing<Vec<u8>>,
    /// `(i, n)`: before joined byte `i`, `n` raw bytes were removed in all.
    cuts: Vec<(usize, usize)>,
    /// Raw bytes the joined text covers; the rest (a trailing line break whose next byte
    /// is unknown) is undecided.
    settled: usize,
}

impl Joined {
    /// The raw offset of joined offset `i` (past the line breaks just before it).
    fn raw(&self, i: usize) -> usize {
        let k = self.cuts.partition_point(|&(at, _)| at <= i);
        i + k.checked_sub(1).map_or(0, |k| self.cuts[k].1)
    }
}

/// Joins `hay`'s wrapped lines (see the module docs). `before` is the byte preceding `hay` in
/// the stream; `last` says no byte follows it. `None` when nothing is joined or held back.
fn join_lines(hay: &[u8], before: Option<u8>, last: bool) -> Option<Joined> {
    let mut text: Option<Zeroizing<Vec<u8>>> = None;
    let mut cuts = Vec::new();
    let mut copied = 0; // raw bytes accounted for in `text`
    let mut removed = 0;
    let prev_b64 = |i: usize| if i == 0 { before } else { Some(hay[i - 1]) }.is_some_and(is_b64);
    // A trailing '\r' may be the start of a "\r\n" that the next push completes.
    let mut settled = hay.len();
    if !last && hay.last() == Some(&b'\r') && prev_b64(hay.len() - 1) {
        settled = hay.len() - 1;
    }
    for nl in memchr::memchr_iter(b'\n', &hay[..settled]) {
        let start = if nl > 0 && hay[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if !prev_b64(start) {
            continue;
        }
        match hay.get(nl + 1) {
            Some(&next) if is_b64(next) => {}
            Some(_) => continue,
            None if last => continue,
            None => {
                settled = start;
                break;
            }
        }
        let buf = text.get_or_insert_with(|| Zeroizing::new(Vec::with_capacity(hay.len())));
        buf.extend_from_slice(&hay[copied..start]);
        copied = nl + 1;
        removed += nl + 1 - start;
        cuts.push((buf.len(), removed));
    }
    if text.is_none() && settled == hay.len() {
        return None;
    }
    let mut text = text.unwrap_or_default();
    text.extend_from_slice(&hay[copied.min(settled)..settled]);
    Some(Joined {
        text,
        cuts,
        settled,
    })
}

/// [`replace`] over the joined view of `hay`: `limit` is a joined offset, or `None` for
/// "everything". Returns the raw bytes consumed and the matches replaced.
fn replace_joined(
    ac: &AhoCorasick,
    hay: &[u8],
    before: Option<u8>,
    keep: Option<usize>,
    out: &mut Vec<u8>,
) -> (usize, usize) {
    let Some(joined) = join_lines(hay, before, keep.is_none()) else {
        let limit = keep.map_or(usize::MAX, |k| hay.len().saturating_sub(k));
        return replace(ac, hay, limit, out);
    };
    let text = &joined.text;
    let limit = keep.map_or(usize::MAX, |k| text.len().saturating_sub(k));
    let (mut pos, mut hits) = (0, 0);
    for m in ac.find_iter(&text[..]) {
        if m.start() >= limit {
            break;
        }
        let (start, end) = (joined.raw(m.start()), joined.raw(m.end() - 1) + 1);
        out.extend_from_slice(&hay[pos..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        pos = end;
        hits += 1;
    }
    let end = if limit >= text.len() {
        // Everything decided: up to the end of the settled part.
        joined.settled.max(pos)
    } else {
        joined.raw(limit).max(pos)
    };
    out.extend_from_slice(&hay[pos..end]);
    (end, hits)
}

impl Patterns {
    /// Builds all variants of every secret. Values shorter than
    /// [`MIN_SECRET_LEN`] characters are skipped silently (config refuses them
    /// earlier with [`check_scrubbable`]).
    pub fn new(secrets: &[&str]) -> Patterns {
        let mut pats: Vec<Pat> = secrets
            .iter()
            .filter(|s| check_scrubbable(s).is_ok())
            .flat_map(|s| variants(s))
            .map(|p| match join_lines(&p, None, true) {
                Some(joined) => joined.text,
                None => p,
            })
            .filter(|p| p.len() >= MIN_SECRET_LEN)
            .collect();
        pats.sort_unstable_by(|a, b| a.as_slice().cmp(b.as_slice()));
        pats.dedup_by(|a, b| a.as_slice() == b.as_slice());
        let max_len = pats.iter().map(|p| p.len()).max().unwrap_or(0);
        let matcher = if pats.is_empty() {
            Matcher::Empty
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(pats.iter().map(|p| p.as_slice()))
                .map_or(Matcher::Failed, Matcher::Ac)
        };
        let (matcher, count) = (Arc::new(matcher), pats.len());
        Patterns {
            matcher,
            count,
            max_len,
        }
    }

    /// True if there is nothing to scrub (output passes through unchanged).
    pub fn is_empty(&self) -> bool {
        matches!(*self.matcher, Matcher::Empty)
    }

    /// Longest pattern length in bytes; a [`Stream`] holds back at most
    /// `max_len() - 1` bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// One-shot scrub of a whole buffer. Returns the scrubbed bytes and the
    /// number of matches replaced.
    pub fn scrub(&self, input: &[u8]) -> (Vec<u8>, usize) {
        match &*self.matcher {
            Matcher::Empty => (input.to_vec(), 0),
            Matcher::Failed if input.is_empty() => (Vec::new(), 0),
            Matcher::Failed => (REDACTED.as_bytes().to_vec(), 1),
            Matcher::Ac(ac) => {
                let mut out = Vec::with_capacity(input.len());
                let (_, hits) = replace_joined(ac, input, None, None, &mut out);
                (out, hits)
            }
        }
    }

    /// One-shot scrub of a string; lossless (every pattern is valid UTF-8, so
    /// matches always fall on character boundaries).
    pub fn scrub_str(&self, input: &str) -> (String, usize) {
        let (bytes, hits) = self.scrub(input.as_bytes());
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        (text, hits)
    }

    /// [`Patterns::scrub_str`] that borrows `input` when it holds no secret.
    pub fn scrub_cow<'a>(&self, input: &'a str) -> (Cow<'a, str>, usize) {
        let untouched = match &*self.matcher {
            Matcher::Empty => true,
            Matcher::Failed => input.is_empty(),
            // Lines are joined only across '\n': without one, the text is matched as it is.
            Matcher::Ac(ac) => {
                memchr::memchr(b'\n', input.as_bytes()).is_none() && !ac.is_match(input)
            }
        };
        if untouched {
            return (Cow::Borrowed(input), 0);
        }
        let (text, hits) = self.scrub_str(input);
        (Cow::Owned(text), hits)
    }

    /// Starts a streaming scrubber over these patterns (one per output stream).
    pub fn stream(&self) -> Stream {
        Stream {
            patterns: self.clone(),
            carry: Zeroizing::new(Vec::new()),
            before: None,
            hits: 0,
            saw_input: false,
        }
    }
}

/// Streaming scrubber: feed chunks, get scrubbed output. Holds back at most
/// `max_len - 1` bytes so a match split across chunks is still caught; the
/// concatenated output equals [`Patterns::scrub`] of the concatenated input.
/// Output chunks may split a UTF-8 character.
pub struct Stream {
    patterns: Patterns,
    /// Bytes received but not yet decided (wiped on drop).
    carry: Zeroizing<Vec<u8>>,
    /// The last byte emitted before `carry` (whether a line break at its start is joined).
    before: Option<u8>,
    hits: usize,
    /// Fail-closed mode only: whether any byte was pushed.
    saw_input: bool,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("patterns", &self.patterns)
            .field("held", &self.held())
            .field("hits", &self.hits)
            .finish()
    }
}

impl Stream {
    /// Pushes a chunk; returns the bytes that are safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.push_into(chunk, &mut out);
        out
    }

    /// Pushes a chunk and appends the bytes that are safe to emit now to `out`.
    pub fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        match &*self.patterns.matcher {
            Matcher::Empty => out.extend_from_slice(chunk),
            Matcher::Failed => self.saw_input |= !chunk.is_empty(),
            Matcher::Ac(ac) => {
                let needed = self.carry.len() + chunk.len();
                if self.carry.capacity() < needed {
                    // Grow by hand so the old buffer is wiped, not just freed.
                    let capacity = needed.max(2 * self.carry.capacity());
                    let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
                    grown.extend_from_slice(&self.carry);
                    self.carry = grown;
                }
                self.carry.extend_from_slice(chunk);
                let keep = self.patterns.max_len() - 1;
                let (used, hits) = replace_joined(ac, &self.carry, self.before, Some(keep), out);
                if used > 0 {
                    self.before = Some(self.carry[used - 1]);
                }
                self.carry.drain(..used);
                self.hits += hits;
            }
        }
    }

    /// Ends the stream: returns the remaining scrubbed bytes. The stream may
    /// then be reused for a new input; [`Stream::hits`] keeps counting.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    /// [`Stream::finish`], appending to `out`.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        match &*self.patterns.matcher {
            Matcher::Empty => {}
            Matcher::Failed if !std::mem::take(&mut self.saw_input) => {}
            Matcher::Failed => {
                self.hits += 1;
                out.extend_from_slice(REDACTED.as_bytes());
            }
            Matcher::Ac(ac) => {
                let (_, hits) = replace_joined(ac, &self.carry, self.before, None, out);
                self.carry.clear();
                self.before = None;
                self.hits += hits;
            }
        }
    }

    /// Number of matches replaced so far.
    pub fn hits(&self) -> usize {
        self.hits
    }

    /// Number of bytes currently held back.
    fn held(&self) -> usize {
        self.carry.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Contains every character that JSON, shell and percent-encoding escape.
    const SPECIAL: &str = "s3cr\"et\\p@ss w0rd'$`x";
    const PLAIN: &str = "AKIAxyz0123456789abc";

    fn check(secret: &str, input: &str, forbidden: &[&str]) {
        let p = Patterns::new(&[secret]);
        let (out, hits) = p.scrub_str(input);
        assert!(hits >= 1, "no hit in {input:?}");
        assert!(out.contains(REDACTED));
        for f in forbidden.iter().chain([&secret]) {
            assert!(!out.contains(f), "{f:?} left in {out:?}");
        }
    }

    #[test]
    fn raw() {
        for s in [SPECIAL, PLAIN] {
            check(s, &format!("before {s} after"), &[]);
            check(s, s, &[]);
        }
    }

    #[test]
    fn base64_every_alignment_and_alphabet() {
        for s in [SPECIAL, PLAIN, "\u{fb}\u{ff}\u{fe}>>>??secret"] {
            for pre in ["", "u", "xx", "user:", "ab:cd"] {
                for suf in ["", "y", "yy", "\nzzz"] {
                    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                        let enc = engine.encode(format!("{pre}{s}{suf}"));
                        // Chars whose 6 bits all come from the secret.
                        let first = (8 * pre.len()).div_ceil(6);
                        let last = 8 * (pre.len() + s.len()) / 6;
                        let mut forbidden: Vec<&str> =
                            (first..last - 3).map(|i| &enc[i..i + 4]).collect();
                        forbidden.push(&enc);
                        check(s, &format!("-- Basic {enc} --"), &forbidden);
                    }
                }
            }
        }
    }

    #[test]
    fn hex_both_cases() {
        for s in [SPECIAL, PLAIN] {
            for enc in [hex::encode(s), hex::encode_upper(s)] {
                check(s, &format!("0x{enc}!"), &[&enc]);
            }
        }
    }

    #[test]
    fn percent_and_form() {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let upper = utf8_percent_encode(SPECIAL, NON_ALPHANUMERIC).to_string();
        let form = upper.replace("%20", "+");
        for enc in [&upper, &form] {
            check(SPECIAL, &format!("GET /?token={enc}&x=1"), &[enc]);
        }
        // Lower-case hex digits only (the value's first part is lower case already).
        let parts = upper.split('%').map(|p| p[..2].to_lowercase() + &p[2..]);
        let lower = parts.collect::<Vec<_>>().join("%");
        check(SPECIAL, &format!("?t={lower}"), &[&lower]);
        assert!(lower.contains("%5c"));
    }

    #[test]
    fn encode_uri_component_and_slash_escaped_json() {
        let secret = "sk_(live)!*'/x~y z";
        let p = Patterns::new(&[secret]);
        let js: String = secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let (out, hits) = p.scrub_str(&format!("q={js}&"));
        assert!(hits >= 1 && !out.contains(&js), "{out}");
        let php = serde_json::to_string(secret).unwrap().replace('/', "\\/");
        let (out, hits) = p.scrub_str(&format!("{{\"k\":{php}}}"));
        assert!(hits >= 1 && !out.contains("sk_(live)"), "{out}");
    }

    #[test]
    fn json_escaped() {
        let doc = serde_json::json!({ "token": SPECIAL }).to_string();
        let escaped = serde_json::to_string(SPECIAL).unwrap();
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(escaped.contains("\\\"") && escaped.contains("\\\\"));
        check(SPECIAL, &doc, &[escaped]);
    }

    #[test]
    fn shell_escaped() {
        let dq = SPECIAL.replace('\\', "\\\\").replace('"', "\\\"");
        let dq = dq.replace('$', "\\$").replace('`', "\\`");
        check(SPECIAL, &format!("echo \"{dq}\"\n"), &[&dq]);
        let sq = SPECIAL.replace('\'', "'\\''");
        check(SPECIAL, &format!("echo '{sq}'\n"), &[&sq]);
    }

    #[test]
    fn one_byte_per_push() {
        let p = Patterns::new(&[SPECIAL]);
        let input = format!("x {} y {} z", SPECIAL, hex::encode(SPECIAL));
        let mut st = p.stream();
        let mut out: Vec<u8> = input.bytes().flat_map(|b| st.push(&[b])).collect();
        out.extend(st.finish());
        let expected = b"x [REDACTED] y [REDACTED] z".to_vec();
        assert_eq!((out, st.hits()), (expected, 2));
    }

    #[test]
    fn short_secret_refused_and_ignored() {
        let err = check_scrubbable("hunter2").unwrap_err();
        assert_eq!(err, ScrubError::TooShort { len: 7, min: 8 });
        assert_eq!(
            err.to_string(),
            "a secret value is 7 characters long; values shorter than 8 cannot be scrubbed safely"
        );
        assert!(check_scrubbable("hunter22").is_ok());
        let p = Patterns::new(&["hunter2", ""]);
        assert!(p.is_empty());
        assert_eq!(p.scrub(b"hunter2"), (b"hunter2".to_vec(), 0));
        let mut st = p.stream();
        assert_eq!(st.push(b"abc"), b"abc");
        assert!(st.finish().is_empty());
    }

    #[test]
    fn utf8_lossless() {
        let s = "pässwörd-ключ";
        let (out, hits) = Patterns::new(&[s]).scrub_str(&format!("é {s} — ✓"));
        assert_eq!((out.as_str(), hits), ("é [REDACTED] — ✓", 1));
    }

    #[test]
    fn debug_never_prints_secrets() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<(Patterns, Stream)>();
        let p = Patterns::new(&[SPECIAL, PLAIN]);
        let mut st = p.stream();
        st.push(&PLAIN.as_bytes()[..15]);
        let dbg = format!("{p:?} {st:?} {p:#?} {st:#?}");
        let (hex, b64) = (hex::encode(PLAIN), STANDARD.encode(PLAIN));
        for s in [SPECIAL, PLAIN, &PLAIN[..8], &hex, &b64] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        assert!(dbg.contains("held: 15"));
    }

    #[test]
    fn large_input_bounded_carry() {
        let p = Patterns::new(&[SPECIAL, PLAIN]);
        let mut input = Vec::with_capacity(4 << 20);
        let mut i = 0u32;
        while input.len() < 4 << 20 {
            input.extend_from_slice(format!("line {i} ").as_bytes());
            if i.is_multiple_of(97) {
                input.extend_from_slice(STANDARD.encode(format!("u:{PLAIN}")).as_bytes());
            }
            i += 1;
        }
        let mut st = p.stream();
        let mut out = Vec::new();
        for chunk in input.chunks(65_521) {
            out.extend(st.push(chunk));
            assert!(st.held() < p.max_len());
        }
        out.extend(st.finish());
        let (expected, hits) = p.scrub(&input);
        assert_eq!(out, expected);
        assert_eq!(st.hits(), hits);
        assert!(hits > 1000);
    }

    /// Secrets avoid the characters of `[REDACTED]` so no replacement can re-form one.
    fn secrets() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[ab$\"'\\\\ /+é]{8,24}", 1..4)
    }

    #[test]
    fn wrapped_base64_and_multiline_secrets() {
        let secret = "tok_Wr4pped-Secret-0123456789abcdefXYZ";
        let p = Patterns::new(&[secret]);
        for pre in 0..80 {
            let prefix = "x".repeat(pre);
            let enc = STANDARD.encode(format!("{prefix}{secret}!"));
            for width in [76, 64, 60] {
                for eol in ["\n", "\r\n"] {
                    let wrapped: Vec<&str> = enc
                        .as_bytes()
                        .chunks(width)
                        .map(|c| std::str::from_utf8(c).unwrap())
                        .collect();
                    let input = format!("head\n{}\ntail\n", wrapped.join(eol));
                    let (out, hits) = p.scrub_str(&input);
                    assert!(hits >= 1, "{pre}/{width}: {out}");
                    let joined = out.replace(eol, "");
                    let first = (8 * pre).div_ceil(6);
                    let last = 8 * (pre + secret.len()) / 6;
                    for w in (first..last - 8).map(|i| &enc[i..i + 8]) {
                        assert!(!joined.contains(w), "{pre}/{width}: {w} in {out}");
                    }
                    // Only the lines the secret touched changed; the rest is intact.
                    assert!(
                        out.starts_with("head\n") && out.ends_with("\ntail\n"),
                        "{out}"
                    );
                }
            }
        }
        // A PEM key matches whatever its line endings, and lines that are not base64 are
        // left alone.
        let pem = "-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA0igogaTPhgp\nGkS0H7r4Nusfb92EZk6i9Yc6k\n-----END KEY-----";
        let p = Patterns::new(&[pem]);
        let crlf = pem.replace('\n', "\r\n");
        let (out, hits) = p.scrub_str(&format!("key:\r\n{crlf}\r\nok"));
        assert_eq!((out.as_str(), hits), ("key:\r\n[REDACTED]\r\nok", 1));
        // `xxd -p` wraps hex at 60 columns; hex digits are base64 bytes, so it is joined too.
        let hex = hex::encode(format!("{}{secret}", "z".repeat(23)));
        let wrapped: Vec<&str> = hex
            .as_bytes()
            .chunks(60)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let (out, hits) = Patterns::new(&[secret]).scrub_str(&wrapped.join("\n"));
        assert!(
            hits >= 1 && !out.replace('\n', "").contains(&hex::encode(secret)),
            "{out}"
        );
        let plain = Patterns::new(&["abcdefgh12345678"]);
        assert_eq!(
            plain.scrub_str("line one\nline two\n").0,
            "line one\nline two\n"
        );
        assert_eq!(plain.scrub_str("abcdefgh\n12345678\n").1, 1);
    }

    /// Input piece: (kind, secret index, variant index, noise).
    type Piece = (u8, usize, prop::sample::Index, String);

    fn pieces() -> impl Strategy<Value = Vec<Piece>> {
        prop::collection::vec(
            (
                0..6u8,
                0..4usize,
                any::<prop::sample::Index>(),
                "[ab$\"'\\\\ /+=A-F0-9%é\r\n-]{0,10}",
            ),
            0..12,
        )
    }

    fn build(secrets: &[String], pieces: &[Piece]) -> Vec<u8> {
        let mut input = Vec::new();
        for (kind, i, idx, noise) in pieces {
            let s = &secrets[i % secrets.len()];
            match kind {
                0 => input.extend_from_slice(s.as_bytes()),
                1 => input.extend_from_slice(&idx.get(&variants(s))[..]),
                2 => input
                    .extend_from_slice(STANDARD.encode(format!("{noise}{s}{noise}")).as_bytes()),
                // Wrapped base64, at a width and line ending the noise picks.
                3 => {
                    let enc = STANDARD.encode(format!("{noise}{s}"));
                    let width = 4 + noise.len() % 7;
                    let eol: &[u8] = if noise.len() % 2 == 0 { b"\n" } else { b"\r\n" };
                    for (n, line) in enc.as_bytes().chunks(width).enumerate() {
                        if n > 0 {
                            input.extend_from_slice(eol);
                        }
                        input.extend_from_slice(line);
                    }
                }
                _ => input.extend_from_slice(noise.as_bytes()),
            }
        }
        input
    }

    proptest! {
        #[test]
        fn chunking_never_changes_output(
            secrets in secrets(),
            pieces in pieces(),
            sizes in prop::collection::vec(0..40usize, 1..20),
        ) {
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let p = Patterns::new(&refs);
            let input = build(&secrets, &pieces);
            let (expected, hits) = p.scrub(&input);
            let mut st = p.stream();
            let (mut out, mut rest) = (Vec::new(), &input[..]);
            for size in sizes.iter().cycle().take(input.len() + 1) {
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                out.extend(st.push(chunk));
                // At most L - 1 joined bytes, the line breaks among them, and one
                // undecided line break.
                let breaks = st.carry.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
                prop_assert!(st.held() < p.max_len() + 2 * breaks + 2);
                rest = tail;
            }
            out.extend(st.push(rest));
            out.extend(st.finish());
            prop_assert_eq!(out, expected);
            prop_assert_eq!(st.hits(), hits);
        }

        #[test]
        fn scrub_cow_is_scrub_str_and_borrows_only_clean_text(
            secrets in secrets(),
            pieces in pieces(),
        ) {
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let p = Patterns::new(&refs);
            let input = String::from_utf8(build(&secrets, &pieces)).unwrap();
            let (out, hits) = p.scrub_cow(&input);
            let (expected, expected_hits) = p.scrub_str(&input);
            prop_assert_eq!(hits, expected_hits);
            prop_assert_eq!(out.as_ref(), expected.as_str());
            if matches!(out, Cow::Borrowed(_)) {
                prop_assert_eq!(hits, 0);
            }
        }

        #[test]
        fn raw_secret_never_survives(secrets in secrets(), pieces in pieces()) {
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let input = String::from_utf8(build(&secrets, &pieces)).unwrap();
            let (out, _) = Patterns::new(&refs).scrub_str(&input);
            for s in &secrets {
                prop_assert!(!out.contains(s.as_str()), "{:?} in {:?}", s, out);
            }
        }
    }
}
