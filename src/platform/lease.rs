//! One driver at a time: the lease a plan's driver (`canary release`) holds
//! on the platform itself, written with the platform's own concurrency
//! control so that only one writer can win. HAProxy (and the simulator):
//! a lock file next to the journal ([`FileLease`], created with `O_EXCL`).
//! Cloud Run: a service annotation written with the etag. Kubernetes (later):
//! a `coordination.k8s.io/v1` Lease with its resourceVersion.
//!
//! A lease names its driver (user@host, pid), the plan, its step and a
//! deadline; the driver renews it while it runs. A second driver is refused
//! with the first one's name; a lease past its deadline (its driver died)
//! can be taken over, explicitly.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who drives which plan, until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// `user@host`.
    pub driver: String,
    pub pid: u32,
    /// The plan's name (`ci`, `plan`, `--steps …`).
    pub plan: String,
    /// 1-based, once the plan has a step.
    #[serde(default)]
    pub step: Option<usize>,
    pub acquired: DateTime<Utc>,
    /// Past this, the driver is presumed dead: the lease may be taken over.
    pub deadline: DateTime<Utc>,
}

impl LeaseInfo {
    /// The same driver (host, user and process).
    pub fn same_holder(&self, other: &LeaseInfo) -> bool {
        self.driver == other.driver && self.pid == other.pid
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.deadline
    }

    /// `alice@bastion-1 (pid 4242), plan ci at step 1, until 13:40:02 UTC`.
    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}), plan {}{}, lease until {} UTC",
            self.driver,
            self.pid,
            self.plan,
            self.step.map_or(String::new(), |s| format!(" at step {s}")),
            self.deadline.format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// How a lease was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Nobody held it (or we already did).
    Fresh,
    /// It had expired: this was its holder.
    TookOver(LeaseInfo),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Someone else drives, and their lease is live.
    #[error("another driver holds the lease: {}", .0.describe())]
    Held(LeaseInfo),
    /// Someone else's lease expired: `--take-over` takes it.
    #[error("the lease of {} expired; --take-over takes it over", .0.describe())]
    Expired(LeaseInfo),
    /// Ours was taken over (or removed) while we ran.
    #[error("the lease was lost: {0}")]
    Lost(String),
    #[error("the lease cannot be read or written: {0}")]
    Backend(String),
}

/// A lease kept on a platform. Every write uses the platform's concurrency
/// control (an exclusive create, an etag, a resourceVersion): two drivers
/// racing for it cannot both win.
#[async_trait]
pub trait Lease: Send + Sync {
    /// Where it is kept, for messages (`/var/lib/canary/journal/app.lease`).
    fn location(&self) -> String;
    /// The lease as it is now (`None`: nobody holds it).
    async fn read(&self) -> Result<Option<LeaseInfo>, LeaseError>;
    /// Takes it for `me`: free, already ours, or expired and `take_over`.
    async fn acquire(&self, me: &LeaseInfo, take_over: bool) -> Result<Acquired, LeaseError>;
    /// Extends ours (`me` carries the new deadline and step); `Lost` when
    /// it is no longer ours.
    async fn renew(&self, me: &LeaseInfo) -> Result<(), LeaseError>;
    /// Gives ours back (a lease that is no longer ours is left alone).
    async fn release(&self, me: &LeaseInfo) -> Result<(), LeaseError>;
}

/// The lease as a lock file (HAProxy, the simulator): created with
/// `O_CREAT|O_EXCL`, so that of two drivers only one creates it; renewed by
/// writing a temporary file and renaming it over, after checking it is still
/// ours; an expired one is removed (after checking it is still the expired
/// one read) and created again exclusively.
pub struct FileLease {
    path: std::path::PathBuf,
}

impl FileLease {
    pub fn new(path: std::path::PathBuf) -> FileLease {
        FileLease { path }
    }

    fn read_now(&self) -> Result<Option<LeaseInfo>, LeaseError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                LeaseError::Backend(format!("{}: not a lease ({e})", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn err(&self, e: std::io::Error) -> LeaseError {
        LeaseError::Backend(format!("{}: {e}", self.path.display()))
    }

    /// Creates the file only if it does not exist.
    fn create(&self, me: &LeaseInfo) -> Result<bool, LeaseError> {
        use std::io::Write;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&self.path) {
            Ok(mut f) => {
                let body =
                    serde_json::to_vec(me).map_err(|e| LeaseError::Backend(e.to_string()))?;
                f.write_all(&body)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| self.err(e))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    fn write_over(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        let tmp = self
            .path
            .with_extension(format!("lease.tmp.{}", std::process::id()));
        let body = serde_json::to_vec(me).map_err(|e| LeaseError::Backend(e.to_string()))?;
        std::fs::write(&tmp, body).map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }
}

#[async_trait]
impl Lease for FileLease {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn read(&self) -> Result<Option<LeaseInfo>, LeaseError> {
        self.read_now()
    }

    async fn acquire(&self, me: &LeaseInfo, take_over: bool) -> Result<Acquired, LeaseError> {
        // Two tries: the file may vanish (released) between a read and a create.
        for _ in 0..2 {
            if self.create(me)? {
                return Ok(Acquired::Fresh);
            }
            let Some(held) = self.read_now()? else {
                continue;
            };
            if held.same_holder(me) {
                self.write_over(me)?;
                return Ok(Acquired::Fresh);
            }
            if !held.expired(Utc::now()) {
                return Err(LeaseError::Held(held));
            }
            if !take_over {
                return Err(LeaseError::Expired(held));
            }
            // Still the expired lease we read? Then it goes, and we create ours
            // exclusively: of two drivers taking over, one creates it.
            if self.read_now()?.as_ref() == Some(&held) {
                let _ = std::fs::remove_file(&self.path);
            }
            if self.create(me)? {
                return Ok(Acquired::TookOver(held));
            }
            if let Some(now) = self.read_now()? {
                return Err(LeaseError::Held(now));
            }
        }
        Err(LeaseError::Backend(format!(
            "{}: the lock file keeps changing",
            self.path.display()
        )))
    }

    async fn renew(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        match self.read_now()? {
            Some(held) if held.same_holder(me) => self.write_over(me),
            Some(held) => Err(LeaseError::Lost(format!(
                "taken over by {}",
                held.describe()
            ))),
            None => Err(LeaseError::Lost(format!("{} was removed", self.location()))),
        }
    }

    async fn release(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        match self.read_now()? {
            Some(held) if held.same_holder(me) => {
                std::fs::remove_file(&self.path).map_err(|e| self.err(e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(driver: &str, pid: u32, ttl_s: i64) -> LeaseInfo {
        let now = Utc::now();
        LeaseInfo {
            driver: driver.into(),
            pid,
            plan: "ci".into(),
            step: None,
            acquired: now,
            deadline: now + chrono::Duration::seconds(ttl_s),
        }
    }

    #[tokio::test]
    async fn one_driver_at_a_time_and_an_expired_lease_is_taken_over_explicitly() {
        let dir = tempfile::tempdir().expect("tmp");
        let lease = FileLease::new(dir.path().join("app.lease"));
        let alice = info("alice@a", 1, 30);
        let bob = info("bob@b", 2, 30);
        assert_eq!(lease.acquire(&alice, false).await, Ok(Acquired::Fresh));
        assert_eq!(
            lease.acquire(&bob, true).await,
            Err(LeaseError::Held(alice.clone()))
        );
        let mut renewed = alice.clone();
        renewed.step = Some(1);
        lease.renew(&renewed).await.expect("renew");
        assert_eq!(lease.read().await, Ok(Some(renewed.clone())));
        // Alice dies: her lease runs out.
        let mut dead = renewed.clone();
        dead.deadline = Utc::now() - chrono::Duration::seconds(1);
        lease.renew(&dead).await.expect("renew");
        assert_eq!(
            lease.acquire(&bob, false).await,
            Err(LeaseError::Expired(dead.clone()))
        );
        assert_eq!(
            lease.acquire(&bob, true).await,
            Ok(Acquired::TookOver(dead.clone()))
        );
        assert!(matches!(
            lease.renew(&alice).await,
            Err(LeaseError::Lost(_))
        ));
        lease.release(&alice).await.expect("not hers: left alone");
        assert_eq!(lease.read().await, Ok(Some(bob.clone())));
        lease.release(&bob).await.expect("release");
        assert_eq!(lease.read().await, Ok(None));
    }

    /// Many drivers at once: exactly one wins.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_drivers_one_wins() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("app.lease");
        let mut tasks = Vec::new();
        for pid in 0..16 {
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                FileLease::new(path)
                    .acquire(&info("x@h", pid, 30), true)
                    .await
                    .is_ok()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.expect("join"));
        }
        assert_eq!(won, 1);
    }
}
