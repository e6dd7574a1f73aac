//! A harmless authenticated call that tells whether a service's credential works: `janee test`
//! and the `test_service` tool.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Service;
use crate::state::ServiceSecrets;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub service: String,
    pub base_url: String,
    pub test_path: String,
    pub reachable: bool,
    /// A 2xx answer: the credential was accepted.
    pub auth_ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// GET the service's `testPath` (or `/`) with its credential. Nothing of the response but the
/// status is kept.
pub async fn probe(
    client: &crate::proxy::Upstream,
    service: &Service,
    secrets: Option<&ServiceSecrets>,
) -> Probe {
    let test_path = service.test_path.clone().unwrap_or_else(|| "/".into());
    let mut p = Probe {
        service: service.name.to_string(),
        base_url: service.base.as_str().to_string(),
        test_path: test_path.clone(),
        reachable: false,
        auth_ok: false,
        status: None,
        latency_ms: 0,
        error: None,
    };
    let Some(secrets) = secrets else {
        p.error = Some("no credential is stored for this service".into());
        return p;
    };
    let path = match crate::canon::canonicalize(&test_path) {
        Ok(path) => path,
        Err(e) => {
            p.error = Some(format!("testPath refused: {e}"));
            return p;
        }
    };
    let started = Instant::now();
    let call = crate::proxy::send(
        client,
        service,
        secrets,
        crate::proxy::Outgoing {
            method: "GET",
            path: &path,
            headers: &[],
            body: None,
            max_response_bytes: 64 * 1024,
            scope: None,
        },
    );
    let result = match tokio::time::timeout(PROBE_TIMEOUT, call).await {
        Ok(r) => r,
        Err(_) => Err(crate::proxy::UpstreamError {
            service: service.name.to_string(),
            reason: format!(
                "no answer within {}",
                crate::duration::format_duration(PROBE_TIMEOUT)
            ),
        }),
    };
    p.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(r) => {
            p.reachable = true;
            p.status = Some(r.status);
            p.auth_ok = (200..300).contains(&r.status);
            if !p.auth_ok {
                p.error = Some(match r.status {
                    401 | 403 => "the service refused the credential".into(),
                    s => format!("the service answered {s}"),
                });
            }
        }
        Err(e) => p.error = Some(e.to_string()),
    }
    p
}

/// The longest a probe waits, whatever the service's own timeout.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
