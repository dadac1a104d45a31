//! The command log source: real `sh` processes, their stdout and stderr
//! parsed like log files, restarted when they end, memory bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use canary::core::model::{LogEntry, Severity};
use canary::logs::command::CommandLogs;
use canary::logs::LogSource;

async fn collect_until(
    src: &mut CommandLogs,
    what: &str,
    done: impl Fn(&[LogEntry]) -> bool,
) -> Vec<LogEntry> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all = Vec::new();
    loop {
        all.extend(src.poll().await.expect("poll"));
        if done(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tails_stdout_and_stderr_per_revision_and_restarts_an_ended_command() {
    let mut commands = BTreeMap::new();
    commands.insert(
        "app-v2".to_string(),
        r#"echo '{"severity":"ERROR","message":"db down","status":503}'; echo plain line; echo oops >&2"#
            .to_string(),
    );
    commands.insert("app-v1".to_string(), "echo from v1; sleep 30".to_string());
    let mut src = CommandLogs::start(commands);
    let all = collect_until(&mut src, "every line and the restart", |all| {
        all.iter().filter(|e| e.message.contains("db down")).count() >= 2
    })
    .await;
    let v2 = |m: &str| {
        all.iter()
            .find(|e| e.message.contains(m) && e.revision.as_deref() == Some("app-v2"))
            .unwrap_or_else(|| panic!("{m} from app-v2 in {all:?}"))
            .clone()
    };
    assert_eq!(v2("db down").severity, Severity::Error);
    assert_eq!(v2("db down").status, Some(503));
    v2("plain line");
    v2("oops");
    // The command ended: said, then started again (the lines came twice).
    let ended = v2("ended");
    assert_eq!(ended.severity, Severity::Warning);
    assert!(all
        .iter()
        .any(|e| e.message.contains("from v1") && e.revision.as_deref() == Some("app-v1")));
    // No line twice within one run of the command: exactly one `plain line` per run.
    let runs = all.iter().filter(|e| e.message.contains("ended")).count();
    let plains = all.iter().filter(|e| e.message == "plain line").count();
    assert!(plains <= runs + 1, "{plains} plain lines for {runs} runs");
}

#[tokio::test]
async fn a_flood_is_bounded_and_the_loss_is_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let done = dir.path().join("done");
    let mut commands = BTreeMap::new();
    commands.insert(
        "noisy".to_string(),
        format!(
            "i=0; while [ $i -lt 30000 ]; do echo line $i; i=$((i+1)); done; touch {}; sleep 30",
            done.display()
        ),
    );
    let mut src = CommandLogs::start(commands);
    // Do not read while the command writes: the buffer must stay bounded.
    // Wait until it has written everything (a slow machine takes longer),
    // then a moment for the reader to take in the last lines.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let batch = src.poll().await.expect("poll");
    assert_eq!(
        batch.len(),
        canary::logs::command::MAX_PENDING + 1,
        "bounded"
    );
    assert!(
        batch[0].message.contains("10000 log lines dropped"),
        "{:?}",
        batch[0]
    );
    assert_eq!(batch[1].message, "line 10000", "the oldest went first");
    assert_eq!(batch.last().map(|e| e.message.as_str()), Some("line 29999"));
}

/// Bytes that are not UTF-8 and a line far longer than the cap: both are
/// shown (replaced, cut), and the reader goes on (no restart of the command).
#[tokio::test]
async fn bad_bytes_and_endless_lines_do_not_stop_the_tail() {
    let mut commands = BTreeMap::new();
    commands.insert(
        "odd".to_string(),
        "printf 'first\\n\\377\\376 bad bytes\\n'; head -c 200000 /dev/zero | tr '\\0' x; \
         printf '\\nafter the long one\\n'; sleep 30"
            .to_string(),
    );
    let mut src = CommandLogs::start(commands);
    let all = collect_until(&mut src, "the line after the long one", |all| {
        all.iter().any(|e| e.message == "after the long one")
    })
    .await;
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages[0], "first", "{messages:?}");
    assert!(
        messages[1].ends_with(" bad bytes") && messages[1].contains('\u{FFFD}'),
        "{messages:?}"
    );
    let long = messages[2];
    assert!(
        long.len() <= 16 * 1024 && long.len() > 1000,
        "cut: {} bytes",
        long.len()
    );
    assert!(long.chars().all(|c| c == 'x'), "only the x's");
    assert_eq!(messages[3], "after the long one");
    assert!(
        !messages.iter().any(|m| m.contains("ended")),
        "the command was not restarted: {messages:?}"
    );
}
