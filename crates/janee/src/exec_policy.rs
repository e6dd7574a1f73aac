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
    if exec.missing.iter().any(|c| c == cmd) {
        step(
            "command",
            false,
            format!("{cmd} is not installed in the trusted PATH"),
        );
        return deny(
            ReasonCode::CommandNotAllowed,
            format!("command {cmd} is allowed but was not found when the config loaded"),
            "ask the human to install it and run `janee doctor`".into(),
            None,
        );
    }
    if let Some(why) = builtin_refusal(argv) {
        step("command", false, why.clone());
        return deny(
            ReasonCode::CommandNotAllowed,
            why,
            "use the tool without options that run other programs".into(),
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

/// Programs whose job is to run other programs: allowing one would hand the agent every
/// executable on the machine.
const LAUNCHERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "mksh",
    "fish",
    "csh",
    "tcsh",
    "busybox",
    "env",
    "xargs",
    "sudo",
    "su",
    "doas",
    "runuser",
    "nohup",
    "timeout",
    "nice",
    "ionice",
    "setsid",
    "stdbuf",
    "time",
    "watch",
    "script",
    "strace",
    "ltrace",
    "gdb",
    "chroot",
    "flock",
    "unshare",
    "nsenter",
    "exec",
    "eval",
    "parallel",
    "expect",
    "systemd-run",
    "at",
    "batch",
    "crontab",
];

/// Why `cmd` may never be an allowed command, if it is a launcher.
pub fn launcher_refusal(cmd: &str) -> Option<&'static str> {
    LAUNCHERS
        .contains(&cmd)
        .then_some("it runs other programs, so allowing it would let the agent run anything; allow the real tool instead")
}

/// Arguments that turn an allowed tool into a launcher or point it at attacker-chosen code,
/// refused whatever the capability's rules say.
pub fn builtin_refusal(argv: &[String]) -> Option<String> {
    let cmd = argv.first()?.as_str();
    let args = &argv[1..];
    let any = |pred: &dyn Fn(&str) -> bool| args.iter().find(|a| pred(a)).cloned();
    let hit = match cmd {
        "git" => any(&|a| {
            a == "-c"
                || (a.starts_with("-c") && a.len() > 2 && !a.starts_with("--"))
                || a.starts_with("--config-env")
                || a.starts_with("--exec-path")
                || a.starts_with("--upload-pack")
                || a.starts_with("--receive-pack")
                || a == "-u"
                || a.starts_with("--template")
                || a.starts_with("--git-dir")
                || a.starts_with("--work-tree")
                || a.contains("ext::")
                || a.starts_with("fd::")
                || a == "--exec"
                || a == "-x"
                || a.starts_with("--extcmd")
                || a.starts_with("--tool")
        })
        .or_else(|| {
            // Subcommands that run configured or given programs, or rewrite config.
            let sub = args.iter().find(|a| !a.starts_with('-'))?;
            matches!(
                sub.as_str(),
                "config"
                    | "submodule"
                    | "filter-branch"
                    | "difftool"
                    | "mergetool"
                    | "bisect"
                    | "instaweb"
                    | "daemon"
                    | "credential"
                    | "credential-store"
                    | "credential-cache"
                    | "daemon-run"
                    | "upload-pack"
                    | "receive-pack"
                    | "shell"
                    | "web--browse"
                    | "gui"
                    | "citool"
            )
            .then(|| sub.clone())
        }),
        "find" => any(&|a| {
            matches!(
                a,
                "-exec"
                    | "-execdir"
                    | "-ok"
                    | "-okdir"
                    | "-fprint"
                    | "-fprint0"
                    | "-fprintf"
                    | "-fls"
                    | "-delete"
            )
        }),
        "awk" | "gawk" | "mawk" => any(&|a| a.contains("system") || a.contains('|') || a == "-f"),
        "tar" => any(&|a| {
            a.starts_with("--to-command")
                || a.starts_with("--use-compress-program")
                || a.starts_with("-I")
                || a.starts_with("--checkpoint-action")
                || a.starts_with("--rsh-command")
        }),
        "rsync" => {
            any(&|a| a.starts_with("-e") || a.starts_with("--rsh") || a.starts_with("--rsync-path"))
        }
        "ssh" | "scp" | "sftp" => any(&|a| {
            a.starts_with("-o")
                || a.starts_with("-F")
                || a == "-S"
                || a.starts_with("-oProxyCommand")
        }),
        "curl" | "wget" => any(&|a| {
            a.starts_with("-K")
                || a.starts_with("--config")
                || a.starts_with("-o")
                || a.starts_with("--output")
                || a.starts_with("-O")
                || a.starts_with("--remote-name")
                || a.starts_with("-e")
                || a.starts_with("--execute")
        }),
        _ => None,
    };
    hit.map(|a| {
        format!(
            "argument {:?} of {cmd} can run other programs or load attacker-chosen code",
            a.chars().take(40).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn launchers_and_launcher_arguments_are_refused() {
        for l in ["sh", "bash", "env", "xargs", "sudo", "nohup", "timeout"] {
            assert!(launcher_refusal(l).is_some(), "{l}");
        }
        assert!(launcher_refusal("gh").is_none());
        for argv in [
            &["git", "-c", "alias.x=!sh", "x"][..],
            &["git", "-calias.x=!sh", "x"],
            &["git", "--config-env=core.pager=X", "log"],
            &["git", "clone", "--upload-pack=touch /tmp/p", "r"],
            &["git", "clone", "-u", "sh -c id", "r"],
            &["git", "clone", "ext::sh -c id", "d"],
            &["git", "config", "core.pager", "sh"],
            &["git", "submodule", "foreach", "id"],
            &["git", "rebase", "--exec", "id", "HEAD~1"],
            &["find", ".", "-exec", "sh", "{}", ";"],
            &["tar", "--to-command=sh", "-xf", "a.tar"],
        ] {
            assert!(builtin_refusal(&v(argv)).is_some(), "{argv:?}");
        }
        for argv in [
            &["git", "status"][..],
            &["git", "clone", "https://x/r.git"],
            &["gh", "issue", "list"],
            &["find", ".", "-name", "x"],
        ] {
            assert!(builtin_refusal(&v(argv)).is_none(), "{argv:?}");
        }
    }
}
