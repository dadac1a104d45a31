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

use std::path::Path;

use async_trait::async_trait;
use chrono::Utc;

pub use crate::core::lease::{LeaseInfo, RemoteRequest, RequestKind};

/// `user@host` of this process: who drives, or who asks a driver.
pub fn user_at_host() -> String {
    format!("{}@{}", crate::journal::Who::from_env().user, hostname())
}

/// This machine's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer outlives the call and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// How a lease was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Nobody held it (or we already did).
    Fresh,
    /// It had expired: this was its holder.
    TookOver(Box<LeaseInfo>),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Someone else drives, and their lease is live.
    #[error("another driver holds the lease: {}", .0.describe())]
    Held(Box<LeaseInfo>),
    /// Someone else's lease expired: `--take-over` takes it.
    #[error("the lease of {} expired; --take-over takes it over", .0.describe())]
    Expired(Box<LeaseInfo>),
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
    /// Extends ours (`me` carries the new deadline, step, phase, gates);
    /// `Lost` when it is no longer ours. A request a cockpit wrote since
    /// is kept ([`LeaseInfo::renewed_over`]); returns the lease as written.
    async fn renew(&self, me: &LeaseInfo) -> Result<LeaseInfo, LeaseError>;
    /// A cockpit's request to the driver, written into the driver's lease
    /// with the same concurrency control (a request racing a renewal is
    /// never lost: one of the two writes is refused and tried again).
    /// Refused when nobody holds the lease or it expired.
    async fn request(&self, request: &RemoteRequest) -> Result<LeaseInfo, LeaseError>;
    /// Gives ours back (a lease that is no longer ours is left alone).
    async fn release(&self, me: &LeaseInfo) -> Result<(), LeaseError>;
}

/// The lease as a lock file (HAProxy, the simulator): created with
/// `O_CREAT|O_EXCL`, so that of two drivers only one creates it; renewed by
/// writing a temporary file and renaming it over, after checking it is still
/// ours; an expired one is removed (after checking it is still the expired
/// one read) and created again exclusively. Every read-modify-write (a
/// renewal, a cockpit's request, a take-over, the release) holds an
/// exclusive `flock` on `SERVICE.lease.lock` next to it: a request written
/// between a renewal's read and its rename is not lost.
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

    /// An exclusive lock on the sidecar file, held until the guard drops.
    fn lock(&self) -> Result<FileLock, LeaseError> {
        use std::os::unix::io::AsRawFd;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let path = self.path.with_extension("lease.lock");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path).map_err(|e| self.err(e))?;
        // SAFETY: the descriptor is open for the call; flock only locks it.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(self.err(std::io::Error::last_os_error()));
        }
        Ok(FileLock(file))
    }

    fn err(&self, e: std::io::Error) -> LeaseError {
        LeaseError::Backend(format!("{}: {e}", self.path.display()))
    }

    /// Writes `me` to `path` (mode 0600) and syncs it; `create_new`: only
    /// if the file does not exist (`AlreadyExists` otherwise).
    fn write_synced(&self, path: &Path, me: &LeaseInfo, create_new: bool) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let body = serde_json::to_vec(me).map_err(std::io::Error::other)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).mode(0o600);
        if create_new {
            opts.create_new(true);
        } else {
            opts.create(true).truncate(true);
        }
        let mut f = opts.open(path)?;
        f.write_all(&body)?;
        f.sync_all()
    }

    /// Creates the file only if it does not exist.
    fn create(&self, me: &LeaseInfo) -> Result<bool, LeaseError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        match self.write_synced(&self.path, me, true) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Replaces the file whole (a synced temporary renamed over it): a
    /// reader never sees half a lease, a crash never leaves none.
    fn write_over(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        let tmp = self
            .path
            .with_extension(format!("lease.tmp.{}", std::process::id()));
        self.write_synced(&tmp, me, false)
            .map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }
}

/// Held while a lease file is read and written (closing it unlocks).
struct FileLock(#[allow(dead_code)] std::fs::File);

#[async_trait]
impl Lease for FileLease {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn read(&self) -> Result<Option<LeaseInfo>, LeaseError> {
        self.read_now()
    }

    async fn acquire(&self, me: &LeaseInfo, take_over: bool) -> Result<Acquired, LeaseError> {
        let _lock = self.lock()?;
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
                return Err(LeaseError::Held(Box::new(held)));
            }
            if !take_over {
                return Err(LeaseError::Expired(Box::new(held)));
            }
            // Still the expired lease we read? Then it goes, and we create ours
            // exclusively: of two drivers taking over, one creates it.
            if self.read_now()?.as_ref() == Some(&held) {
                let _ = std::fs::remove_file(&self.path);
            }
            if self.create(me)? {
                return Ok(Acquired::TookOver(Box::new(held)));
            }
            if let Some(now) = self.read_now()? {
                return Err(LeaseError::Held(Box::new(now)));
            }
        }
        Err(LeaseError::Backend(format!(
            "{}: the lock file keeps changing",
            self.path.display()
        )))
    }

    async fn renew(&self, me: &LeaseInfo) -> Result<LeaseInfo, LeaseError> {
        let _lock = self.lock()?;
        match self.read_now()? {
            Some(held) if held.same_holder(me) => {
                let next = me.renewed_over(&held);
                self.write_over(&next)?;
                Ok(next)
            }
            Some(held) => Err(LeaseError::Lost(format!(
                "taken over by {}",
                held.describe()
            ))),
            None => Err(LeaseError::Lost(format!("{} was removed", self.location()))),
        }
    }

    async fn release(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        let _lock = self.lock()?;
        match self.read_now()? {
            Some(held) if held.same_holder(me) => {
                std::fs::remove_file(&self.path).map_err(|e| self.err(e))
            }
            _ => Ok(()),
        }
    }

    async fn request(&self, request: &RemoteRequest) -> Result<LeaseInfo, LeaseError> {
        let _lock = self.lock()?;
        let next = requestable(self.read_now()?, &self.location(), request)?;
        self.write_over(&next)?;
        Ok(next)
    }
}

/// The lease with `request` written into it: only a lease held and not
/// expired, and never over an abort not yet obeyed (another cockpit's
/// pause or resume would silently turn a rollback into a hold).
pub fn requestable(
    held: Option<LeaseInfo>,
    location: &str,
    request: &RemoteRequest,
) -> Result<LeaseInfo, LeaseError> {
    match held {
        None => Err(LeaseError::Backend(format!(
            "nobody drives a plan now ({location} is free)"
        ))),
        Some(h) if h.expired(Utc::now()) => Err(LeaseError::Expired(Box::new(h))),
        Some(h) => match &h.request {
            Some(r)
                if r.kind == RequestKind::Abort
                    && r.acked.is_none()
                    && request.kind != RequestKind::Abort =>
            {
                Err(LeaseError::Backend(format!(
                    "not written: the {} is not obeyed yet, and an abort is never replaced",
                    r.describe()
                )))
            }
            _ => Ok(LeaseInfo {
                request: Some(request.clone()),
                ..h
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(driver: &str, pid: u32, ttl_s: i64) -> LeaseInfo {
        LeaseInfo::new(
            driver.into(),
            pid,
            "ci".into(),
            Utc::now(),
            chrono::Duration::seconds(ttl_s),
        )
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
            Err(LeaseError::Held(Box::new(alice.clone())))
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
            Err(LeaseError::Expired(Box::new(dead.clone())))
        );
        assert_eq!(
            lease.acquire(&bob, true).await,
            Ok(Acquired::TookOver(Box::new(dead.clone())))
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

    /// A cockpit's request lands in the driver's lock file under the lock,
    /// survives the driver's next renewal, and is refused once nobody drives.
    #[tokio::test]
    async fn a_request_survives_a_renewal_and_needs_a_driver() {
        let dir = tempfile::tempdir().expect("tmp");
        let lease = FileLease::new(dir.path().join("app.lease"));
        let ask = RemoteRequest {
            kind: RequestKind::Pause,
            by: "bob@laptop".into(),
            at: Utc::now(),
            acked: None,
        };
        assert!(matches!(
            lease.request(&ask).await,
            Err(LeaseError::Backend(_))
        ));
        let alice = info("alice@a", 1, 30);
        lease.acquire(&alice, false).await.expect("acquire");
        let written = lease.request(&ask).await.expect("request");
        assert_eq!(written.pending(), Some(&ask));
        let renewed = lease.renew(&alice).await.expect("renew");
        assert_eq!(renewed.request, Some(ask.clone()));
        assert_eq!(
            lease.read().await.expect("read").and_then(|l| l.request),
            Some(ask)
        );
        lease.release(&alice).await.expect("release");
        let mut dead = info("carol@c", 3, 30);
        dead.deadline = Utc::now() - chrono::Duration::seconds(1);
        std::fs::write(
            dir.path().join("app.lease"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        let late = RemoteRequest {
            kind: RequestKind::Abort,
            ..ask_of("bob@laptop")
        };
        assert_eq!(
            lease.request(&late).await,
            Err(LeaseError::Expired(Box::new(dead)))
        );
    }

    /// An abort not yet obeyed is never replaced by another cockpit's pause
    /// or resume (it would turn a rollback into a hold); once obeyed, or by
    /// another abort, it may be.
    #[tokio::test]
    async fn a_pending_abort_is_never_replaced_by_a_pause() {
        let dir = tempfile::tempdir().expect("tmp");
        let lease = FileLease::new(dir.path().join("app.lease"));
        let alice = info("alice@a", 1, 30);
        lease.acquire(&alice, false).await.expect("acquire");
        let abort = RemoteRequest {
            kind: RequestKind::Abort,
            ..ask_of("bob@laptop")
        };
        lease.request(&abort).await.expect("abort written");
        let pause = ask_of("carol@desk");
        match lease.request(&pause).await {
            Err(LeaseError::Backend(why)) => {
                assert!(why.contains("abort requested by bob@laptop"), "{why}")
            }
            other => panic!("the pause must be refused: {other:?}"),
        }
        let held = lease.read().await.expect("read").expect("held");
        assert_eq!(held.request, Some(abort.clone()), "the abort stays");
        let again = RemoteRequest {
            kind: RequestKind::Abort,
            ..ask_of("carol@desk")
        };
        lease
            .request(&again)
            .await
            .expect("another abort may replace it");
        // Obeyed: a later request is written.
        let mut obeyed = lease.read().await.expect("read").expect("held");
        if let Some(r) = obeyed.request.as_mut() {
            r.acked = Some(Utc::now());
        }
        std::fs::write(
            dir.path().join("app.lease"),
            serde_json::to_vec(&obeyed).unwrap(),
        )
        .unwrap();
        lease
            .request(&pause)
            .await
            .expect("after the abort was obeyed");
    }

    /// The lease file stays private (0600) after a renewal rewrote it, as
    /// when it was created (it names who drives, from where).
    #[tokio::test]
    async fn a_renewed_lease_file_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("app.lease");
        let lease = FileLease::new(path.clone());
        let alice = info("alice@a", 1, 30);
        lease.acquire(&alice, false).await.expect("acquire");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        lease.renew(&alice).await.expect("renew");
        assert_eq!(mode(&path), 0o600, "rewritten whole, still private");
    }

    fn ask_of(by: &str) -> RemoteRequest {
        RemoteRequest {
            kind: RequestKind::Pause,
            by: by.into(),
            at: Utc::now(),
            acked: None,
        }
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
