//! Real processes: `/bin/sh`, coreutils and `/proc`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::*;
use crate::scrub::Patterns;

/// The secret every test injects as `$SECRET`; shell-safe characters only.
const SECRET: &str = "sk_test_51HqLyjWDarjtT1zdp7dcQ";
/// The base environment the runner sets.
const BASE_NAMES: [&str; 7] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "GIT_TERMINAL_PROMPT",
    "GIT_CONFIG_NOSYSTEM",
    "HISTFILE",
];

fn resolved(name: &str) -> PathBuf {
    let cmds = ResolvedCommands::resolve(&[name.to_owned()], DEFAULT_TRUSTED_PATH).unwrap();
    cmds.get(name).unwrap().to_path_buf()
}

struct Opts<'a> {
    env: Vec<(&'a str, &'a str)>,
    cwd: Option<&'a Path>,
    stdin: Option<&'a [u8]>,
    timeout: Duration,
    max: usize,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            env: vec![("SECRET", SECRET)],
            cwd: None,
            stdin: None,
            timeout: Duration::from_secs(20),
            max: 1 << 20,
        }
    }
}

fn request<'a>(
    program: &'a Path,
    argv: &'a [String],
    patterns: &'a Patterns,
    o: Opts<'a>,
) -> ExecRequest<'a> {
    ExecRequest {
        program,
        argv,
        cwd: o.cwd,
        env: o
            .env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Zeroizing::new((*v).to_owned())))
            .collect(),
        stdin: o.stdin,
        timeout: o.timeout,
        max_output_bytes: o.max,
        scrub: patterns,
    }
}

async fn exec(argv: &[&str], o: Opts<'_>) -> ExecOutcome {
    let program = resolved(argv[0]);
    let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
    let patterns = Patterns::new(&[SECRET]);
    run(request(&program, &argv, &patterns, o)).await.unwrap()
}

async fn sh(script: &str, o: Opts<'_>) -> ExecOutcome {
    exec(&["sh", "-c", script], o).await
}

/// The secret and every encoding the tests produce must be absent from both streams.
fn assert_no_secret(out: &ExecOutcome) {
    let s = SECRET.as_bytes();
    let forms = [
        SECRET.to_owned(),
        STANDARD.encode(s),
        URL_SAFE_NO_PAD.encode(s),
        hex::encode(s),
        hex::encode_upper(s),
        // A distinctive middle part, in case of a partial leak.
        SECRET[6..22].to_owned(),
    ];
    for text in [&out.stdout, &out.stderr] {
        for form in &forms {
            assert!(!text.contains(form.as_str()), "{form:?} leaked in {text:?}");
        }
    }
}

/// Live (not zombie) processes whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name: state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields[0] != "Z" && fields[2] == pgid.to_string() {
            found.push(pid);
        }
    }
    found
}

/// `SIGKILL` has been sent when `run` returns, but a process that does not hold the pipes
/// may take a moment to be scheduled and die: poll briefly.
async fn assert_all_dead(pgid: u32, pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while (!group_members(pgid).is_empty() || pids.iter().any(|p| alive(*p)))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        group_members(pgid),
        Vec::<u32>::new(),
        "group {pgid} survived"
    );
    for pid in pids {
        assert!(!alive(*pid), "{pid} survived");
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z'))
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

// ---- threat class 1: secret echo ----

#[tokio::test]
async fn printenv_env_and_proc_environ_are_scrubbed() {
    for argv in [
        &["printenv", "SECRET"][..],
        &["env"][..],
        &["cat", "/proc/self/environ"][..],
    ] {
        let out = exec(argv, Opts::default()).await;
        assert_eq!(out.exit_code, Some(0), "{argv:?}: {out:?}");
        assert_no_secret(&out);
        assert!(out.scrubbed_hits > 0, "{argv:?}");
        assert!(out.stdout.contains(crate::scrub::REDACTED), "{argv:?}");
        assert!(out.stdout_bytes >= SECRET.len() as u64);
    }
}

// ---- threat class 2: encoded echo ----

#[tokio::test]
async fn encoded_echoes_are_scrubbed() {
    let script = r#"
        printf '%s\n' "$SECRET" | base64
        printf 'x%s' "$SECRET" | base64
        printf 'xy%s' "$SECRET" | base64
        printf '%s' "$SECRET" | base64 | tr '+/' '-_' | tr -d '='
        printf '%s' "$SECRET" | od -An -tx1 | tr -d ' \n'; echo
        printf '%s' "$SECRET" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; echo
        printf '%s' "$SECRET" | base64 >&2
        printf '%s' "$SECRET" | od -An -tx1 | tr -d ' \n' >&2
    "#;
    let out = sh(script, Opts::default()).await;
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    assert_no_secret(&out);
    assert!(out.scrubbed_hits >= 8, "{out:?}");
}

#[tokio::test]
async fn secret_written_one_character_per_write_is_scrubbed() {
    let chars: Vec<String> = SECRET.chars().map(String::from).collect();
    // Interleaves stderr writes and pauses so every character arrives in its own read.
    let script = format!(
        "for c in {}; do printf %s $c; printf . >&2; sleep 0.005; done",
        chars.join(" ")
    );
    let out = sh(&script, Opts::default()).await;
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    assert_no_secret(&out);
    assert_eq!(out.stdout, crate::scrub::REDACTED);
    assert_eq!(out.stderr, ".".repeat(SECRET.len()));
    assert_eq!(out.scrubbed_hits, 1);
}

#[tokio::test]
async fn truncation_never_exposes_the_start_of_a_secret() {
    // The cap applies to scrubbed output and the scrubber's held-back bytes are dropped at
    // the cut, so wherever the cap falls relative to the secret (whole, or one character
    // per write), no part of it shows.
    let pad = 1000;
    let chars: Vec<String> = SECRET.chars().map(String::from).collect();
    let slowly = format!(
        "for c in {}; do printf %s $c; sleep 0.002; done",
        chars.join(" ")
    );
    for write_secret in [r#"printf %s "$SECRET""#, slowly.as_str()] {
        for k in [0, 1, 4, 9, 10, 17, SECRET.len() - 1, SECRET.len() + 3] {
            let script = format!(
                r#"head -c {pad} /dev/zero | tr '\0' x; {write_secret}; printf yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"#
            );
            let o = Opts {
                max: pad + k,
                ..Opts::default()
            };
            let out = sh(&script, o).await;
            assert!(out.truncated, "k={k}");
            assert_eq!(out.stdout.len(), pad + k, "k={k}");
            let (padding, rest) = out.stdout.split_at(pad);
            assert!(padding.chars().all(|c| c == 'x'));
            let full = format!("{}{}", crate::scrub::REDACTED, "y".repeat(40));
            assert!(full.starts_with(rest), "k={k}: {rest:?}");
        }
    }
}

// ---- threat class 7: exec escapes ----

#[tokio::test]
async fn child_env_is_minimal_and_nothing_is_inherited() {
    let out = exec(&["env"], Opts::default()).await;
    let names: BTreeSet<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let expected: BTreeSet<&str> = BASE_NAMES.iter().copied().chain(["SECRET"]).collect();
    assert_eq!(names, expected, "{}", out.stdout);
    // Everything in the test process's own environment (cargo's CARGO_*, the user's HOME,
    // ...) is absent unless the runner sets it itself.
    for (name, value) in std::env::vars() {
        if !expected.contains(name.as_str()) {
            assert!(
                !out.stdout.contains(&format!("{name}=")),
                "{name} inherited"
            );
        } else if name != "LANG" && value.len() > 3 && name != "PATH" {
            assert!(!out.stdout.contains(&format!("{name}={value}\n")), "{name}");
        }
    }
    let line = |n: &str| format!("{n}=");
    assert!(
        out.stdout
            .contains(&(line("PATH") + DEFAULT_TRUSTED_PATH + "\n"))
    );
    assert!(out.stdout.contains("GIT_TERMINAL_PROMPT=0\n"));
    assert!(out.stdout.contains("GIT_CONFIG_NOSYSTEM=1\n"));
}

#[tokio::test]
async fn request_env_is_applied_after_the_base() {
    let o = Opts {
        env: vec![("PATH", "/usr/bin"), ("GH_TOKEN", SECRET)],
        ..Opts::default()
    };
    let out = exec(&["printenv", "PATH", "GH_TOKEN"], o).await;
    assert_eq!(
        out.stdout,
        format!("/usr/bin\n{}\n", crate::scrub::REDACTED)
    );
}

#[test]
fn resolve_finds_canonical_executables_by_bare_name_only() {
    let cmds = ResolvedCommands::resolve(
        &["printenv".to_owned(), "sh".to_owned()],
        DEFAULT_TRUSTED_PATH,
    )
    .unwrap();
    let printenv = cmds.get("printenv").unwrap();
    assert_eq!(
        printenv,
        std::fs::canonicalize("/usr/bin/printenv").unwrap()
    );
    assert!(printenv.is_absolute());
    assert!(cmds.get("ls").is_none());
    for bad in [
        "./printenv",
        "/tmp/x/printenv",
        "/usr/bin/printenv",
        "..",
        ".",
        "",
        "a\0b",
    ] {
        let err = ResolvedCommands::resolve(&[bad.to_owned()], DEFAULT_TRUSTED_PATH);
        assert!(matches!(err, Err(ExecError::InvalidName { .. })), "{bad:?}");
    }
    let err = ResolvedCommands::resolve(&["no-such-cmd-janee".to_owned()], DEFAULT_TRUSTED_PATH);
    let err = err.unwrap_err();
    assert!(matches!(err, ExecError::NotFound { .. }));
    assert!(err.to_string().contains("no-such-cmd-janee"));
}

#[test]
fn resolve_ignores_relative_path_entries_and_follows_symlinks() {
    // Empty, `.` and relative entries would mean the working directory: never searched.
    let err = ResolvedCommands::resolve(&["printenv".to_owned()], ":.:usr/bin:bin");
    assert!(matches!(err, Err(ExecError::NotFound { .. })));

    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/bin/printenv", dir.path().join("pe")).unwrap();
    std::fs::write(dir.path().join("plain"), "not a program").unwrap();
    let trusted = dir.path().to_str().unwrap();
    let cmds = ResolvedCommands::resolve(&["pe".to_owned()], trusted).unwrap();
    let canonical = std::fs::canonicalize("/usr/bin/printenv").unwrap();
    assert_eq!(cmds.get("pe").unwrap(), canonical);
    let err = ResolvedCommands::resolve(&["plain".to_owned()], trusted);
    assert!(matches!(err, Err(ExecError::NotExecutable { .. })));
}

#[test]
fn resolve_refuses_world_writable_locations() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("tool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let trusted = dir.path().to_str().unwrap();
    assert!(ResolvedCommands::resolve(&["tool".to_owned()], trusted).is_ok());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = ResolvedCommands::resolve(&["tool".to_owned()], trusted);
    assert!(matches!(err, Err(ExecError::Insecure { .. })));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o757)).unwrap();
    let err = ResolvedCommands::resolve(&["tool".to_owned()], trusted);
    assert!(matches!(err, Err(ExecError::Insecure { .. })));
}

#[tokio::test]
async fn spoofed_command_in_the_working_directory_is_not_run() {
    use std::os::unix::fs::PermissionsExt as _;
    let cwd = tempfile::tempdir().unwrap();
    let fake = cwd.path().join("printenv");
    std::fs::write(&fake, "#!/bin/sh\necho PWNED\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/bin/echo", cwd.path().join("env")).unwrap();
    for argv in [&["printenv", "LANG"][..], &["env"][..]] {
        let o = Opts {
            cwd: Some(cwd.path()),
            ..Opts::default()
        };
        let out = exec(argv, o).await;
        assert!(!out.stdout.contains("PWNED"), "{argv:?}");
        assert!(out.stdout.contains("C.UTF-8"), "{argv:?}: {}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_whole_group() {
    let started = Instant::now();
    let o = Opts {
        timeout: Duration::from_millis(300),
        ..Opts::default()
    };
    let out = sh("sleep 300 & echo $$ $!; sleep 300", o).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{out:?}");
    assert!(out.timed_out);
    assert_eq!(out.signal, Some(9));
    assert_eq!(out.exit_code, None);
    let pids: Vec<u32> = out
        .stdout
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_all_dead(pids[0], &pids[1..]).await;
}

#[tokio::test]
async fn leader_exit_kills_background_children_holding_the_pipes() {
    let started = Instant::now();
    // The first background `sleep` keeps stdout and stderr open after the leader exits;
    // the second holds no pipe.
    let out = sh(
        "sleep 300 & a=$!; sleep 301 >/dev/null 2>&1 & echo $$ $a $!",
        Opts::default(),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5), "{out:?}");
    assert!(!out.timed_out);
    assert_eq!(out.exit_code, Some(0));
    let pids: Vec<u32> = out
        .stdout
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_all_dead(pids[0], &pids[1..]).await;
}

#[tokio::test]
async fn cancelled_call_kills_the_group_and_removes_home() {
    let scratch = tempfile::tempdir().unwrap();
    let pid_file = scratch.path().join("pids");
    let script = r#"echo $$ $HOME > "$1"; sleep 300 & sleep 300"#;
    let argv = [
        "sh".to_owned(),
        "-c".to_owned(),
        script.to_owned(),
        "sh".to_owned(),
        pid_file.to_str().unwrap().to_owned(),
    ];
    let program = resolved("sh");
    let patterns = Patterns::new(&[SECRET]);
    let call = run(request(&program, &argv, &patterns, Opts::default()));
    let cancelled = tokio::time::timeout(Duration::from_millis(500), call).await;
    assert!(cancelled.is_err(), "the call should still be running");
    let written = std::fs::read_to_string(&pid_file).unwrap();
    let (pgid, home) = written.trim().split_once(' ').unwrap();
    assert_all_dead(pgid.parse().unwrap(), &[]).await;
    assert!(!Path::new(home).exists());
}

// ---- threat class 11: resource exhaustion ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_flood_is_bounded_in_time_and_memory() {
    let max = 64 * 1024;
    for argv in [
        &["head", "-c", "1000000000", "/dev/zero"][..],
        &["yes", "flood"][..],
    ] {
        let rss_before = vm_rss_kib();
        let started = Instant::now();
        let o = Opts {
            max,
            timeout: Duration::from_secs(60),
            ..Opts::default()
        };
        let out = exec(argv, o).await;
        let rss_growth_kib = vm_rss_kib().saturating_sub(rss_before);
        assert!(started.elapsed() < Duration::from_secs(30), "{argv:?}");
        assert!(out.truncated, "{argv:?}");
        assert!(!out.timed_out, "{argv:?}");
        assert!(out.stdout.len() <= max, "{argv:?}");
        assert!(out.stdout_bytes > capture::DRAIN_LIMIT, "{argv:?}");
        assert!(
            rss_growth_kib < 50 * 1024,
            "{argv:?}: grew {rss_growth_kib} KiB"
        );
        // Past the drain limit the group is killed (SIGKILL, or SIGPIPE if the child wrote
        // after the pipe was dropped and before the kill landed), not drained for ever.
        assert!(
            matches!(out.signal, Some(9 | 13)),
            "{argv:?}: {:?}",
            out.exit_code
        );
    }
}

#[tokio::test]
async fn output_past_the_cap_is_drained_so_the_command_finishes() {
    // 4 MiB is past the cap but within the drain limit: the command completes normally.
    let o = Opts {
        max: 1024,
        ..Opts::default()
    };
    let out = sh("head -c 4194304 /dev/zero; echo done >&2", o).await;
    assert_eq!(out.exit_code, Some(0));
    assert!(out.truncated);
    assert_eq!(out.stdout.len(), 1024);
    assert_eq!(out.stdout_bytes, 4_194_304);
    assert_eq!(out.stderr, "done\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_isolated() {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        calls.spawn(sh(
            r#"printf '%s\n' "$HOME"; printenv SECRET"#,
            Opts::default(),
        ));
    }
    let mut homes = BTreeSet::new();
    while let Some(out) = calls.join_next().await {
        let out = out.unwrap();
        assert_no_secret(&out);
        let (home, rest) = out.stdout.split_once('\n').unwrap();
        assert_eq!(rest, format!("{}\n", crate::scrub::REDACTED));
        assert!(!Path::new(home).exists());
        homes.insert(home.to_owned());
    }
    assert_eq!(homes.len(), 16);
}

// ---- plumbing ----

#[tokio::test]
async fn stdin_is_passed_through() {
    let input = b"hello\0world\n";
    let o = Opts {
        stdin: Some(input),
        ..Opts::default()
    };
    let out = exec(&["cat"], o).await;
    assert_eq!(out.stdout.as_bytes(), input);

    // Larger than a pipe buffer: written while stdout is read, no deadlock.
    let big: Vec<u8> = (0..2_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let o = Opts {
        stdin: Some(&big),
        max: 4 << 20,
        ..Opts::default()
    };
    let out = exec(&["cat"], o).await;
    assert_eq!(out.stdout.as_bytes(), &big[..]);

    // A child that never reads its stdin does not hang the call.
    let o = Opts {
        stdin: Some(&big),
        ..Opts::default()
    };
    let out = exec(&["true"], o).await;
    assert_eq!(out.exit_code, Some(0));

    // No stdin given: /dev/null.
    let out = exec(&["cat"], Opts::default()).await;
    assert_eq!(out.stdout, "");
}

#[tokio::test]
async fn temp_home_is_private_fresh_and_removed() {
    let script = r#"
        printf %s "$HOME"
        stat -c %a "$HOME" >&2
        case "$TMPDIR" in "$HOME"/*) test -d "$TMPDIR" && echo tmp-ok >&2;; esac
        test "$(pwd)" = "$HOME" && echo cwd-ok >&2
        printf %s "$SECRET" > "$HOME/token"
        mkdir "$HOME/locked" && touch "$HOME/locked/f" && chmod 000 "$HOME/locked"
    "#;
    let first = sh(script, Opts::default()).await;
    assert_eq!(first.exit_code, Some(0), "{first:?}");
    assert_eq!(first.stderr, "700\ntmp-ok\ncwd-ok\n");
    let home = PathBuf::from(&first.stdout);
    assert!(home.is_absolute());
    assert!(!home.exists(), "HOME {home:?} left behind");

    // The next call cannot read what the first one wrote.
    let read_back = r#"test -e "$1/token" && echo FOUND; printf %s "$HOME""#;
    let second = exec(
        &["sh", "-c", read_back, "sh", &first.stdout],
        Opts::default(),
    )
    .await;
    assert_eq!(second.exit_code, Some(0));
    assert!(!second.stdout.contains("FOUND"));
    assert_ne!(second.stdout, first.stdout);
}

#[tokio::test]
async fn exit_codes_signals_and_lossy_output() {
    let out = sh("exit 3", Opts::default()).await;
    assert_eq!((out.exit_code, out.signal), (Some(3), None));
    let out = sh("kill -s TERM $$", Opts::default()).await;
    assert_eq!((out.exit_code, out.signal), (None, Some(15)));
    let out = sh(r"printf 'ok \377 \303\251'", Opts::default()).await;
    assert_eq!(out.stdout, "ok \u{FFFD} é");
    assert!(!out.truncated);
}

#[tokio::test]
async fn errors_and_debug_never_show_env_values() {
    let argv = vec!["prog".to_owned()];
    let patterns = Patterns::new(&[SECRET]);
    let missing = Path::new("/nonexistent/janee/prog");
    let req = request(missing, &argv, &patterns, Opts::default());
    let debug = format!("{req:?}");
    assert!(
        !debug.contains(SECRET) && debug.contains("SECRET"),
        "{debug}"
    );
    let err = run(req).await.unwrap_err();
    assert!(matches!(err, ExecError::Spawn { .. }));
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET) && text.contains("prog"), "{text}");

    let relative = Path::new("bin/prog");
    let err = run(request(relative, &argv, &patterns, Opts::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::InvalidRequest { .. }));
    let err = run(request(missing, &[], &patterns, Opts::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::InvalidRequest { .. }));
}

#[test]
fn dangerous_env_names() {
    for name in [
        "LD_PRELOAD",
        "ld_library_path",
        "DYLD_INSERT_LIBRARIES",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_KEY_0",
        "GIT_CONFIG_PARAMETERS",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "GIT_EXEC_PATH",
        "GIT_TRACE_CURL",
        "GIT_DIR",
        "NODE_OPTIONS",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PERL5OPT",
        "RUBYOPT",
        "BASH_ENV",
        "ENV",
        "BASH_FUNC_ls%%",
        "PATH",
        "HOME",
        "TMPDIR",
        "IFS",
        "PS4",
        "https_proxy",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "GH_HOST",
        "XDG_CONFIG_HOME",
        "npm_config_registry",
        "GLIBC_TUNABLES",
        "",
        "A=B",
        "A\0",
    ] {
        assert!(is_dangerous_env_name(name), "{name:?}");
    }
    for name in [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GIT_AUTHOR_NAME",
        "GIT_COMMITTER_EMAIL",
        "AWS_ACCESS_KEY_ID",
        "NO_PROXY",
        "STRIPE_API_KEY",
    ] {
        assert!(!is_dangerous_env_name(name), "{name:?}");
    }
}
