//! Storage faults (THREATS.md class 12) and secret hygiene at rest, through the real binary.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::util::{Env, all_files, contains, stderr};

const CANARY: &str = "sk_live_CANARY_a8f3e21c9d7b";

#[test]
fn after_add_no_file_holds_the_secret_in_plaintext() {
    let env = Env::init();
    let out = env.add_bearer("stripe", "https://api.stripe.com", CANARY);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!contains(&out.stdout, CANARY) && !contains(&out.stderr, CANARY));
    for args in [
        &["list", "--json"][..],
        &["cap", "list", "--json"],
        &["doctor", "--json"],
        &["agent", "list"],
    ] {
        let o = env.run(args);
        assert!(!contains(&o.stdout, CANARY), "{args:?} printed the secret");
        assert!(!contains(&o.stderr, CANARY), "{args:?} printed the secret");
    }
    let files = all_files(&env.home);
    assert!(files.len() >= 2);
    for (path, bytes) in files {
        assert!(
            !contains(&bytes, CANARY),
            "{} holds the secret",
            path.display()
        );
    }
}

#[test]
fn wrong_passphrase_fails_with_one_line_and_changes_nothing() {
    let env = Env::init();
    assert!(
        env.add_bearer("a", "https://a.example.com", CANARY)
            .status
            .success()
    );
    let before = all_files(&env.home);
    for args in [
        &[
            "add",
            "b",
            "--url",
            "https://b.example.com",
            "--key-from-env",
            "K",
        ][..],
        &["remove", "a", "--yes"],
        &["agent", "add", "bot"],
        &["doctor"],
    ] {
        let out = env.run_env(
            args,
            &[("JANEE_PASSPHRASE", "not-the-passphrase"), ("K", CANARY)],
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("wrong passphrase") || args == ["doctor"],
            "{args:?}: {err}"
        );
        if args != ["doctor"] {
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        }
        assert!(!err.contains(CANARY));
    }
    assert_eq!(
        before,
        all_files(&env.home),
        "a wrong passphrase changed files"
    );
}

#[test]
fn a_flipped_byte_in_the_store_is_reported_as_damage_and_nothing_changes() {
    let env = Env::init();
    assert!(
        env.add_bearer("a", "https://a.example.com", CANARY)
            .status
            .success()
    );
    let original = std::fs::read(env.store_path()).unwrap();
    for pos in [
        0,
        10,
        original.len() / 3,
        original.len() / 2,
        original.len() - 5,
    ] {
        let mut bad = original.clone();
        bad[pos] ^= 0x20;
        std::fs::write(env.store_path(), &bad).unwrap();
        let out = env.add_bearer("b", "https://b.example.com", CANARY);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("damaged"), "byte {pos}: {err}");
        assert_eq!(
            std::fs::read(env.store_path()).unwrap(),
            bad,
            "store rewritten"
        );
        assert!(!env.run(&["doctor"]).status.success());
    }
}

#[test]
fn ten_concurrent_adds_all_land() {
    let env = Env::init();
    let children: Vec<_> = (0..10)
        .map(|i| {
            env.cmd()
                .args([
                    "add",
                    &format!("svc{i}"),
                    "--url",
                    &format!("https://s{i}.example.com"),
                    "--key-from-env",
                    "K",
                ])
                .env("K", format!("sk_concurrent_{i:04}_abcdef"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let list = env.json(&["list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    for s in list.as_array().unwrap() {
        assert_eq!(s["hasSecret"], true, "{s}");
    }
    let doctor = env.json(&["doctor", "--json"]);
    assert_eq!(doctor["ok"], true, "{doctor:#}");
}

#[test]
fn kill_9_during_writes_leaves_the_old_or_the_new_store() {
    let env = Env::init();
    // A big dotenv import rewrites a large store in one go; kill writers at varied moments.
    let mut dotenv = String::new();
    for i in 0..40 {
        assert!(
            env.add_bearer(
                &format!("s{i}"),
                &format!("https://s{i}.example.com"),
                &format!("sk_initial_{i:04}_zzzz")
            )
            .status
            .success()
        );
        dotenv.push_str(&format!(
            "S{i}_API_KEY=sk_rotated_{i:04}_{}\n",
            "x".repeat(2000)
        ));
    }
    let file = env.dir.path().join("keys.env");
    std::fs::write(&file, dotenv).unwrap();
    let mut killed = 0;
    for round in 0..12u64 {
        let mut child: std::process::Child = env
            .cmd()
            .args(["import", "dotenv", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(round * 9 % 80));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        let _ = child.wait();
        // The store must open and every service must still have a complete secret.
        let doctor = env.run(&["doctor", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
        assert_eq!(report["ok"], true, "round {round}: {report:#}");
        let leftovers: Vec<_> = std::fs::read_dir(&env.home)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        // A killed writer may leave its temp file; it is never the store itself.
        for l in leftovers {
            std::fs::remove_file(l.path()).unwrap();
        }
    }
    assert!(
        killed > 0,
        "no writer was interrupted; the test proved nothing"
    );
}

#[test]
fn a_short_secret_is_refused_without_echoing_it() {
    let env = Env::init();
    let out = env.add_bearer("a", "https://a.example.com", "abc12");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("shorter than 8") || err.contains("too short") || err.contains("at least"),
        "{err}"
    );
    assert!(!err.contains("abc12"), "{err}");
}
