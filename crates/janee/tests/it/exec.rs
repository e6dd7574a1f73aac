//! Exec mode (issue 7) through the real server: secrets never reach the agent, the agent's
//! binaries never run, children never outlive their timeout, floods are capped, and git gets
//! the token only for the service's own host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::Janee;

const TOKEN: &str = "ghp_EXEC_canary_5f1e9a7c3b";

fn script(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A home with exec capability `tools` (service `gh`), a trusted PATH of `bin` + the system,
/// and `work` as the one directory agents may name as cwd.
struct Fixture {
    j: Janee,
    bin: PathBuf,
    work: PathBuf,
}

fn fixture(commands: &str, edit: impl FnOnce(&mut Value)) -> Fixture {
    let j = Janee::new();
    let bin = j.env.dir.path().join("bin");
    let work = j.env.dir.path().join("work");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    script(
        &bin,
        "leak",
        r#"printf '%s\n' "$GH_TOKEN" | base64
printf '%s' "$GH_TOKEN" | od -An -tx1 | tr -d ' \n'; echo
printf 'x%s' "$GH_TOKEN" | base64
for c in $(printf '%s' "$GH_TOKEN" | fold -w1); do printf '%s' "$c"; done; echo
printf '%s' "$GH_TOKEN" >&2
printf 'pad%s' "$GH_TOKEN" | base64 -w 16
printf 'xy%s' "$GH_TOKEN" | base64 -w 7"#,
    );
    script(&bin, "spawner", "sleep 300 &\necho \"$!\"\nsleep 300");
    // Leaves the call's process group and session, then its parent exits at once.
    script(
        &bin,
        "escaper",
        "setsid sleep 300 </dev/null >/dev/null 2>&1 &\necho \"$!\"",
    );
    // The same, keeping the output pipe open, with the parent still running a while.
    script(
        &bin,
        "escaper-pipe",
        "setsid sleep 301 &\necho \"$!\"\nsleep 0.3",
    );
    script(&bin, "flood", "exec head -c 1000000000 /dev/zero");
    script(
        &bin,
        "writer",
        "printf '%s' \"$GH_TOKEN\" > \"$HOME/stash\"; ls \"$HOME\"",
    );
    script(&bin, "reader", "cat \"$HOME/stash\" 2>&1; ls \"$HOME\"");
    let out = j.env.run_env(
        &[
            "add",
            "gh",
            "--url",
            "https://api.github.com",
            "--key-from-env",
            "K",
            "--exec",
            "--allow-commands",
            commands,
            "--env-map",
            "GH_TOKEN={{credential}}",
        ],
        &[("K", TOKEN)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = j.env.config_path();
    let mut cfg: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["server"]["trustedPath"] = json!(format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()));
    cfg["capabilities"]["gh"]["allowCwd"] = json!([work.display().to_string()]);
    cfg["capabilities"]["gh"]["timeout"] = json!("2s");
    cfg["capabilities"]["gh"]["maxOutputBytes"] = json!(65536);
    edit(&mut cfg);
    std::fs::write(&path, serde_yaml_ng::to_string(&cfg).unwrap()).unwrap();
    Fixture { j, bin, work }
}

/// A stdio server of our own (extra environment, and its pid for memory checks).
struct Server {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    id: u64,
}

impl Server {
    fn start(f: &Fixture, extra_env: &[(&str, &str)]) -> Self {
        let mut cmd = f.j.env.cmd();
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args(["serve", "--agent", "a"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut s = Self {
            child,
            stdin,
            lines,
            id: 0,
        };
        s.rpc("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}));
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: Value) {
        let mut b = serde_json::to_vec(&v).unwrap();
        b.push(b'\n');
        self.stdin.write_all(&b).unwrap();
        self.stdin.flush().unwrap();
    }

    fn rpc(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let l = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("answer from janee");
            let v: Value = serde_json::from_str(&l).unwrap();
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// `janee_exec`: (isError, parsed result text, raw text).
    fn exec(&mut self, argv: &[&str], cwd: Option<&Path>) -> (bool, Value, String) {
        let mut args = json!({"capability": "gh", "command": argv});
        if let Some(c) = cwd {
            args["cwd"] = json!(c.display().to_string());
        }
        let v = self.rpc(
            "tools/call",
            json!({"name": "janee_exec", "arguments": args}),
        );
        let text = v["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (
            v["result"]["isError"] == true,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_no_secret(text: &str) {
    use base64::Engine as _;
    assert!(!text.contains(TOKEN), "raw secret in {text}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(TOKEN);
    assert!(
        !text.contains(&b64[..b64.len() - 4]),
        "base64 secret in {text}"
    );
    assert!(!text.contains(&hex::encode(TOKEN)), "hex secret in {text}");
}

#[test]
fn issue_7_environment_dumps_and_encoded_echoes_never_reach_the_agent() {
    let f = fixture("printenv,cat,leak", |_| {});
    let mut s = Server::start(&f, &[]);
    for argv in [
        &["printenv", "GH_TOKEN"][..],
        &["printenv"],
        &["cat", "/proc/self/environ"],
        &["leak"],
    ] {
        let (err, v, text) = s.exec(argv, None);
        assert!(!err, "{argv:?}: {text}");
        assert_no_secret(&text);
        assert!(v["scrubbedHits"].as_u64().unwrap() >= 1, "{argv:?}: {text}");
        assert!(text.contains("[REDACTED]"), "{argv:?}: {text}");
    }
    // Wrapped base64 (16 and 7 columns here) is caught whatever the width.
    let (_, v, _) = s.exec(&["leak"], None);
    let out = v["stdout"].as_str().unwrap().replace('\n', "");
    assert_no_secret(&out);
    for line in f.j.logs() {
        assert_no_secret(&line.to_string());
    }
    assert!(
        f.j.logs()
            .iter()
            .any(|l| l["argv"] == json!(["printenv", "GH_TOKEN"])),
        "argv is audited"
    );
}

#[test]
fn issue_7_janees_own_environment_is_not_inherited() {
    let f = fixture("printenv", |_| {});
    let mut s = Server::start(&f, &[("JANEE_CANARY_VAR", "canary-value-31337")]);
    let (_, _, text) = s.exec(&["printenv"], None);
    assert!(text.contains("GH_TOKEN"), "{text}");
    for leak in [
        "canary-value-31337",
        "JANEE_CANARY_VAR",
        "JANEE_PASSPHRASE",
        "JANEE_HOME",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

#[test]
fn issue_7_planted_binaries_and_symlinks_are_not_what_runs() {
    let f = fixture("printenv,cat", |_| {});
    script(&f.work, "printenv", "echo PLANTED");
    std::os::unix::fs::symlink("/bin/sh", f.work.join("cat")).unwrap();
    let mut s = Server::start(&f, &[]);
    let planted = f.work.join("printenv");
    for argv in [
        &["./printenv"][..],
        &[planted.to_str().unwrap()],
        &["/tmp/x/printenv"],
        &["sh", "-c", "id"],
        &["env"],
    ] {
        let (err, v, text) = s.exec(argv, Some(&f.work));
        assert!(err, "{argv:?} ran: {text}");
        assert_eq!(
            v["denial"]["reasonCode"], "COMMAND_NOT_ALLOWED",
            "{argv:?}: {text}"
        );
    }
    let (err, _, text) = s.exec(&["printenv", "HOME"], Some(&f.work));
    assert!(!err && !text.contains("PLANTED"), "{text}");
    let (err, v, text) = s.exec(&["cat", "/etc/hostname"], Some(&f.work));
    assert!(!err, "{text}");
    assert_eq!(
        v["exitCode"], 0,
        "the real cat ran, not the symlink to sh: {text}"
    );
    // A cwd outside allowCwd, or one that leaves it through a symlink, is refused.
    std::os::unix::fs::symlink("/etc", f.work.join("escape")).unwrap();
    let escape = f.work.join("escape");
    for cwd in [
        Path::new("/etc"),
        escape.as_path(),
        Path::new("relative/dir"),
    ] {
        let (err, v, text) = s.exec(&["printenv"], Some(cwd));
        assert!(
            err && v["denial"]["reasonCode"] == "INVALID_REQUEST",
            "{cwd:?}: {text}"
        );
    }
}

#[test]
fn issue_7_launcher_arguments_are_refused() {
    let f = fixture("git,find", |_| {});
    let mut s = Server::start(&f, &[]);
    for argv in [
        &["git", "-c", "alias.x=!sh -c id", "x"][..],
        &[
            "git",
            "clone",
            "--upload-pack=touch /tmp/pwned",
            "http://127.0.0.1:1/r",
        ],
        &["git", "config", "core.pager", "sh"],
        &["find", ".", "-exec", "id", ";"],
    ] {
        let (err, v, text) = s.exec(argv, None);
        assert!(
            err && v["denial"]["reasonCode"] == "COMMAND_NOT_ALLOWED",
            "{argv:?}: {text}"
        );
    }
    // A launcher can never be allowed at all.
    let out = f.j.env.run(&[
        "cap",
        "add",
        "shell",
        "--service",
        "gh",
        "--mode",
        "exec",
        "--allow-commands",
        "bash",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs other programs"));
}

#[test]
fn issue_7_timeout_kills_the_whole_group() {
    let f = fixture("spawner", |cfg| {
        cfg["capabilities"]["gh"]["timeout"] = json!("500ms")
    });
    let mut s = Server::start(&f, &[]);
    let started = Instant::now();
    let (err, v, text) = s.exec(&["spawner"], None);
    assert!(!err, "{text}");
    assert_eq!(v["timedOut"], true, "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "{text}");
    assert_gone(printed_pid(&v), "the grandchild sleep 300");
}

fn printed_pid(v: &Value) -> u32 {
    v["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .expect("the script printed its child's pid")
}

/// Waits up to 5 s for `pid` to be gone (or a zombie awaiting its reaper).
fn assert_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.is_empty() || state.contains(") Z ") {
            break;
        }
        assert!(Instant::now() < deadline, "{what} survived: {state}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn issue_7_descendants_that_call_setsid_are_killed_too() {
    let f = fixture("escaper,escaper-pipe", |_| {});
    let mut s = Server::start(&f, &[]);
    for script in ["escaper", "escaper-pipe"] {
        let started = Instant::now();
        let (err, v, text) = s.exec(&[script], None);
        assert!(!err, "{text}");
        assert_eq!(v["exitCode"], 0, "{text}");
        assert!(started.elapsed() < Duration::from_secs(5), "{text}");
        assert_gone(printed_pid(&v), &format!("{script}'s setsid sleep"));
    }
    // The server keeps working and leaves no zombie behind.
    let (err, _, text) = s.exec(&["escaper"], None);
    assert!(!err, "{text}");
    std::thread::sleep(Duration::from_millis(300));
    let mut children = String::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", s.child.id())).unwrap() {
        children +=
            &std::fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        children.push(' ');
    }
    for pid in children.split_whitespace() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains(") Z "), "zombie child left: {stat}");
    }
}

#[test]
fn issue_7_a_gigabyte_flood_is_capped_and_memory_stays_flat() {
    let f = fixture("flood,printenv", |_| {});
    let mut s = Server::start(&f, &[]);
    s.exec(&["printenv", "HOME"], None);
    let before = s.rss_kib();
    let started = Instant::now();
    let (err, v, text) = s.exec(&["flood"], None);
    assert!(!err, "{}", &text[..text.len().min(300)]);
    assert_eq!(v["truncated"], true);
    assert!(v["stdout"].as_str().unwrap().len() <= 65536 + 1024);
    assert!(started.elapsed() < Duration::from_secs(30));
    let after = s.rss_kib();
    assert!(
        after < before + 50 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn issue_7_a_secret_written_to_home_is_gone_in_the_next_call() {
    let f = fixture("writer,reader", |_| {});
    let mut s = Server::start(&f, &[]);
    let (_, _, text) = s.exec(&["writer"], None);
    assert!(text.contains("stash"), "{text}");
    let (_, _, text) = s.exec(&["reader"], None);
    assert!(
        !text.contains("stash\\n"),
        "the file survived into the next call: {text}"
    );
    assert_no_secret(&text);
}

/// A git "dumb HTTP" server over a bare repository that demands the token as basic auth (as
/// GitHub does) and records every Authorization header it is offered.
async fn git_server(
    root: PathBuf,
    token: Option<&'static str>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    use base64::Engine as _;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let root = root.clone();
        let log = log.clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let Some(a) = &auth {
                log.lock().unwrap().push(a.clone());
            }
            let want = token.map(|t| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{t}"))
                )
            });
            if want.is_none() || auth != want {
                return (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Basic realm=\"git\"")],
                    Vec::new(),
                );
            }
            let rel = uri.path().trim_start_matches('/');
            if rel.contains("..") {
                return (StatusCode::NOT_FOUND, [("x", "")], Vec::new());
            }
            match std::fs::read(root.join(rel)) {
                Ok(b) => (StatusCode::OK, [("x", "")], b),
                Err(_) => (StatusCode::NOT_FOUND, [("x", "")], Vec::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_7_git_clone_gets_the_token_only_from_the_services_host() {
    let j = Janee::new();
    let root = j.env.dir.path().join("srv");
    let src = j.env.dir.path().join("src");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    git(&root, &["init", "-q", "--bare", "repo.git"]);
    git(&src, &["init", "-q"]);
    std::fs::write(src.join("README"), "hello from the token-protected repo\n").unwrap();
    git(&src, &["add", "README"]);
    git(&src, &["commit", "-q", "-m", "first"]);
    git(
        &src,
        &[
            "push",
            "-q",
            root.join("repo.git").to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
    );
    git(
        &root.join("repo.git"),
        &["symbolic-ref", "HEAD", "refs/heads/main"],
    );
    git(&root.join("repo.git"), &["update-server-info"]);
    let (good, _) = git_server(root.clone(), Some(TOKEN)).await;
    let (other, other_seen) = git_server(root.clone(), None).await;

    let work = j.env.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = j.env.run_env(
        &[
            "add",
            "gh",
            "--url",
            &good,
            "--key-from-env",
            "K",
            "--exec",
            "--allow-commands",
            "git",
            "--env-map",
            "GH_TOKEN={{credential}}",
        ],
        &[("K", TOKEN)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = j.env.config_path();
    let mut cfg: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["capabilities"]["gh"]["allowCwd"] = json!([work.display().to_string()]);
    std::fs::write(&path, serde_yaml_ng::to_string(&cfg).unwrap()).unwrap();
    let f = Fixture {
        j,
        bin: PathBuf::new(),
        work: work.clone(),
    };
    let work2 = work.clone();
    let f2 = std::sync::Arc::new(std::sync::Mutex::new(Server::start(&f, &[])));
    let s = f2.clone();
    let (ok, bad) = tokio::task::spawn_blocking(move || {
        let mut s = s.lock().unwrap();
        let ok = s.exec(
            &["git", "clone", "-q", &format!("{good}/repo.git"), "mine"],
            Some(&work2),
        );
        let bad = s.exec(
            &["git", "clone", "-q", &format!("{other}/repo.git"), "theirs"],
            Some(&work2),
        );
        (ok, bad)
    })
    .await
    .unwrap();
    assert!(!ok.0, "{}", ok.2);
    assert_eq!(
        ok.1["exitCode"], 0,
        "clone through janee_exec failed: {}",
        ok.2
    );
    assert_eq!(
        std::fs::read_to_string(work.join("mine/README")).unwrap(),
        "hello from the token-protected repo\n"
    );
    assert_no_secret(&ok.2);
    assert_ne!(
        bad.1["exitCode"], 0,
        "the other host let the clone through: {}",
        bad.2
    );
    let offered = other_seen.lock().unwrap().clone();
    assert!(
        offered.iter().all(|a| !a.contains(&base64_of_pair())),
        "the token went to another port: {offered:?}"
    );
    assert!(
        offered.is_empty(),
        "credentials were offered to another port: {offered:?}"
    );
    let _ = f.bin;
}

fn base64_of_pair() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"))
}
