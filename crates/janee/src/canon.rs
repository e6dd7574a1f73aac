//! Request-target canonicalisation and policy-rule matching.
//!
//! Contract: canonicalise once, match, send exactly what was matched. The agent
//! is assumed hostile, so anything a proxy and an upstream could read
//! differently is rejected rather than repaired:
//!
//! * Raw input must be printable ASCII (agents percent-encode the rest); `#`,
//!   `\`, control characters, a scheme (`http:`), `//host`, empty segments
//!   (`//`) and `;` (matrix parameters, a known Tomcat/Spring/Envoy bypass,
//!   also as `%3B`) are rejected.
//! * In the path, escapes of unreserved characters are decoded (`%41` -> `A`); `%2E`,
//!   `%2F`, `%5C`, control characters and double encoding (`%25` + two hex
//!   digits, also when produced by decoding) are rejected; other escapes are
//!   kept with upper-case hex, so `%3F` never becomes a `?`. Escapes in the
//!   path must decode to valid UTF-8 (no overlong `%C0%AE` "dots").
//! * Segments made only of dots and spaces other than `.`/`..` (`...`, `.. `)
//!   are rejected (Windows/IIS trim them). `.` and `..` are resolved (RFC 3986
//!   5.2.4); a `..` above the service root is rejected.
//! * Characters that HTTP clients would escape anyway (space, `"<>`{}|^[]`)
//!   are escaped here, so the matched string is byte-for-byte the wire string.
//! * `@` and `:` are harmless: the target always starts with a single `/`, so
//!   it is never parsed for an authority.
//! * Path matching is case-sensitive (HTTP semantics); escape case cannot
//!   matter because escapes are normalised to upper case.
//! * The query is never decoded except for unreserved characters (RFC 3986
//!   6.2.2.2 equivalence), so `?debug=tru%65` cannot dodge a deny rule; `'`
//!   is escaped there as the `url` crate would. Empty query = no query.
//! * Deny rules are matched conservatively ([`Rule::matches_for_deny`]);
//!   rule patterns that could never match a canonical target are rejected.

use std::fmt;

/// Maximum length in bytes of a raw request target and of its canonical form.
pub const MAX_PATH_LEN: usize = 8192;

/// A request target that passed canonicalisation. Only [`canonicalize`] can build it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    full: String,
    path_len: usize,
}

impl CanonicalPath {
    /// Path relative to the service, starting with '/', no query, e.g. "/v1/charges/ch_1".
    pub fn path(&self) -> &str {
        &self.full[..self.path_len]
    }

    /// The normalised query string without '?', if any (never empty).
    pub fn query(&self) -> Option<&str> {
        self.full.get(self.path_len + 1..)
    }

    /// Path plus "?query": the string rules are matched against and the audit log records.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The full path for the wire: `base_path` (without leading/trailing '/') joined
    /// with the canonical path. Always starts with exactly one '/'.
    pub fn wire_path(&self, base_path: &str) -> String {
        let base = base_path.trim_matches('/');
        let mut out = String::with_capacity(base.len() + self.full.len() + 1);
        if !base.is_empty() {
            out.push('/');
            out.push_str(base);
        }
        out.push_str(&self.full);
        out
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Why a request target was rejected. Messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path is longer than {} bytes", MAX_PATH_LEN)]
    TooLong,
    #[error("the path contains a non-ASCII character; percent-encode it as UTF-8")]
    NonAscii,
    #[error("the path contains a control character (raw or percent-encoded)")]
    ControlChar,
    #[error("the path contains a fragment marker '#'")]
    Fragment,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path must start with '/' (a path relative to the service)")]
    NotAbsolute,
    #[error("the path is an absolute URL; give only the path relative to the service")]
    AbsoluteUrl,
    #[error("the path starts with '//', which would name another host")]
    NetworkPath,
    #[error("the path contains an empty segment ('//')")]
    EmptySegment,
    #[error("the path contains ';' (matrix parameters), raw or encoded as %3B")]
    MatrixParam,
    #[error("the path contains an invalid percent-escape (expected '%' and two hex digits)")]
    BadEscape,
    #[error("the path contains an encoded slash or backslash (%2F or %5C)")]
    EncodedSeparator,
    #[error("the path contains an encoded dot (%2E)")]
    EncodedDot,
    #[error("the path is double percent-encoded (%25 followed by two hex digits)")]
    DoubleEncoding,
    #[error("the path's percent-escapes do not decode to valid UTF-8")]
    InvalidUtf8,
    #[error("the path contains an ambiguous dot segment such as '...' or '.. '")]
    AmbiguousDotSegment,
    #[error("the path climbs above the service base path with '..'")]
    ClimbsAboveBase,
}

/// Canonicalise the agent-supplied `raw` request target (may include `?query`).
pub fn canonicalize(raw: &str) -> Result<CanonicalPath, PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    for b in raw.bytes() {
        match b {
            0x80.. => return Err(PathError::NonAscii),
            0..=0x1F | 0x7F => return Err(PathError::ControlChar),
            b'#' => return Err(PathError::Fragment),
            b'\\' => return Err(PathError::Backslash),
            _ => {}
        }
    }
    if !raw.starts_with('/') {
        return Err(if has_scheme(raw) {
            PathError::AbsoluteUrl
        } else {
            PathError::NotAbsolute
        });
    }
    if raw.starts_with("//") {
        return Err(PathError::NetworkPath);
    }
    let (raw_path, raw_query) = raw
        .split_once('?')
        .map_or((raw, None), |(p, q)| (p, Some(q)));
    let mut full = canon_path(raw_path)?;
    let path_len = full.len();
    if let Some(q) = raw_query {
        let q = normalize(q, false)?;
        if !q.is_empty() {
            full.push('?');
            full.push_str(&q);
        }
    }
    if full.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    Ok(CanonicalPath { full, path_len })
}

fn has_scheme(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, _)| {
        let mut b = scheme.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphabetic())
            && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode the escape starting at `bytes[i] == b'%'`.
fn escape_at(bytes: &[u8], i: usize) -> Result<u8, PathError> {
    let hi = bytes.get(i + 1).copied().and_then(hex_val);
    let lo = bytes.get(i + 2).copied().and_then(hex_val);
    match (hi, lo) {
        (Some(h), Some(l)) => Ok(h << 4 | l),
        _ => Err(PathError::BadEscape),
    }
}

fn push_escape(out: &mut String, v: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(v >> 4)]));
    out.push(char::from(HEX[usize::from(v & 0x0F)]));
}

/// Unreserved characters other than '.', which are decoded from escapes.
fn is_unreserved_no_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~')
}

/// Printable characters RFC 3986 does not allow raw; escaped so the wire form is ours.
fn must_encode(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^' | b'[' | b']'
    )
}

/// Reject `%25` followed by two hex digits in an already-normalised string.
fn check_double_encoding(s: &str) -> Result<(), PathError> {
    let double = s
        .as_bytes()
        .windows(5)
        .any(|w| &w[..3] == b"%25" && hex_val(w[3]).is_some() && hex_val(w[4]).is_some());
    if double {
        Err(PathError::DoubleEncoding)
    } else {
        Ok(())
    }
}

/// `p` starts with '/' (and not "//") and contains no '?'.
fn canon_path(p: &str) -> Result<String, PathError> {
    let raw_segs: Vec<&str> = p[1..].split('/').collect();
    let n = raw_segs.len();
    let mut stack: Vec<String> = Vec::with_capacity(n);
    let mut trailing_slash = false;
    for (i, raw) in raw_segs.into_iter().enumerate() {
        let last = i + 1 == n;
        if raw.is_empty() {
            if !last {
                return Err(PathError::EmptySegment);
            }
            trailing_slash = true;
            continue;
        }
        let seg = normalize(raw, true)?;
        match seg.as_str() {
            "." => trailing_slash = last,
            ".." => {
                stack.pop().ok_or(PathError::ClimbsAboveBase)?;
                trailing_slash = last;
            }
            _ => {
                let stripped = seg.replace("%20", "");
                if stripped.bytes().all(|b| b == b'.') && stripped.contains('.') {
                    return Err(PathError::AmbiguousDotSegment);
                }
                stack.push(seg);
            }
        }
    }
    let mut out = String::with_capacity(p.len());
    for seg in &stack {
        out.push('/');
        out.push_str(seg);
    }
    if trailing_slash || stack.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Normalise one path segment (`in_path`) or the whole query (never decoded beyond
/// unreserved characters; `;`, `%2F`, `%2E`, `%5C` and encoded controls are fine there).
fn normalize(raw: &str, in_path: bool) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = b == b'%';
        let v = if escaped { escape_at(bytes, i)? } else { b };
        i += if escaped { 3 } else { 1 };
        decoded.push(v);
        match v {
            b';' if in_path => return Err(PathError::MatrixParam),
            b'/' | b'\\' if in_path && escaped => return Err(PathError::EncodedSeparator),
            b'.' if in_path && escaped => return Err(PathError::EncodedDot),
            // Raw control characters were rejected earlier, so these are escapes.
            0 => return Err(PathError::ControlChar),
            0..=0x1F | 0x7F if in_path => return Err(PathError::ControlChar),
            _ if escaped && (v == b'.' || is_unreserved_no_dot(v)) => out.push(char::from(v)),
            // The url crate escapes `'` in http(s) queries; do it here so the wire matches.
            _ if escaped || must_encode(v) || (v == b'\'' && !in_path) => push_escape(&mut out, v),
            _ => out.push(char::from(v)),
        }
    }
    if in_path && std::str::from_utf8(&decoded).is_err() {
        return Err(PathError::InvalidUtf8);
    }
    check_double_encoding(&out)?;
    Ok(out)
}

/// One policy rule "METHOD PATTERN".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Upper-cased method; `None` means `*` (any method).
    method: Option<String>,
    pattern: String,
}

/// Why a rule string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a rule must be two words \"METHOD PATH\", e.g. \"GET /v1/charges*\"")]
    Malformed,
    #[error("the rule method must be '*' or up to 32 letters, digits, '-' or '_'")]
    BadMethod,
    #[error("the rule path must start with '/' or '*'")]
    PatternNotAbsolute,
    #[error("the rule path contains {0:?}, which never appears raw in a canonical path")]
    BadPatternChar(char),
    #[error("the rule path contains '..'; canonical paths never contain dot segments")]
    DotDot,
    #[error("the rule path contains '//' or a '.' segment, which canonical paths never contain")]
    EmptyOrDotSegment,
    #[error("the rule is longer than {} bytes", MAX_PATH_LEN)]
    TooLong,
}

fn pattern_char_ok(c: char) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            '%' | '\\' | '#' | ';' | '"' | '<' | '>' | '`' | '{' | '}' | '|' | '^' | '[' | ']'
        )
}

impl Rule {
    /// Parse "METHOD PATTERN", e.g. "GET /v1/*", "* /admin*", "post /x".
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        if text.len() > MAX_PATH_LEN {
            return Err(RuleError::TooLong);
        }
        let mut parts = text.split_ascii_whitespace();
        let (Some(m), Some(p), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(RuleError::Malformed);
        };
        let method = if m == "*" {
            None
        } else if m.len() <= 32
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            Some(m.to_ascii_uppercase())
        } else {
            return Err(RuleError::BadMethod);
        };
        if !(p.starts_with('/') || p.starts_with('*')) {
            return Err(RuleError::PatternNotAbsolute);
        }
        if let Some(c) = p.chars().find(|&c| !pattern_char_ok(c)) {
            return Err(RuleError::BadPatternChar(c));
        }
        if p.contains("..") {
            return Err(RuleError::DotDot);
        }
        let (path_part, query_part) = p.split_once('?').unwrap_or((p, ""));
        if query_part.contains('\'') {
            return Err(RuleError::BadPatternChar('\''));
        }
        if path_part.contains("//") || path_part.split('/').any(|s| s == ".") {
            return Err(RuleError::EmptyOrDotSegment);
        }
        Ok(Rule {
            method,
            pattern: p.to_owned(),
        })
    }

    /// The upper-cased method, or `None` for `*`.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The glob pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Canonical "METHOD PATTERN" text.
    pub fn as_text(&self) -> String {
        format!("{} {}", self.method.as_deref().unwrap_or("*"), self.pattern)
    }

    fn method_matches(&self, method: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }

    /// Exact match: method (case-insensitive) and glob over `target.as_str()`.
    pub fn matches(&self, method: &str, target: &CanonicalPath) -> bool {
        self.method_matches(method) && glob_match(&self.pattern, target.as_str())
    }

    /// Conservative match used for deny rules: like [`Rule::matches`], but a
    /// pattern without '?' also matches the path alone (so `DELETE /v1/x` cannot
    /// be dodged with `/v1/x?a=1`), and a trailing '/' on the path is ignored
    /// (many upstreams route `/x/` like `/x`).
    pub fn matches_for_deny(&self, method: &str, target: &CanonicalPath) -> bool {
        if !self.method_matches(method) {
            return false;
        }
        // Deny rules also ignore ASCII case: many upstreams route `/V1/ADMIN` to `/v1/admin`,
        // so a deny rule must not be dodged by case games. (Allow rules stay exact.)
        let pattern = self.pattern.to_ascii_lowercase();
        let g = |text: &str| glob_match(&pattern, &text.to_ascii_lowercase());
        if g(target.as_str()) {
            return true;
        }
        let path = target.path();
        let trimmed = if path.len() > 1 {
            path.strip_suffix('/')
        } else {
            None
        };
        if pattern.contains('?') {
            match (trimmed, target.query()) {
                (Some(t), Some(q)) => g(&format!("{t}?{q}")),
                _ => false,
            }
        } else {
            g(path) || trimmed.is_some_and(g)
        }
    }
}

/// Result of evaluating allow/deny lists against a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    /// No allow list is configured and no deny rule matched.
    AllowedNoRules,
    /// This allow rule matched and no deny rule did.
    Allowed { rule: String },
    /// This deny rule matched (deny wins).
    DeniedByRule { rule: String },
    /// An allow list is configured and nothing in it matched.
    DeniedNoMatch,
}

impl RuleOutcome {
    /// True for `AllowedNoRules` and `Allowed`.
    pub fn is_allowed(&self) -> bool {
        matches!(
            self,
            RuleOutcome::AllowedNoRules | RuleOutcome::Allowed { .. }
        )
    }
}

/// Deny wins (using [`Rule::matches_for_deny`]); with an allow list present, no
/// match means deny; with no allow list, anything not denied is allowed.
/// `method` should be the exact method that will be sent upstream.
pub fn evaluate(
    allow: &[Rule],
    deny: &[Rule],
    method: &str,
    target: &CanonicalPath,
) -> RuleOutcome {
    if let Some(r) = deny.iter().find(|r| r.matches_for_deny(method, target)) {
        return RuleOutcome::DeniedByRule { rule: r.as_text() };
    }
    if allow.is_empty() {
        return RuleOutcome::AllowedNoRules;
    }
    match allow.iter().find(|r| r.matches(method, target)) {
        Some(r) => RuleOutcome::Allowed { rule: r.as_text() },
        None => RuleOutcome::DeniedNoMatch,
    }
}

/// Glob match where '*' matches any run of characters (including '/' and '?')
/// and everything else matches exactly. Greedy leftmost search of the literal
/// pieces between stars: O(len(text) * pieces), no backtracking blow-up.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(last) = pieces.next_back() else {
        return pattern == text; // no '*'
    };
    let Some(rest) = text.strip_prefix(first).and_then(|r| r.strip_suffix(last)) else {
        return false;
    };
    let mut rest = rest; // stripping the prefix first means prefix and suffix cannot overlap
    for mid in pieces.filter(|m| !m.is_empty()) {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Fuzz entry point: for UTF-8 input that canonicalises, panic if an invariant breaks.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(c) = canonicalize(s)
    {
        assert_invariants(&c);
    }
}

fn assert_invariants(c: &CanonicalPath) {
    assert_eq!(canonicalize(c.as_str()).as_ref(), Ok(c), "not idempotent");
    let (path, full) = (c.path(), c.as_str());
    assert!(path.starts_with('/') && !path.starts_with("//") && !path.contains("//"));
    assert!(!path.contains(['?', ';', '\\', '#']) && !full.contains(['#', '\\', ' ']));
    assert!(full.len() <= MAX_PATH_LEN && full.bytes().all(|b| b.is_ascii_graphic()));
    assert!(
        path.split('/').all(|s| s != "." && s != ".."),
        "dot segment in {path}"
    );
    let upper = path.to_ascii_uppercase();
    assert!(
        ["%2F", "%2E", "%5C", "%3B"]
            .iter()
            .all(|e| !upper.contains(e))
    );
    assert!(check_double_encoding(full).is_ok());
    let b = full.as_bytes();
    for (i, _) in full.match_indices('%') {
        let ok = |j: usize| {
            b.get(j)
                .is_some_and(|x| x.is_ascii_digit() || (b'A'..=b'F').contains(x))
        };
        assert!(ok(i + 1) && ok(i + 2), "bad escape in {full}");
    }
    assert!(c.query().is_none_or(|q| !q.is_empty()));
    assert!(c.wire_path("/base/").starts_with("/base/"));
    assert_eq!(c.wire_path(""), full);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use PathError as E;

    fn rules(list: &[&str]) -> Vec<Rule> {
        list.iter().map(|r| Rule::parse(r).unwrap()).collect()
    }

    fn canon(s: &str) -> String {
        canonicalize(s).unwrap().as_str().to_owned()
    }

    /// Expected: Err(kind) or Ok(canonical as_str).
    const HOSTILE: &[(&str, Result<&str, PathError>)] = &[
        ("/v1/../admin", Ok("/admin")),
        ("/v1/a/../../admin", Ok("/admin")),
        ("/v1/x%3F/../../admin", Ok("/admin")),
        ("/v1/%2e%2e/admin", Err(E::EncodedDot)),
        ("/v1/%2E%2E/admin", Err(E::EncodedDot)),
        ("/v1/.%2e/admin", Err(E::EncodedDot)),
        ("/v1/%2e/../admin", Err(E::EncodedDot)),
        ("/v1/%252e%252e/admin", Err(E::DoubleEncoding)),
        ("/%2561dmin", Err(E::DoubleEncoding)),
        ("/v1/%25%32%65%25%32%65/admin", Err(E::DoubleEncoding)),
        ("/v1/x?a=%2561", Err(E::DoubleEncoding)),
        ("/v1/..%2fadmin", Err(E::EncodedSeparator)),
        ("/v1%2f..%2fadmin", Err(E::EncodedSeparator)),
        ("/v1/charges/%2F..%2F..%2Fadmin", Err(E::EncodedSeparator)),
        ("/v1/%5c..%5cadmin", Err(E::EncodedSeparator)),
        ("/v1/..\\admin", Err(E::Backslash)),
        ("/\\evil.com", Err(E::Backslash)),
        ("\\\\evil.com\\x", Err(E::Backslash)),
        ("/v1/x?a=\\", Err(E::Backslash)),
        ("//evil.com/x", Err(E::NetworkPath)),
        ("///evil.com", Err(E::NetworkPath)),
        ("http://evil.com/x", Err(E::AbsoluteUrl)),
        ("https:/evil.com", Err(E::AbsoluteUrl)),
        ("HTTP://evil.com", Err(E::AbsoluteUrl)),
        ("javascript:alert(1)", Err(E::AbsoluteUrl)),
        ("evil.com/admin", Err(E::NotAbsolute)),
        ("", Err(E::Empty)),
        ("/v1/charges#frag", Err(E::Fragment)),
        ("/v1/charges?x=1#y", Err(E::Fragment)),
        ("/v1/;/../admin", Err(E::MatrixParam)),
        ("/admin;x=1", Err(E::MatrixParam)),
        ("/v1/..;/admin", Err(E::MatrixParam)),
        ("/v1/admin%3b", Err(E::MatrixParam)),
        ("/v1/%00", Err(E::ControlChar)),
        ("/v1/\u{0}", Err(E::ControlChar)),
        ("/v1/\r\nHost: evil", Err(E::ControlChar)),
        ("/v1/%7f", Err(E::ControlChar)),
        ("/v1/x?a=%00", Err(E::ControlChar)),
        ("/../../etc/passwd", Err(E::ClimbsAboveBase)),
        ("/v1/./././../..", Err(E::ClimbsAboveBase)),
        ("/..", Err(E::ClimbsAboveBase)),
        ("/v1/%u002e%u002e/", Err(E::BadEscape)),
        ("/v1/%%32%65", Err(E::BadEscape)),
        ("/v1/%zz", Err(E::BadEscape)),
        ("/v1/%2", Err(E::BadEscape)),
        ("/v1//admin", Err(E::EmptySegment)),
        ("/v1/%c0%ae%c0%ae/admin", Err(E::InvalidUtf8)),
        ("/v1/.../admin", Err(E::AmbiguousDotSegment)),
        ("/v1/.. /admin", Err(E::AmbiguousDotSegment)),
        ("/v1/%20./admin", Err(E::AmbiguousDotSegment)),
        ("/v1/\u{ff0e}\u{ff0e}/admin", Err(E::NonAscii)),
        ("/@evil.com/", Ok("/@evil.com/")),
        ("/v1?/../admin", Ok("/v1?/../admin")),
        ("/V1/ADMIN", Ok("/V1/ADMIN")),
        ("/v1/%2541", Err(E::DoubleEncoding)),
    ];

    #[test]
    fn hostile_payloads() {
        let allow = rules(&["GET /v1/*"]);
        let deny = rules(&["* /admin*"]);
        assert!(HOSTILE.len() >= 30);
        for (raw, want) in HOSTILE {
            let got = canonicalize(raw);
            assert_eq!(
                got.as_ref().map(|c| c.as_str()),
                want.as_ref().map(|s| *s),
                "{raw:?}"
            );
            let Ok(c) = got else { continue };
            assert_invariants(&c);
            for m in ["GET", "get", "POST", "DELETE"] {
                let out = evaluate(&allow, &deny, m, &c);
                if out.is_allowed() {
                    assert!(c.path().starts_with("/v1/"), "{raw:?} allowed as {c}");
                }
                if c.path().starts_with("/admin") {
                    assert!(matches!(out, RuleOutcome::DeniedByRule { .. }), "{raw:?}");
                }
            }
        }
    }

    #[test]
    fn positive_cases() {
        let table = [
            ("/v1/a/./b/../c", "/v1/a/c"),
            ("/v1/%7E%7euser", "/v1/~~user"),
            ("/v1/%41%2d%5F", "/v1/A-_"),
            ("/v1/a%3fb%3A%c3%a9", "/v1/a%3Fb%3A%C3%A9"),
            ("/v1/hello world", "/v1/hello%20world"),
            ("/v1/100%25", "/v1/100%25"),
            ("/v1/charges/", "/v1/charges/"),
            ("/v1/a/..", "/v1/"),
            ("/v1/.", "/v1/"),
            ("/", "/"),
            ("/.", "/"),
            ("/v1/charges?", "/v1/charges"),
            ("/v1/x?q=%2f%2E%41&b=[1] ?", "/v1/x?q=%2F.A&b=%5B1%5D%20?"),
            ("/v1/it's?q='x'", "/v1/it's?q=%27x%27"),
        ];
        for (raw, want) in table {
            assert_eq!(canon(raw), want, "{raw:?}");
        }
        let c = canonicalize("/v1/charges?limit=5").unwrap();
        assert_eq!((c.path(), c.query()), ("/v1/charges", Some("limit=5")));
        let bare = canonicalize("/v1/charges").unwrap();
        assert_eq!(bare.query(), None);
        let r = Rule::parse("GET /v1/charges*").unwrap();
        assert!(r.matches("GET", &c) && r.matches("get", &c) && r.matches("Get", &bare));
        assert!(r.matches("GET", &canonicalize("/v1/charges/ch_1").unwrap()));
        assert!(!r.matches("POST", &c));
        assert!(Rule::parse("* /v1/charges*").unwrap().matches("PATCH", &c));
        let upper = canonicalize("/V1/ADMIN").unwrap();
        assert!(!Rule::parse("GET /v1/admin").unwrap().matches("GET", &upper));
    }

    #[test]
    fn wire_path_joins() {
        let c = canonicalize("/v1/x?a=1").unwrap();
        assert_eq!(c.wire_path("/api/v2"), "/api/v2/v1/x?a=1");
        assert_eq!(c.wire_path("/api/v2/"), "/api/v2/v1/x?a=1");
        assert_eq!(c.wire_path(""), "/v1/x?a=1");
        assert_eq!(c.wire_path("/"), "/v1/x?a=1");
        assert_eq!(c.wire_path("api"), "/api/v1/x?a=1");
        assert_eq!(canonicalize("/").unwrap().wire_path("/api"), "/api/");
        assert_eq!(c.to_string(), "/v1/x?a=1");
    }

    #[test]
    fn too_long() {
        let ok = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        assert!(canonicalize(&ok).is_ok());
        assert_eq!(canonicalize(&format!("{ok}a")), Err(E::TooLong));
        // Growth through escaping is also bounded, so idempotence holds.
        let spaces = format!("/{}", " ".repeat(3000));
        assert_eq!(canonicalize(&spaces), Err(E::TooLong));
        let msg = E::TooLong.to_string();
        assert!(msg.contains("8192") && msg.len() < 100);
    }

    #[test]
    fn rule_parsing() {
        let r = Rule::parse("post /x").unwrap();
        assert_eq!(
            (r.method(), r.pattern(), r.as_text()),
            (Some("POST"), "/x", "POST /x".into())
        );
        assert_eq!(
            Rule::parse("  *   /admin*  ").unwrap().as_text(),
            "* /admin*"
        );
        assert_eq!(Rule::parse("GET *").unwrap().as_text(), "GET *");
        let bad = [
            ("GET", RuleError::Malformed),
            ("", RuleError::Malformed),
            ("GET /a /b", RuleError::Malformed),
            ("G=T /x", RuleError::BadMethod),
            ("GET v1", RuleError::PatternNotAbsolute),
            ("GET /v1/../x", RuleError::DotDot),
            ("GET /%2e", RuleError::BadPatternChar('%')),
            ("GET /a#b", RuleError::BadPatternChar('#')),
            ("GET /a\\b", RuleError::BadPatternChar('\\')),
            ("GET /a;b", RuleError::BadPatternChar(';')),
            ("GET /a[b]", RuleError::BadPatternChar('[')),
            ("GET /a?q='*", RuleError::BadPatternChar('\'')),
            ("GET /é", RuleError::BadPatternChar('é')),
            ("GET /a//b", RuleError::EmptyOrDotSegment),
            ("GET /a/./b", RuleError::EmptyOrDotSegment),
            ("GET /a/.", RuleError::EmptyOrDotSegment),
        ];
        for (text, err) in bad {
            assert_eq!(Rule::parse(text), Err(err), "{text:?}");
        }
        assert!(Rule::parse("GET /a?next=//x").is_ok());
    }

    /// `request` is "METHOD PATH"; the outcome is rendered as "allow [rule]" / "deny [rule]".
    fn outcome(allow: &[&str], deny: &[&str], request: &str) -> String {
        let (method, raw) = request.split_once(' ').unwrap();
        let c = canonicalize(raw).unwrap();
        match evaluate(&rules(allow), &rules(deny), method, &c) {
            RuleOutcome::AllowedNoRules => "allow".into(),
            RuleOutcome::Allowed { rule } => format!("allow {rule}"),
            RuleOutcome::DeniedByRule { rule } => format!("deny {rule}"),
            RuleOutcome::DeniedNoMatch => "deny".into(),
        }
    }

    #[test]
    fn evaluation() {
        let allow = &["GET /v1/*", "post /v1/charges"];
        let deny = &["DELETE /v1/admin", "* /v1/s?x=*", "GET /v1/x?debug=true"];
        assert_eq!(outcome(&[], &[], "GET /x"), "allow");
        assert_eq!(outcome(&[], deny, "GET /x"), "allow");
        let table = [
            ("GET /v1/a", "allow GET /v1/*"),
            ("Post /v1/charges", "allow POST /v1/charges"),
            ("POST /v1/charges?a=1", "deny"),
            ("PUT /v1/a", "deny"),
            ("GET /v1/admin", "allow GET /v1/*"),
            // Deny rules ignore an extra query or trailing slash.
            ("delete /v1/admin", "deny DELETE /v1/admin"),
            ("DELETE /v1/admin?x=1", "deny DELETE /v1/admin"),
            ("DELETE /v1/admin/", "deny DELETE /v1/admin"),
            ("DELETE /v1/admin/?x=1", "deny DELETE /v1/admin"),
            ("DELETE /v1/x/../admin", "deny DELETE /v1/admin"),
            ("GET /v1/s?x=1", "deny * /v1/s?x=*"),
            ("GET /v1/s/?x=1", "deny * /v1/s?x=*"),
            ("GET /v1/s?x=%31", "deny * /v1/s?x=*"),
            // Encoded unreserved characters in the query are decoded before matching.
            ("GET /v1/x?debug=tru%65", "deny GET /v1/x?debug=true"),
        ];
        for (request, want) in table {
            assert_eq!(outcome(allow, deny, request), want, "{request}");
        }
    }

    #[test]
    fn deny_rules_ignore_case_and_allow_rules_do_not() {
        let allow = vec![Rule::parse("GET /v1/*").unwrap()];
        let deny = vec![Rule::parse("* /v1/admin*").unwrap()];
        for p in [
            "/v1/ADMIN",
            "/v1/Admin/users",
            "/v1/aDmIn?x=1",
            "/v1/ADMIN/",
        ] {
            let c = canonicalize(p).unwrap();
            assert!(
                matches!(
                    evaluate(&allow, &deny, "GET", &c),
                    RuleOutcome::DeniedByRule { .. }
                ),
                "{p}"
            );
        }
        let c = canonicalize("/V1/users").unwrap();
        assert_eq!(
            evaluate(&allow, &deny, "GET", &c),
            RuleOutcome::DeniedNoMatch
        );
    }

    #[test]
    fn glob_edge_cases() {
        // Whitespace-separated "pattern|text" cases.
        let yes = "*| *|/anything?x | /a|/a /a*|/a /a*|/a/b?c */b|/a/b /a*b*c|/abc **|x a*a|aa \
                   *ab*ab*|abab /v1/*/x|/v1//x é*|éa *é|aé *a*|a";
        let no = "|a /a|/ab */b|/a/bc /a*b*c|/a_c_b a*a|a *ab*ab*|aba a*| *a|b";
        for (cases, want) in [(yes, true), (no, false)] {
            for (p, t) in cases.split_whitespace().map(|c| c.split_once('|').unwrap()) {
                assert_eq!(glob_match(p, t), want, "{p:?} vs {t:?}");
            }
        }
        let text = "a".repeat(10_000);
        assert!(!glob_match("*a*a*a*a*a*a*b", &text));
        assert!(glob_match("*a*a*a*a*a*a*", &text));
    }

    /// Reference: exponential recursive glob, for small inputs only.
    fn naive_glob(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| naive_glob(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && naive_glob(rest, &t[1..]),
        }
    }

    const TOKENS: &[&str] = &[
        "/", "/", "/", ".", "%", "2", "e", "E", "f", "F", "5", "c", "a", ";", "?", "#", "\\", "v1",
        "admin", "..", "%2", "%25", " ", "~", "%7e", "%41", "&", "=", "3", "%c3%a9",
    ];

    fn hostile() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (
            any::<bool>(),
            proptest::collection::vec(proptest::sample::select(TOKENS), 0..24),
        )
            .prop_map(|(slash, toks)| format!("{}{}", if slash { "/" } else { "" }, toks.concat()))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn accepted_paths_hold_invariants(raw in hostile()) {
            if let Ok(c) = canonicalize(&raw) {
                assert_invariants(&c);
                let w = c.wire_path("/base");
                proptest::prop_assert!(w.starts_with("/base/") || w == "/base" || w.starts_with("/base?"));
                let out = evaluate(&rules(&["GET /v1/*"]), &rules(&["* /admin*"]), "GET", &c);
                proptest::prop_assert!(!out.is_allowed() || c.path().starts_with("/v1/"));
            }
        }

        #[test]
        fn never_panics(raw in ".*", bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = canonicalize(&raw);
            fuzz_one(raw.as_bytes());
            fuzz_one(&bytes);
        }

        #[test]
        fn glob_matches_reference(p in "[ab*/?]{0,8}", t in "[ab/?]{0,10}") {
            proptest::prop_assert_eq!(glob_match(&p, &t), naive_glob(p.as_bytes(), t.as_bytes()));
        }
    }
}
