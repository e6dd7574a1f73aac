//! Service templates, `janee search`, `janee test` and the `test_service` tool.

use serde_json::json;

use super::harness::{Janee, Upstream};
use super::util::Env;

#[test]
fn search_lists_templates_and_add_uses_one() {
    let env = Env::init();
    let found = env.json(&["search", "stripe", "--json"]);
    assert_eq!(found[0]["name"], "stripe");
    assert_eq!(found[0]["baseUrl"], "https://api.stripe.com");
    assert!(env.json(&["search", "--json"]).as_array().unwrap().len() >= 25);
    let out = env.run_env(
        &["add", "stripe", "--key-from-env", "K", "--json"],
        &[("K", "sk_test_template_123456")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = env.json(&["list", "--json"]);
    assert_eq!(list[0]["baseUrl"], "https://api.stripe.com");
    let caps = env.json(&["cap", "list", "--json"]);
    assert_eq!(
        caps[0]["rules"]["allow"],
        json!(["GET /v1/*"]),
        "the read-only preset"
    );
    // A header-auth template puts the key in its header.
    let out = env.run_env(
        &["add", "anthropic", "--key-from-env", "K", "--json"],
        &[("K", "sk-ant-template-123456")],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fields"], json!(["header.x-api-key"]), "{v}");
    // A tenant template insists on the user's own URL.
    let out = env.run_env(
        &[
            "add",
            "jira",
            "--username",
            "me@example.com",
            "--password-from-env",
            "K",
        ],
        &[("K", "atlassian-token-123")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janee_test_and_test_service_tell_whether_the_credential_works() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    let out = j.env.run_env(
        &[
            "add",
            "api",
            "--url",
            &up.url(),
            "--key-from-env",
            "K",
            "--test-path",
            "/ping",
        ],
        &[("K", "sk_probe_key_0123456789")],
    );
    assert!(out.status.success());
    let report = j.env.json(&["test", "api", "--json"]);
    assert_eq!(report[0]["authOk"], true, "{report}");
    assert_eq!(report[0]["status"], 200);
    let seen = up.requests();
    assert_eq!(seen.last().unwrap().target, "/ping");
    assert_eq!(
        seen.last().unwrap().header_values("authorization"),
        vec!["Bearer sk_probe_key_0123456789"]
    );

    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let r = mcp.call("test_service", json!({})).await;
    assert!(!r.is_error, "{}", r.text);
    assert_eq!(r.json()[0]["service"], "api");
    assert_eq!(r.json()[0]["authOk"], true);
    assert!(!r.text.contains("sk_probe_key"), "{}", r.text);
    let r = mcp.call("test_service", json!({"service": "other"})).await;
    assert!(r.is_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_calls_go_through_a_proxy_named_in_the_environment() {
    let proxy = Upstream::recorder().await;
    let j = Janee::new();
    // A name that resolves nowhere: only a proxy can reach it.
    let out = j.env.run_env(
        &[
            "add",
            "api",
            "--url",
            "http://api.janee-proxy.test",
            "--allow-http",
            "--key-from-env",
            "K",
            "--test-path",
            "/ping",
        ],
        &[("K", "sk_proxy_key_0123456789")],
    );
    assert!(out.status.success());

    let out = j.env.run_env(&["test", "api", "--json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let direct: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(direct[0]["reachable"], false, "{direct}");
    let why = direct[0]["error"].as_str().unwrap_or_default();
    assert!(why.contains("could not connect"), "{direct}");
    assert!(proxy.requests().is_empty());

    let out = j.env.run_env(
        &["test", "api", "--json"],
        &[("HTTP_PROXY", proxy.url().as_str())],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["authOk"], true, "{report}");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/ping");
    assert_eq!(seen[0].header_values("host"), vec!["api.janee-proxy.test"]);
    assert_eq!(
        seen[0].header_values("authorization"),
        vec!["Bearer sk_proxy_key_0123456789"]
    );
}
