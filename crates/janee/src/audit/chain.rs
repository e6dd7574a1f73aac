//! The MAC chain: building signed lines, parsing them back, and finding the chain tail.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use hmac::{Hmac, Mac};
use janee_vault::SubKey;
use serde::Deserialize;
use sha2::Sha256;

/// HMAC-SHA256 keyed with the audit subkey; cloned per line so the key is absorbed once.
pub(super) type MacKey = Hmac<Sha256>;
/// A MAC in lowercase hex, as written in `prev` and `mac`.
pub(super) type HexMac = [u8; 64];

/// `prev` of the first line ever.
pub(super) const ZERO_MAC: HexMac = [b'0'; 64];
/// `,"mac":"` + 64 hex + `"}`.
const SUFFIX_LEN: usize = 74;
const MAC_PREFIX: &[u8] = b",\"mac\":\"";
/// The tail search reads backwards in growing windows up to this size per file.
const TAIL_WINDOW_START: u64 = 64 * 1024;
const TAIL_WINDOW_MAX: u64 = 16 * 1024 * 1024;

pub(super) fn mac_key(key: &SubKey) -> MacKey {
    <MacKey as Mac>::new_from_slice(key.bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// The running chain: last sequence number and MAC.
pub(super) struct Chain {
    pub key: MacKey,
    pub seq: u64,
    pub prev: HexMac,
}

impl Chain {
    /// Append one complete line (with its newline) for `fields` to `buf` and advance the chain.
    pub fn push_line(&mut self, buf: &mut String, time: &str, fields: &str) -> u64 {
        self.seq += 1;
        let start = buf.len();
        buf.push_str("{\"seq\":");
        buf.push_str(&self.seq.to_string());
        buf.push_str(",\"time\":\"");
        buf.push_str(time);
        buf.push_str("\",");
        buf.push_str(fields);
        buf.push_str(",\"prev\":\"");
        buf.push_str(hex_str(&self.prev));
        buf.push('"');
        let mut mac = self.key.clone();
        mac.update(&self.prev);
        mac.update(b"\n");
        mac.update(&buf.as_bytes()[start..]);
        mac.update(b"}");
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        let mut hex_mac = [0u8; 64];
        // Cannot fail: the output is exactly twice the input length.
        let _ = hex::encode_to_slice(tag, &mut hex_mac);
        buf.push_str(",\"mac\":\"");
        buf.push_str(hex_str(&hex_mac));
        buf.push_str("\"}\n");
        self.prev = hex_mac;
        self.seq
    }
}

fn hex_str(h: &HexMac) -> &str {
    // Only ever filled with ASCII hex digits.
    std::str::from_utf8(h).unwrap_or_default()
}

/// A line taken apart.
pub(super) struct Parsed<'a> {
    pub seq: u64,
    pub prev: HexMac,
    pub mac_hex: HexMac,
    mac: [u8; 32],
    /// The line without its mac suffix: `signed` is this plus `}`.
    body: &'a [u8],
}

impl Parsed<'_> {
    /// Whether the stated MAC matches the line's content and stated `prev` (constant time).
    pub fn mac_ok(&self, key: &MacKey) -> bool {
        let mut mac = key.clone();
        mac.update(&self.prev);
        mac.update(b"\n");
        mac.update(self.body);
        mac.update(b"}");
        mac.verify_slice(&self.mac).is_ok()
    }
}

#[derive(Deserialize)]
struct Head {
    seq: u64,
    prev: String,
}

fn lower_hex(bytes: &[u8]) -> Option<HexMac> {
    let h: HexMac = bytes.try_into().ok()?;
    h.iter()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .then_some(h)
}

/// Take a line (without its newline) apart, or say why it is malformed.
pub(super) fn parse_line(line: &[u8]) -> Result<Parsed<'_>, String> {
    if line.is_empty() {
        return Err("empty line".into());
    }
    if line.len() < SUFFIX_LEN + 2 || !line.ends_with(b"\"}") {
        return Err("line does not end with a \"mac\" member (truncated?)".into());
    }
    let (body, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    if !suffix.starts_with(MAC_PREFIX) {
        return Err("line does not end with a \"mac\" member (truncated?)".into());
    }
    let mac_hex = lower_hex(&suffix[MAC_PREFIX.len()..MAC_PREFIX.len() + 64])
        .ok_or("\"mac\" is not 64 lowercase hex digits")?;
    let mut mac = [0u8; 32];
    hex::decode_to_slice(mac_hex, &mut mac).map_err(|e| e.to_string())?;
    let mut signed = Vec::with_capacity(body.len() + 1);
    signed.extend_from_slice(body);
    signed.push(b'}');
    let head: Head =
        serde_json::from_slice(&signed).map_err(|e| format!("not a valid audit record: {e}"))?;
    let prev = lower_hex(head.prev.as_bytes()).ok_or("\"prev\" is not 64 lowercase hex digits")?;
    Ok(Parsed {
        seq: head.seq,
        prev,
        mac_hex,
        mac,
        body,
    })
}

/// The last good point of the chain and, if the tail was damaged, a description of the damage.
pub(super) struct Tail {
    pub seq: u64,
    pub mac: HexMac,
    pub note: Option<String>,
}

/// Find the chain tail: the last parseable line of the newest file that has one. `paths` is
/// newest first. Unparseable lines met on the way are described in `note`; a last line whose MAC
/// fails is still taken (its stated MAC continues the chain) and noted.
pub(super) fn find_tail(paths: &[&Path], key: &MacKey) -> io::Result<Tail> {
    let mut damage: Vec<String> = Vec::new();
    for path in paths {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let mut window = TAIL_WINDOW_START;
        let mut buf = Vec::new();
        loop {
            let start = len.saturating_sub(window);
            buf.clear();
            file.seek(SeekFrom::Start(start))?;
            (&mut file).take(len - start).read_to_end(&mut buf)?;
            let mut segments: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
            if start > 0 && !segments.is_empty() {
                segments.remove(0); // may begin mid-line
            }
            if segments.last().is_some_and(|s| s.is_empty()) {
                segments.pop(); // after the final newline
            }
            let mut bad = 0usize;
            for seg in segments.iter().rev() {
                match parse_line(seg) {
                    Ok(p) => {
                        if bad > 0 {
                            damage.push(format!("{bad} unreadable line(s) at the end of {name}"));
                        }
                        if !p.mac_ok(key) {
                            damage.push(format!(
                                "the last line of {name} (seq {}) fails its MAC check",
                                p.seq
                            ));
                        }
                        let note = (!damage.is_empty()).then(|| {
                            format!(
                                "chain resumed after seq {} past a damaged tail: {}",
                                p.seq,
                                damage.join("; ")
                            )
                        });
                        return Ok(Tail {
                            seq: p.seq,
                            mac: p.mac_hex,
                            note,
                        });
                    }
                    Err(_) => bad += 1,
                }
            }
            if start == 0 {
                if bad > 0 {
                    damage.push(format!("{name} has no readable line ({bad} unreadable)"));
                }
                break;
            }
            if window >= TAIL_WINDOW_MAX {
                damage.push(format!(
                    "no readable line in the last {} MiB of {name}",
                    TAIL_WINDOW_MAX >> 20
                ));
                break;
            }
            window *= 2;
        }
    }
    let note = (!damage.is_empty()).then(|| {
        format!(
            "chain restarted: no readable line found: {}",
            damage.join("; ")
        )
    });
    Ok(Tail {
        seq: 0,
        mac: ZERO_MAC,
        note,
    })
}
