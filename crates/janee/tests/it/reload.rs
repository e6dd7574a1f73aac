//! Hot reload: the running server picks up CLI changes; a broken config is reported and the
//! old one stays in force.

use std::time::{Duration, Instant};

use super::harness::{Janee, Upstream};

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_5_config_and_store_changes_apply_without_restart_and_bad_config_keeps_the_old() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("api", &up.url(), "sk_reload_key_000111222");
    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    assert_eq!(mcp.execute("api", "GET", "/a").await.status(), Some(200));

    // A capability added by the CLI is usable at once.
    j.add_cap("narrow", "api", &["--allow", "GET /only/*"]);
    eventually("the new capability", || async {
        mcp.execute("narrow", "GET", "/only/x").await.status() == Some(200)
    })
    .await;
    assert_eq!(
        mcp.execute("narrow", "GET", "/other")
            .await
            .reason_code()
            .as_deref(),
        Some("RULE_DENY")
    );

    // A second agent added by the CLI can authenticate without a restart.
    let t2 = j.add_agent("late");
    // The reloader polls every 250 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let late = server.connect(Some(&t2), "late").await;
    assert_eq!(
        late.execute("api", "GET", "/late").await.status(),
        Some(200)
    );

    // A broken config is refused; the old one stays in force and the failure is audited.
    let good = std::fs::read_to_string(j.env.config_path()).unwrap();
    std::fs::write(j.env.config_path(), format!("{good}\nbogusKey: [\n")).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        mcp.execute("narrow", "GET", "/only/y").await.status(),
        Some(200)
    );
    assert!(
        j.logs()
            .iter()
            .any(|l| l["event"] == "config-reload" && l.get("error").is_some()),
        "the failed reload was not audited"
    );
    // Fixing the file brings changes back.
    std::fs::write(
        j.env.config_path(),
        good.replace("GET /only/*", "GET /changed/*"),
    )
    .unwrap();
    eventually("the fixed config", || async {
        mcp.execute("narrow", "GET", "/changed/z").await.status() == Some(200)
    })
    .await;
}
