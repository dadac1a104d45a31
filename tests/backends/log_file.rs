//! Tailing log files: appends, partial lines, truncation, rotation, limits.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use canary::core::model::Severity;
use canary::logs::file::{FileLogOptions, FileLogs};
use canary::logs::LogSource;

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

fn logs(files: &[(&str, &PathBuf)], options: FileLogOptions) -> FileLogs {
    let map: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|(r, p)| (r.to_string(), (*p).clone()))
        .collect();
    FileLogs::with_options(map, options)
}

fn messages(entries: &[canary::core::model::LogEntry]) -> Vec<String> {
    entries.iter().map(|e| e.message.clone()).collect()
}

#[tokio::test]
async fn follows_appends_and_waits_for_whole_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = dir.path().join("v1.log");
    append(&v1, "old line\n");
    let mut src = logs(&[("emergence-app-v1", &v1)], FileLogOptions::default());
    assert_eq!(
        messages(&src.poll().await.expect("poll")),
        vec!["old line"],
        "small backlog is shown"
    );
    assert!(src.poll().await.expect("poll").is_empty());

    append(
        &v1,
        r#"{"timestamp":"2026-11-20T10:00:00Z","severity":"ERROR","message":"GET / 500","httpRequest":{"status":500}}"#,
    );
    assert!(src.poll().await.expect("poll").is_empty(), "no newline yet");
    append(&v1, "\nplain WARN text\npart");
    let got = src.poll().await.expect("poll");
    assert_eq!(messages(&got), vec!["GET / 500", "plain WARN text"]);
    assert_eq!(got[0].severity, Severity::Error);
    assert_eq!(got[0].status, Some(500));
    assert_eq!(got[0].revision.as_deref(), Some("emergence-app-v1"));
    assert_eq!(got[1].severity, Severity::Warning);
    append(&v1, "ial\r\n");
    assert_eq!(messages(&src.poll().await.expect("poll")), vec!["partial"]);
}

#[tokio::test]
async fn truncation_and_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = dir.path().join("v2.log");
    append(&v2, "a\nb\n");
    let mut src = logs(&[("v2", &v2)], FileLogOptions::default());
    assert_eq!(messages(&src.poll().await.expect("poll")), vec!["a", "b"]);

    // Truncated (copytruncate): read again from the start.
    std::fs::write(&v2, "c\n").expect("truncate");
    let got = src.poll().await.expect("poll");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].message.contains("truncated"));
    assert_eq!(got[1].message, "c");

    // Rotated (rename + new file): the end of the old one, then the new one.
    append(&v2, "d\ntail-of-old");
    std::fs::rename(&v2, dir.path().join("v2.log.1")).expect("rotate");
    append(&dir.path().join("v2.log.1"), "-more\n");
    append(&v2, "e\n");
    assert_eq!(
        messages(&src.poll().await.expect("poll")),
        vec!["d", "tail-of-old-more", "e"]
    );
    append(&v2, "f\n");
    assert_eq!(messages(&src.poll().await.expect("poll")), vec!["f"]);
}

#[tokio::test]
async fn missing_files_bounded_reads_and_long_backlogs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let later = dir.path().join("later.log");
    let big = dir.path().join("big.log");
    let lines: String = (0..1000).map(|i| format!("line {i:04}\n")).collect(); // 10 bytes each
    append(&big, &lines);
    let options = FileLogOptions {
        backlog_bytes: 95,
        max_bytes_per_poll: 100,
        max_line_bytes: 40,
    };
    let mut src = logs(&[("later", &later), ("big", &big)], options);
    let got = src.poll().await.expect("poll");
    let missing: Vec<_> = got
        .iter()
        .filter(|e| e.revision.as_deref() == Some("later"))
        .collect();
    assert_eq!(missing.len(), 1);
    assert!(
        missing[0].message.contains("does not exist"),
        "{:?}",
        missing[0]
    );
    assert_eq!(missing[0].severity, Severity::Warning);
    let big_lines: Vec<_> = got
        .iter()
        .filter(|e| e.revision.as_deref() == Some("big"))
        .map(|e| e.message.clone())
        .collect();
    // The last 95 bytes start mid-line: that line is skipped.
    assert_eq!(big_lines.len(), 9);
    assert_eq!(big_lines.last().map(String::as_str), Some("line 0999"));
    assert!(
        src.poll().await.expect("poll").is_empty(),
        "missing file reported once"
    );

    append(&later, "hello\n");
    assert_eq!(messages(&src.poll().await.expect("poll")), vec!["hello"]);

    // 300 bytes appended come 100 bytes per poll.
    let more: String = (0..30).map(|i| format!("next {i:04}\n")).collect();
    append(&big, &more);
    let mut counts = Vec::new();
    for _ in 0..4 {
        counts.push(src.poll().await.expect("poll").len());
    }
    assert_eq!(counts, vec![10, 10, 10, 0]);

    // A line longer than max_line_bytes is cut, not kept forever.
    append(&big, &"x".repeat(120));
    let got = src.poll().await.expect("poll");
    assert_eq!(got.len(), 1);
    assert!(
        got[0].message.starts_with(&"x".repeat(40)) && got[0].message.ends_with("(line cut)"),
        "{:?}",
        got[0].message
    );
}
