//! From a failed Kubernetes call to a [`BackendError`] that says what to do:
//! a 409 is someone else's change (re-read, show, ask again), a 403 names
//! the verb, resource and namespace the credentials lack.

use std::time::Duration;

use crate::core::error::{excerpt, BackendError};

/// One API call, for error messages: `patch services backend in shop`.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    /// `get`, `list`, `patch`, `update`, `watch`.
    pub verb: &'a str,
    /// The resource as RBAC names it: `services`, `deployments/scale`,
    /// `httproutes.gateway.networking.k8s.io`, `pods/log`.
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub namespace: &'a str,
}

impl std::fmt::Display for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(n) = self.name {
            write!(f, " {n}")?;
        }
        write!(f, " in namespace {}", self.namespace)
    }
}

/// Classifies a kube error for `call`.
pub fn classify(e: kube::Error, call: &Call<'_>) -> BackendError {
    match e {
        kube::Error::Api(status) => {
            let message = excerpt(&status.message, 300);
            match status.code {
                409 => BackendError::Conflict(format!(
                    "{call}: the object changed since it was read (409 {}): nothing was \
                     overwritten",
                    if status.reason.is_empty() {
                        "Conflict"
                    } else {
                        &status.reason
                    }
                )),
                401 => BackendError::Auth(format!(
                    "{call}: the cluster did not accept the credentials (401 Unauthorized); \
                     log in again (e.g. `kubectl get ns` runs the kubeconfig's credential plugin)"
                )),
                403 => BackendError::Auth(format!(
                    "{call}: forbidden: the credentials may not {} {} in namespace {} \
                     (RBAC; check with `kubectl auth can-i {} {} -n {}`): {message}",
                    call.verb,
                    call.resource,
                    call.namespace,
                    call.verb,
                    call.resource,
                    call.namespace
                )),
                404 => BackendError::NotFound(format!("{call}: {message}")),
                400 | 415 | 422 => BackendError::Refused(format!("{call}: {message}")),
                429 | 500..=599 => BackendError::Unavailable {
                    message: format!("{call}: HTTP {}: {message}", status.code),
                    retry_after: None,
                },
                code => BackendError::Other(format!("{call}: HTTP {code}: {message}")),
            }
        }
        kube::Error::Auth(a) => BackendError::Auth(format!(
            "{call}: getting credentials failed: {}",
            excerpt(&a.to_string(), 300)
        )),
        kube::Error::SerdeError(s) => BackendError::Other(format!(
            "{call}: the answer is not what Kubernetes sends: {}",
            excerpt(&s.to_string(), 200)
        )),
        other => BackendError::Unavailable {
            message: format!("{call}: {}", excerpt(&other.to_string(), 300)),
            retry_after: None,
        },
    }
}

/// A call that did not answer within `limit`.
pub fn timed_out(call: &Call<'_>, limit: Duration) -> BackendError {
    BackendError::Unavailable {
        message: format!(
            "{call}: no answer within {}",
            crate::core::duration::human(limit)
        ),
        retry_after: None,
    }
}

/// `e` with `more` added to its message, of the same kind (a conflict
/// stays a conflict, so the cockpit still re-reads and asks again).
pub fn with_note(e: BackendError, more: &str) -> BackendError {
    match e {
        BackendError::Conflict(m) => BackendError::Conflict(format!("{m}{more}")),
        BackendError::Refused(m) => BackendError::Refused(format!("{m}{more}")),
        BackendError::Auth(m) => BackendError::Auth(format!("{m}{more}")),
        BackendError::NotFound(m) => BackendError::NotFound(format!("{m}{more}")),
        BackendError::Unavailable {
            message,
            retry_after,
        } => BackendError::Unavailable {
            message: format!("{message}{more}"),
            retry_after,
        },
        BackendError::Timeout(d) => BackendError::Unavailable {
            message: format!("no answer within {d:?}{more}"),
            retry_after: None,
        },
        BackendError::Failed(m) => BackendError::Failed(format!("{m}{more}")),
        BackendError::Unconfirmed { message, read_back } => BackendError::Unconfirmed {
            message: format!("{message}{more}"),
            read_back,
        },
        BackendError::Other(m) => BackendError::Other(format!("{m}{more}")),
    }
}

/// Said of a write whose answer was unclear when a re-read found its
/// object unchanged (same resourceVersion).
pub const NOT_APPLIED: &str = " (not applied: read back unchanged)";

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..kube::core::Status::default()
        }))
    }

    const CALL: Call<'static> = Call {
        verb: "patch",
        resource: "services",
        name: Some("backend"),
        namespace: "shop",
    };

    #[test]
    fn conflict_and_forbidden() {
        let e = classify(api(409, "Conflict", "the object has been modified"), &CALL);
        assert!(e.is_conflict(), "{e}");
        let e = classify(
            api(
                403,
                "Forbidden",
                "services \"backend\" is forbidden: User \"op\" cannot patch",
            ),
            &CALL,
        );
        let text = e.to_string();
        assert!(matches!(e, BackendError::Auth(_)));
        assert!(
            text.contains("may not patch services in namespace shop"),
            "{text}"
        );
        assert!(
            text.contains("kubectl auth can-i patch services -n shop"),
            "{text}"
        );
        assert!(classify(api(503, "", "busy"), &CALL).is_transient());
        assert!(matches!(
            classify(
                api(404, "NotFound", "services \"backend\" not found"),
                &CALL
            ),
            BackendError::NotFound(_)
        ));
        assert!(matches!(
            classify(api(422, "Invalid", "bad"), &CALL),
            BackendError::Refused(_)
        ));
    }
}
