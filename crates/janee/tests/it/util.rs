//! Shared helpers: a throwaway home per test and the real `janee` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PASSPHRASE: &str = "test-passphrase-0123";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_janee")
}

/// A temporary Janee home with the passphrase path configured.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        Self { dir, home }
    }

    /// Initialised with `JANEE_PASSPHRASE`.
    pub fn init() -> Self {
        let e = Self::new();
        e.ok(&["init"]);
        e
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("JANEE_HOME", &self.home)
            .env("JANEE_PASSPHRASE", PASSPHRASE)
            .env("JANEE_NO_KEYRING", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run janee")
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args).output().expect("run janee")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "janee {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("json output")
    }

    /// `janee add NAME` for a bearer service whose key comes from the environment.
    pub fn add_bearer(&self, name: &str, url: &str, key: &str) -> Output {
        self.run_env(
            &["add", name, "--url", url, "--key-from-env", "SVC_KEY"],
            &[("SVC_KEY", key)],
        )
    }

    pub fn store_path(&self) -> PathBuf {
        self.home.join("store.janee")
    }

    pub fn config_path(&self) -> PathBuf {
        self.home.join("config.yaml")
    }
}

/// Every regular file below `dir` with its bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out.sort();
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
