//! JSON encoding of values that carry one large string (an upstream body, a tool result text):
//! the value is serialised by serde with a placeholder in place of the string, and the string is
//! escaped straight into the output, eight bytes at a time where nothing needs escaping. The
//! bytes are exactly those `serde_json::to_vec` produces, at a fraction of the cost, and the
//! output is allocated once at its final size.

use serde::Serialize;

/// Stands in for the large string while serde encodes the rest. Control characters keep it
/// from occurring in any header, path or name, and it is checked to occur exactly once.
const PLACEHOLDER: &str = "\u{1}janee:large-string\u{1}";
/// `PLACEHOLDER` as serde_json writes it, quotes included.
const PLACEHOLDER_JSON: &[u8] = b"\"\\u0001janee:large-string\\u0001\"";

/// Strings shorter than this go through serde as they are.
pub(crate) const LARGE: usize = 64 * 1024;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The JSON of `value`, in which `set(value, PLACEHOLDER)` put the placeholder where `large`
/// belongs, as if `large` had been there: `Some(bytes)` equal to `serde_json::to_vec` of that
/// value, or `None` if the encoding failed or the placeholder was not found exactly once.
/// `extra` bytes are reserved at the end (a newline).
pub(crate) fn to_vec_with<T: Serialize + ?Sized>(
    value: &T,
    large: &str,
    extra: usize,
) -> Option<Vec<u8>> {
    let shell = serde_json::to_vec(value).ok()?;
    let at = find(&shell, PLACEHOLDER_JSON)?;
    let after = at + PLACEHOLDER_JSON.len();
    if find(&shell[after..], PLACEHOLDER_JSON).is_some() {
        return None;
    }
    let mut out =
        Vec::with_capacity(shell.len() - PLACEHOLDER_JSON.len() + escaped_len(large) + 2 + extra);
    out.extend_from_slice(&shell[..at]);
    out.push(b'"');
    push_escaped(&mut out, large);
    out.push(b'"');
    out.extend_from_slice(&shell[after..]);
    Some(out)
}

pub(crate) fn placeholder() -> String {
    PLACEHOLDER.to_string()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes serde_json escapes inside a string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Index of the first byte of `bytes` that needs escaping, or `bytes.len()`.
fn next_escape(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Whether any byte is < 0x20, is '"' or is '\\' (exact as a yes/no answer).
        let below = x.wrapping_sub(ONES * 0x20) & !x;
        let quote =
            (x ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES) & !(x ^ (ONES * u64::from(b'"')));
        let slash =
            (x ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES) & !(x ^ (ONES * u64::from(b'\\')));
        if (below | quote | slash) & HIGH != 0 {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

/// Length of `s` escaped as serde_json escapes it (without quotes).
fn escaped_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = bytes.len();
    let mut i = 0;
    loop {
        i += next_escape(&bytes[i..]);
        let Some(&b) = bytes.get(i) else {
            return len;
        };
        len += match b {
            b'"' | b'\\' | b'\x08' | b'\x0c' | b'\n' | b'\r' | b'\t' => 1,
            _ => 5,
        };
        i += 1;
    }
}

/// Append `s` escaped exactly as serde_json escapes string contents.
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let run = next_escape(&bytes[i..]);
        out.extend_from_slice(&bytes[i..i + run]);
        i += run;
        let Some(&b) = bytes.get(i) else {
            return;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde_escaped(s: &str) -> Vec<u8> {
        let v = serde_json::to_vec(s).unwrap();
        v[1..v.len() - 1].to_vec()
    }

    #[test]
    fn every_ascii_byte_escapes_like_serde() {
        let all: String = (0u8..128).map(char::from).collect();
        for s in [all.as_str(), "", "plain", "a\"b\\c\u{7f}é😀\u{2028}"] {
            let mut out = Vec::new();
            push_escaped(&mut out, s);
            assert_eq!(out, serde_escaped(s), "{s:?}");
            assert_eq!(escaped_len(s), out.len());
        }
    }

    proptest! {
        #[test]
        fn escapes_like_serde(s in ".*", pad in 0usize..16) {
            let s = format!("{}{s}{}", "x".repeat(pad), "\"\n".repeat(pad % 3));
            let mut out = Vec::new();
            push_escaped(&mut out, &s);
            prop_assert_eq!(&out, &serde_escaped(&s));
            prop_assert_eq!(escaped_len(&s), out.len());
        }

        #[test]
        fn splices_like_serde(body in ".*", status in 100u16..600) {
            #[derive(Serialize)]
            struct R<'a> { status: u16, body: &'a str, tail: bool }
            let holder = placeholder();
            let shell = R { status, body: &holder, tail: true };
            let got = to_vec_with(&shell, &body, 1).unwrap();
            let want = serde_json::to_vec(&R { status, body: &body, tail: true }).unwrap();
            prop_assert_eq!(got, want);
        }
    }
}
