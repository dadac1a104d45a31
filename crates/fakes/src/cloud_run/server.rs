//! The fake's HTTP side (hyper 1, HTTP/1.1): routing, auth, faults, recording.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::monitoring;
use super::patch::{self, ApiError};
use super::state::{normalise, FakeState};
use super::{Fault, RecordedRequest, Route};
use canary::platform::cloud_run::api::ListRevisionsResponse;

pub type SharedState = Arc<Mutex<FakeState>>;

pub fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds with SO_REUSEADDR so that a stopped fake can come back on its port.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Serves until the returned task is aborted; aborting it also drops every
/// open connection.
pub fn serve(listener: TcpListener, state: SharedState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let st = Arc::clone(&state);
                        conns.spawn(async move {
                            let svc = service_fn(move |req| handle(Arc::clone(&st), req));
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "fake cloud run: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: String,
}

impl Reply {
    fn json<T: serde::Serialize>(value: &T) -> Reply {
        match serde_json::to_string(value) {
            Ok(body) => Reply {
                status: 200,
                retry_after: None,
                body,
            },
            Err(e) => Reply::error(&ApiError::new(500, "INTERNAL", e.to_string())),
        }
    }

    fn error(e: &ApiError) -> Reply {
        Reply {
            status: e.code,
            retry_after: None,
            body: e.body(),
        }
    }
}

/// The route and the resource name (`projects/…`) a request is for.
pub fn classify(method: &Method, path: &str) -> (Route, String) {
    if *method == Method::POST && path == "/v2/entries:list" {
        return (Route::ListLogEntries, String::new());
    }
    if *method == Method::POST && path == "/v2/entries:write" {
        return (Route::WriteLogEntries, String::new());
    }
    if let Some(rest) = path.strip_prefix("/v1/") {
        // projects/P/location/L/prometheus/api/v1/query(_range): the name is P.
        let parts: Vec<&str> = rest.split('/').collect();
        if let (["projects", project, "location", _, "prometheus", "api", "v1", endpoint], true) = (
            parts.as_slice(),
            *method == Method::GET || *method == Method::POST,
        ) {
            let route = match *endpoint {
                "query_range" => Route::PromQueryRange,
                "query" => Route::PromQuery,
                _ => Route::Unknown,
            };
            return (route, (*project).to_string());
        }
    }
    if let Some(rest) = path.strip_prefix("/apis/serving.knative.dev/v1/namespaces/") {
        // The v1 surface gcloud reads (`gcloud run revisions list`).
        if let ([ns, "revisions"], true) = (
            rest.split('/').collect::<Vec<_>>().as_slice(),
            *method == Method::GET,
        ) {
            return (Route::V1ListRevisions, (*ns).to_string());
        }
        return (Route::Unknown, String::new());
    }
    let Some(name) = path.strip_prefix("/v2/") else {
        return (Route::Unknown, String::new());
    };
    let parts: Vec<&str> = name.split('/').collect();
    let shape: Vec<&str> = parts.iter().step_by(2).copied().collect();
    let route = match (method, shape.as_slice(), parts.len()) {
        (&Method::GET, ["projects", "locations", "services"], 6) => Route::GetService,
        (&Method::PATCH, ["projects", "locations", "services"], 6) => Route::PatchService,
        (&Method::GET, ["projects", "locations", "services", "revisions"], 7) => {
            return (Route::ListRevisions, parts[..6].join("/"))
        }
        (&Method::GET, ["projects", "locations", "operations"], 6) => Route::GetOperation,
        (&Method::GET, ["projects", "locations", "services", "revisions"], 8) => Route::GetRevision,
        (&Method::DELETE, ["projects", "locations", "services", "revisions"], 8) => {
            Route::DeleteRevision
        }
        _ => Route::Unknown,
    };
    (route, name.to_string())
}

fn canonical(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

fn fault_reply(fault: &Fault, route: Route, name: &str) -> Option<Reply> {
    match fault {
        Fault::Status(code) => {
            let message = match code {
                403 => {
                    let perm = match route {
                        Route::PatchService => "run.services.update",
                        Route::ListRevisions => "run.revisions.list",
                        Route::GetOperation => "run.operations.get",
                        Route::GetRevision => "run.revisions.get",
                        Route::DeleteRevision => "run.revisions.delete",
                        Route::ListLogEntries => "logging.logEntries.list",
                        Route::WriteLogEntries => "logging.logEntries.create",
                        Route::PromQuery | Route::PromQueryRange => "monitoring.timeSeries.list",
                        _ => "run.services.get",
                    };
                    format!("Permission '{perm}' denied on resource '{name}' (or resource may not exist).")
                }
                500 => "Internal error encountered.".to_string(),
                503 => "The service is currently unavailable.".to_string(),
                _ => format!("Injected fault {code}."),
            };
            Some(Reply::error(&ApiError::new(*code, canonical(*code), message)))
        }
        Fault::RateLimited { retry_after_secs } => Some(Reply {
            status: 429,
            retry_after: Some(*retry_after_secs),
            body: ApiError::new(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per region'.",
            )
            .body(),
        }),
        Fault::MalformedJson => Some(Reply {
            status: 200,
            retry_after: None,
            body: format!("{{\"name\": \"{name}\", \"traffic\": [{{\"revision\": "),
        }),
        Fault::Garbage => Some(Reply {
            status: 200,
            retry_after: None,
            body: "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
        }),
        Fault::Oversize => Some(Reply {
            status: 200,
            retry_after: None,
            body: format!("{{\"name\": \"{name}\", \"padding\": \"{}", "x".repeat(10 << 20)),
        }),
        Fault::AfterApply(inner) => fault_reply(inner, route, name),
        Fault::Close | Fault::Hang | Fault::Delay(_) | Fault::ConcurrentChange(_) => None,
    }
}

fn page_token(offset: usize) -> String {
    format!("{:x}", (offset as u64) ^ 0x5eed_cafe)
}

fn parse_page_token(token: &str) -> Option<usize> {
    u64::from_str_radix(token, 16)
        .ok()
        .and_then(|v| usize::try_from(v ^ 0x5eed_cafe).ok())
}

fn dispatch(
    state: &mut FakeState,
    route: Route,
    name: &str,
    query: &[(String, String)],
    body: &str,
) -> Reply {
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match route {
        Route::GetService => match state.services.get(name) {
            Some(svc) => Reply::json(&svc.resource),
            None => Reply::error(&patch::not_found(name)),
        },
        Route::PatchService => match patch::apply(state, name, query, body, Instant::now()) {
            Ok(op) => Reply::json(&op),
            Err(e) => Reply::error(&e),
        },
        Route::ListRevisions => {
            let Some(svc) = state.services.get(name) else {
                return Reply::error(&patch::not_found(name));
            };
            let size = match param("pageSize").map(str::parse::<usize>) {
                None => 20,
                Some(Ok(0)) => 20,
                Some(Ok(n)) => n.min(100),
                Some(Err(_)) => {
                    return Reply::error(&ApiError::invalid(
                        "Invalid value at 'page_size' (TYPE_INT32)",
                    ))
                }
            };
            let offset = match param("pageToken").filter(|t| !t.is_empty()) {
                None => 0,
                Some(t) => match parse_page_token(t).filter(|o| *o <= svc.revisions.len()) {
                    Some(o) => o,
                    None => return Reply::error(&ApiError::invalid("Invalid page token.")),
                },
            };
            let end = (offset + size).min(svc.revisions.len());
            Reply::json(&ListRevisionsResponse {
                revisions: svc.revisions[offset..end].to_vec(),
                next_page_token: (end < svc.revisions.len()).then(|| page_token(end)),
            })
        }
        Route::GetOperation => match state.operations.get(name) {
            Some(op) => Reply::json(&op.resource),
            None => Reply::error(&ApiError::new(
                404,
                "NOT_FOUND",
                format!("Operation '{name}' not found."),
            )),
        },
        Route::GetRevision => match super::revisions::get_revision(state, name) {
            Ok(r) => Reply::json(&r),
            Err(e) => Reply::error(&e),
        },
        Route::DeleteRevision => {
            match super::revisions::delete_revision(state, name, Instant::now()) {
                Ok(op) => Reply::json(&op),
                Err(e) => Reply::error(&e),
            }
        }
        Route::V1ListRevisions => match super::v1::list_revisions(state, name, query) {
            Ok(v) => Reply::json(&v),
            Err(e) => Reply::error(&e),
        },
        Route::ListLogEntries => match state.logs.list(body, chrono::Utc::now()) {
            Ok(v) => Reply::json(&v),
            Err(e) => Reply::error(&e),
        },
        Route::WriteLogEntries => match state.logs.write(body) {
            Ok(v) => Reply::json(&v),
            Err(e) => Reply::error(&e),
        },
        Route::PromQuery | Route::PromQueryRange => {
            let params = monitoring::params(query, body);
            let range = route == Route::PromQueryRange;
            match state.promql(name, range, &params, chrono::Utc::now()) {
                Ok(v) => Reply::json(&v),
                Err(e) => Reply {
                    status: e.status,
                    retry_after: None,
                    body: e.body(),
                },
            }
        }
        Route::Any | Route::Unknown => {
            Reply::error(&ApiError::new(404, "NOT_FOUND", "Method not found."))
        }
    }
}

/// Returned by the handler to make hyper drop the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Close and Hang: no answer at all (after applying, for `AfterApply`).
async fn unanswered(fault: &Fault) -> Dropped {
    if matches!(fault, Fault::Hang) {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    Dropped
}

async fn handle(
    state: SharedState,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), 4 << 20).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let query: Vec<(String, String)> = reqwest::Url::parse(&format!("http://fake/?{raw_query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let received = std::time::Instant::now();
    let (route, name) = classify(&method, &path);
    let early = {
        let mut st = lock(&state);
        st.record(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: raw_query,
            body: body.clone(),
            authorization: authorization.clone(),
            route,
            received,
        });
        let expected = st.required_token.as_ref().map(|t| format!("Bearer {t}"));
        if expected.is_some() && expected != authorization {
            Err(Reply::error(&ApiError::new(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            )))
        } else {
            Ok(st.take_fault(route))
        }
    };
    let reply = match early {
        Err(reply) => reply,
        Ok(fault) => {
            if let Some(Fault::Delay(d)) = &fault {
                tokio::time::sleep(*d).await;
            }
            if let Some(f @ (Fault::Close | Fault::Hang)) = &fault {
                return Err(unanswered(f).await);
            }
            let applied_then = {
                let mut st = lock(&state);
                st.advance(Instant::now());
                match fault {
                    Some(Fault::AfterApply(inner)) => {
                        let _ = dispatch(&mut st, route, &name, &query, &body);
                        Err(inner)
                    }
                    fault => Ok(
                        match fault.as_ref().and_then(|f| fault_reply(f, route, &name)) {
                            Some(reply) => reply,
                            None => {
                                if let Some(Fault::ConcurrentChange(traffic)) = fault {
                                    let _ = super::change_traffic_locked(
                                        &mut st,
                                        &name,
                                        normalise(traffic),
                                    );
                                }
                                dispatch(&mut st, route, &name, &query, &body)
                            }
                        },
                    ),
                }
            };
            match applied_then {
                Ok(reply) => reply,
                Err(inner) => match fault_reply(&inner, route, &name) {
                    Some(reply) => reply,
                    None => return Err(unanswered(&inner).await),
                },
            }
        }
    };
    let mut resp = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json; charset=UTF-8");
    if let Some(secs) = reply.retry_after {
        resp = resp.header("retry-after", secs.to_string());
    }
    Ok(resp
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let p = "/v2/projects/p/locations/l/services/s";
        assert_eq!(classify(&Method::GET, p).0, Route::GetService);
        assert_eq!(classify(&Method::PATCH, p).0, Route::PatchService);
        assert_eq!(
            classify(&Method::GET, &format!("{p}/revisions")),
            (
                Route::ListRevisions,
                "projects/p/locations/l/services/s".into()
            )
        );
        assert_eq!(
            classify(&Method::GET, "/v2/projects/p/locations/l/operations/x").0,
            Route::GetOperation
        );
        assert_eq!(classify(&Method::DELETE, p).0, Route::Unknown);
        assert_eq!(
            classify(&Method::POST, "/v2/entries:list").0,
            Route::ListLogEntries
        );
        assert_eq!(classify(&Method::GET, "/v1/x").0, Route::Unknown);
        let prom = "/v1/projects/p1/location/global/prometheus/api/v1";
        assert_eq!(
            classify(&Method::GET, &format!("{prom}/query_range")),
            (Route::PromQueryRange, "p1".into())
        );
        assert_eq!(
            classify(&Method::POST, &format!("{prom}/query")).0,
            Route::PromQuery
        );
        assert_eq!(
            classify(&Method::DELETE, &format!("{prom}/query")).0,
            Route::Unknown
        );
        assert_eq!(
            classify(&Method::GET, &format!("{prom}/series")).0,
            Route::Unknown
        );
        assert_eq!(parse_page_token(&page_token(300)), Some(300));
    }
}
