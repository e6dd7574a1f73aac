//! Which headers an agent may set on a proxied request (SPEC section 5): never credentials,
//! routing, cookies, hop-by-hop or forwarding headers, nor any header the auth scheme sets.

/// Hop-by-hop headers (RFC 9110 section 7.6.1) and framing headers the client computes itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Headers that change who the caller is, where the request goes, or what method it is.
const NEVER_FROM_AGENT: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
    "cookie",
    "cookie2",
    "forwarded",
    "x-real-ip",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
    "via",
    "expect",
];

/// Why an agent-supplied header was dropped, or `None` if it may pass.
pub fn agent_header_refusal(
    name: &str,
    value: &str,
    scheme_headers: &[String],
) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Some("invalid header name");
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Some("control characters (CR, LF, NUL) in the value");
    }
    if HOP_BY_HOP.contains(&lower.as_str()) {
        return Some("hop-by-hop or framing header");
    }
    if NEVER_FROM_AGENT.contains(&lower.as_str())
        || lower.starts_with("x-forwarded-")
        || lower.starts_with("proxy-")
    {
        return Some("credential, routing or method-override header");
    }
    if scheme_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&lower))
    {
        return Some("set by the service's auth scheme");
    }
    None
}

/// Headers a credential may not be configured into.
pub fn is_forbidden_for_credentials(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&lower.as_str()) || lower == "host"
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smuggling_headers_are_refused() {
        let scheme = vec!["x-api-key".to_string()];
        for h in [
            "Authorization",
            "proxy-authorization",
            "HOST",
            "Cookie",
            "X-Forwarded-For",
            "x-forwarded-host",
            "Forwarded",
            "X-HTTP-Method-Override",
            "Transfer-Encoding",
            "Connection",
            "Content-Length",
            "X-Api-Key",
            "Proxy-Foo",
        ] {
            assert!(agent_header_refusal(h, "v", &scheme).is_some(), "{h}");
        }
        assert!(agent_header_refusal("X-Trace", "a\r\nInjected: 1", &scheme).is_some());
        assert!(agent_header_refusal("Bad Name", "v", &scheme).is_some());
        assert!(agent_header_refusal("Accept", "application/json", &scheme).is_none());
        assert!(agent_header_refusal("Stripe-Version", "2024-01-01", &scheme).is_none());
    }
}
