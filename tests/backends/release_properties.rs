//! Property test: for any service state (targets by revision or LATEST,
//! shares summing to 100, tags at any share), a deploy's traffic is the
//! traffic before — the same share per revision, the same tag on the same
//! revision — plus one 0 % target with the new tag for the new revision,
//! which gets nothing; and nothing follows LATEST any more (the new
//! revision becomes the latest: it must not inherit LATEST's share).
//! Then the same through the fake, end to end, on a few of those states.

use std::collections::BTreeMap;

use canary::core::release_call::{deploy_traffic, Target};
use canary::platform::cloud_run::api::{TrafficTarget, TYPE_LATEST, TYPE_REVISION};
use proptest::prelude::*;

const REVS: [&str; 4] = ["s-00001-aaa", "s-00002-bbb", "s-00003-ccc", "s-00004-ddd"];
const NEW: &str = "s-00005-new";
const LATEST_READY: &str = "s-00004-ddd";

/// A service state: up to five targets, shares summing to 100, distinct tags.
fn targets() -> impl Strategy<Value = Vec<TrafficTarget>> {
    prop::collection::vec(
        (
            prop::option::of(prop::sample::select(REVS.to_vec())),
            0i32..=100,
            prop::option::of(prop::sample::select(vec!["canary", "old", "head", "blue"])),
        ),
        1..6,
    )
    .prop_map(|raw| {
        let mut used = Vec::new();
        let mut left = 100;
        let n = raw.len();
        raw.into_iter()
            .enumerate()
            .map(|(i, (rev, pct, tag))| {
                let pct = if i + 1 == n { left } else { pct.min(left) };
                left -= pct;
                let tag = tag.filter(|t| !used.contains(t)).inspect(|t| used.push(*t));
                TrafficTarget {
                    kind: Some(
                        if rev.is_some() {
                            TYPE_REVISION
                        } else {
                            TYPE_LATEST
                        }
                        .into(),
                    ),
                    revision: rev.map(Into::into),
                    percent: (pct != 0).then_some(pct),
                    tag: tag.map(Into::into),
                }
            })
            .collect()
    })
}

/// The API's targets as the cockpit reads them (type and percent written out).
fn read(ts: &[TrafficTarget]) -> Vec<Target> {
    ts.iter()
        .map(|t| Target {
            kind: t.kind.clone().expect("typed"),
            revision: t.revision.clone(),
            percent: t.percent(),
            tag: t.tag.clone(),
        })
        .collect()
}

/// What the API would hold after the cockpit sent `ts`.
fn sent(ts: &[Target]) -> Vec<TrafficTarget> {
    ts.iter()
        .map(|t| TrafficTarget {
            kind: Some(t.kind.clone()),
            revision: t.revision.clone(),
            percent: Some(t.percent),
            tag: t.tag.clone(),
        })
        .collect()
}

/// Share per revision and revision per tag, LATEST resolved.
fn resolved(ts: &[TrafficTarget]) -> (BTreeMap<String, i32>, BTreeMap<String, String>) {
    let mut shares = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for t in ts {
        let rev = if t.is_latest() {
            LATEST_READY.to_string()
        } else {
            t.revision.clone().unwrap_or_default()
        };
        *shares.entry(rev.clone()).or_insert(0) += t.percent();
        if let Some(tag) = &t.tag {
            tags.insert(tag.clone(), rev);
        }
    }
    shares.retain(|_, p| *p > 0);
    (shares, tags)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn a_deploy_keeps_every_share_and_tag_and_adds_one_zero_tag(before in targets()) {
        let after = sent(&deploy_traffic(&read(&before), Some(LATEST_READY), NEW, "canary-20261130")
            .expect("a fresh tag and a latest ready revision: always possible"));
        let (shares_before, mut tags_before) = resolved(&before);
        let (shares_after, tags_after) = resolved(&after);
        prop_assert_eq!(&shares_after, &shares_before);
        prop_assert!(!shares_after.contains_key(NEW), "the new revision gets traffic");
        tags_before.insert("canary-20261130".into(), NEW.into());
        prop_assert_eq!(tags_after, tags_before);
        prop_assert!(after.iter().all(|t| t.kind.as_deref() == Some(TYPE_REVISION)));
        prop_assert_eq!(after.iter().map(TrafficTarget::percent).sum::<i32>(), 100);
        prop_assert_eq!(after.len(), before.len() + 1);
    }

    #[test]
    fn a_tag_already_in_use_is_refused_and_nothing_is_built(before in targets()) {
        if let Some(tag) = before.iter().find_map(|t| t.tag.clone()) {
            prop_assert!(deploy_traffic(&read(&before), Some(LATEST_READY), NEW, &tag).is_err());
        }
    }
}

/// The same, end to end: the fake's traffic after a deploy by the cockpit.
#[tokio::test]
async fn through_the_fake_the_traffic_is_kept_too() {
    use canary::core::release::DeployRequest;
    use canary::google::Auth;
    use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
    use canary::platform::Platform;
    use canary_fakes::cloud_run::{FakeCloudRun, RevisionSpec, ServiceRef};
    use proptest::strategy::ValueTree;
    use std::time::Duration;

    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..12 {
        let before = targets().new_tree(&mut runner).unwrap().current();
        let (fake, url) = FakeCloudRun::start().await.unwrap();
        fake.set_deploy_step(Duration::from_millis(5));
        let at = ServiceRef::new("p", "europe-west1", "s");
        let specs: Vec<RevisionSpec> = REVS
            .iter()
            .enumerate()
            .map(|(i, r)| {
                RevisionSpec::new(
                    *r,
                    format!("r/app:{i}"),
                    Duration::from_secs(3600 * (10 - i as u64)),
                )
            })
            .collect();
        fake.add_service(&at, &specs, before.clone());
        let mut settings =
            CloudRunSettings::new("p", "europe-west1", "s", Auth::None).with_endpoint(&url);
        settings.poll_max = Duration::from_millis(20);
        let cr = CloudRun::new(settings).unwrap();
        let snap = cr.snapshot().await.unwrap();
        let request = DeployRequest {
            revision: NEW.into(),
            image: "r/app:new".into(),
            tag: "canary-20261130".into(),
            env: vec![],
        };
        let quiet: canary::platform::release::SnapshotSink = std::sync::Arc::new(|_| {});
        let after = cr
            .releases()
            .unwrap()
            .deploy(&request, &snap.version, quiet)
            .await
            .unwrap();
        assert_eq!(after.traffic, snap.traffic, "{before:?}");
        let svc = fake.service(&at).unwrap();
        let (shares_before, mut tags_before) = resolved(&before);
        let (shares_after, tags_after) = resolved(&svc.traffic);
        assert_eq!(shares_after, shares_before, "{before:?}");
        tags_before.insert("canary-20261130".into(), NEW.into());
        assert_eq!(tags_after, tags_before, "{before:?}");
    }
}
