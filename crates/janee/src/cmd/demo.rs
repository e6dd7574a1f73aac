//! `janee demo`: a throwaway home, a local upstream that misbehaves on purpose, the real MCP
//! server over HTTP, and a scripted agent session: an allowed call, denied calls, a scrubbed
//! echo of the credential, and the audit trail with its chain verified.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use axum::http::HeaderMap;
use axum::routing::{any, get};
use janee_vault::{Custody, MasterKey, Secret, SecretFields, Store};
use serde_json::{Value, json};

use crate::cli::DemoArgs;
use crate::config::raw::{RawAgent, RawAuth, RawCapability, RawConfig, RawRules, RawService};
use crate::home::Home;
use crate::server::HttpOptions;
use crate::state::{AppState, ServeOptions};

/// A tiny upstream API: lists items, and (like a careless debug endpoint) echoes the request
/// headers back, credential included.
async fn upstream() -> Result<SocketAddr> {
    let app = axum::Router::new()
        .route(
            "/v1/items",
            get(|| async {
                axum::Json(
                    json!({"items": [{"id": 1, "name": "widget"}, {"id": 2, "name": "gadget"}]}),
                )
            }),
        )
        .route(
            "/v1/debug/echo",
            any(|headers: HeaderMap| async move {
                let h: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
                    .collect();
                axum::Json(json!({"youSent": h}))
            }),
        )
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// A minimal MCP client over Streamable HTTP, as any agent would speak it.
struct Agent {
    http: reqwest::Client,
    url: String,
    token: String,
    session: Option<String>,
    next_id: u64,
}

impl Agent {
    async fn rpc(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let body =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params});
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req.send().await?;
        if let Some(s) = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(s.to_string());
        }
        let text = resp.text().await?;
        let json_text = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|l| l.contains("\"id\""))
            .unwrap_or(text.trim());
        let v: Value =
            serde_json::from_str(json_text).with_context(|| format!("unexpected reply: {text}"))?;
        if let Some(e) = v.get("error") {
            bail!("MCP error: {e}");
        }
        Ok(v["result"].clone())
    }

    async fn notify(&mut self, method: &str) -> Result<()> {
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(json!({"jsonrpc": "2.0", "method": method}).to_string());
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        req.send().await?;
        Ok(())
    }

    async fn tool(&mut self, name: &str, args: Value) -> Result<(bool, Value)> {
        let r = self
            .rpc("tools/call", json!({"name": name, "arguments": args}))
            .await?;
        let text = r["content"][0]["text"].as_str().unwrap_or("null");
        Ok((
            r["isError"] == true,
            serde_json::from_str(text).unwrap_or(Value::String(text.into())),
        ))
    }
}

fn say(title: &str) {
    println!("\n== {title}");
}

fn show(v: &Value) {
    let s = serde_json::to_string_pretty(v).unwrap_or_default();
    for line in s.lines() {
        println!("   {line}");
    }
}

pub fn run(args: DemoArgs) -> Result<()> {
    super::serve::init_tracing();
    let dir = tempfile::Builder::new().prefix("janee-demo-").tempdir()?;
    let home = Home::at(dir.path().join("home"));
    super::serve::runtime()?.block_on(demo(&home))?;
    if args.keep {
        let kept = dir.keep();
        println!(
            "\nThe demo home is kept at {}/home (its master key is gone with the process).",
            kept.display()
        );
    }
    Ok(())
}

async fn demo(home: &Home) -> Result<()> {
    println!("Janee demo: an agent calls an API through Janee and never sees the credential.");
    let up = upstream().await?;
    home.ensure()?;
    let key = MasterKey::generate()?;
    let mut store = Store::create(&home.store_path(), key, Custody::MasterKey, None, None)?;
    let api_key = format!(
        "sk_demo_{}",
        hex::encode(janee_vault::crypto::random_bytes::<12>()?)
    );
    let mut fields = SecretFields::new();
    fields.insert("key", Secret::new(api_key.clone()));
    store.set_service("shop", &fields)?;
    let token = crate::token::generate()?;
    store.set_agent_token_hash("demo-agent", &crate::token::hash(token.expose()))?;
    store.save()?;
    let mut raw = RawConfig::default();
    raw.services.insert(
        "shop".into(),
        RawService {
            base_url: format!("http://{up}"),
            auth: RawAuth::of("bearer"),
            test_path: Some("/v1/items".into()),
            timeout: None,
            max_response_bytes: None,
            allow_http: None,
            ownership: None,
        },
    );
    raw.capabilities.items.insert(
        "shop-read".into(),
        RawCapability {
            service: "shop".into(),
            rules: Some(RawRules {
                allow: vec!["GET /v1/*".into()],
                deny: vec!["* /v1/admin*".into()],
            }),
            ..RawCapability::default()
        },
    );
    raw.agents.insert("demo-agent".into(), RawAgent::default());
    home.save_config(raw)?;
    println!(
        "Home: {} (throwaway). Upstream API: http://{up}",
        home.dir().display()
    );
    println!(
        "Service `shop` holds the key {}…{} in the encrypted store.",
        &api_key[..8],
        "*".repeat(6)
    );
    println!(
        "Capability `shop-read`: allow GET /v1/*, deny * /v1/admin*. Agent `demo-agent` has a token."
    );

    let store = Store::open(
        &home.store_path(),
        &janee_vault::KeyInputs {
            master_key: Some(store.key().to_base64()),
            ..janee_vault::KeyInputs::none()
        },
    )?;
    let state = AppState::new(home.clone(), store, ServeOptions::default()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let opts = HttpOptions {
        host: "127.0.0.1".into(),
        port: addr.port(),
        stateless: false,
        extra_hosts: vec![],
    };
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        crate::server::serve_http_on(server_state, listener, addr, opts).await
    });

    let mut agent = Agent {
        http: reqwest::Client::new(),
        url: format!("http://{addr}/mcp"),
        token: token.expose().to_string(),
        session: None,
        next_id: 0,
    };
    agent
        .rpc("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "demo-agent-client", "version": "1"}}))
        .await?;
    agent.notify("notifications/initialized").await?;

    say("1. The agent asks what it may use (list_services)");
    show(&agent.tool("list_services", json!({})).await?.1);

    say("2. An allowed call: GET /v1/items — Janee adds the key; the agent never handles it");
    let (_, r) = agent
        .tool(
            "execute",
            json!({"capability": "shop-read", "method": "GET", "path": "/v1/items"}),
        )
        .await?;
    show(&json!({"status": r["status"], "body": r["body"]}));

    say("3. A denied call: DELETE /v1/admin/users (deny rule)");
    show(
        &agent
            .tool(
                "execute",
                json!({"capability": "shop-read", "method": "DELETE", "path": "/v1/admin/users"}),
            )
            .await?
            .1,
    );

    say(
        "4. A path game: GET /v1/%2e%2e/admin (encoded dot segments) is refused before anything is sent",
    );
    show(
        &agent
            .tool(
                "execute",
                json!({"capability": "shop-read", "method": "GET", "path": "/v1/%2e%2e/admin"}),
            )
            .await?
            .1,
    );

    say("5. A header smuggling attempt: the agent tries to set its own Authorization");
    show(&agent.tool("execute", json!({"capability": "shop-read", "method": "GET", "path": "/v1/items", "headers": {"Authorization": "Bearer stolen"}})).await?.1);

    say("6. A careless upstream echoes the request headers, credential included — Janee scrubs it");
    let (_, r) = agent
        .tool(
            "execute",
            json!({"capability": "shop-read", "method": "GET", "path": "/v1/debug/echo"}),
        )
        .await?;
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    show(&json!({"authorization as the agent sees it": body["youSent"]["authorization"]}));
    if r.to_string().contains(&api_key) {
        bail!("the demo key reached the agent: this is a bug");
    }

    say("7. The audit trail (janee logs) and its MAC chain (janee audit verify)");
    state.audit().flush().await?;
    for line in crate::audit::read(&home.logs_dir(), &crate::audit::Filter::default())? {
        println!("   {}", crate::audit::format_human(&line));
    }
    let report = {
        let st = Store::open(
            &home.store_path(),
            &janee_vault::KeyInputs {
                master_key: Some(state_key(&state)?),
                ..janee_vault::KeyInputs::none()
            },
        )?;
        crate::audit::verify(&home.logs_dir(), &st.key().subkey("audit"))?
    };
    println!(
        "   chain: {} ({} lines verified)",
        if report.is_ok() { "intact" } else { "BROKEN" },
        report.lines
    );
    state.shutdown_token().cancel();
    let _ = server.await;
    println!(
        "\nDone. Set it up for real: janee init && janee add NAME --url URL --key-from-env VAR && janee serve"
    );
    Ok(())
}

fn state_key(state: &AppState) -> Result<zeroize::Zeroizing<String>> {
    state.master_key_b64().context("the server holds no key")
}
