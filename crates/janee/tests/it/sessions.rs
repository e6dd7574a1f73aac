//! Sessions, revocation, approvals and rate limits (issue 6), against the real server with a
//! second `janee` process as the human.

use std::time::Duration;

use serde_json::json;

use super::harness::{Janee, Upstream};

const KEY: &str = "sk_session_key_0123456789";

/// A home with service `api` (recording upstream) and agent `bot`; returns (janee, token).
async fn setup(up: &Upstream) -> (Janee, String) {
    let j = Janee::new();
    j.add_bearer("api", &up.url(), KEY);
    let token = j.add_agent("bot");
    (j, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_6_revoke_from_another_process_is_seen_by_the_next_call_and_survives_restart() {
    let up = Upstream::recorder().await;
    let (j, token) = setup(&up).await;
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let ok = mcp.execute("api", "GET", "/one").await;
    assert_eq!(ok.status(), Some(200), "{}", ok.text);
    let sessions = j.env.json(&["sessions", "--json"]);
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(sessions[0]["agent"], "bot");

    j.env.ok(&["revoke", "--agent", "bot"]);
    let denied = mcp.execute("api", "GET", "/two").await;
    assert_eq!(
        denied.reason_code().as_deref(),
        Some("SESSION_REVOKED"),
        "{}",
        denied.text
    );
    assert_eq!(up.count(), 1, "the revoked call reached upstream");

    drop(mcp);
    drop(server);
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let still = mcp.execute("api", "GET", "/three").await;
    assert_eq!(
        still.reason_code().as_deref(),
        Some("SESSION_REVOKED"),
        "{}",
        still.text
    );
    assert_eq!(up.count(), 1);
    let events: Vec<String> = j
        .logs()
        .iter()
        .map(|l| l["event"].as_str().unwrap_or("").to_string())
        .collect();
    for e in ["session-open", "revoke", "denied"] {
        assert!(events.iter().any(|x| x == e), "no {e} event in {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_6_fifty_calls_racing_a_revoke_none_sent_after_it_reaches_upstream() {
    let up = Upstream::recorder().await;
    let (j, token) = setup(&up).await;
    let server = j.serve_http(&["--stateless"]);
    let mcp = std::sync::Arc::new(server.stateless(Some(&token)));
    assert_eq!(mcp.execute("api", "GET", "/warm").await.status(), Some(200));
    let mut before = Vec::new();
    for i in 0..25 {
        let m = mcp.clone();
        before.push(tokio::spawn(async move {
            m.execute("api", "GET", &format!("/before?n={i}")).await
        }));
    }
    j.env.ok(&["revoke", "--all"]);
    let mut after = Vec::new();
    for i in 0..25 {
        let m = mcp.clone();
        after.push(tokio::spawn(async move {
            m.execute("api", "GET", &format!("/after?n={i}")).await
        }));
    }
    for h in before {
        let r = h.await.unwrap();
        assert!(
            r.status() == Some(200) || r.reason_code().as_deref() == Some("SESSION_REVOKED"),
            "{}",
            r.text
        );
    }
    for h in after {
        let r = h.await.unwrap();
        assert_eq!(
            r.reason_code().as_deref(),
            Some("SESSION_REVOKED"),
            "{}",
            r.text
        );
    }
    let leaked: Vec<String> = up
        .requests()
        .iter()
        .map(|r| r.target.clone())
        .filter(|t| t.starts_with("/after"))
        .collect();
    assert!(
        leaked.is_empty(),
        "calls sent after the revoke reached upstream: {leaked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_6_approval_approve_deny_and_timeout() {
    let up = Upstream::recorder().await;
    let (j, token) = setup(&up).await;
    j.add_cap("guarded", "api", &["--no-auto-approve"]);
    // A short wait so the timeout case is quick.
    let cfg = std::fs::read_to_string(j.env.config_path()).unwrap();
    std::fs::write(
        j.env.config_path(),
        cfg.replace("server:\n", "server:\n  approvalTimeout: 3s\n"),
    )
    .unwrap();
    let server = j.serve_http(&[]);
    let mcp = std::sync::Arc::new(server.connect(Some(&token), "bot").await);

    // 1. Pending, then approved from another process: the waiting call proceeds.
    let m = mcp.clone();
    let waiting = tokio::spawn(async move {
        m.call("execute", json!({"capability": "guarded", "method": "GET", "path": "/secret-report?q=1", "reason": "monthly \"report\"\n{\"seq\":1}"})).await
    });
    let mut pending = json!([]);
    for _ in 0..50 {
        pending = j.env.json(&["approvals", "--json"]);
        if !pending.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let req = &pending[0];
    assert_eq!(req["agent"], "bot");
    assert_eq!(req["capability"], "guarded");
    assert_eq!(req["request"]["method"], "GET");
    assert_eq!(
        req["request"]["path"], "/secret-report?q=1",
        "the canonical request is shown"
    );
    assert!(req["reason"].as_str().unwrap().contains("monthly"));
    assert!(!req["reason"].as_str().unwrap().contains('\n'));
    assert_eq!(up.count(), 0, "nothing reached upstream before approval");
    let id = req["id"].as_str().unwrap().to_string();
    j.env.ok(&["approve", &id]);
    let r = waiting.await.unwrap();
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert_eq!(up.count(), 1);
    // The session is open now: no more approvals.
    assert_eq!(
        mcp.execute("guarded", "GET", "/again").await.status(),
        Some(200)
    );

    // 2. Timeout: the call gets APPROVAL_PENDING with the id, nothing reaches upstream.
    j.env.ok(&["revoke", "--capability", "guarded"]);
    std::fs::write(
        j.env.config_path(),
        std::fs::read_to_string(j.env.config_path())
            .unwrap()
            .replace("  guarded:\n", "  guarded2:\n"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = up.count();
    let t = mcp.execute("guarded2", "GET", "/x").await;
    assert_eq!(
        t.reason_code().as_deref(),
        Some("APPROVAL_PENDING"),
        "{}",
        t.text
    );
    let pending = j.env.json(&["approvals", "--json"]);
    let id2 = pending[0]["id"].as_str().unwrap().to_string();
    assert!(
        t.json()["denial"]["nextStep"]
            .as_str()
            .unwrap()
            .contains(&id2),
        "{}",
        t.text
    );
    assert_eq!(up.count(), before);

    // 3. Denied: the retry is refused with APPROVAL_DENIED and never reaches upstream.
    j.env.ok(&["deny", &id2]);
    let d = mcp.execute("guarded2", "GET", "/x").await;
    assert_eq!(
        d.reason_code().as_deref(),
        Some("APPROVAL_DENIED"),
        "{}",
        d.text
    );
    assert_eq!(up.count(), before);
    // Approving something already decided is an error.
    assert_eq!(j.env.run(&["approve", &id2]).status.code(), Some(1));
    let events: Vec<String> = j
        .logs()
        .iter()
        .map(|l| l["event"].as_str().unwrap_or("").to_string())
        .collect();
    for e in ["approval-request", "approve", "deny", "session-open"] {
        assert!(events.iter().any(|x| x == e), "no {e} event in {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_6_forged_approval_in_the_file_grants_nothing() {
    let up = Upstream::recorder().await;
    let (j, token) = setup(&up).await;
    j.add_cap("guarded", "api", &["--no-auto-approve"]);
    let cfg = std::fs::read_to_string(j.env.config_path()).unwrap();
    std::fs::write(
        j.env.config_path(),
        cfg.replace("server:\n", "server:\n  approvalTimeout: 1s\n"),
    )
    .unwrap();
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let r = mcp.execute("guarded", "GET", "/x").await;
    assert_eq!(r.reason_code().as_deref(), Some("APPROVAL_PENDING"));
    // Something without the key flips the request to approved in the file.
    let path = j.env.home.join("sessions.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"pending\"", "\"approved\"");
    std::fs::write(&path, text).unwrap();
    let r = mcp.execute("guarded", "GET", "/x").await;
    assert_eq!(
        r.reason_code().as_deref(),
        Some("APPROVAL_PENDING"),
        "{}",
        r.text
    );
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_6_rate_limit_refuses_the_extra_call_before_upstream() {
    let up = Upstream::recorder().await;
    let (j, token) = setup(&up).await;
    j.add_cap("limited", "api", &["--rate-limit", "3/1h"]);
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    for i in 0..3 {
        assert_eq!(
            mcp.execute("limited", "GET", &format!("/n{i}"))
                .await
                .status(),
            Some(200)
        );
    }
    let r = mcp.execute("limited", "GET", "/n3").await;
    assert_eq!(
        r.reason_code().as_deref(),
        Some("RATE_LIMITED"),
        "{}",
        r.text
    );
    assert!(
        r.json()["denial"]["nextStep"]
            .as_str()
            .unwrap()
            .contains("retry after"),
        "{}",
        r.text
    );
    assert_eq!(up.count(), 3);
    assert!(j.logs().iter().any(|l| l["event"] == "rate-limited"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_6_requires_reason_is_enforced_and_recorded_as_words() {
    let up = Upstream::recorder().await;
    let (j, token) = setup(&up).await;
    j.add_cap("why", "api", &["--requires-reason"]);
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let r = mcp.execute("why", "GET", "/x").await;
    assert_eq!(r.reason_code().as_deref(), Some("REASON_REQUIRED"));
    let r = mcp
        .call(
            "execute",
            json!({"capability": "why", "method": "GET", "path": "/x", "reason": "   "}),
        )
        .await;
    assert_eq!(r.reason_code().as_deref(), Some("REASON_REQUIRED"));
    let r = mcp.call("execute", json!({"capability": "why", "method": "GET", "path": "/x", "reason": "checking the invoice"})).await;
    assert_eq!(r.status(), Some(200));
    assert_eq!(up.count(), 1);
    assert!(
        j.logs()
            .iter()
            .any(|l| l["reason"] == "checking the invoice")
    );
}
