use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::DateTime;
use janee_vault::{MasterKey, SubKey};
use serde_json::Value;

use super::writer::Clock;
use super::*;

fn key() -> SubKey {
    MasterKey::from_bytes([7; 32]).subkey("audit")
}

fn call(i: usize) -> Record {
    Record {
        agent: Some(format!("alice{i}")),
        agent_verified_by: Some("token".into()),
        capability: Some("stripe".into()),
        method: Some("GET".into()),
        path: Some(format!("/v1/charges?n={i}")),
        status: Some(200),
        duration_ms: Some(3.1),
        scrub_hits: Some(0),
        ..Record::new(EventKind::Call)
    }
}

fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    v.sort();
    v
}

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

/// A log of five calls; returns the temp dir, the file and its lines.
fn five() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_blocking(dir.path(), key()).unwrap();
    for i in 1..=5 {
        assert_eq!(log.append_blocking(call(i)).unwrap(), i as u64);
    }
    log.flush_blocking().unwrap();
    drop(log);
    let files = audit_files(dir.path());
    assert_eq!(files.len(), 1);
    let lines = lines_of(&files[0]);
    assert_eq!(lines.len(), 5);
    (dir, files[0].clone(), lines)
}

fn problem(dir: &Path) -> Problem {
    let report = verify(dir, &key()).unwrap();
    assert!(!report.is_ok(), "no problem found: {report:?}");
    report.first_problem.unwrap()
}

fn seqs(dir: &Path) -> Vec<u64> {
    read(dir, &Filter::default())
        .unwrap()
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect()
}

fn clock(ms: &Arc<AtomicI64>) -> Clock {
    let ms = ms.clone();
    Arc::new(move || DateTime::from_timestamp_millis(ms.load(Ordering::SeqCst)).unwrap())
}

const DAY1: i64 = 1_790_000_000_000; // 2026-09-21T...Z
const DAY_MS: i64 = 86_400_000;

#[test]
fn intact_log_verifies_and_has_the_documented_shape() {
    let (dir, path, lines) = five();
    let report = verify(dir.path(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.lines, report.files, report.last_seq),
        (5, 1, Some(5))
    );
    let first = &lines[0];
    assert!(first.starts_with("{\"seq\":1,\"time\":\""), "{first}");
    assert!(
        first.contains("\"event\":\"call\",\"agent\":\"alice1\",\"agentVerifiedBy\":\"token\"")
    );
    assert!(first.contains(&format!(",\"prev\":\"{}\",\"mac\":\"", "0".repeat(64))));
    let v: Value = serde_json::from_str(first).unwrap();
    let time = v["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["prev"], v["mac"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(dir.path()), 0o700);
    }
    let _ = path;
}

#[test]
fn edited_line_is_bad_mac_at_that_line() {
    let (dir, path, mut lines) = five();
    lines[2] = lines[2].replacen("alice3", "alicE3", 1);
    write_lines(&path, &lines);
    let p = problem(dir.path());
    assert_eq!(
        (p.kind, p.line, p.seq),
        (ProblemKind::BadMac, 3, Some(3)),
        "{p}"
    );
    assert_eq!(verify(dir.path(), &key()).unwrap().lines, 2);
}

#[test]
fn deleted_line_is_a_gap_at_the_new_line_3() {
    let (dir, path, mut lines) = five();
    lines.remove(2);
    write_lines(&path, &lines);
    let p = problem(dir.path());
    assert_eq!(
        (p.kind, p.line, p.seq),
        (ProblemKind::SeqGap, 3, Some(4)),
        "{p}"
    );
}

#[test]
fn deleted_first_line_is_a_gap_at_line_1() {
    let (dir, path, mut lines) = five();
    lines.remove(0);
    write_lines(&path, &lines);
    let p = problem(dir.path());
    assert_eq!((p.kind, p.line), (ProblemKind::SeqGap, 1), "{p}");
}

#[test]
fn swapped_lines_are_reported_at_line_2() {
    let (dir, path, mut lines) = five();
    lines.swap(1, 2);
    write_lines(&path, &lines);
    let p = problem(dir.path());
    assert_eq!(
        (p.kind, p.line, p.seq),
        (ProblemKind::SeqOrder, 2, Some(3)),
        "{p}"
    );
}

#[test]
fn duplicated_line_is_out_of_order() {
    let (dir, path, mut lines) = five();
    lines.insert(3, lines[2].clone());
    write_lines(&path, &lines);
    let p = problem(dir.path());
    assert_eq!((p.kind, p.line), (ProblemKind::SeqOrder, 4), "{p}");
}

#[test]
fn truncated_last_line_is_malformed() {
    let (dir, path, _) = five();
    let text = fs::read(&path).unwrap();
    fs::write(&path, &text[..text.len() - 30]).unwrap();
    let p = problem(dir.path());
    assert_eq!(
        (p.kind, p.line, p.seq),
        (ProblemKind::Malformed, 5, None),
        "{p}"
    );
    assert!(p.message.contains("mid-line"), "{p}");
}

#[test]
fn line_from_another_chain_breaks_the_chain() {
    let (dir, path, mut lines) = five();
    let other = tempfile::tempdir().unwrap();
    let log = AuditLog::open_blocking(other.path(), key()).unwrap();
    for i in 1..=3 {
        let rec = Record {
            detail: Some(format!("other chain {i}")),
            ..Record::new(EventKind::Revoke)
        };
        log.append_blocking(rec).unwrap();
    }
    drop(log);
    lines[2] = lines_of(&audit_files(other.path())[0])[2].clone();
    write_lines(&path, &lines);
    let p = problem(dir.path());
    assert_eq!((p.kind, p.line), (ProblemKind::BrokenChain, 3), "{p}");
}

#[test]
fn another_key_fails_at_line_1() {
    let (dir, _, _) = five();
    let other = MasterKey::from_bytes([8; 32]).subkey("audit");
    let p = verify(dir.path(), &other).unwrap().first_problem.unwrap();
    assert_eq!((p.kind, p.line), (ProblemKind::BadMac, 1), "{p}");
}

#[test]
fn missing_directory_is_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let report = verify(&dir.path().join("nope"), &key()).unwrap();
    assert_eq!((report.lines, report.files, report.is_ok()), (0, 0, true));
    assert!(
        read(&dir.path().join("nope"), &Filter::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn chain_continues_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key()).await.unwrap();
    for i in 1..=3 {
        assert_eq!(log.append(call(i)).await.unwrap(), i as u64);
    }
    drop(log);
    let log = AuditLog::open(dir.path(), key()).await.unwrap();
    for i in 4..=6 {
        assert_eq!(log.append(call(i)).await.unwrap(), i as u64);
    }
    log.flush().await.unwrap();
    let report = verify(dir.path(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.lines, 6);
    assert_eq!(seqs(dir.path()), (1..=6).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_on_one_directory_interleave_safely() {
    let dir = tempfile::tempdir().unwrap();
    let a = AuditLog::open(dir.path(), key()).await.unwrap();
    let b = AuditLog::open(dir.path(), key()).await.unwrap();
    // Strictly alternating, then concurrently.
    for i in 0..50 {
        a.append(call(i)).await.unwrap();
        b.append(call(i)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for (n, log) in [a.clone(), b.clone(), a, b].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                log.append(call(n * 1000 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = verify(dir.path(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.lines, 1100);
    assert_eq!(seqs(dir.path()), (1..=1100).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread")]
async fn calls_that_announce_their_records_share_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key()).await.unwrap();
    let n = 40;
    let ready = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (log, ready) = (log.clone(), ready.clone());
        tasks.push(tokio::spawn(async move {
            let _coming = log.coming();
            ready.wait().await;
            log.append(call(i)).await.unwrap()
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=n as u64).collect::<Vec<_>>());
    assert!(
        log.batches_written() <= 2,
        "{n} records took {} writes",
        log.batches_written()
    );
    // Alone, a call writes at once.
    let before = log.batches_written();
    let _coming = log.coming();
    assert_eq!(log.append(call(99)).await.unwrap(), n as u64 + 1);
    assert_eq!(log.batches_written(), before + 1);
    let report = verify(dir.path(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.lines, n as u64 + 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_append_dropped_while_it_waits_for_company_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key()).await.unwrap();
    let (_a, _b) = (log.coming(), log.coming());
    let mut append = Box::pin(log.append(call(1)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        append.as_mut().poll(&mut cx).is_pending(),
        "it waits a turn"
    );
    drop(append);
    // In the file at once: written when the future was dropped, not left for a later flush.
    assert_eq!(seqs(dir.path()), vec![1]);
}

#[test]
fn injected_newlines_and_escapes_stay_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_blocking(dir.path(), key()).unwrap();
    let reason = "ok\n{\"seq\":999}\u{1b}[31mred\r\u{2028}\u{202e}x\u{7}";
    let rec = Record {
        reason: Some(reason.into()),
        label: Some("evil\u{1b}]0;title\u{7}".into()),
        argv: Some(vec!["echo".into(), "a\nb".into()]),
        ..call(1)
    };
    log.append_blocking(rec).unwrap();
    let long = Record {
        reason: Some("a".repeat(5000)),
        argv: Some(vec!["x".repeat(600); 200]),
        ..call(2)
    };
    log.append_blocking(long).unwrap();
    drop(log);
    let path = &audit_files(dir.path())[0];
    let raw = fs::read(path).unwrap();
    assert_eq!(raw.iter().filter(|&&b| b == b'\n').count(), 2);
    assert!(!raw.contains(&0x1b) && !raw.contains(&b'\r') && !raw.contains(&7));
    let text = String::from_utf8(raw).unwrap();
    assert!(!text.contains('\u{2028}') && !text.contains('\u{202e}'));
    let values = read(dir.path(), &Filter::default()).unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(
        values[0]["reason"],
        "ok\\u{a}{\"seq\":999}\\u{1b}[31mred\\u{d}\\u{2028}\\u{202e}x\\u{7}"
    );
    assert_eq!(values[0]["argv"][1], "a\\u{a}b");
    assert_eq!(values[0]["seq"], 1);
    let capped = values[1]["reason"].as_str().unwrap();
    assert_eq!(
        capped,
        format!("{}{TRUNCATED}", "a".repeat(MAX_FIELD_CHARS))
    );
    let argv = values[1]["argv"].as_array().unwrap();
    let kept: usize = argv[..argv.len() - 1]
        .iter()
        .map(|a| a.as_str().unwrap().chars().count())
        .sum();
    assert!(kept <= MAX_ARGV_CHARS + 20 * TRUNCATED.len(), "{kept}");
    assert!(
        argv.last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("more arguments truncated")
    );
    assert!(verify(dir.path(), &key()).unwrap().is_ok());
    let shown = format_human(&values[0]);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\n'),
        "{shown}"
    );
}

#[test]
fn sanitize_escapes_and_caps() {
    assert!(matches!(
        sanitize("plain text", 100),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(sanitize("a\u{1b}b\tc", 100), "a\\u{1b}b\\u{9}c");
    assert_eq!(
        sanitize("\u{85}\u{2029}\u{feff}", 100),
        "\\u{85}\\u{2029}\\u{feff}"
    );
    assert_eq!(sanitize("héllo wörld", 5), format!("héllo{TRUNCATED}"));
    // An escape is kept whole or dropped whole.
    assert_eq!(sanitize("abc\u{1b}", 5), format!("abc{TRUNCATED}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key()).await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..50 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::with_capacity(200);
            for i in 0..200 {
                got.push(log.append(call(t * 1000 + i)).await.unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    log.flush().await.unwrap();
    all.sort_unstable();
    assert_eq!(all, (1..=10_000).collect::<Vec<u64>>());
    let report = verify(dir.path(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.lines, 10_000);
    eprintln!("10,000 appends from 50 tasks in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn chain_runs_across_days_and_follows_a_newer_file() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(DAY1));
    let log = AuditLog::open_with_clock(dir.path(), key(), clock(&now)).unwrap();
    log.append_blocking(call(1)).unwrap();
    log.append_blocking(call(2)).unwrap();
    // A second writer whose clock stays a day behind must follow the first to the newest file.
    let behind = Arc::new(AtomicI64::new(DAY1));
    let late = AuditLog::open_with_clock(dir.path(), key(), clock(&behind)).unwrap();
    now.fetch_add(DAY_MS, Ordering::SeqCst);
    log.append_blocking(call(3)).unwrap();
    late.append_blocking(call(4)).unwrap();
    log.append_blocking(call(5)).unwrap();
    late.append_blocking(call(6)).unwrap();
    let files = audit_files(dir.path());
    assert_eq!(files.len(), 2);
    assert_eq!(
        (lines_of(&files[0]).len(), lines_of(&files[1]).len()),
        (2, 4)
    );
    let report = verify(dir.path(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.lines, report.files), (6, 2));
    // Removing the first day's file is a gap at the start of the second.
    fs::remove_file(&files[0]).unwrap();
    let p = problem(dir.path());
    assert_eq!(
        (p.kind, p.line, p.seq),
        (ProblemKind::SeqGap, 1, Some(3)),
        "{p}"
    );
}

#[test]
fn damaged_tail_is_resumed_and_recorded() {
    let (dir, path, _) = five();
    let text = fs::read(&path).unwrap();
    fs::write(&path, &text[..text.len() - 30]).unwrap();
    let log = AuditLog::open_blocking(dir.path(), key()).unwrap();
    // Line 5 is cut: the chain resumes after seq 4, the resume note takes seq 5.
    assert_eq!(log.append_blocking(call(6)).unwrap(), 6);
    drop(log);
    let lines = lines_of(&path);
    assert_eq!(lines.len(), 7);
    let resume: Value = serde_json::from_str(&lines[5]).unwrap();
    assert_eq!(resume["event"], "chain-resume");
    assert_eq!(resume["seq"], 5);
    assert!(
        resume["detail"].as_str().unwrap().contains("after seq 4"),
        "{resume}"
    );
    let p = problem(dir.path());
    assert_eq!((p.kind, p.line), (ProblemKind::Malformed, 5), "{p}");
}

#[test]
fn read_filters_and_keeps_the_last_n() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(DAY1));
    let log = AuditLog::open_with_clock(dir.path(), key(), clock(&now)).unwrap();
    for i in 0..10 {
        let agent = if i % 2 == 0 { "even" } else { "odd" };
        let rec = Record {
            agent: Some(agent.into()),
            capability: Some(if i < 5 { "stripe" } else { "github" }.into()),
            ..Record::new(EventKind::Call)
        };
        log.append_blocking(rec).unwrap();
        now.fetch_add(DAY_MS / 4, Ordering::SeqCst); // spread over three files
    }
    drop(log);
    assert_eq!(audit_files(dir.path()).len(), 3);
    let get = |f: Filter| -> Vec<u64> {
        read(dir.path(), &f)
            .unwrap()
            .iter()
            .map(|v| v["seq"].as_u64().unwrap())
            .collect()
    };
    let agent = |a: &str| Some(a.to_owned());
    assert_eq!(
        get(Filter {
            agent: agent("odd"),
            ..Filter::default()
        }),
        [2, 4, 6, 8, 10]
    );
    assert_eq!(
        get(Filter {
            agent: agent("even"),
            capability: agent("github"),
            ..Filter::default()
        }),
        [7, 9]
    );
    assert_eq!(
        get(Filter {
            last: Some(3),
            ..Filter::default()
        }),
        [8, 9, 10]
    );
    assert_eq!(
        get(Filter {
            agent: agent("even"),
            last: Some(4),
            ..Filter::default()
        }),
        [3, 5, 7, 9]
    );
    assert!(
        get(Filter {
            last: Some(0),
            ..Filter::default()
        })
        .is_empty()
    );
    let since = DateTime::from_timestamp_millis(DAY1 + 2 * DAY_MS).unwrap();
    assert_eq!(
        get(Filter {
            since: Some(since),
            ..Filter::default()
        }),
        [9, 10]
    );
}

#[test]
fn follow_shows_the_backlog_then_new_lines_across_days() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(DAY1));
    let log = AuditLog::open_with_clock(dir.path(), key(), clock(&now)).unwrap();
    log.append_blocking(call(1)).unwrap();
    log.append_blocking(call(2)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let follow_dir = dir.path().to_path_buf();
    let follower = std::thread::spawn(move || {
        let filter = Filter {
            last: Some(1),
            ..Filter::default()
        };
        let mut seen = 0;
        read::follow_every(&follow_dir, &filter, Duration::from_millis(10), |v| {
            tx.send(v["seq"].as_u64().unwrap()).unwrap();
            seen += 1;
            seen < 3
        })
    });
    let wait = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(wait(), 2, "backlog: the last line");
    log.append_blocking(call(3)).unwrap();
    assert_eq!(wait(), 3);
    now.fetch_add(DAY_MS, Ordering::SeqCst);
    log.append_blocking(call(4)).unwrap();
    assert_eq!(wait(), 4);
    follower.join().unwrap().unwrap();
    assert_eq!(audit_files(dir.path()).len(), 2);
}

#[test]
fn human_format() {
    let v: Value = serde_json::from_str(
        r#"{"seq":12,"time":"2026-11-23T18:40:01.123Z","event":"call","agent":"claude","agentVerifiedBy":"token","capability":"stripe","service":"stripe","method":"GET","path":"/v1/charges","status":200,"durationMs":3.1,"scrubHits":0,"prev":"00","mac":"11"}"#,
    )
    .unwrap();
    assert_eq!(
        format_human(&v),
        "2026-11-23T18:40:01.123Z #12 call  agent=claude cap=stripe GET /v1/charges → 200 (3.1 ms, scrubbed 0)"
    );
    let denied: Value = serde_json::from_str(
        r#"{"seq":13,"time":"2026-11-23T18:40:02.000Z","event":"denied","agent":"bot","agentVerifiedBy":"client-asserted","capability":"gh","argv":["gh","pr","list"],"decision":"deny","reasonCode":"no-rule-matched","reason":"need \u001b[2J it"}"#,
    )
    .unwrap();
    assert_eq!(
        format_human(&denied),
        "2026-11-23T18:40:02.000Z #13 denied agent=bot[client-asserted] cap=gh $ gh pr list decision=deny code=no-rule-matched reason=\"need \\u{1b}[2J it\""
    );
}
