//! JSON encoding of values that carry one large string (an upstream body, a tool result text):
//! the value is serialised by serde with a placeholder in place of the string, and the string is
//! escaped straight into the output (or, by [`split`] and [`escape_into`], piece by piece into
//! a stream). The text is exactly what `serde_json::to_string` produces, without serde's copies
//! through a buffer that grows by doubling, and with a table-driven escaper that handles eight
//! plain bytes at a time.
//!
//! A tool result text that holds JSON is escaped twice on its way out (once into the text, once
//! into the JSON-RPC message). [`deferred_text`] leaves the large string out of the text, so
//! that Janee's own message encoder escapes it twice in a single pass ([`escape_twice_into`]).

use rmcp::model::{JsonObject, MetaObject, TextContent};
use serde::Serialize;
use serde_json::Value;

/// Stands in for the large string while serde encodes the rest. Control characters keep it
/// from occurring in any header, path or name, and it is checked to occur exactly once.
const PLACEHOLDER: &str = "\u{1}janee:large-string\u{1}";
/// `PLACEHOLDER` as serde_json writes it, quotes included.
const PLACEHOLDER_JSON: &str = "\"\\u0001janee:large-string\\u0001\"";

/// Strings shorter than this go through serde as they are.
pub(crate) const LARGE: usize = 64 * 1024;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The JSON of `value`, in which `PLACEHOLDER` (from [`placeholder`]) stands where `large`
/// belongs, as if `large` had been there: `Some(json)` equal to `serde_json::to_string` of that
/// value, or `None` if the encoding failed or the placeholder was not found exactly once.
pub(crate) fn to_string_with<T: Serialize + ?Sized>(value: &T, large: &str) -> Option<String> {
    splice(&serde_json::to_string(value).ok()?, large)
}

/// `shell` (JSON holding the placeholder exactly once) with `large` in the placeholder's
/// place, or `None` unless the placeholder occurs exactly once.
pub(crate) fn splice(shell: &str, large: &str) -> Option<String> {
    let (before, after) = split(shell)?;
    // Room for a few escapes; more only costs one reallocation.
    let mut out = Vec::with_capacity(shell.len() + large.len() + large.len() / 4);
    out.extend_from_slice(before.as_bytes());
    out.push(b'"');
    escape_into(&mut out, large.as_bytes());
    out.push(b'"');
    out.extend_from_slice(after.as_bytes());
    // Escaping replaces ASCII bytes with ASCII, so the text is as valid UTF-8 as its parts.
    String::from_utf8(out).ok()
}

/// `json` (an encoding that holds the placeholder) cut around the placeholder and its quotes,
/// or `None` unless it occurs exactly once.
pub(crate) fn split(json: &str) -> Option<(&str, &str)> {
    let (before, after) = json.split_once(PLACEHOLDER_JSON)?;
    (!after.contains(PLACEHOLDER_JSON)).then_some((before, after))
}

pub(crate) fn placeholder() -> String {
    PLACEHOLDER.to_string()
}

/// The `_meta` key under which a deferred text's large string travels to the encoder.
const DEFERRED: &str = "janee/deferred-string";

/// A text block for the JSON of `value` (which holds the [`placeholder`]) with `large` in the
/// placeholder's place, left unspliced: the text is the JSON with the placeholder, and `large`
/// rides in the block's `_meta` until [`take_deferred`] takes it out again. Only for results
/// that Janee's own encoder writes (it splices `large` in as it writes); `Err(large)` if the
/// value does not encode with the placeholder exactly once.
pub(crate) fn deferred_text<T: Serialize + ?Sized>(
    value: &T,
    large: String,
) -> Result<TextContent, String> {
    let Some(shell) = serde_json::to_string(value)
        .ok()
        .filter(|shell| split(shell).is_some())
    else {
        return Err(large);
    };
    let mut meta = JsonObject::new();
    meta.insert(DEFERRED.to_string(), Value::String(large));
    let mut block = TextContent::new(shell);
    block.meta = Some(MetaObject(meta));
    Ok(block)
}

/// The large string of a block made by [`deferred_text`], taken out of it (the block keeps the
/// text with the placeholder, and no `_meta`); `None` for any other block.
pub(crate) fn take_deferred(block: &mut TextContent) -> Option<String> {
    let meta = &mut block.meta.as_mut()?.0;
    if meta.len() != 1 || !matches!(meta.get(DEFERRED), Some(Value::String(_))) {
        return None;
    }
    let Some(Value::String(large)) = meta.remove(DEFERRED) else {
        return None;
    };
    block.meta = None;
    Some(large)
}

/// What serde_json writes for each byte inside a string: 0 for the byte itself, `u` for
/// `\u00XX`, else the letter after the backslash.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Per input byte, the bytes written for it (up to seven) and, in the last slot, their count.
/// Writing all eight and advancing by the count keeps the loop free of branches.
type Table = [[u8; 8]; 256];

/// Each byte as serde_json writes it inside a string.
static ONCE: Table = table(false);
/// Each byte as it ends up when the string it is escaped into is itself escaped into another
/// JSON string (a tool result text holding JSON): `"` becomes `\\\"`, a newline `\\n`.
static TWICE: Table = table(true);

const fn table(twice: bool) -> Table {
    let mut t = [[0u8; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let once = escaped_once(b as u8);
        t[b] = if twice { escaped_again(once) } else { once };
        b += 1;
    }
    t
}

const fn escaped_once(b: u8) -> [u8; 8] {
    match ESCAPE[b as usize] {
        0 => [b, 0, 0, 0, 0, 0, 0, 1],
        b'u' => [
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
            0,
            6,
        ],
        letter => [b'\\', letter, 0, 0, 0, 0, 0, 2],
    }
}

/// An entry of [`ONCE`] escaped once more (its bytes are ASCII; only `\\` and `"` change).
const fn escaped_again(once: [u8; 8]) -> [u8; 8] {
    let mut e = [0u8; 8];
    let (mut i, mut n) = (0, 0);
    while i < once[7] as usize {
        if once[i] == b'\\' || once[i] == b'"' {
            e[n] = b'\\';
            n += 1;
        }
        e[n] = once[i];
        n += 1;
        i += 1;
    }
    e[7] = n as u8;
    e
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each of eight bytes (little-endian) that needs escaping: below 0x20, `"`
/// or `\\`. Exact for the lowest flagged byte (a borrow only runs upward, so bytes above it may
/// be flagged too); zero exactly when none needs escaping. Bytes of 0x80 and up are plain.
fn escapes(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    (w.wrapping_sub(ONES * 0x20) & !w
        | quote.wrapping_sub(ONES) & !quote
        | backslash.wrapping_sub(ONES) & !backslash)
        & HIGHS
}

/// Bytes staged on the stack before they are appended to the output.
const STAGE: usize = 8 * 1024;
/// Room kept free in the stage: the most one word writes (eight entries of up to seven bytes,
/// and the eight bytes staged after the last).
const SLACK: usize = 8 * 8 + 8;

fn escape_with(out: &mut Vec<u8>, input: &[u8], table: &Table) {
    out.reserve(input.len() + input.len() / 8);
    let mut stage = [0u8; STAGE];
    let mut pos = 0;
    let mut i = 0;
    // Eight bytes at a time. The word is staged whole; each flagged byte is then replaced by its
    // entry and the rest of the word staged again after it. A flag may be false (the test can
    // flag a byte after one that truly needs escaping), which costs nothing: a plain byte's
    // entry is itself. Bytes not flagged never need escaping.
    while i + 8 <= input.len() {
        if pos > STAGE - SLACK {
            out.extend_from_slice(&stage[..pos]);
            pos = 0;
        }
        let bytes: [u8; 8] = input[i..i + 8].try_into().unwrap_or_default();
        let word = u64::from_le_bytes(bytes);
        let mut flagged = escapes(word);
        stage[pos..pos + 8].copy_from_slice(&bytes);
        i += 8;
        if flagged == 0 {
            pos += 8;
            continue;
        }
        let mut done = 0;
        while flagged != 0 {
            let k = (flagged.trailing_zeros() / 8) as usize;
            pos += k - done;
            let e = &table[usize::from(bytes[k])];
            stage[pos..pos + 8].copy_from_slice(e);
            pos += usize::from(e[7]);
            done = k + 1;
            flagged &= flagged - 1;
            if done < 8 {
                stage[pos..pos + 8].copy_from_slice(&(word >> (8 * done)).to_le_bytes());
            }
        }
        pos += 8 - done;
    }
    if pos > STAGE - SLACK {
        out.extend_from_slice(&stage[..pos]);
        pos = 0;
    }
    for &b in &input[i..] {
        let e = &table[usize::from(b)];
        stage[pos..pos + 8].copy_from_slice(e);
        pos += usize::from(e[7]);
    }
    out.extend_from_slice(&stage[..pos]);
}

/// Append `s` escaped exactly as serde_json escapes string contents. Only ASCII bytes change,
/// so `s` may be any piece of a string, cut anywhere.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, &ONCE);
}

/// Append `s` escaped twice: what escaping the output of [`escape_into`] would append.
pub(crate) fn escape_twice_into(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, &TWICE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde_escaped(s: &str) -> String {
        let v = serde_json::to_string(s).unwrap();
        v[1..v.len() - 1].to_string()
    }

    #[test]
    fn every_ascii_byte_escapes_like_serde() {
        let all: String = (0u8..128).map(char::from).collect();
        for s in [all.as_str(), "", "plain", "a\"b\\c\u{7f}é😀\u{2028}"] {
            let mut out = Vec::new();
            escape_into(&mut out, s.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), serde_escaped(s), "{s:?}");
            let mut twice = Vec::new();
            escape_twice_into(&mut twice, s.as_bytes());
            assert_eq!(
                String::from_utf8(twice).unwrap(),
                serde_escaped(&serde_escaped(s)),
                "{s:?}"
            );
        }
    }

    #[test]
    fn every_byte_at_every_offset_of_a_word_escapes_like_serde() {
        for c in (0u8..128).map(char::from).chain(['é', '😀']) {
            for offset in 0..17 {
                for tail in ["", "\u{0}\"\\x", "plain text é", "\u{1f}\u{1f}"] {
                    let s = format!(
                        "{}{c}{tail}{c}",
                        "é".repeat(offset % 3) + &"a".repeat(offset)
                    );
                    let mut once = Vec::new();
                    escape_into(&mut once, s.as_bytes());
                    assert_eq!(String::from_utf8(once).unwrap(), serde_escaped(&s), "{s:?}");
                    let mut twice = Vec::new();
                    escape_twice_into(&mut twice, s.as_bytes());
                    assert_eq!(
                        String::from_utf8(twice).unwrap(),
                        serde_escaped(&serde_escaped(&s)),
                        "{s:?}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn escapes_like_serde(s in ".*", pad in 0usize..16) {
            let s = format!("{}{s}{}", "x".repeat(pad), "\"\n".repeat(pad % 3));
            let mut out = Vec::new();
            escape_into(&mut out, s.as_bytes());
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_escaped(&s));
            let mut twice = Vec::new();
            escape_twice_into(&mut twice, s.as_bytes());
            prop_assert_eq!(String::from_utf8(twice).unwrap(), serde_escaped(&serde_escaped(&s)));
        }

        #[test]
        fn splices_like_serde(body in ".*", status in 100u16..600) {
            #[derive(Serialize)]
            struct R<'a> { status: u16, body: &'a str, tail: bool }
            let holder = placeholder();
            let shell = R { status, body: &holder, tail: true };
            let got = to_string_with(&shell, &body).unwrap();
            let want = serde_json::to_string(&R { status, body: &body, tail: true }).unwrap();
            prop_assert_eq!(got, want);
        }
    }
}
