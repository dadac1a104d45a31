//! Cloud Run through the Admin API v2 (`run.googleapis.com/v2`).
//!
//! - [`CloudRun::snapshot`]: `GET …/services/S` and every page of
//!   `GET …/services/S/revisions`, read concurrently. Every read is retried
//!   on 429 / 5xx / connection errors / timeouts / garbage, with jittered
//!   backoff within [`RetryPolicy`], honouring `Retry-After`.
//! - [`CloudRun::set_traffic`]: re-reads the service (a changed etag is a
//!   [`BackendError::Conflict`] before anything is sent), then
//!   `PATCH …/services/S?updateMask=traffic` with `{traffic, etag}`: the split
//!   pinned by revision name, every existing tag kept as a 0 % entry. Then polls
//!   the long-running operation until `done` and re-reads. An answer that is
//!   neither a clean success nor a clean refusal (5xx, 429, a closed
//!   connection, a timeout, a garbage or truncated body) is resolved by
//!   re-reading the service ([`write`]): applied, not applied (then the PATCH
//!   is sent again, with the same etag: it can never overwrite someone
//!   else's change), or [`BackendError::Unconfirmed`] with the split read back.
//! - The fake speaking the same API, for tests and benches, is in the dev-only
//!   `canary-fakes` crate (`crates/fakes`), never in the binary.
//!
//! Cloud Run's own vocabulary (`trafficStatuses`, tags, conditions) stays in
//! [`api`] and [`convert`]; the rest of the cockpit sees [`ServiceSnapshot`]s.

pub mod api;
mod convert;
pub mod deploy;
mod inspect;
pub mod lease;
mod write;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::core::error::BackendError;
use crate::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
use crate::google::client::Http;
use crate::google::errors;
use crate::google::retry::{RetryPolicy, Tries};
use crate::google::Auth;
use crate::platform::{Platform, RetryObserver};

/// The public endpoint of the Cloud Run Admin API.
pub const DEFAULT_ENDPOINT: &str = "https://run.googleapis.com";

/// Where the service is and how to reach it.
#[derive(Clone, Debug)]
pub struct CloudRunSettings {
    /// `https://run.googleapis.com`, or `http://127.0.0.1:PORT` for a fake.
    pub endpoint: String,
    pub project: String,
    pub region: String,
    pub service: String,
    pub auth: Auth,
    /// Per HTTP request, including reading the body.
    pub request_timeout: Duration,
    /// Per read (a GET): a hung read is cut short and retried sooner.
    pub read_timeout: Duration,
    /// How failing calls are tried again (reads and writes).
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// How long a traffic change may take, from PATCH to operation done.
    pub operation_timeout: Duration,
    /// How long a deploy may take, from PATCH to the revision ready.
    pub deploy_timeout: Duration,
    /// First and longest wait between two polls of an operation.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// `pageSize` when listing revisions.
    pub page_size: u32,
}

impl CloudRunSettings {
    /// The public endpoint and default timeouts.
    pub fn new(
        project: impl Into<String>,
        region: impl Into<String>,
        service: impl Into<String>,
        auth: Auth,
    ) -> CloudRunSettings {
        CloudRunSettings {
            endpoint: DEFAULT_ENDPOINT.into(),
            project: project.into(),
            region: region.into(),
            service: service.into(),
            auth,
            request_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(120),
            deploy_timeout: Duration::from_secs(600),
            // A short first poll that backs off: a fast operation shows at
            // once, a slow one costs a poll every `poll_max`.
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_secs(2),
            page_size: 100,
        }
    }

    /// Another endpoint (a fake, an emulator).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> CloudRunSettings {
        self.endpoint = endpoint.into();
        self
    }
}

/// A Cloud Run service, read and steered through the Admin API v2.
pub struct CloudRun {
    settings: CloudRunSettings,
    http: Http,
    /// The service as last read, for previews (which do no I/O).
    last: Mutex<Option<api::Service>>,
    observer: Mutex<Option<RetryObserver>>,
}

impl std::fmt::Debug for CloudRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudRun")
            .field("endpoint", &self.settings.endpoint)
            .field("project", &self.settings.project)
            .field("region", &self.settings.region)
            .field("service", &self.settings.service)
            .finish_non_exhaustive()
    }
}

/// While an operation is young (most finish within seconds), polls back off
/// only up to this: a change shows at most this long after it is done.
const FAST_POLL_MAX: Duration = Duration::from_millis(400);
/// After this long, polls back off up to `poll_max`.
const FAST_POLL_FOR: Duration = Duration::from_secs(10);

/// A traffic change is done when the service is no longer reconciling and
/// serves the split it was asked for.
fn settled(s: &ServiceSnapshot) -> bool {
    !s.reconciling && s.actual.iter().all(|a| *a == s.traffic)
}

fn check_segment(what: &str, value: &str) -> Result<(), BackendError> {
    if value.is_empty() || value.contains(['/', '?', '#', ' ']) {
        return Err(BackendError::Other(format!(
            "cloud run {what} `{value}` is not a valid name"
        )));
    }
    Ok(())
}

impl CloudRun {
    pub fn new(settings: CloudRunSettings) -> Result<CloudRun, BackendError> {
        check_segment("project", &settings.project)?;
        check_segment("region", &settings.region)?;
        check_segment("service", &settings.service)?;
        let http = Http::new(
            &settings.endpoint,
            settings.auth.clone(),
            settings.request_timeout,
            settings.connect_timeout,
        )?;
        Ok(CloudRun {
            settings,
            http,
            last: Mutex::new(None),
            observer: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &CloudRunSettings {
        &self.settings
    }

    fn last(&self) -> MutexGuard<'_, Option<api::Service>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn observer(&self) -> Option<RetryObserver> {
        self.observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A GET, within `read_timeout`, retried on transient faults and garbage.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<T, BackendError> {
        let limit = self.settings.read_timeout;
        let mut tries = Tries::new(
            &self.settings.retry,
            self.observer(),
            &format!("reading {what}"),
        );
        loop {
            let got = match tokio::time::timeout(limit, self.http.get(path, query, what)).await {
                Ok(r) => r,
                Err(_) => Err(BackendError::Unavailable {
                    message: format!(
                        "reading {what}: no answer within {}",
                        crate::core::duration::human(limit)
                    ),
                    retry_after: None,
                }),
            };
            match got {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() || errors::is_malformed(&e) => {
                    if !tries.again(&e).await {
                        return Err(tries.gave_up(e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `v2/projects/P/locations/R/services/S`.
    pub fn service_path(&self) -> String {
        let s = &self.settings;
        format!(
            "v2/projects/{}/locations/{}/services/{}",
            s.project, s.region, s.service
        )
    }

    /// Names the service in error messages.
    fn what(&self) -> String {
        let s = &self.settings;
        format!(
            "service {} in project {}, region {}",
            s.service, s.project, s.region
        )
    }

    /// The raw service resource.
    pub async fn read_service(&self) -> Result<api::Service, BackendError> {
        self.read(&self.service_path(), &[], &self.what()).await
    }

    /// Replaces the service's annotations, only if it is still at `etag`
    /// (`PATCH …?updateMask=annotations`, `{annotations, etag}`), and waits
    /// for the operation. A 409 is [`BackendError::Conflict`]: someone wrote
    /// the service since it was read. Not retried: the caller re-reads.
    pub async fn patch_annotations(
        &self,
        annotations: &std::collections::BTreeMap<String, String>,
        etag: &str,
    ) -> Result<(), BackendError> {
        let body = serde_json::json!({ "annotations": annotations, "etag": etag });
        let op: api::Operation = self
            .http
            .patch(
                &self.service_path(),
                &[("updateMask", "annotations")],
                &body,
                &self.what(),
            )
            .await?;
        let deadline = Instant::now() + self.settings.operation_timeout;
        let op = self.wait(op, deadline).await?;
        match op.error {
            Some(e) => Err(BackendError::Failed(e.message)),
            None => Ok(()),
        }
    }

    /// Every revision of the service, all pages.
    pub async fn read_revisions(&self) -> Result<Vec<api::Revision>, BackendError> {
        let path = format!("{}/revisions", self.service_path());
        let what = format!("revisions of {}", self.what());
        let page_size = self.settings.page_size.to_string();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let mut query = vec![("pageSize", page_size.as_str())];
            if let Some(t) = token.as_deref() {
                query.push(("pageToken", t));
            }
            let page: api::ListRevisionsResponse = self.read(&path, &query, &what).await?;
            out.extend(page.revisions);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                None => return Ok(out),
                Some(next) if Some(&next) == token.as_ref() => {
                    return Err(BackendError::Other(format!(
                        "listing {what}: the API returned the same page token twice"
                    )))
                }
                Some(next) => token = Some(next),
            }
        }
        Err(BackendError::Other(format!(
            "listing {what}: more than 10000 pages"
        )))
    }

    /// The wait before the next poll of an operation started `elapsed` ago,
    /// after waiting `delay`: twice as long, up to 400 ms for the first 10 s
    /// (a fast operation shows at once, a typical one within 400 ms of its
    /// end), then up to `poll_max`.
    fn next_poll(&self, delay: Duration, elapsed: Duration) -> Duration {
        let cap = if elapsed < FAST_POLL_FOR {
            FAST_POLL_MAX.min(self.settings.poll_max)
        } else {
            self.settings.poll_max
        };
        (delay * 2).min(cap).max(delay.min(cap))
    }

    /// Polls `op` until done, from `poll_initial` backing off ([`Self::next_poll`]).
    /// Transient errors while polling are retried until `deadline`.
    async fn wait(
        &self,
        op: api::Operation,
        deadline: Instant,
    ) -> Result<api::Operation, BackendError> {
        let s = &self.settings;
        self.poll_operation(op, deadline, s.poll_initial, s.operation_timeout, None)
            .await
    }

    /// Polls `op` until done: first after `first`, then backing off
    /// ([`Self::next_poll`]); transient errors while polling are retried
    /// until `deadline` (then [`BackendError::Timeout`] of `limit`). With
    /// `progress`, the service is read after each poll that finds the
    /// operation still running, and told (a deploy's conditions progress).
    async fn poll_operation(
        &self,
        mut op: api::Operation,
        deadline: Instant,
        first: Duration,
        limit: Duration,
        progress: Option<&crate::platform::release::SnapshotSink>,
    ) -> Result<api::Operation, BackendError> {
        let started = Instant::now();
        let mut delay = first;
        let path = format!("v2/{}", op.name);
        let what = format!("operation {}", op.name);
        while !op.done {
            if op.name.is_empty() {
                return Err(BackendError::Other(
                    "the API answered with an operation that has no name".into(),
                ));
            }
            if Instant::now() + delay > deadline {
                return Err(BackendError::Timeout(limit));
            }
            tokio::time::sleep(delay).await;
            delay = self.next_poll(delay, started.elapsed());
            match self.http.get::<api::Operation>(&path, &[], &what).await {
                Ok(next) => op = next,
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, operation = %op.name, "operation poll failed; retrying");
                }
                // The operation is gone (the API lost it): the service, project
                // and region are fine; what became of the change is read next.
                Err(BackendError::NotFound(_)) => {
                    return Err(BackendError::Other(format!(
                        "the API no longer knows operation {}",
                        op.name
                    )))
                }
                Err(e) => return Err(e),
            }
            if let Some(progress) = progress.filter(|_| !op.done) {
                if let Ok(s) = self.snapshot().await {
                    progress(s);
                }
            }
        }
        Ok(op)
    }

    /// Re-reads until the change has settled: not reconciling and
    /// `trafficStatuses` matching `traffic` (or the service reports a failure).
    /// Transient failures are retried; at `deadline` the last read is returned
    /// as it is (still reconciling: the screen shows it pending).
    async fn settled_snapshot(&self, deadline: Instant) -> Result<ServiceSnapshot, BackendError> {
        let mut delay = self.settings.poll_initial;
        loop {
            let out_of_time = Instant::now() + delay > deadline;
            match self.snapshot().await {
                Ok(s) if out_of_time || s.message.is_some() || settled(&s) => return Ok(s),
                Ok(_) => {}
                Err(e) if e.is_transient() && !out_of_time => {
                    tracing::warn!(error = %e, "re-reading after a traffic change failed; retrying");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.settings.poll_max);
        }
    }

    fn patch_url(&self) -> String {
        format!("{}?updateMask=traffic", self.http.url(&self.service_path()))
    }

    /// The snapshot of one read, with what the preview of a change needs:
    /// the `gcloud` command, the PATCH line and its body (tags and etag as read).
    fn snapshot_of(
        &self,
        service: &api::Service,
        revisions: &[api::Revision],
    ) -> Result<ServiceSnapshot, BackendError> {
        let mut snap = convert::snapshot(service, revisions)?;
        let s = &self.settings;
        snap.write_api = convert::write_api(service, &s.project, &s.region, self.patch_url());
        Ok(snap)
    }
}

#[async_trait]
impl Platform for CloudRun {
    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            kind: "cloud-run".into(),
            service: self.settings.service.clone(),
            location: format!("{} · {}", self.settings.project, self.settings.region),
        }
    }

    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
        let (service, revisions) = tokio::try_join!(self.read_service(), self.read_revisions())?;
        let snap = self.snapshot_of(&service, &revisions)?;
        *self.last() = Some(service);
        Ok(snap)
    }

    async fn set_traffic(
        &self,
        split: &TrafficSplit,
        expect: &Version,
    ) -> Result<ServiceSnapshot, BackendError> {
        write::set_traffic(self, split, expect).await
    }

    fn releases(&self) -> Result<&dyn crate::platform::release::Releases, String> {
        Ok(self)
    }

    fn observe_retries(&self, observer: RetryObserver) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_and_info_name_the_real_api() {
        let cr = CloudRun::new(CloudRunSettings::new(
            "emergence-469005",
            "europe-west1",
            "emergence-app",
            Auth::None,
        ))
        .expect("client");
        let service = api::Service {
            name: "projects/emergence-469005/locations/europe-west1/services/emergence-app".into(),
            latest_ready_revision: Some("a".into()),
            ..Default::default()
        };
        let snap = cr.snapshot_of(&service, &[]).expect("snapshot");
        let split = TrafficSplit::new([("a", 90), ("b", 10)]).expect("valid");
        let lines = crate::core::preview::preview(&snap, &split);
        assert_eq!(lines[0], "gcloud run services update-traffic emergence-app --to-revisions=a=90,b=10 --region=europe-west1 --project=emergence-469005");
        assert_eq!(lines[1], "PATCH https://run.googleapis.com/v2/projects/emergence-469005/locations/europe-west1/services/emergence-app?updateMask=traffic");
        assert!(lines[2].starts_with(r#"{"traffic":[{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"a","percent":90}"#), "{}", lines[2]);
        let info = cr.info();
        assert_eq!(info.kind, "cloud-run");
        assert_eq!(info.location, "emergence-469005 · europe-west1");
        let bad = CloudRunSettings::new("p", "r/x", "s", Auth::None);
        assert!(CloudRun::new(bad).is_err());
    }
}
