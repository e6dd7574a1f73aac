//! The `janee_exec` tool: run an allowed command with the credential in its environment and
//! return only scrubbed output.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rmcp::model::CallToolResponse;
use serde_json::json;
use zeroize::Zeroizing;

use super::{Failure, JaneeMcp, failure_result, text_result};
use crate::audit::Record;
use crate::config::{ExecSpec, Service};
use crate::policy::{self, Caller, Decision, Denial, ReasonCode, Request};
use crate::state::ServiceSecrets;

pub use super::args::ExecArgs;

fn invalid(message: String, next: &str) -> Failure {
    Failure::Denied(Denial {
        code: ReasonCode::InvalidRequest,
        message,
        next_step: next.into(),
        rule: None,
    })
}

/// The agent's `cwd`, only inside a directory the capability lists in `allowCwd`, compared
/// after resolving symlinks.
fn choose_cwd(spec: &ExecSpec, asked: Option<&str>) -> Result<Option<PathBuf>, Failure> {
    let Some(asked) = asked else {
        return Ok(spec.work_dir.clone().filter(|w| w.is_dir()));
    };
    if spec.allow_cwd.is_empty() {
        return Err(invalid(
            "this capability does not let agents choose a working directory".into(),
            "call again without `cwd`",
        ));
    }
    let p = Path::new(asked);
    if !p.is_absolute() {
        return Err(invalid(
            "`cwd` must be an absolute path".into(),
            "give an absolute path inside an allowed directory",
        ));
    }
    let real = std::fs::canonicalize(p)
        .map_err(|_| invalid("`cwd` does not exist".into(), "give an existing directory"))?;
    if !real.is_dir() || !spec.allow_cwd.iter().any(|a| real.starts_with(a)) {
        let allowed: Vec<String> = spec
            .allow_cwd
            .iter()
            .map(|a| a.display().to_string())
            .collect();
        return Err(invalid(
            "`cwd` is outside the directories this capability allows".into(),
            &format!("use a directory under: {}", allowed.join(", ")),
        ));
    }
    Ok(Some(real))
}

/// The host the git credential helper may hand the token to.
fn git_host(spec: &ExecSpec, service: &Service) -> Option<(String, String)> {
    let url = service.base.url();
    let host = match &spec.git_host {
        Some(h) => h.clone(),
        None => {
            let h = url.host_str()?;
            let h = h.strip_prefix("api.").unwrap_or(h);
            match url.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            }
        }
    };
    Some((url.scheme().to_string(), host))
}

/// Environment for the child: the capability's template filled from the store (or, when the
/// capability sets none, what CLIs expect for the scheme), plus (for git) a credential helper
/// that answers only for the service's host. `minted` is the token of a minting scheme.
fn child_env(
    trusted_path: &str,
    spec: &ExecSpec,
    service: &Service,
    secrets: &ServiceSecrets,
    minted: Option<&janee_vault::Secret>,
) -> Result<Vec<(String, Zeroizing<String>)>, String> {
    // The child looks programs up in the same trusted PATH its command was resolved from.
    let mut env = vec![("PATH".to_string(), Zeroizing::new(trusted_path.to_string()))];
    let templates: Vec<(String, String)> = if spec.env.is_empty() {
        service.auth.default_env(secrets.fields())
    } else {
        spec.env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    for (var, template) in &templates {
        let value = service
            .auth
            .fill_template(template, secrets.fields(), minted)?;
        if crate::auth::holds_placeholder(template) {
            crate::scrub::check_scrubbable(&value).map_err(|e| format!("{var}: {e}"))?;
        }
        env.push((var.clone(), value));
    }
    if spec.allow_commands.iter().any(|c| c == "git")
        && let (Some((scheme, host)), Ok(token), Ok(me)) = (
            git_host(spec, service),
            service
                .auth
                .fill_template("{{credential}}", secrets.fields(), minted),
            std::env::current_exe(),
        )
    {
        // A leading '!' makes git run the helper as a command line (not `git credential-<x>`).
        let helper = format!(
            "!'{}' git-credential-helper",
            me.display().to_string().replace('\'', "'\\''")
        );
        let config: [(&str, String); 6] = [
            ("credential.helper", String::new()),
            ("credential.helper", helper),
            ("core.hooksPath", "/dev/null".into()),
            ("core.fsmonitor", "false".into()),
            ("protocol.ext.allow", "never".into()),
            ("core.sshCommand", "false".into()),
        ];
        env.push((
            "GIT_CONFIG_COUNT".into(),
            Zeroizing::new(config.len().to_string()),
        ));
        for (i, (k, v)) in config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), Zeroizing::new(k.to_string())));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), Zeroizing::new(v)));
        }
        env.push(("JANEE_GIT_HOST".into(), Zeroizing::new(host)));
        env.push(("JANEE_GIT_PROTOCOL".into(), Zeroizing::new(scheme)));
        env.push(("JANEE_GIT_TOKEN".into(), token));
    }
    Ok(env)
}

impl JaneeMcp {
    pub(super) async fn janee_exec(
        &self,
        caller: &Caller,
        a: ExecArgs,
        ctx: &rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> CallToolResponse {
        let _coming = self.state.audit().coming();
        let started = Instant::now();
        let argv = a.command.clone().into_argv();
        let mut rec = super::call_record(caller, &a.capability, a.reason.as_ref());
        rec.method = Some("EXEC".into());
        rec.argv = Some(argv.clone());
        let elicitor = self.elicitor(ctx);
        let outcome = self.exec_inner(caller, &a, &argv, &mut rec, elicitor).await;
        rec.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        let response = match outcome {
            Ok(out) => {
                rec.decision = Some(crate::audit::Decision::Allow);
                rec.exit_code = out.exit_code;
                rec.scrub_hits = Some(out.scrubbed_hits);
                rec.bytes_out = Some(out.stdout_bytes + out.stderr_bytes);
                let mut v = json!({
                    "exitCode": out.exit_code,
                    "stdout": out.stdout,
                    "stderr": out.stderr,
                    "executionTimeMs": out.execution_time_ms,
                    "timedOut": out.timed_out,
                    "scrubbedHits": out.scrubbed_hits,
                });
                if let Some(o) = v.as_object_mut() {
                    if out.truncated {
                        o.insert("truncated".into(), json!(true));
                    }
                    if let Some(sig) = out.signal {
                        o.insert("signal".into(), json!(sig));
                    }
                }
                text_result(&v, false)
            }
            Err(f) => failure_result(&mut rec, f, &a.capability),
        };
        self.audited(rec, response).await
    }

    async fn exec_inner(
        &self,
        caller: &Caller,
        a: &ExecArgs,
        argv: &[String],
        rec: &mut Record,
        elicitor: Option<crate::gate::Elicitor>,
    ) -> Result<crate::exec::ExecOutcome, Failure> {
        let snap = self.state.snapshot();
        if argv.iter().any(|s| s.contains('\0')) {
            return Err(invalid("`command` contains a NUL byte".into(), "remove it"));
        }
        let decision = policy::decide(
            &snap.config,
            caller,
            &a.capability,
            &Request::Exec { argv },
            a.reason.as_deref(),
            None,
        );
        if let Decision::Deny(d) = decision {
            return Err(Failure::Denied(d));
        }
        let cap = snap
            .config
            .capability(&a.capability)
            .ok_or_else(|| invalid("capability vanished".into(), "retry"))?;
        let spec = cap
            .exec
            .as_ref()
            .ok_or_else(|| invalid("not an exec capability".into(), "use execute"))?;
        let service = snap
            .config
            .service(cap.service.as_str())
            .ok_or_else(|| invalid("service vanished".into(), "retry"))?;
        rec.service = Some(service.name.to_string());
        let cwd = choose_cwd(spec, a.cwd.as_deref())?;
        let shown = crate::session::ShownRequest {
            method: None,
            path: None,
            argv: Some(argv.to_vec()),
        };
        self.admit(
            caller,
            cap,
            &shown,
            a.reason.as_deref(),
            &snap,
            elicitor,
            rec,
        )
        .await?;
        let upstream = |reason: String| {
            Failure::Upstream(crate::proxy::UpstreamError {
                service: service.name.to_string(),
                reason,
            })
        };
        let secrets = snap
            .secrets
            .get(service.name.as_str())
            .ok_or_else(|| upstream("no credential is stored for this service; the human must run `janee add` or `janee doctor`".into()))?;
        let program = spec.resolved.get(&argv[0]).ok_or_else(|| {
            invalid(
                format!("{} is not installed in the trusted PATH", argv[0]),
                "ask the human to install it",
            )
        })?;
        let token = secrets
            .minted(service, cap.token_scope.as_ref())
            .await
            .map_err(|e| upstream(format!("could not mint an access token: {e}")))?;
        let env = child_env(
            &snap.config.server.trusted_path,
            spec,
            service,
            secrets,
            token.as_ref().map(|t| &t.secret),
        )
        .map_err(upstream)?;
        let max = usize::try_from(spec.max_output_bytes).unwrap_or(usize::MAX);
        crate::exec::run(crate::exec::ExecRequest {
            program,
            argv,
            cwd: cwd.as_deref(),
            env,
            stdin: a.stdin.as_deref().map(str::as_bytes),
            timeout: spec.timeout,
            max_output_bytes: max,
            scrub: token.as_ref().map_or(&secrets.patterns, |t| &t.patterns),
        })
        .await
        .map_err(|e| upstream(e.to_string()))
    }
}
