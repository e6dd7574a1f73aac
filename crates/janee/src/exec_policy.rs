//! The exec half of the decision: which executable and which argv a capability allows.

use crate::canon::glob_match;
use crate::config::Capability;
use crate::policy::{Decision, Denial, ReasonCode};

/// Check `argv` against the capability's `allowCommands` and argv rules. The command is
/// compared by bare name: `./gh` or `/tmp/x/gh` is never `gh`.
pub fn decide_argv(
    cap: &Capability,
    argv: &[String],
    step: &mut dyn FnMut(&'static str, bool, String),
) -> Decision {
    let deny = |code, message: String, next_step: String, rule| {
        Decision::Deny(Denial {
            code,
            message,
            next_step,
            rule,
        })
    };
    let Some(exec) = &cap.exec else {
        step("command", false, "not an exec capability".into());
        return deny(
            ReasonCode::ModeMismatch,
            format!("capability {} is not an exec capability", cap.name),
            "use the execute tool".into(),
            None,
        );
    };
    let Some(cmd) = argv.first() else {
        step("command", false, "empty command".into());
        return deny(
            ReasonCode::InvalidRequest,
            "`command` is empty".into(),
            "give the command as an argv array, e.g. [\"gh\", \"issue\", \"list\"]".into(),
            None,
        );
    };
    let allowed = exec.allow_commands.join(", ");
    if cmd.contains('/') || !exec.allow_commands.iter().any(|c| c == cmd) {
        step("command", false, format!("{cmd:?} is not in allowCommands"));
        return deny(
            ReasonCode::CommandNotAllowed,
            format!(
                "command {:?} is not allowed for capability {}",
                shorten(cmd),
                cap.name
            ),
            format!("allowed commands (by bare name): {allowed}"),
            None,
        );
    }
    step("command", true, format!("{cmd} is in allowCommands"));
    let joined = argv.join(" ");
    if let Some(rule) = exec.deny.iter().find(|r| glob_match(r, &joined)) {
        step("rules", false, format!("denied by {rule:?}"));
        return deny(
            ReasonCode::RuleDeny,
            format!("this command is denied by rule {rule:?}"),
            "choose another command or ask the human to change the rules".into(),
            Some(rule.clone()),
        );
    }
    if exec.allow.is_empty() {
        step("rules", true, "no argv rules".into());
        return Decision::Allow { rule: None };
    }
    match exec.allow.iter().find(|r| glob_match(r, &joined)) {
        Some(rule) => {
            step("rules", true, format!("allowed by {rule:?}"));
            Decision::Allow {
                rule: Some(rule.clone()),
            }
        }
        None => {
            step("rules", false, "no allow rule matches".into());
            deny(
                ReasonCode::RuleDeny,
                "this command matches no allow rule".into(),
                format!("allowed: {}", exec.allow.join(", ")),
                None,
            )
        }
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(60).collect()
}
