//! `janee add` and `janee remove`.

use anyhow::{Result, bail};
use indexmap::IndexMap;
use janee_vault::{Secret, SecretFields};
use serde_json::json;

use super::{
    interactive, print_json, prompt_line, prompt_secret, require_init, secret_from_env,
    secret_from_stdin, split_pair, usage, warn,
};
use crate::auth::{AuthKind, HEADER_PREFIX};
use crate::cli::{AddArgs, RemoveArgs};
use crate::config::BaseUrl;
use crate::config::raw::{Mode, RawAuth, RawCapability, RawService};
use crate::duration::{ConfigDuration, parse_duration};
use crate::home::Home;
use crate::names::ServiceName;
use crate::templates::TemplateAuth;

pub fn add(home: &Home, args: AddArgs) -> Result<()> {
    let tty = interactive();
    let name = match (&args.name, tty) {
        (Some(n), _) => n.clone(),
        (None, true) => prompt_line("Service name", None)?,
        (None, false) => {
            return Err(usage(
                "missing the service NAME: janee add NAME --url URL ...",
            ));
        }
    };
    let name = ServiceName::new(name).map_err(|e| usage(e.to_string()))?;
    check_exec_flags(&args)?;

    // A built-in template (`janee search`) fills in what the flags leave out.
    let template = if args.no_template {
        None
    } else {
        crate::templates::find(name.as_str())
    };
    let url = match (&args.url, tty) {
        (Some(u), _) => u.clone(),
        (None, _) if template.is_some_and(|t| !t.base_url.contains("//your-")) => {
            template.map(|t| t.base_url.to_string()).unwrap_or_default()
        }
        (None, _) if template.is_some() => {
            return Err(usage(format!(
                "the {name} template needs --url with your own site ({})",
                template.map(|t| t.base_url).unwrap_or_default()
            )));
        }
        (None, true) => prompt_line("Base URL", None)?,
        (None, false) => {
            return Err(usage(
                "missing --url (the API's base URL, e.g. https://api.example.com)",
            ));
        }
    };
    let base = BaseUrl::parse(&url, args.allow_http).map_err(|m| usage(format!("--url: {m}")))?;
    require_init(home)?;

    let kind = match &args.auth_type {
        Some(k) => k.clone(),
        None if template.is_some() => template
            .map(|t| t.auth.type_name().to_string())
            .unwrap_or_default(),
        None if args.username.is_some()
            || args.username_from_env.is_some()
            || args.password_from_env.is_some() =>
        {
            "basic".into()
        }
        None if !args.header.is_empty() || !args.header_from_env.is_empty() => "headers".into(),
        None if args.param.is_some() => "query".into(),
        None if args.app_id.is_some() || args.installation_id.is_some() => "github-app".into(),
        None if args.token_url.is_some() => "oauth2".into(),
        None if tty => prompt_line(
            &format!("Auth type ({})", crate::auth::SUPPORTED.join(", ")),
            Some("bearer"),
        )?,
        None => "bearer".into(),
    };
    // The template's settings apply when its scheme is the one chosen; flags override them.
    let mut raw_auth = template
        .map(|t| t.auth.to_raw())
        .filter(|r| r.kind == kind)
        .unwrap_or_else(|| RawAuth::of(&kind));
    let or = |flag: &Option<String>, from_template: &mut Option<String>| {
        if flag.is_some() {
            *from_template = flag.clone();
        }
    };
    or(&args.param, &mut raw_auth.param);
    or(&args.scheme, &mut raw_auth.scheme);
    or(&args.aws_region, &mut raw_auth.region);
    or(&args.aws_service, &mut raw_auth.aws_service);
    or(&args.api_base, &mut raw_auth.api_base);
    or(&args.token_url, &mut raw_auth.token_url);
    or(&args.grant, &mut raw_auth.grant);
    if !args.scopes.is_empty() || !args.scope.is_empty() {
        raw_auth.scopes = Some(args.scopes.iter().chain(&args.scope).cloned().collect());
    }
    if tty && kind == "oauth2" && raw_auth.token_url.is_none() {
        raw_auth.token_url = Some(prompt_line("Token endpoint URL", None)?);
    }
    if tty && kind == "service-account" && raw_auth.scopes.is_none() {
        let scopes = prompt_line("OAuth scopes (comma-separated)", None)?;
        raw_auth.scopes = Some(
            scopes
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        );
    }
    raw_auth.app_id = minting_id(&kind, "github-app", "--app-id", "App id", &args.app_id, tty)?;
    raw_auth.installation_id = minting_id(
        &kind,
        "github-app",
        "--installation-id",
        "Installation id",
        &args.installation_id,
        tty,
    )?;
    let template_header = template.and_then(|t| match t.auth {
        TemplateAuth::Header { name } => Some(name),
        _ => None,
    });
    let auth = AuthKind::from_raw(&raw_auth, base.url()).map_err(|m| usage(flag_words(&m)))?;
    let fields = collect_fields(&auth, &args, tty, template_header)?;
    for (field, value) in fields.iter() {
        if !(matches!(auth, AuthKind::Basic) && field == "username") {
            crate::scrub::check_scrubbable(value.expose())
                .map_err(|e| usage(format!("{field}: {e}")))?;
        }
    }
    if let Some(tp) = &args.test_path {
        crate::canon::canonicalize(tp).map_err(|e| usage(format!("--test-path: {e}")))?;
    }
    let timeout = args
        .timeout
        .as_deref()
        .map(|t| parse_duration(t).map(ConfigDuration::from_duration))
        .transpose()
        .map_err(|m| usage(format!("--timeout: {m}")))?;

    let _lock = home.lock()?;
    let mut config = home.load_config()?.raw;
    if config.services.contains_key(name.as_str()) {
        bail!("a service named {name} exists already; remove it first with `janee remove {name}`");
    }
    // Unlock before changing anything: a wrong key must leave everything as it was.
    let mut store = home.open_store(tty)?;

    config.services.insert(
        name.to_string(),
        RawService {
            base_url: url.clone(),
            auth: raw_auth,
            test_path: args
                .test_path
                .clone()
                .or_else(|| template.map(|t| t.test_path.to_string())),
            timeout: if args.exec { None } else { timeout },
            max_response_bytes: None,
            allow_http: args.allow_http.then_some(true),
            ownership: None,
        },
    );
    let capability = if args.no_capability || config.capabilities.items.contains_key(name.as_str())
    {
        None
    } else {
        let mut cap = RawCapability {
            service: name.to_string(),
            ttl: Some(ConfigDuration::from_duration(crate::config::DEFAULT_TTL)),
            auto_approve: Some(true),
            // The template's read-only preset (proxy mode only).
            rules: template
                .filter(|_| !args.exec)
                .map(|t| crate::config::raw::RawRules {
                    allow: t.allow.iter().map(|r| r.to_string()).collect(),
                    deny: t.deny.iter().map(|r| r.to_string()).collect(),
                }),
            ..RawCapability::default()
        };
        if args.exec {
            let mut env = IndexMap::new();
            for pair in &args.env_map {
                let (k, v) = split_pair("--env-map", pair)?;
                env.insert(k.to_string(), v.to_string());
            }
            cap.mode = Some(Mode::Exec);
            cap.allow_commands = Some(args.allow_commands.clone());
            cap.env = Some(env);
            cap.work_dir = args.work_dir.clone();
            cap.timeout = timeout;
        }
        config.capabilities.items.insert(name.to_string(), cap);
        Some(name.to_string())
    };
    // Validate the whole new config before writing either file.
    crate::config::Config::from_raw_edit(&home.config_path(), config.clone())?;

    store.set_service(name.as_str(), &fields)?;
    store.save()?;
    home.save_config(config)?;

    let message = match &capability {
        Some(c) => format!(
            "Added service {name} ({}) with capability {c}",
            auth.type_name()
        ),
        None => format!("Added service {name} ({})", auth.type_name()),
    };
    if args.json {
        print_json(&json!({
            "ok": true,
            "service": name.as_str(),
            "authType": auth.type_name(),
            "capability": capability,
            "fields": fields.names().collect::<Vec<_>>(),
            "message": message,
        }))
    } else {
        println!("{message}");
        Ok(())
    }
}

/// A GitHub App id flag: given, asked for on a terminal, or left for the scheme's own error.
fn minting_id(
    kind: &str,
    wanted: &str,
    flag: &str,
    label: &str,
    given: &Option<String>,
    tty: bool,
) -> Result<Option<crate::config::raw::IdValue>> {
    use crate::config::raw::IdValue;
    match given {
        Some(id) => match id.parse::<u64>() {
            Ok(n) => Ok(Some(IdValue::Number(n))),
            Err(_) => Err(usage(format!("{flag}: {id:?} is not a number"))),
        },
        None if kind == wanted && tty => {
            let id = prompt_line(label, None)?;
            id.trim()
                .parse::<u64>()
                .map(|n| Some(IdValue::Number(n)))
                .map_err(|_| usage(format!("{label}: {id:?} is not a number")))
        }
        None => Ok(None),
    }
}

/// An auth error in the words of the command line: config keys become their flags.
fn flag_words(message: &str) -> String {
    let mut out = message.to_string();
    for (key, flag) in [
        ("`appId:`", "--app-id"),
        ("`installationId:`", "--installation-id"),
        ("`apiBase`", "--api-base"),
        ("`scopes:`", "--scopes"),
        ("`scopes`", "--scopes"),
        ("`tokenUrl:`", "--token-url"),
        ("`tokenUrl`", "--token-url"),
        ("`grant`", "--grant"),
        ("`region:`", "--aws-region"),
        ("`awsService:`", "--aws-service"),
        ("`param:`", "--param"),
        ("`param`", "--param"),
        ("`scheme`", "--scheme"),
    ] {
        out = out.replace(key, flag);
    }
    if out == message {
        format!("--auth-type: {out}")
    } else {
        out
    }
}

fn check_exec_flags(args: &AddArgs) -> Result<()> {
    if args.exec {
        if args.allow_commands.is_empty() {
            return Err(usage(
                "--exec needs --allow-commands (the executables the agent may run)",
            ));
        }
        if args.no_capability {
            return Err(usage(
                "--exec describes the capability; it cannot go with --no-capability",
            ));
        }
    } else if !args.allow_commands.is_empty() || !args.env_map.is_empty() || args.work_dir.is_some()
    {
        return Err(usage(
            "--allow-commands, --env-map and --work-dir go with --exec",
        ));
    }
    Ok(())
}

/// The key for bearer/query from the flags, stdin or a prompt.
fn key_field(args: &AddArgs, tty: bool) -> Result<Secret> {
    if let Some(var) = &args.key_from_env {
        return secret_from_env(var);
    }
    if args.key_stdin {
        return secret_from_stdin();
    }
    if let Some(k) = &args.key {
        warn(
            "--key puts the secret in the process list and shell history; prefer --key-from-env VAR",
        );
        return Ok(Secret::new(k.clone()));
    }
    if tty {
        return prompt_secret("API key");
    }
    Err(usage(
        "missing the key: give --key-from-env VAR or --key-stdin",
    ))
}

fn collect_fields(
    auth: &AuthKind,
    args: &AddArgs,
    tty: bool,
    template_header: Option<&str>,
) -> Result<SecretFields> {
    let mut fields = SecretFields::new();
    if !auth.has_named_fields() {
        let named = [
            ("--secret-from-env", args.secret_from_env.is_some()),
            ("--api-secret", args.api_secret.is_some()),
            (
                "--passphrase",
                args.passphrase.is_some() || args.passphrase_from_env.is_some(),
            ),
            (
                "--consumer-key",
                args.consumer_key.is_some() || args.consumer_key_from_env.is_some(),
            ),
            (
                "--consumer-secret",
                args.consumer_secret.is_some() || args.consumer_secret_from_env.is_some(),
            ),
            (
                "--access-token",
                args.access_token.is_some() || args.access_token_from_env.is_some(),
            ),
            (
                "--access-token-secret",
                args.access_token_secret.is_some() || args.access_token_secret_from_env.is_some(),
            ),
            ("--pem-file", args.pem_file.is_some()),
            ("--credentials-file", args.credentials_file.is_some()),
            ("--field-from-env", !args.field_from_env.is_empty()),
            ("--field-from-file", !args.field_from_file.is_empty()),
        ];
        if let Some((flag, _)) = named.iter().find(|(_, set)| *set) {
            return Err(usage(format!(
                "{flag} does not apply to auth type {}",
                auth.type_name()
            )));
        }
    }
    match auth {
        AuthKind::Bearer { .. } | AuthKind::Query { .. } => {
            fields.insert("key", key_field(args, tty)?);
        }
        AuthKind::Basic => {
            let user = if let Some(u) = &args.username {
                Secret::new(u.clone())
            } else if let Some(var) = &args.username_from_env {
                secret_from_env(var)?
            } else if tty {
                Secret::new(prompt_line("Username", None)?)
            } else {
                return Err(usage(
                    "basic auth needs --username or --username-from-env VAR",
                ));
            };
            let pass = if let Some(var) = &args.password_from_env {
                secret_from_env(var)?
            } else if args.key_stdin {
                secret_from_stdin()?
            } else if tty {
                prompt_secret("Password")?
            } else {
                return Err(usage(
                    "basic auth needs --password-from-env VAR (or --key-stdin)",
                ));
            };
            fields.insert("username", user);
            fields.insert("password", pass);
        }
        AuthKind::Signed(_) | AuthKind::Minted(_) => {
            named_field_flags(auth, args, tty, &mut fields)?;
            for pair in &args.field_from_env {
                let (f, var) = split_pair("--field-from-env", pair)?;
                fields.insert(f.to_string(), secret_from_env(var)?);
            }
            for pair in &args.field_from_file {
                let (f, path) = split_pair("--field-from-file", pair)?;
                fields.insert(f.to_string(), read_field_file(f, path)?);
            }
            let required = auth.required_field_names();
            let known: Vec<&str> = required
                .iter()
                .chain(auth.optional_field_names())
                .copied()
                .collect();
            if let Some(bad) = fields.names().find(|n| !known.contains(n)) {
                return Err(usage(format!(
                    "{} has no field {bad:?}; its fields are {}",
                    auth.type_name(),
                    known.join(", ")
                )));
            }
            for f in &required {
                if fields.get(f).is_none() {
                    if tty && FILE_FIELDS.contains(f) {
                        let path = prompt_line(&format!("Path of the file holding {f}"), None)?;
                        fields.insert(*f, read_field_file(f, &path)?);
                    } else if tty {
                        fields.insert(*f, prompt_secret(f)?);
                    } else {
                        let how = if FILE_FIELDS.contains(f) {
                            format!("--field-from-file {f}=PATH")
                        } else {
                            format!("--field-from-env {f}=VAR")
                        };
                        return Err(usage(format!(
                            "{} needs the secret field {f}: give {how}",
                            auth.type_name()
                        )));
                    }
                }
            }
        }
        AuthKind::Headers => {
            for pair in &args.header_from_env {
                let (h, var) = split_pair("--header-from-env", pair)?;
                fields.insert(
                    format!("{HEADER_PREFIX}{}", header_name(h)?),
                    secret_from_env(var)?,
                );
            }
            if !args.header.is_empty() {
                warn(
                    "--header puts the secret in the process list; prefer --header-from-env NAME=VAR",
                );
            }
            for pair in &args.header {
                let (h, v) = split_pair("--header", pair)?;
                fields.insert(
                    format!("{HEADER_PREFIX}{}", header_name(h)?),
                    Secret::new(v),
                );
            }
            if let (true, Some(h)) = (fields.is_empty(), template_header) {
                fields.insert(format!("{HEADER_PREFIX}{h}"), key_field(args, tty)?);
            }
            if fields.is_empty() {
                if tty {
                    let h = prompt_line("Header name", Some("X-Api-Key"))?;
                    fields.insert(
                        format!("{HEADER_PREFIX}{}", header_name(&h)?),
                        prompt_secret("Header value")?,
                    );
                } else {
                    return Err(usage(
                        "auth type headers needs --header-from-env NAME=VAR (repeatable)",
                    ));
                }
            }
        }
    }
    Ok(fields)
}

/// The dedicated flags of the multi-field schemes (those Janee 0.16 had, and a
/// `--*-from-env` form of each), as store fields.
fn named_field_flags(
    auth: &AuthKind,
    args: &AddArgs,
    tty: bool,
    fields: &mut SecretFields,
) -> Result<()> {
    use crate::minting::Minter;
    use crate::signing::Scheme;
    let kind = auth.type_name();
    let (key_name, secret_name) = match auth {
        AuthKind::Signed(Scheme::AwsSigV4 { .. }) => (Some("accessKeyId"), Some("secretAccessKey")),
        AuthKind::Signed(Scheme::OAuth1aTwitter) => (None, None),
        AuthKind::Signed(_) => (Some("apiKey"), Some("apiSecret")),
        AuthKind::Minted(Minter::OAuth2 { .. }) => (None, Some("clientSecret")),
        _ => (None, None),
    };
    let not_here = |flag: &str| {
        usage(format!(
            "{flag} does not apply to {kind}; give its fields with --field-from-env FIELD=VAR ({})",
            auth.required_field_names().join(", ")
        ))
    };
    if args.key_from_env.is_some() || args.key_stdin || args.key.is_some() {
        let name = key_name.ok_or_else(|| not_here("--key"))?;
        fields.insert(name, key_field(args, tty)?);
    }
    let visible = |flag: &str| {
        warn(&format!(
            "{flag} puts the secret in the process list and shell history; prefer {flag}-from-env VAR"
        ));
    };
    let mut pairs: Vec<(&str, &str, &Option<String>, &Option<String>)> = vec![
        (
            "--passphrase",
            "passphrase",
            &args.passphrase_from_env,
            &args.passphrase,
        ),
        (
            "--consumer-key",
            "consumerKey",
            &args.consumer_key_from_env,
            &args.consumer_key,
        ),
        (
            "--consumer-secret",
            "consumerSecret",
            &args.consumer_secret_from_env,
            &args.consumer_secret,
        ),
        (
            "--access-token",
            "accessToken",
            &args.access_token_from_env,
            &args.access_token,
        ),
        (
            "--access-token-secret",
            "accessTokenSecret",
            &args.access_token_secret_from_env,
            &args.access_token_secret,
        ),
    ];
    if args.secret_from_env.is_some() || args.api_secret.is_some() {
        let name = secret_name.ok_or_else(|| not_here("--secret-from-env"))?;
        pairs.push((
            "--api-secret",
            name,
            &args.secret_from_env,
            &args.api_secret,
        ));
    }
    for (flag, name, from_env, literal) in pairs {
        if let Some(var) = from_env {
            fields.insert(name, secret_from_env(var)?);
        } else if let Some(value) = literal {
            visible(flag);
            fields.insert(name, Secret::new(value.clone()));
        }
    }
    for (flag, name, path) in [
        ("--pem-file", "privateKey", &args.pem_file),
        ("--credentials-file", "credentials", &args.credentials_file),
    ] {
        if let Some(path) = path {
            if !auth.required_field_names().contains(&name) {
                return Err(not_here(flag));
            }
            fields.insert(name, read_field_file(name, path)?);
        }
    }
    Ok(())
}

/// Secret fields that are whole files (a PEM key, a key-file JSON), read from a path.
const FILE_FIELDS: &[&str] = &["privateKey", "credentials"];

fn read_field_file(field: &str, path: &str) -> Result<Secret> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| usage(format!("--field-from-file {field}: {path}: {e}")))?,
    );
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

fn header_name(h: &str) -> Result<String> {
    let ok = !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        return Err(usage(format!(
            "invalid header name {:?}",
            super::shorten(h)
        )));
    }
    if crate::headers::is_forbidden_for_credentials(h) {
        return Err(usage(format!("{h} cannot carry a credential")));
    }
    Ok(h.to_string())
}

pub fn remove(home: &Home, args: RemoveArgs) -> Result<()> {
    require_init(home)?;
    let tty = interactive();
    let _lock = home.lock()?;
    let mut config = home.load_config()?.raw;
    if !config.services.contains_key(&args.name) {
        bail!(
            "no service named {:?}; `janee list` shows the services",
            super::shorten(&args.name)
        );
    }
    let caps: Vec<String> = config
        .capabilities
        .items
        .iter()
        .filter(|(_, c)| c.service == args.name)
        .map(|(n, _)| n.clone())
        .collect();
    if tty && !args.yes {
        let extra = if caps.is_empty() {
            String::new()
        } else {
            format!(" and capabilities {}", caps.join(", "))
        };
        if !super::confirm(&format!(
            "Remove service {}{extra} and its secrets?",
            args.name
        ))? {
            bail!("cancelled; nothing was removed");
        }
    }
    let mut store = home.open_store(tty)?;
    store.remove_service(&args.name);
    config.services.shift_remove(&args.name);
    for c in &caps {
        config.capabilities.items.shift_remove(c);
    }
    store.save()?;
    home.save_config(config)?;
    if args.json {
        print_json(&json!({"ok": true, "service": args.name, "removedCapabilities": caps}))
    } else {
        println!(
            "Removed service {}{}",
            args.name,
            if caps.is_empty() {
                String::new()
            } else {
                format!(" and capabilities {}", caps.join(", "))
            }
        );
        Ok(())
    }
}
