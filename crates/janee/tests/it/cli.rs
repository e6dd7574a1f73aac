//! The management CLI end to end: config errors, custody options, import, agents, capabilities.

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;

use super::util::{Env, all_files, contains, stderr};

#[test]
fn malformed_config_names_file_line_and_key() {
    let env = Env::init();
    std::fs::write(
        env.config_path(),
        "services:\n  s:\n    baseUrl: https://x.example.com\n    auth:\n      type: bearer\n    colour: blue\n",
    )
    .unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("config.yaml:6"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn plaintext_secret_in_config_is_refused_with_the_way_out() {
    let env = Env::init();
    std::fs::write(
        env.config_path(),
        "services:\n  stripe:\n    baseUrl: https://api.stripe.com\n    auth:\n      type: bearer\n      key: sk_live_plaintext_999\n",
    )
    .unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("config.yaml:6") && err.contains("services.stripe.auth.key"),
        "{err}"
    );
    assert!(
        err.contains("janee import") || err.contains("janee add"),
        "{err}"
    );
    assert!(!err.contains("sk_live_plaintext_999"), "{err}");
}

#[test]
fn init_without_any_key_source_lists_the_options_and_creates_nothing() {
    let env = Env::new();
    let out = env
        .cmd()
        .env_remove("JANEE_PASSPHRASE")
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for option in ["JANEE_PASSPHRASE", "JANEE_MASTER_KEY", "--key-file"] {
        assert!(err.contains(option), "{err}");
    }
    assert!(!env.home.join("store.janee").exists());
}

#[test]
fn master_key_env_and_key_file_custody() {
    let key = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
    let env = Env::new();
    let init = env
        .cmd()
        .env_remove("JANEE_PASSPHRASE")
        .env("JANEE_MASTER_KEY", &key)
        .args(["init", "--json"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", stderr(&init));
    let v: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    assert_eq!(v["custody"], "master-key");
    let bad = env
        .cmd()
        .env_remove("JANEE_PASSPHRASE")
        .env(
            "JANEE_MASTER_KEY",
            base64::engine::general_purpose::STANDARD.encode([4u8; 32]),
        )
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let none = env
        .cmd()
        .env_remove("JANEE_PASSPHRASE")
        .args(["agent", "add", "x"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("no key to unlock"),
        "{}",
        stderr(&none)
    );

    let env2 = Env::new();
    let kf = env2.dir.path().join("master.key");
    let o = env2
        .cmd()
        .env_remove("JANEE_PASSPHRASE")
        .args(["init", "--key-file", kf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let d = env2
        .cmd()
        .env_remove("JANEE_PASSPHRASE")
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    let custody = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "key-custody")
        .unwrap()
        .clone();
    assert_eq!(custody["status"], "warn", "{custody}");
}

#[test]
fn agent_token_is_shown_once_and_stored_only_as_a_hash() {
    let env = Env::init();
    let token = env.ok(&["agent", "add", "claude"]);
    let token = token.trim();
    assert!(
        token.starts_with("janee_at_") && !token.contains(' '),
        "{token}"
    );
    let v = env.json(&["agent", "add", "cursor", "--json"]);
    assert_eq!(v["name"], "cursor");
    let t2 = v["token"].as_str().unwrap().to_string();
    let list = env.ok(&["agent", "list", "--json"]);
    assert!(!list.contains(token) && !list.contains(&t2));
    for (p, b) in all_files(&env.home) {
        assert!(!contains(&b, token), "{} holds the token", p.display());
    }
    let again = env.run(&["agent", "add", "claude"]);
    assert_eq!(again.status.code(), Some(1));
    env.ok(&["agent", "remove", "claude"]);
    let names: Vec<String> = env
        .json(&["agent", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["cursor"]);
}

#[test]
fn capability_lifecycle_and_bad_rules() {
    let env = Env::init();
    assert!(
        env.add_bearer("gh", "https://api.github.com", "ghp_0123456789abcdef")
            .status
            .success()
    );
    let v = env.json(&[
        "cap",
        "add",
        "gh-read",
        "--service",
        "gh",
        "--allow",
        "GET /repos/*",
        "--deny",
        "* /admin*",
        "--ttl",
        "30m",
        "--requires-reason",
        "--allowed-agents",
        "a,b",
        "--json",
    ]);
    assert_eq!(v["ttl"], "30m");
    assert_eq!(v["requiresReason"], true);
    assert_eq!(v["rules"]["allow"][0], "GET /repos/*");
    assert_eq!(v["allowedAgents"], serde_json::json!(["a", "b"]));
    let v = env.json(&[
        "cap",
        "edit",
        "gh-read",
        "--no-requires-reason",
        "--clear-agents",
        "--json",
    ]);
    assert_eq!(v["requiresReason"], false);
    assert!(v.get("allowedAgents").is_none());
    let bad = env.run(&["cap", "edit", "gh-read", "--allow", "GET /../admin"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("rule"), "{}", stderr(&bad));
    let bad = env.run(&["cap", "add", "x", "--service", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    env.ok(&["cap", "remove", "gh-read"]);
    let caps = env.json(&["cap", "list", "--json"]);
    assert_eq!(caps.as_array().unwrap().len(), 1);
    // remove drops the service's capabilities and secrets
    env.ok(&["remove", "gh", "--yes"]);
    assert_eq!(env.json(&["cap", "list", "--json"]), serde_json::json!([]));
    assert_eq!(env.json(&["list", "--json"]), serde_json::json!([]));
}

#[test]
fn exec_add_creates_an_exec_capability() {
    let env = Env::init();
    let out = env.run_env(
        &[
            "add",
            "github",
            "--url",
            "https://api.github.com",
            "--key-from-env",
            "K",
            "--exec",
            "--allow-commands",
            "gh,git",
            "--env-map",
            "GH_TOKEN={{credential}}",
            "--json",
        ],
        &[("K", "ghp_0123456789abcdef")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let caps = env.json(&["cap", "list", "--json"]);
    assert_eq!(caps[0]["mode"], "exec");
    assert_eq!(caps[0]["allowCommands"], serde_json::json!(["gh", "git"]));
    assert_eq!(caps[0]["env"], serde_json::json!(["GH_TOKEN"]));
    let bad = env.run(&["add", "x", "--url", "https://x.example.com", "--exec"]);
    assert_eq!(bad.status.code(), Some(2));
}

fn legacy_encrypt(key: &[u8; 32], plain: &str) -> String {
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).unwrap();
    let iv = [9u8; 12];
    let ct_tag = cipher
        .encrypt(aes_gcm::Nonce::from_slice(&iv), plain.as_bytes())
        .unwrap();
    let (ct, tag) = ct_tag.split_at(ct_tag.len() - 16);
    let mut blob = iv.to_vec();
    blob.extend_from_slice(tag);
    blob.extend_from_slice(ct);
    base64::engine::general_purpose::STANDARD.encode(blob)
}

#[test]
fn import_a_janee_016_home() {
    let env = Env::init();
    let old = env.dir.path().join("old-janee");
    std::fs::create_dir_all(&old).unwrap();
    let key = [5u8; 32];
    std::fs::write(
        old.join("config.yaml"),
        "version: 0.3.0\nserver:\n  port: 9119\n  host: localhost\n  strictDecryption: true\n  defaultAccess: restricted\nservices:\n  stripe:\n    baseUrl: https://api.stripe.com\n    auth:\n      type: bearer\n    testPath: /v1/balance\n  jira:\n    baseUrl: https://jira.example.com\n    auth:\n      type: bearer\n  hdr:\n    baseUrl: https://hdr.example.com\n    auth:\n      type: headers\n  okx:\n    baseUrl: https://www.okx.com\n    auth:\n      type: hmac-okx\n  tiny:\n    baseUrl: https://tiny.example.com\n    auth:\n      type: bearer\n  gh:\n    baseUrl: https://api.github.com\n    auth:\n      type: github-app\n      appId: 123\n      installationId: '456'\ncapabilities:\n  stripe:\n    service: stripe\n    ttl: 1h\n    autoApprove: true\n    rules:\n      allow:\n        - GET /v1/*\n  okx:\n    service: okx\n    ttl: 1h\n",
    )
    .unwrap();
    let creds = serde_json::json!({
        "masterKey": base64::engine::general_purpose::STANDARD.encode(key),
        "secrets": {
            "stripe": {"key": legacy_encrypt(&key, "sk_live_imported_0001")},
            "jira": {"key": legacy_encrypt(&key, &format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bob:hunter2hunter2")))},
            "hdr": {"headers": {"X-API-Key": legacy_encrypt(&key, "hdr_secret_value_77")}},
            "okx": {"apiKey": legacy_encrypt(&key, "okx-api-key-1"), "apiSecret": legacy_encrypt(&key, "okx-api-secret-2"), "passphrase": legacy_encrypt(&key, "okx-passphrase-3")},
            "tiny": {"key": legacy_encrypt(&key, "abc")},
            "gh": {"privateKey": legacy_encrypt(&key, include_str!("../fixtures/rsa-pkcs1.pem"))}
        }
    });
    std::fs::write(old.join("credentials.json"), creds.to_string()).unwrap();
    let v = env.json(&["import", "janee", old.to_str().unwrap(), "--json"]);
    assert_eq!(
        v["services"],
        serde_json::json!(["stripe", "jira", "hdr", "okx", "gh"]),
        "{v:#}"
    );
    assert_eq!(v["capabilities"], serde_json::json!(["stripe", "okx"]));
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"tiny"),
        "a secret too short to scrub is refused: {v:#}"
    );
    let list = env.json(&["list", "--json"]);
    let jira = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "jira")
        .unwrap();
    assert_eq!(
        jira["authType"], "basic",
        "0.16's 'Basic' bearer key becomes real basic auth"
    );
    let gh = list.as_array().unwrap().iter().find(|s| s["name"] == "gh");
    assert_eq!(gh.unwrap()["authType"], "github-app", "{list:#}");
    let config = std::fs::read_to_string(env.home.join("config.yaml")).unwrap();
    assert!(
        config.contains("appId: 123") && config.contains("installationId: '456'"),
        "{config}"
    );
    assert_eq!(env.json(&["doctor", "--json"])["ok"], true);
    for (p, b) in all_files(&env.home) {
        for s in [
            "sk_live_imported_0001",
            "hunter2hunter2",
            "hdr_secret_value_77",
        ] {
            assert!(!contains(&b, s), "{} holds {s}", p.display());
        }
    }
    // The import is idempotent unless asked to overwrite.
    let again = env.json(&["import", "janee", old.to_str().unwrap(), "--json"]);
    assert_eq!(again["services"], serde_json::json!([]));
}

#[test]
fn import_dotenv_into_configured_services() {
    let env = Env::init();
    assert!(
        env.add_bearer("stripe", "https://api.stripe.com", "sk_old_value_000000")
            .status
            .success()
    );
    assert!(
        env.add_bearer("openai", "https://api.openai.com/v1", "sk_old_value_111111")
            .status
            .success()
    );
    let f = env.dir.path().join(".env");
    std::fs::write(&f, "STRIPE_API_KEY=sk_new_stripe_222222\nexport OPENAI_KEY=\"sk-new-openai-333333\"\nUNRELATED=whatever-value\nTINY=abc\n").unwrap();
    let v = env.json(&[
        "import",
        "dotenv",
        f.to_str().unwrap(),
        "--json",
        "--map",
        "TINY=stripe",
    ]);
    let imported: Vec<&str> = v["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["variable"].as_str().unwrap())
        .collect();
    assert_eq!(imported, vec!["STRIPE_API_KEY", "OPENAI_KEY"], "{v:#}");
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["variable"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, vec!["UNRELATED", "TINY"]);
    let text = serde_json::to_string(&v).unwrap();
    assert!(
        !text.contains("whatever-value") && !text.contains("sk_new_stripe"),
        "values never printed"
    );
}

#[test]
fn usage_errors_exit_2_and_operational_errors_exit_1() {
    let env = Env::init();
    assert_eq!(env.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(env.run(&["add"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["add", "x", "--url", "https://x.example.com"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        env.run(&["add", "bad/name", "--url", "https://x.example.com"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        env.run(&["remove", "nothing", "--yes"]).status.code(),
        Some(1)
    );
    let uninit = Env::new();
    let o = uninit.run_env(
        &[
            "add",
            "x",
            "--url",
            "https://x.example.com",
            "--key-from-env",
            "K",
        ],
        &[("K", "0123456789abc")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("janee init"), "{}", stderr(&o));
}

#[test]
fn add_takes_janee_016_flags_for_multi_field_schemes() {
    let env = Env::init();
    let dir = env.dir.path();
    let added = |args: &[&str], vars: &[(&str, &str)]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = env.run_env(&all, vars);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = added(
        &[
            "add",
            "okx",
            "--url",
            "https://www.okx.com",
            "--auth-type",
            "hmac-okx",
            "--key-from-env",
            "K",
            "--secret-from-env",
            "S",
            "--passphrase-from-env",
            "P",
        ],
        &[
            ("K", "okx-key-0001"),
            ("S", "okx-secret-0002"),
            ("P", "okx-pass-0003"),
        ],
    );
    assert_eq!(
        v["fields"],
        serde_json::json!(["apiKey", "apiSecret", "passphrase"])
    );
    let v = added(
        &[
            "add",
            "x",
            "--url",
            "https://api.x.com",
            "--auth-type",
            "oauth1a-twitter",
            "--consumer-key-from-env",
            "A",
            "--consumer-secret-from-env",
            "B",
            "--access-token-from-env",
            "C",
            "--access-token-secret-from-env",
            "D",
        ],
        &[
            ("A", "consumer-key-1"),
            ("B", "consumer-secret-2"),
            ("C", "access-token-3"),
            ("D", "token-secret-4"),
        ],
    );
    assert_eq!(v["authType"], "oauth1a-twitter");
    assert_eq!(v["fields"].as_array().unwrap().len(), 4);
    let pem = dir.join("app.pem");
    std::fs::write(&pem, include_str!("../fixtures/rsa-pkcs1.pem")).unwrap();
    let v = added(
        &[
            "add",
            "gh",
            "--url",
            "https://api.github.com",
            "--auth-type",
            "github-app",
            "--app-id",
            "1",
            "--installation-id",
            "2",
            "--pem-file",
            pem.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(v["fields"], serde_json::json!(["privateKey"]));
    let sa = dir.join("sa.json");
    std::fs::write(&sa, r#"{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"x"}"#).unwrap();
    let v = added(
        &[
            "add",
            "sheets",
            "--url",
            "https://sheets.googleapis.com",
            "--auth-type",
            "service-account",
            "--credentials-file",
            sa.to_str().unwrap(),
            "--scope",
            "https://www.googleapis.com/auth/spreadsheets.readonly",
        ],
        &[],
    );
    assert_eq!(v["authType"], "service-account");
    let config = std::fs::read_to_string(env.home.join("config.yaml")).unwrap();
    assert!(config.contains("spreadsheets.readonly"), "{config}");
    // A flag of another scheme is refused by name, and nothing is added.
    let out = env.run_env(
        &[
            "add",
            "plain",
            "--url",
            "https://api.example.com",
            "--key-from-env",
            "K",
            "--passphrase-from-env",
            "P",
        ],
        &[("K", "plain-key-0001"), ("P", "pass-0002-xyz")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--passphrase"), "{}", stderr(&out));
    let out = env.run_env(
        &[
            "add",
            "bb",
            "--url",
            "https://api.bybit.com",
            "--auth-type",
            "hmac-bybit",
            "--key-from-env",
            "K",
            "--secret-from-env",
            "S",
            "--passphrase-from-env",
            "P",
        ],
        &[
            ("K", "bybit-key-0001"),
            ("S", "bybit-secret-02"),
            ("P", "pass-0002-xyz"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("passphrase"), "{}", stderr(&out));
    let names: Vec<String> = env
        .json(&["list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["okx", "x", "gh", "sheets"]);
}
