//! `janee import janee DIR` (a Janee 0.16 home) and `janee import dotenv FILE`.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use janee_vault::{Secret, SecretFields};
use serde_json::json;
use serde_yaml_ng::Value;
use zeroize::Zeroizing;

use super::{interactive, print_json, require_init, split_pair, usage};
use crate::auth::{AuthKind, HEADER_PREFIX};
use crate::cli::{ImportDotenvArgs, ImportJaneeArgs};
use crate::config::raw::{RawAuth, RawCapability, RawService};
use crate::home::Home;

/// Decrypt a Janee 0.16 value: base64 of iv(12) || tag(16) || ciphertext, AES-256-GCM, no AAD.
fn legacy_decrypt(key: &[u8; 32], text: &str) -> Option<Secret> {
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()?,
    );
    if raw.len() < 28 {
        return None;
    }
    let (iv, rest) = raw.split_at(12);
    let (tag, ct) = rest.split_at(16);
    let mut joined = Zeroizing::new(Vec::with_capacity(ct.len() + 16));
    joined.extend_from_slice(ct);
    joined.extend_from_slice(tag);
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(iv), joined.as_slice())
            .ok()?,
    );
    String::from_utf8(plain.to_vec()).ok().map(Secret::new)
}

#[derive(Default)]
struct Outcome {
    services: Vec<String>,
    capabilities: Vec<String>,
    skipped: Vec<(String, String)>,
}

pub fn janee(home: &Home, args: ImportJaneeArgs) -> Result<()> {
    require_init(home)?;
    let dir = &args.dir;
    let cfg_path = dir.join("config.yaml");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("could not read {}", cfg_path.display()))?;
    let old: Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not valid YAML", cfg_path.display()))?;

    // 0.13+ keeps the key and the secrets in credentials.json; 0.2 kept both inline.
    let creds_path = dir.join("credentials.json");
    let (key_b64, secrets): (Zeroizing<String>, serde_json::Value) = if creds_path.exists() {
        let c: serde_json::Value = serde_json::from_str(&Zeroizing::new(
            std::fs::read_to_string(&creds_path)
                .with_context(|| format!("could not read {}", creds_path.display()))?,
        ))
        .with_context(|| format!("{} is not valid JSON", creds_path.display()))?;
        let k = c["masterKey"]
            .as_str()
            .map(|s| Zeroizing::new(s.to_string()));
        let k = k.ok_or_else(|| anyhow::anyhow!("{} has no masterKey", creds_path.display()))?;
        (k, c["secrets"].clone())
    } else if let Some(k) = old.get("masterKey").and_then(Value::as_str) {
        (Zeroizing::new(k.to_string()), serde_json::Value::Null)
    } else {
        bail!(
            "{} has neither credentials.json nor an inline masterKey: is it a Janee home?",
            dir.display()
        );
    };
    let key_bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key_b64.trim())
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            .ok_or_else(|| {
                anyhow::anyhow!("the Janee 0.16 master key is not base64 of 32 bytes")
            })?,
    );

    let _lock = home.lock()?;
    let mut raw = home.load_config()?.raw;
    let mut store = home.open_store(interactive())?;
    let mut out = Outcome::default();
    let empty = serde_yaml_ng::Mapping::new();
    let services = old
        .get("services")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    for (name, svc) in services {
        let Some(name) = name.as_str() else { continue };
        if raw.services.contains_key(name) && !args.overwrite {
            out.skipped.push((
                name.into(),
                "a service with this name exists here (use --overwrite)".into(),
            ));
            continue;
        }
        match convert_service(name, svc, &secrets, &key_bytes) {
            Ok((rs, fields)) => {
                store.set_service(name, &fields)?;
                raw.services.insert(name.to_string(), rs);
                out.services.push(name.to_string());
            }
            Err(why) => out.skipped.push((name.into(), why)),
        }
    }
    if let Some(caps) = old.get("capabilities").and_then(Value::as_mapping) {
        for (cname, cap) in caps {
            let Some(cname) = cname.as_str() else {
                continue;
            };
            let parsed: Result<RawCapability, _> = serde_yaml_ng::from_value(cap.clone());
            match parsed {
                Ok(c) if out.services.contains(&c.service) => {
                    if raw.capabilities.items.contains_key(cname) && !args.overwrite {
                        out.skipped.push((
                            cname.into(),
                            "a capability with this name exists here (use --overwrite)".into(),
                        ));
                        continue;
                    }
                    raw.capabilities.items.insert(cname.to_string(), c);
                    out.capabilities.push(cname.to_string());
                }
                Ok(c) => out.skipped.push((
                    cname.into(),
                    format!("its service {} was not imported", c.service),
                )),
                Err(e) => out
                    .skipped
                    .push((cname.into(), format!("not understood: {e}"))),
            }
        }
    }
    if raw.server.default_access.is_none()
        && let Some(a) = old
            .get("server")
            .and_then(|s| s.get("defaultAccess"))
            .cloned()
    {
        raw.server.default_access = serde_yaml_ng::from_value(a).ok();
    }
    crate::config::Config::from_raw_edit(&home.config_path(), raw.clone())
        .context("the imported config does not validate; nothing was changed")?;
    store.save()?;
    home.save_config(raw)?;
    report(&out, args.json)
}

fn convert_service(
    name: &str,
    svc: &Value,
    secrets: &serde_json::Value,
    key: &[u8; 32],
) -> Result<(RawService, SecretFields), String> {
    let base_url = svc
        .get("baseUrl")
        .and_then(Value::as_str)
        .ok_or("no baseUrl")?
        .to_string();
    let auth = svc.get("auth").ok_or("no auth section")?;
    let kind = auth
        .get("type")
        .and_then(Value::as_str)
        .ok_or("no auth.type")?;
    let base = url::Url::parse(&base_url).map_err(|e| format!("baseUrl: {e}"))?;
    // Secret fields: credentials.json, else inline (0.2).
    let field = |f: &str| -> Option<String> {
        secrets
            .get(name)
            .and_then(|s| s.get(f))
            .and_then(|v| v.as_str().map(str::to_string))
            .or_else(|| auth.get(f).and_then(Value::as_str).map(str::to_string))
    };
    let dec = |f: &str| -> Result<Secret, String> {
        let enc = field(f).ok_or_else(|| format!("no secret `{f}` stored for it"))?;
        legacy_decrypt(key, &enc)
            .ok_or_else(|| format!("its `{f}` does not decrypt with the Janee 0.16 master key"))
    };
    let mut fields = SecretFields::new();
    let raw_auth = match kind {
        "bearer" => {
            let k = dec("key")?;
            // Janee 0.16 stored basic auth as a bearer key "Basic base64(user:pass)".
            if let Some(pair) = k.expose().strip_prefix("Basic ").and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
            }) {
                let pair = Zeroizing::new(pair);
                let (u, p) = pair
                    .split_once(':')
                    .ok_or("its basic credential has no ':'")?;
                fields.insert("username", Secret::new(u));
                fields.insert("password", Secret::new(p));
                RawAuth::of("basic")
            } else {
                fields.insert("key", k);
                RawAuth::of("bearer")
            }
        }
        "headers" => {
            let from_creds = secrets
                .get(name)
                .and_then(|s| s.get("headers"))
                .and_then(|h| h.as_object())
                .map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect::<Vec<_>>()
                });
            let inline = auth.get("headers").and_then(Value::as_mapping).map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                    .collect::<Vec<_>>()
            });
            let list = from_creds.or(inline).ok_or("no headers stored for it")?;
            for (h, enc) in list {
                let v = legacy_decrypt(key, &enc)
                    .ok_or_else(|| format!("header {h} does not decrypt"))?;
                fields.insert(format!("{HEADER_PREFIX}{h}"), v);
            }
            RawAuth::of("headers")
        }
        "hmac-bybit" | "hmac-okx" | "hmac-mexc" | "aws-sigv4" | "oauth1a-twitter" => {
            let mut raw = RawAuth::of(kind);
            raw.region = auth
                .get("region")
                .and_then(Value::as_str)
                .map(str::to_string);
            raw.aws_service = auth
                .get("awsService")
                .and_then(Value::as_str)
                .map(str::to_string);
            let scheme = AuthKind::from_raw(&raw, &base)?;
            let all = scheme
                .required_field_names()
                .into_iter()
                .chain(["sessionToken"]);
            for f in all {
                if field(f).is_some() {
                    fields.insert(f, dec(f)?);
                }
            }
            raw
        }
        // Janee 0.16 kept the App and installation ids and the scopes beside the encrypted
        // key material.
        "github-app" | "service-account" => {
            use crate::config::raw::IdValue;
            let mut raw = RawAuth::of(kind);
            let id = |key: &str| match auth.get(key) {
                Some(Value::Number(n)) => n.as_u64().map(IdValue::Number),
                Some(Value::String(t)) => Some(IdValue::Text(t.clone())),
                _ => None,
            };
            raw.app_id = id("appId");
            raw.installation_id = id("installationId");
            raw.scopes = auth.get("scopes").and_then(Value::as_sequence).map(|seq| {
                seq.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            });
            let secret = if kind == "github-app" {
                "privateKey"
            } else {
                "credentials"
            };
            fields.insert(secret, dec(secret)?);
            raw
        }
        other => {
            return Err(format!(
                "auth type `{other}` is not supported by this janee ({}); add it by hand when it is",
                crate::auth::SUPPORTED.join(", ")
            ));
        }
    };
    let auth_kind = AuthKind::from_raw(&raw_auth, &base)?;
    for (f, v) in fields.iter() {
        if f != "username" {
            crate::scrub::check_scrubbable(v.expose()).map_err(|e| format!("its {f}: {e}"))?;
        }
    }
    let missing = auth_kind.missing_fields(&fields);
    if !missing.is_empty() {
        return Err(format!("missing secret fields: {}", missing.join(", ")));
    }
    Ok((
        RawService {
            base_url,
            auth: raw_auth,
            test_path: svc
                .get("testPath")
                .and_then(Value::as_str)
                .map(str::to_string),
            timeout: None,
            max_response_bytes: None,
            allow_http: None,
            ownership: None,
        },
        fields,
    ))
}

fn report(out: &Outcome, json: bool) -> Result<()> {
    if json {
        return print_json(&json!({
            "ok": true,
            "services": out.services,
            "capabilities": out.capabilities,
            "skipped": out.skipped.iter().map(|(n, why)| json!({"name": n, "reason": why})).collect::<Vec<_>>(),
        }));
    }
    println!(
        "Imported {} service(s) and {} capability(ies).",
        out.services.len(),
        out.capabilities.len()
    );
    for s in &out.services {
        println!("  service {s}");
    }
    for c in &out.capabilities {
        println!("  capability {c}");
    }
    for (n, why) in &out.skipped {
        println!("  skipped {n}: {why}");
    }
    Ok(())
}

/// Parse a dotenv file: `KEY=value`, `export KEY=value`, quotes, `#` comments.
fn parse_dotenv(text: &str) -> Vec<(String, Zeroizing<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let v = v.trim();
        let value = if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            inner
                .replace("\\n", "\n")
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            inner.to_string()
        } else {
            v.split(" #").next().unwrap_or(v).trim().to_string()
        };
        out.push((k.to_string(), Zeroizing::new(value)));
    }
    out
}

/// The field a variable fills: the scheme's key, or basic's username/password by suffix.
fn default_field(auth: &AuthKind, var: &str) -> Option<String> {
    match auth {
        AuthKind::Bearer { .. } | AuthKind::Query { .. } => Some("key".into()),
        AuthKind::Basic => {
            let v = var.to_ascii_uppercase();
            if v.ends_with("USERNAME") || v.ends_with("USER") {
                Some("username".into())
            } else if v.ends_with("PASSWORD") || v.ends_with("PASS") {
                Some("password".into())
            } else {
                None
            }
        }
        AuthKind::Headers | AuthKind::Signed(_) | AuthKind::Minted(_) => None,
    }
}

pub fn dotenv(home: &Home, args: ImportDotenvArgs) -> Result<()> {
    require_init(home)?;
    let text = Zeroizing::new(
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("could not read {}", args.file.display()))?,
    );
    let vars = parse_dotenv(&text);
    let mut explicit = Vec::new();
    for m in &args.map {
        let (var, target) = split_pair("--map", m)?;
        let (svc, field) = match target.split_once('.') {
            Some((s, f)) => (s.to_string(), Some(f.to_string())),
            None => (target.to_string(), None),
        };
        explicit.push((var.to_string(), svc, field));
    }
    let _lock = home.lock()?;
    let config = home.load_config()?;
    let mut store = home.open_store(interactive())?;
    let mut imported = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut changed: std::collections::BTreeMap<String, SecretFields> = Default::default();
    for (var, value) in &vars {
        let target = explicit
            .iter()
            .find(|(v, _, _)| v == var)
            .map(|(_, s, f)| (s.clone(), f.clone()))
            .or_else(|| {
                let norm = var.to_ascii_lowercase().replace('_', "-");
                config
                    .services
                    .keys()
                    .filter(|s| norm == s.as_str() || norm.starts_with(&format!("{}-", s.as_str())))
                    .max_by_key(|s| s.as_str().len())
                    .map(|s| (s.to_string(), None))
            });
        let Some((svc, field)) = target else {
            skipped.push((
                var.clone(),
                "no configured service matches its name (use --map VAR=SERVICE)".into(),
            ));
            continue;
        };
        let Some(service) = config.service(&svc) else {
            return Err(usage(format!("--map: no service named {svc:?}")));
        };
        let Some(field) = field.or_else(|| default_field(&service.auth, var)) else {
            skipped.push((
                var.clone(),
                format!("cannot tell which field of {svc} it fills (use --map {var}={svc}.FIELD)"),
            ));
            continue;
        };
        if value.is_empty() {
            skipped.push((var.clone(), "empty value".into()));
            continue;
        }
        if let Err(e) = crate::scrub::check_scrubbable(value)
            && field != "username"
        {
            skipped.push((var.clone(), e.to_string()));
            continue;
        }
        let entry = match changed.get_mut(&svc) {
            Some(e) => e,
            None => {
                let existing = store.service(&svc)?.unwrap_or_default();
                changed.entry(svc.clone()).or_insert(existing)
            }
        };
        entry.insert(field.clone(), Secret::new(value.as_str()));
        imported.push(json!({"variable": var, "service": svc, "field": field}));
    }
    for (svc, fields) in &changed {
        store.set_service(svc, fields)?;
    }
    if !changed.is_empty() {
        store.save()?;
    }
    if args.json {
        return print_json(&json!({
            "ok": true,
            "imported": imported,
            "skipped": skipped.iter().map(|(v, why)| json!({"variable": v, "reason": why})).collect::<Vec<_>>(),
        }));
    }
    println!(
        "Imported {} variable(s) from {}.",
        imported.len(),
        display(&args.file)
    );
    for i in &imported {
        println!(
            "  {} -> {}.{}",
            i["variable"].as_str().unwrap_or(""),
            i["service"].as_str().unwrap_or(""),
            i["field"].as_str().unwrap_or("")
        );
    }
    for (v, why) in &skipped {
        println!("  skipped {v}: {why}");
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_values_decrypt_and_tampering_fails() {
        let key = [7u8; 32];
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        let iv = [1u8; 12];
        let ct_tag = cipher
            .encrypt(Nonce::from_slice(&iv), b"sk_live_value_123".as_slice())
            .unwrap();
        let (ct, tag) = ct_tag.split_at(ct_tag.len() - 16);
        let mut blob = iv.to_vec();
        blob.extend_from_slice(tag);
        blob.extend_from_slice(ct);
        let text = base64::engine::general_purpose::STANDARD.encode(&blob);
        assert_eq!(
            legacy_decrypt(&key, &text).unwrap().expose(),
            "sk_live_value_123"
        );
        blob[30] ^= 1;
        let bad = base64::engine::general_purpose::STANDARD.encode(&blob);
        assert!(legacy_decrypt(&key, &bad).is_none());
    }

    #[test]
    fn dotenv_parsing() {
        let v = parse_dotenv(
            "# c\nA=1\nexport B=\"x\\ny\"\nC='lit $X'\nD=plain # comment\n\nbad line\n",
        );
        let m: Vec<(&str, &str)> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            m,
            vec![("A", "1"), ("B", "x\ny"), ("C", "lit $X"), ("D", "plain")]
        );
    }
}
