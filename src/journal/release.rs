//! How the history and the report tell deploys and deletions of revisions.
//! The records themselves are core types ([`crate::core::release`]): a
//! deploy is two records paired by id (`deploy-requested`, written before
//! anything is sent, then `deploy-finished`); so is a deletion
//! (`revision-delete-requested`, then one `revision-deleted` per revision).
//! Environment values typed with `--env` are never journaled (they may be
//! secrets): only their names.

pub use crate::core::release::{
    DeleteRequested, DeployFinished, DeployOutcome, DeployRequested, RevisionDeleted,
};

/// One line of `canary journal` and of the history view.
pub fn history_text(event: &super::Event) -> Option<String> {
    use super::Event as E;
    Some(match event {
        E::DeployRequested(d) => {
            let env = if d.env_keys.is_empty() {
                String::new()
            } else {
                format!(" env {}", d.env_keys.join(","))
            };
            format!(
                "deploy #{} requested: {} image {} tag {} at 0 %{env}{}",
                d.id,
                d.revision,
                d.image,
                d.tag,
                d.reason
                    .as_deref()
                    .map(|r| format!(" — why: {r}"))
                    .unwrap_or_default()
            )
        }
        E::DeployFinished(d) => match d.outcome {
            DeployOutcome::Ready => format!(
                "deploy #{} READY: {} in {} ms{}",
                d.id,
                d.revision,
                d.took_ms,
                d.tag_url
                    .as_deref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default()
            ),
            DeployOutcome::Failed => format!(
                "deploy #{} FAILED: {}: {}",
                d.id,
                d.revision,
                d.error.as_deref().unwrap_or("no reason given")
            ),
            DeployOutcome::Unknown => format!(
                "deploy #{} outcome UNKNOWN: {}: {}",
                d.id,
                d.revision,
                d.error.as_deref().unwrap_or("")
            ),
        },
        E::RevisionDeleteRequested(d) => format!(
            "{} #{} requested: {}{}",
            d.kind,
            d.id,
            d.revisions.join(", "),
            d.reason
                .as_deref()
                .map(|r| format!(" — why: {r}"))
                .unwrap_or_default()
        ),
        E::RevisionDeleted(d) if d.deleted => {
            format!("revision {} deleted (#{})", d.revision, d.id)
        }
        E::RevisionDeleted(d) if d.unknown => format!(
            "revision {} deletion outcome UNKNOWN (#{}): {}",
            d.revision,
            d.id,
            d.error.as_deref().unwrap_or("")
        ),
        E::RevisionDeleted(d) => format!(
            "revision {} NOT deleted (#{}): {}",
            d.revision,
            d.id,
            d.error.as_deref().unwrap_or("")
        ),
        _ => return None,
    })
}

/// The report's "Revisions" section: deploys and deletions, in order, with
/// requests still without an outcome said as such.
pub fn report_section(records: &[super::Record]) -> Option<String> {
    use super::Event as E;
    let mut lines = Vec::new();
    let mut open: Vec<u64> = Vec::new();
    for r in records {
        let at = r.at.format("%Y-%m-%d %H:%M:%S UTC");
        match &r.event {
            E::DeployRequested(d) => open.push(d.id),
            E::DeployFinished(d) => open.retain(|i| *i != d.id),
            _ => {}
        }
        if let Some(text) = history_text(&r.event) {
            lines.push(format!("- {at} — {} — {text}", r.who.user));
        }
    }
    if lines.is_empty() {
        return None;
    }
    let mut out = String::from("## Revisions: deploys and deletions\n\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    for id in open {
        out.push_str(&format!(
            "- deploy #{id}: **no outcome recorded** (the cockpit stopped while it ran; `canary status` shows what the platform has)\n"
        ));
    }
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::TrafficSplit;
    use crate::core::record::{Event, Record, Who};

    #[test]
    fn records_are_one_line_each_kind_named_and_read_back() {
        let r = Record {
            at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            who: Who {
                user: "alice".into(),
                from: None,
            },
            service: "s".into(),
            event: Event::DeployRequested(DeployRequested {
                id: 7,
                revision: "s-00002-abc".into(),
                image: "r/app:2".into(),
                tag: "canary-20261130".into(),
                env_keys: vec!["API_KEY".into()],
                traffic: TrafficSplit::all_to("s-00001-aaa"),
                reason: None,
                pid: Some(1),
            }),
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""event":"deploy-requested""#), "{line}");
        assert!(line.contains(r#""env_keys":["API_KEY"]"#), "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            history_text(&back.event).unwrap(),
            "deploy #7 requested: s-00002-abc image r/app:2 tag canary-20261130 at 0 % env API_KEY"
        );
        let done = Event::RevisionDeleted(RevisionDeleted {
            id: 8,
            revision: "s-00001-old".into(),
            deleted: false,
            unknown: false,
            error: Some("refused: it serves traffic".into()),
        });
        let line = serde_json::to_string(&done).unwrap();
        assert!(line.starts_with(r#"{"event":"revision-deleted""#), "{line}");
        let unknown = Event::RevisionDeleted(RevisionDeleted {
            unknown: true,
            error: Some("not known whether the change was applied: HTTP 503".into()),
            ..match done {
                Event::RevisionDeleted(d) => d,
                _ => unreachable!(),
            }
        });
        assert_eq!(
            history_text(&unknown).unwrap(),
            "revision s-00001-old deletion outcome UNKNOWN (#8): not known whether the change \
             was applied: HTTP 503"
        );
        let section = report_section(&[back]).unwrap();
        assert!(section.contains("no outcome recorded"), "{section}");
    }
}
