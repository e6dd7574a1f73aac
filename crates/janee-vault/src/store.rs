//! The encrypted store.
//!
//! File layout (version 1), three lines:
//!
//! ```text
//! JANEE-STORE 1
//! {"header":{...},"records":[{"kind":"service","name":"stripe","nonce":"..","ct":".."}],"mac":".."}
//! sha256 <hex of everything above>
//! ```
//!
//! - Every record is sealed on its own with XChaCha20-Poly1305; its associated data is
//!   `janee-store/1/<store id>/<kind>/<name>`, so a ciphertext moved to another name, kind or
//!   store does not open.
//! - `header.keyCheck` is a sealed constant: it tells a wrong key from a damaged file.
//! - `mac` is HMAC-SHA256 under a key derived from the master key over header and records: a
//!   removed, duplicated or rolled-back record is caught even though each record still opens.
//! - The trailing SHA-256 catches accidental damage before any key is tried, so a flipped byte
//!   is always reported as damage, never as a wrong passphrase.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{self, KdfParams};
use crate::custody::{Custody, KeyInputs, KeySource, UnlockError};
use crate::fsutil;
use crate::secret::{MasterKey, Secret, SecretFields};

const MAGIC: &str = "JANEE-STORE";
pub const FORMAT_VERSION: u32 = 1;
const KEY_CHECK: &[u8] = b"janee key check v1";

/// What a record holds. Names are public; contents are sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    /// A service's secret fields.
    Service,
    /// The SHA-256 of an agent's bearer token.
    AgentToken,
}

impl RecordKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::AgentToken => "agent-token",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Header {
    pub version: u32,
    /// Random id: binds records to this store and names its keyring entry.
    pub store_id: String,
    pub created_at: String,
    pub custody: Custody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<KdfParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    key_check: Sealed,
    /// Incremented on every save.
    pub generation: u64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    nonce: String,
    ct: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    kind: RecordKind,
    name: String,
    #[serde(flatten)]
    sealed: Sealed,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    header: Header,
    records: Vec<Record>,
    mac: String,
}

#[derive(Serialize)]
struct MacInput<'a> {
    header: &'a Header,
    records: &'a [Record],
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no store at {0}: run `janee init` first")]
    Missing(PathBuf),
    #[error("a store already exists at {0}; remove it first if you mean to start over")]
    Exists(PathBuf),
    #[error(
        "the store at {0} is damaged (it failed its integrity check) and was not changed; restore it from a backup"
    )]
    Damaged(PathBuf),
    #[error(
        "the store at {path} has format version {found}, newer than this janee understands ({FORMAT_VERSION}); upgrade janee"
    )]
    NewerFormat { path: PathBuf, found: u32 },
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system's random number generator failed")]
    Random,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// An unlocked store. Records stay sealed in memory; `service()` opens one on demand.
pub struct Store {
    path: PathBuf,
    header: Header,
    records: BTreeMap<(RecordKind, String), Sealed>,
    key: MasterKey,
    source: KeySource,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("records", &self.records.len())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Read and integrity-check a store file without unlocking it.
fn read_body(path: &Path) -> Result<Body, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let damaged = || StoreError::Damaged(path.to_path_buf());
    let text = std::str::from_utf8(&bytes).map_err(|_| damaged())?;
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().ok_or_else(damaged)?;
    let body_line = lines.next().ok_or_else(damaged)?;
    let sum_line = lines.next().ok_or_else(damaged)?;
    if lines.next().is_some() {
        return Err(damaged());
    }
    let covered = first.len() + body_line.len();
    let expected = sum_line
        .strip_prefix("sha256 ")
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or_else(damaged)?;
    let actual = hex::encode(Sha256::digest(&bytes[..covered]));
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        actual.as_bytes(),
        expected.as_bytes(),
    )) {
        return Err(damaged());
    }
    let version: u32 = first
        .strip_prefix(MAGIC)
        .and_then(|s| s.strip_prefix(' '))
        .and_then(|s| s.strip_suffix('\n'))
        .and_then(|s| s.parse().ok())
        .ok_or_else(damaged)?;
    if version > FORMAT_VERSION {
        return Err(StoreError::NewerFormat {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let body: Body = serde_json::from_str(body_line).map_err(|_| damaged())?;
    if body.header.version != version {
        return Err(damaged());
    }
    Ok(body)
}

/// The header of a store, for `doctor` and for choosing how to unlock it.
pub fn read_header(path: &Path) -> Result<Header, StoreError> {
    read_body(path).map(|b| b.header)
}

/// The names of the records in a store, after its integrity check, without unlocking it.
pub fn record_names(path: &Path) -> Result<Vec<(RecordKind, String)>, StoreError> {
    Ok(read_body(path)?
        .records
        .into_iter()
        .map(|r| (r.kind, r.name))
        .collect())
}

fn aad(store_id: &str, kind: RecordKind, name: &str) -> Vec<u8> {
    format!(
        "janee-store/{FORMAT_VERSION}/{store_id}/{}/{name}",
        kind.as_str()
    )
    .into_bytes()
}

fn seal(key: &MasterKey, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, StoreError> {
    let (nonce, ct) = crypto::seal(key, aad, plaintext).map_err(|_| StoreError::Random)?;
    Ok(Sealed {
        nonce: B64.encode(nonce),
        ct: B64.encode(ct),
    })
}

fn open_sealed(key: &MasterKey, aad: &[u8], s: &Sealed) -> Option<Zeroizing<Vec<u8>>> {
    let nonce = B64.decode(&s.nonce).ok()?;
    let ct = B64.decode(&s.ct).ok()?;
    crypto::open(key, aad, &nonce, &ct).ok()
}

fn mac(key: &MasterKey, header: &Header, records: &[Record]) -> String {
    use hmac::{Hmac, Mac};
    let sub = key.subkey("store-mac");
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(sub.bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    // Serialising plain data to a Vec cannot fail.
    let input = serde_json::to_vec(&MacInput { header, records }).unwrap_or_default();
    m.update(&input);
    hex::encode(m.finalize().into_bytes())
}

impl Store {
    /// Create a new store at `path` sealed under `key`.
    pub fn create(
        path: &Path,
        key: MasterKey,
        custody: Custody,
        kdf: Option<KdfParams>,
        key_file: Option<String>,
    ) -> Result<Self, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        let id: [u8; 16] = crypto::random_bytes().map_err(|_| StoreError::Random)?;
        let store_id = hex::encode(id);
        let key_check = seal(
            &key,
            format!("janee-store/{FORMAT_VERSION}/{store_id}/key-check").as_bytes(),
            KEY_CHECK,
        )?;
        let header = Header {
            version: FORMAT_VERSION,
            store_id,
            created_at: now_rfc3339(),
            custody,
            kdf,
            key_file,
            key_check,
            generation: 0,
        };
        let source = custody.source();
        let store = Self {
            path: path.to_path_buf(),
            header,
            records: BTreeMap::new(),
            key,
            source,
        };
        let bytes = store.encode()?;
        fsutil::create_private(path, &bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::Exists(path.to_path_buf())
            } else {
                io_err("create", path)(e)
            }
        })?;
        Ok(store)
    }

    /// Open and unlock the store, trying key sources in custody order.
    pub fn open(path: &Path, inputs: &KeyInputs) -> Result<Self, StoreError> {
        let body = read_body(path)?;
        let check = |key: &MasterKey| Self::check_key(&body.header, key);
        let (key, source) = crate::custody::unlock(&body.header, path, inputs, &check)?;
        Self::from_body(path, body, key, source)
    }

    /// Re-read the store from disk with a key already known to be right (the server's reload).
    pub fn reopen(&self) -> Result<Self, StoreError> {
        let body = read_body(&self.path)?;
        if body.header.store_id != self.header.store_id || !Self::check_key(&body.header, &self.key)
        {
            return Err(StoreError::Damaged(self.path.clone()));
        }
        let key = MasterKey::from_bytes(*self.key.bytes());
        Self::from_body(&self.path, body, key, self.source)
    }

    fn check_key(header: &Header, key: &MasterKey) -> bool {
        let aad = format!("janee-store/{FORMAT_VERSION}/{}/key-check", header.store_id);
        open_sealed(key, aad.as_bytes(), &header.key_check)
            .is_some_and(|p| p.as_slice() == KEY_CHECK)
    }

    fn from_body(
        path: &Path,
        body: Body,
        key: MasterKey,
        source: KeySource,
    ) -> Result<Self, StoreError> {
        let damaged = || StoreError::Damaged(path.to_path_buf());
        let expected = mac(&key, &body.header, &body.records);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            body.mac.as_bytes(),
        )) {
            return Err(damaged());
        }
        let mut records = BTreeMap::new();
        for r in body.records {
            // Every record must open: damage is reported now, not at first use.
            open_sealed(
                &key,
                &aad(&body.header.store_id, r.kind, &r.name),
                &r.sealed,
            )
            .ok_or_else(damaged)?;
            if records.insert((r.kind, r.name), r.sealed).is_some() {
                return Err(damaged());
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            header: body.header,
            records,
            key,
            source,
        })
    }

    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let records: Vec<Record> = self
            .records
            .iter()
            .map(|((kind, name), sealed)| Record {
                kind: *kind,
                name: name.clone(),
                sealed: sealed.clone(),
            })
            .collect();
        let mac = mac(&self.key, &self.header, &records);
        let body = Body {
            header: self.header.clone(),
            records,
            mac,
        };
        let mut out = format!("{MAGIC} {FORMAT_VERSION}\n").into_bytes();
        serde_json::to_writer(&mut out, &body).map_err(|e| StoreError::Io {
            action: "encode",
            path: self.path.clone(),
            source: e.into(),
        })?;
        out.push(b'\n');
        let sum = hex::encode(Sha256::digest(&out));
        out.extend_from_slice(format!("sha256 {sum}\n").as_bytes());
        Ok(out)
    }

    /// Write the store back atomically. Callers hold the home lock around open-modify-save.
    pub fn save(&mut self) -> Result<(), StoreError> {
        self.header.generation += 1;
        let bytes = self.encode()?;
        fsutil::atomic_write(&self.path, &bytes).map_err(io_err("write", &self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// Which key source unlocked this store.
    pub fn key_source(&self) -> KeySource {
        self.source
    }

    fn get(&self, kind: RecordKind, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some(sealed) = self.records.get(&(kind, name.to_string())) else {
            return Ok(None);
        };
        open_sealed(&self.key, &aad(&self.header.store_id, kind, name), sealed)
            .map(Some)
            .ok_or_else(|| StoreError::Damaged(self.path.clone()))
    }

    fn put(&mut self, kind: RecordKind, name: &str, plaintext: &[u8]) -> Result<(), StoreError> {
        let sealed = seal(
            &self.key,
            &aad(&self.header.store_id, kind, name),
            plaintext,
        )?;
        self.records.insert((kind, name.to_string()), sealed);
        Ok(())
    }

    fn names(&self, kind: RecordKind) -> Vec<String> {
        self.records
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// The secret fields of a service.
    pub fn service(&self, name: &str) -> Result<Option<SecretFields>, StoreError> {
        let Some(plain) = self.get(RecordKind::Service, name)? else {
            return Ok(None);
        };
        let map: BTreeMap<String, String> =
            serde_json::from_slice(&plain).map_err(|_| StoreError::Damaged(self.path.clone()))?;
        Ok(Some(
            map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
        ))
    }

    pub fn set_service(&mut self, name: &str, fields: &SecretFields) -> Result<(), StoreError> {
        let map: BTreeMap<&str, &str> = fields.iter().map(|(k, v)| (k, v.expose())).collect();
        let mut plain = Zeroizing::new(Vec::with_capacity(
            64 + fields
                .iter()
                .map(|(k, v)| k.len() + 2 * v.len() + 8)
                .sum::<usize>(),
        ));
        serde_json::to_writer(&mut *plain, &map).map_err(|e| StoreError::Io {
            action: "encode",
            path: self.path.clone(),
            source: e.into(),
        })?;
        self.put(RecordKind::Service, name, &plain)
    }

    /// Remove a service's secrets; returns whether there were any.
    pub fn remove_service(&mut self, name: &str) -> bool {
        self.records
            .remove(&(RecordKind::Service, name.to_string()))
            .is_some()
    }

    pub fn service_names(&self) -> Vec<String> {
        self.names(RecordKind::Service)
    }

    /// The SHA-256 of an agent's token.
    pub fn agent_token_hash(&self, agent: &str) -> Result<Option<[u8; 32]>, StoreError> {
        let Some(plain) = self.get(RecordKind::AgentToken, agent)? else {
            return Ok(None);
        };
        let arr: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Damaged(self.path.clone()))?;
        Ok(Some(arr))
    }

    pub fn set_agent_token_hash(&mut self, agent: &str, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.put(RecordKind::AgentToken, agent, hash)
    }

    pub fn remove_agent(&mut self, agent: &str) -> bool {
        self.records
            .remove(&(RecordKind::AgentToken, agent.to_string()))
            .is_some()
    }

    pub fn agent_names(&self) -> Vec<String> {
        self.names(RecordKind::AgentToken)
    }

    /// Every agent's token hash, for the server's verifier.
    pub fn agent_token_hashes(&self) -> Result<Vec<(String, [u8; 32])>, StoreError> {
        let mut out = Vec::new();
        for name in self.agent_names() {
            if let Some(h) = self.agent_token_hash(&name)? {
                out.push((name, h));
            }
        }
        Ok(out)
    }
}

fn now_rfc3339() -> String {
    // Seconds since the epoch in UTC, formatted without a date library.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_rfc3339(secs)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (civil-from-days, proleptic Gregorian).
pub fn format_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "sk_test_CANARY_4b1d9e77aa";

    fn quick_kdf() -> KdfParams {
        let mut p = KdfParams::generate().unwrap();
        p.memory_kib = 1024;
        p.iterations = 1;
        p
    }

    fn new_store(dir: &Path, pass: &str) -> Store {
        let kdf = quick_kdf();
        let key = kdf.derive(pass.as_bytes()).unwrap();
        Store::create(
            &dir.join("store"),
            key,
            Custody::Passphrase,
            Some(kdf),
            None,
        )
        .unwrap()
    }

    fn inputs(pass: &str) -> KeyInputs {
        KeyInputs {
            passphrase: Some(Zeroizing::new(pass.to_string())),
            ..KeyInputs::none()
        }
    }

    #[test]
    fn round_trip_of_every_record_type() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = new_store(dir.path(), "pw");
        let mut f = SecretFields::new();
        f.insert("key", Secret::new(CANARY));
        f.insert("header.X-Api-Key", Secret::new("second \"quoted\" value\n"));
        s.set_service("stripe", &f).unwrap();
        s.set_agent_token_hash("claude", &[5; 32]).unwrap();
        s.save().unwrap();

        let s2 = Store::open(&dir.path().join("store"), &inputs("pw")).unwrap();
        let got = s2.service("stripe").unwrap().unwrap();
        assert_eq!(got.get("key").unwrap().expose(), CANARY);
        assert_eq!(
            got.get("header.X-Api-Key").unwrap().expose(),
            "second \"quoted\" value\n"
        );
        assert_eq!(s2.agent_token_hash("claude").unwrap(), Some([5; 32]));
        assert_eq!(s2.service_names(), vec!["stripe"]);
        assert_eq!(s2.agent_names(), vec!["claude"]);
        assert_eq!(s2.key_source(), KeySource::Passphrase);

        let raw = std::fs::read_to_string(dir.path().join("store")).unwrap();
        assert!(!raw.contains(CANARY));
        assert!(!format!("{s2:?}").contains(CANARY));
    }

    #[test]
    fn every_flipped_byte_is_reported_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = new_store(dir.path(), "pw");
        let mut f = SecretFields::new();
        f.insert("key", Secret::new(CANARY));
        s.set_service("svc", &f).unwrap();
        s.save().unwrap();
        let path = dir.path().join("store");
        let original = std::fs::read(&path).unwrap();
        for i in 0..original.len() {
            let mut bad = original.clone();
            bad[i] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            match Store::open(&path, &inputs("pw")) {
                Err(StoreError::Damaged(_)) => {}
                other => panic!("byte {i}: expected damage, got {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_passphrase_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = new_store(dir.path(), "right");
        s.save().unwrap();
        let err = Store::open(&dir.path().join("store"), &inputs("wrong")).unwrap_err();
        assert!(
            matches!(err, StoreError::Unlock(UnlockError::WrongKey { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("JANEE_PASSPHRASE"), "{err}");
    }

    #[test]
    fn a_record_moved_to_another_name_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = new_store(dir.path(), "pw");
        let mut f = SecretFields::new();
        f.insert("key", Secret::new(CANARY));
        s.set_service("a", &f).unwrap();
        let sealed = s.records[&(RecordKind::Service, "a".to_string())].clone();
        s.records
            .insert((RecordKind::Service, "b".to_string()), sealed);
        assert!(matches!(s.service("b"), Err(StoreError::Damaged(_))));
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
    }
}
