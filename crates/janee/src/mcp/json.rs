//! JSON encoding of values that carry one large string (an upstream body, a tool result text):
//! the value is serialised by serde with a placeholder in place of the string, and the string is
//! escaped straight into the output (or, by [`split`] and [`push_escaped`], piece by piece into
//! a stream). The text is exactly what `serde_json::to_string` produces, without serde's copies
//! through a buffer that grows by doubling.

use serde::Serialize;

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
    let shell = serde_json::to_string(value).ok()?;
    let (before, after) = split(&shell)?;
    // Room for a few escapes; more only costs one reallocation.
    let mut out = String::with_capacity(shell.len() + large.len() + large.len() / 4);
    out.push_str(before);
    out.push('"');
    push_escaped(&mut out, large);
    out.push('"');
    out.push_str(after);
    Some(out)
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

/// What serde_json writes for each byte inside a string: 0 for the byte itself, `u` for
/// `\u00XX`, else the letter after the backslash.
static ESCAPE: [u8; 256] = {
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

/// Append `s` escaped exactly as serde_json escapes string contents.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let e = ESCAPE[usize::from(b)];
        if e == 0 {
            continue;
        }
        // Cuts fall on ASCII bytes only, so every run is whole UTF-8.
        out.push_str(&s[start..i]);
        out.push('\\');
        if e == b'u' {
            out.push_str("u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push(char::from(e));
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
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
            let mut out = String::new();
            push_escaped(&mut out, s);
            assert_eq!(out, serde_escaped(s), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn escapes_like_serde(s in ".*", pad in 0usize..16) {
            let s = format!("{}{s}{}", "x".repeat(pad), "\"\n".repeat(pad % 3));
            let mut out = String::new();
            push_escaped(&mut out, &s);
            prop_assert_eq!(&out, &serde_escaped(&s));
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
