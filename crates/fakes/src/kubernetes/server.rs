//! The HTTP side: routing, authentication, faults, RBAC, the verbs, watch
//! and log streams, recording.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::discovery;
use super::patch;
use super::store::{qualified, reason_of, ApiError, OpenApi, Shared, State, WriteMode};
use super::time;
use super::{Kind, RecordedRequest, Verb};

type ResBody = BoxBody<Bytes, Infallible>;
type HandlerError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// A streamed body fed by a channel (watch events, followed logs).
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

enum Answer {
    Json(u16, Value),
    Text(u16, String),
    Stream(&'static str, mpsc::Receiver<Bytes>),
    Drop,
}

impl From<ApiError> for Answer {
    fn from(e: ApiError) -> Answer {
        Answer::Json(e.code, e.status())
    }
}

/// What a path names.
#[derive(Clone, Debug)]
enum Route {
    Version,
    Api,
    Apis,
    Group(String),
    ResourceList(String),
    Resource(Target),
    OpenApiRoot,
    OpenApiDoc(String),
    Unknown,
}

#[derive(Clone, Debug)]
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    /// A legacy `/watch/…` path.
    legacy_watch: bool,
}

impl Target {
    fn rbac_resource(&self) -> String {
        match &self.sub {
            Some(sub) => format!("{}/{sub}", self.kind.resource()),
            None => self.kind.resource().to_string(),
        }
    }
}

fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest): (String, &[&str]) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["openapi", "v3"] => return Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => return Route::OpenApiDoc(rest.join("/")),
        ["api", "v1"] => return Route::ResourceList("v1".into()),
        ["apis", g] => return Route::Group(g.to_string()),
        ["apis", g, v] => return Route::ResourceList(format!("{g}/{v}")),
        ["api", "v1", rest @ ..] => ("v1".into(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => return Route::Unknown,
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let (namespace, resource, name, sub) = match rest {
        ["namespaces", ns, res] => (Some(*ns), *res, None, None),
        ["namespaces", ns, res, name] => (Some(*ns), *res, Some(*name), None),
        ["namespaces", ns, res, name, sub] => (Some(*ns), *res, Some(*name), Some(*sub)),
        [res] => (None, *res, None, None),
        _ => return Route::Unknown,
    };
    let Some(kind) = Kind::from_resource(resource).filter(|k| k.api_version() == gv) else {
        return Route::Unknown;
    };
    let allowed_sub = matches!(
        (kind, sub),
        (_, None)
            | (Kind::Deployment, Some("scale" | "status"))
            | (Kind::Pod, Some("log" | "status"))
            | (Kind::Service | Kind::HttpRoute, Some("status"))
    );
    if !allowed_sub || (legacy_watch && sub.is_some()) {
        return Route::Unknown;
    }
    Route::Resource(Target {
        kind,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
        legacy_watch,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=b&c=d` decoded, in order.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

struct Req {
    method: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    accept: Option<String>,
    user_agent: Option<String>,
    host: String,
    body: Bytes,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    /// The field manager: `fieldManager`, else the User-Agent's program.
    fn manager(&self) -> String {
        if let Some(m) = self.param("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        self.user_agent
            .as_deref()
            .and_then(|ua| ua.split('/').next())
            .filter(|p| !p.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request was not valid JSON: {e}"))
        })
    }
}

fn verb_of(method: &str, t: &Target, req_watch: bool) -> Option<Verb> {
    Some(match (method, &t.name) {
        ("GET", _) if t.legacy_watch || req_watch => Verb::Watch,
        ("GET", Some(_)) => Verb::Get,
        ("GET", None) => Verb::List,
        ("POST", None) => Verb::Create,
        ("PUT", Some(_)) => Verb::Update,
        ("PATCH", Some(_)) => Verb::Patch,
        ("DELETE", Some(_)) => Verb::Delete,
        _ => return None,
    })
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, HandlerError> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization");
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let r = Req {
        method: parts.method.as_str().to_string(),
        query: parse_query(&raw_query),
        content_type: header("content-type"),
        accept: header("accept"),
        user_agent: header("user-agent"),
        host: header("host").unwrap_or_default(),
        body,
    };
    let route = parse_route(&path);
    let target = match &route {
        Route::Resource(t) => Some(t.clone()),
        _ => None,
    };
    let verb = target
        .as_ref()
        .and_then(|t| verb_of(&r.method, t, r.flag("watch")));

    let mut retry_after = false;
    let answer = 'answer: {
        // Authentication.
        let required = shared.state().required_token.clone();
        if let Some(token) = required {
            if authorization.as_deref() != Some(&format!("Bearer {token}")) {
                break 'answer Answer::Json(
                    401,
                    ApiError::new(401, "Unauthorized", "Unauthorized").status(),
                );
            }
        }
        // Injected faults, then the global delay.
        let fault = {
            let mut s = shared.state();
            let hit = s.faults.iter().position(|f| {
                f.times > 0
                    && f.verb.is_none_or(|v| Some(v) == verb)
                    && path.starts_with(&f.path_prefix)
            });
            hit.map(|i| {
                let f = s.faults[i].clone();
                s.faults[i].times -= 1;
                if s.faults[i].times == 0 {
                    s.faults.remove(i);
                }
                f
            })
        };
        // A fault after the write: the request is served (stored) first.
        let mut served = None;
        if fault.as_ref().is_some_and(|f| f.after_write) {
            if let (Route::Resource(_), Some(t), Some(v)) = (&route, &target, verb) {
                served = Some(resource(&shared, &r, t, v).await);
            }
        }
        let delay = shared.state().delay;
        if let Some(f) = &fault {
            if !f.delay.is_zero() {
                tokio::time::sleep(f.delay).await;
            }
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(f) = fault {
            if f.drop_connection {
                break 'answer Answer::Drop;
            }
            if let Some(code) = f.status {
                retry_after = code == 429 || code == 503;
                let user = shared.state().user.clone();
                break 'answer injected(code, f.message, target.as_ref(), verb, &user).into();
            }
        }
        if let Some(answer) = served {
            break 'answer answer;
        }
        match (&route, &target, verb) {
            (Route::Resource(_), Some(t), Some(v)) => {
                // RBAC.
                let (denied, user) = {
                    let s = shared.state();
                    (s.denied.contains(&(v, t.rbac_resource())), s.user.clone())
                };
                if denied {
                    break 'answer forbidden(t, v, &user).into();
                }
                resource(&shared, &r, t, v).await
            }
            (Route::Resource(_), _, None) => ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".to_string(),
            )
            .into(),
            (Route::OpenApiRoot | Route::OpenApiDoc(_), _, _) => {
                let docs = shared.state().openapi.clone();
                openapi_answer(&route, docs.as_deref())
            }
            _ => discovery_answer(&route, &r),
        }
    };

    let (status, response, resp) = match answer {
        Answer::Drop => {
            record(
                &shared,
                &path,
                &raw_query,
                &r,
                verb,
                target.as_ref(),
                authorization.is_some(),
                0,
                String::new(),
                started,
            );
            return Err("connection dropped by an injected fault".into());
        }
        Answer::Json(code, v) => {
            let text = v.to_string();
            let mut b = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .header("cache-control", "no-cache, private");
            if retry_after {
                b = b.header("retry-after", "1");
            }
            let resp = b.body(Full::new(Bytes::from(text.clone())).boxed())?;
            (code, text, resp)
        }
        Answer::Text(code, text) => {
            let resp = Response::builder()
                .status(code)
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from(text.clone())).boxed())?;
            (code, text, resp)
        }
        Answer::Stream(content_type, rx) => {
            let resp = Response::builder()
                .status(200)
                .header("content-type", content_type)
                .header("cache-control", "no-cache, private")
                .body(ChannelBody { rx }.boxed())?;
            (200, String::new(), resp)
        }
    };
    record(
        &shared,
        &path,
        &raw_query,
        &r,
        verb,
        target.as_ref(),
        authorization.is_some(),
        status,
        response,
        started,
    );
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Shared,
    path: &str,
    query: &str,
    r: &Req,
    verb: Option<Verb>,
    target: Option<&Target>,
    authorized: bool,
    status: u16,
    response: String,
    started: Instant,
) {
    let rec = RecordedRequest {
        method: r.method.clone(),
        path: path.to_string(),
        query: query.to_string(),
        verb,
        resource: target.map(Target::rbac_resource),
        namespace: target.and_then(|t| t.namespace.clone()),
        name: target.and_then(|t| t.name.clone()),
        content_type: r.content_type.clone(),
        accept: r.accept.clone(),
        user_agent: r.user_agent.clone(),
        authorized,
        body: String::from_utf8_lossy(&r.body).into_owned(),
        status,
        response,
        elapsed: started.elapsed(),
    };
    shared.state().requests.push(rec);
}

fn forbidden(t: &Target, verb: Verb, user: &str) -> ApiError {
    let what = match &t.name {
        Some(n) => format!("{} \"{n}\"", qualified(t.kind)),
        None => qualified(t.kind),
    };
    let scope = match &t.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    ApiError::new(
        403,
        "Forbidden",
        format!(
            "{what} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            t.rbac_resource(),
            t.kind.group()
        ),
    )
    .with_details(t.kind, t.name.as_deref())
}

fn injected(
    code: u16,
    message: Option<String>,
    t: Option<&Target>,
    verb: Option<Verb>,
    user: &str,
) -> ApiError {
    if message.is_none() {
        if let (Some(t), Some(v)) = (t, verb) {
            match code {
                403 => return forbidden(t, v, user),
                409 => return ApiError::conflict(t.kind, t.name.as_deref().unwrap_or("")),
                404 => return ApiError::not_found(t.kind, t.name.as_deref().unwrap_or("")),
                _ => {}
            }
        }
    }
    let message = message.unwrap_or_else(|| {
        match code {
            500 => "Internal error occurred: injected by the fake",
            503 => "the server is currently unable to handle the request",
            429 => "Too many requests, please try again later.",
            504 => "Timeout: request did not complete within the allotted timeout",
            401 => "Unauthorized",
            _ => "injected by the fake",
        }
        .to_string()
    });
    let mut e = ApiError::new(code, reason_of(code), message);
    if let Some(t) = t {
        e = e.with_details(t.kind, t.name.as_deref());
    }
    e
}

fn discovery_answer(route: &Route, r: &Req) -> Answer {
    if r.method != "GET" {
        return ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .into();
    }
    match route {
        Route::Version => Answer::Json(200, discovery::version()),
        Route::Api => Answer::Json(200, discovery::api_versions(&r.host)),
        Route::Apis => Answer::Json(200, discovery::api_group_list()),
        Route::Group(g) => match discovery::GROUPS.iter().find(|(name, _)| name == g) {
            Some((g, v)) => Answer::Json(200, discovery::api_group(g, v)),
            None => not_found_path(),
        },
        Route::ResourceList(gv) => match discovery::api_resource_list(gv) {
            Some(list) => Answer::Json(200, list),
            None => not_found_path(),
        },
        _ => not_found_path(),
    }
}

fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn openapi_answer(route: &Route, docs: Option<&OpenApi>) -> Answer {
    let Some(docs) = docs else {
        return not_found_path();
    };
    match route {
        Route::OpenApiRoot => {
            let paths: serde_json::Map<String, Value> = docs
                .documents
                .iter()
                .map(|(path, text)| {
                    (
                        path.clone(),
                        json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", hash(text))}),
                    )
                })
                .collect();
            Answer::Json(200, json!({ "paths": paths }))
        }
        Route::OpenApiDoc(path) => match docs.documents.iter().find(|(p, _)| p == path) {
            Some((_, text)) => match serde_json::from_str(text) {
                Ok(v) => Answer::Json(200, v),
                Err(_) => not_found_path(),
            },
            None => not_found_path(),
        },
        _ => not_found_path(),
    }
}

/// `fieldValidation=Strict`: unknown fields are refused, as the apiserver
/// does, when the fake serves the OpenAPI documents.
fn strict(
    docs: Option<&OpenApi>,
    r: &Req,
    object: &Value,
    kind: &str,
    api_version: &str,
) -> Result<(), ApiError> {
    if r.param("fieldValidation") != Some("Strict") {
        return Ok(());
    }
    let Some(docs) = docs else {
        return Ok(());
    };
    let mut o = object.clone();
    o["apiVersion"] = json!(api_version);
    o["kind"] = json!(kind);
    let unknown: Vec<String> = docs
        .contracts
        .check_object(&o)
        .into_iter()
        .filter(|p| p.contains("has no field"))
        .filter_map(|p| {
            let path = p.split(':').next()?;
            let path = path.split_once('.').map(|(_, rest)| rest).unwrap_or(path);
            Some(format!("unknown field \"{path}\""))
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        unknown.join(", ")
    )))
}

fn not_found_path() -> Answer {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .into()
}

// ---- the verbs ----------------------------------------------------------------

async fn resource(shared: &Arc<Shared>, r: &Req, t: &Target, verb: Verb) -> Answer {
    let result = match verb {
        Verb::Get if t.sub.as_deref() == Some("log") => return logs(shared, r, t),
        Verb::Get => get(shared, r, t),
        Verb::List => list(shared, r, t),
        Verb::Watch => return watch(shared, r, t),
        Verb::Create => create(shared, r, t),
        Verb::Update => update(shared, r, t),
        Verb::Patch => patch_(shared, r, t),
        Verb::Delete => delete(shared, r, t),
    };
    match result {
        Ok((code, v)) => Answer::Json(code, v),
        Err(e) => e.into(),
    }
}

type Outcome = Result<(u16, Value), ApiError>;

fn namespace(t: &Target) -> Result<&str, ApiError> {
    t.namespace.as_deref().ok_or_else(|| {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    })
}

fn current(s: &State, t: &Target) -> Result<Value, ApiError> {
    let ns = namespace(t)?;
    let name = t.name.as_deref().unwrap_or_default();
    s.objects
        .get(&(t.kind, ns.to_string(), name.to_string()))
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.kind, name))
}

/// The autoscaling/v1 `Scale` view of a Deployment.
fn scale_of(d: &Value) -> Value {
    let selector = d["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &d["metadata"];
    let mut status = json!({"selector": selector});
    if let Some(n) = d["status"]["replicas"].as_i64().filter(|n| *n != 0) {
        status["replicas"] = json!(n);
    } else {
        status["replicas"] = json!(0);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"]
        },
        "spec": {"replicas": d["spec"]["replicas"]},
        "status": status
    })
}

fn render(r: &Req, t: &Target, v: Value, rv: u64) -> Value {
    if discovery::wants_table(r.accept.as_deref()) && t.sub.is_none() {
        discovery::table(t.kind, std::slice::from_ref(&v), rv)
    } else {
        v
    }
}

fn get(shared: &Shared, r: &Req, t: &Target) -> Outcome {
    let s = shared.state();
    let o = current(&s, t)?;
    let o = if t.sub.as_deref() == Some("scale") {
        scale_of(&o)
    } else {
        o
    };
    Ok((200, render(r, t, o, s.rv)))
}

fn matches(t: &Target, r: &Req, o: &Value) -> Result<bool, ApiError> {
    if let Some(sel) = r.param("labelSelector") {
        if !discovery::label_selector_matches(sel, o).map_err(ApiError::bad_request)? {
            return Ok(false);
        }
    }
    if let Some(sel) = r.param("fieldSelector") {
        if !discovery::field_selector_matches(t.kind, sel, o).map_err(ApiError::bad_request)? {
            return Ok(false);
        }
    }
    if let Some(name) = &t.name {
        if o["metadata"]["name"] != name.as_str() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn list(shared: &Shared, r: &Req, t: &Target) -> Outcome {
    let s = shared.state();
    let mut items = Vec::new();
    for ((k, ns, _), o) in &s.objects {
        if *k != t.kind || t.namespace.as_ref().is_some_and(|want| want != ns) {
            continue;
        }
        if matches(t, r, o)? {
            items.push(o.clone());
        }
    }
    let start: usize = match r.param("continue").filter(|c| !c.is_empty()) {
        Some(c) => c
            .strip_prefix("fake-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ApiError::bad_request(format!("continue key is not valid: {c}")))?,
        None => 0,
    };
    let limit: Option<usize> = r
        .param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0);
    let total = items.len();
    let items: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let next = start + items.len();
    let mut meta = json!({"resourceVersion": s.rv.to_string()});
    if next < total {
        meta["continue"] = json!(format!("fake-{next}"));
        meta["remainingItemCount"] = json!(total - next);
    }
    if discovery::wants_table(r.accept.as_deref()) {
        let mut table = discovery::table(t.kind, &items, s.rv);
        table["metadata"] = meta;
        return Ok((200, table));
    }
    // Built-in lists carry their items without apiVersion/kind, as the
    // apiserver's typed lists do; custom resources keep them.
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if t.kind.is_builtin() {
                if let Some(m) = o.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
            }
            o
        })
        .collect();
    Ok((
        200,
        json!({
            "kind": format!("{}List", t.kind.kind()),
            "apiVersion": t.kind.api_version(),
            "metadata": meta,
            "items": items
        }),
    ))
}

fn create(shared: &Shared, r: &Req, t: &Target) -> Outcome {
    let ns = namespace(t)?;
    let body = r.json_body()?;
    if body["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(ApiError::new(
            500,
            "InternalError",
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let mut s = shared.state();
    strict(
        s.openapi.as_deref(),
        r,
        &body,
        t.kind.kind(),
        t.kind.api_version(),
    )?;
    let o = shared.write(
        &mut s,
        &r.manager(),
        t.kind,
        ns,
        body,
        WriteMode::Main,
        true,
    )?;
    Ok((201, o))
}

fn check_name(t: &Target, body: &Value) -> Result<(), ApiError> {
    let url = t.name.as_deref().unwrap_or_default();
    match body["metadata"]["name"].as_str() {
        Some(n) if n != url => Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({url})"
        ))),
        _ => Ok(()),
    }
}

/// Stores `next` (the whole object after a PUT or a patch) through the
/// subresource `t.sub`.
fn store(
    shared: &Shared,
    s: &mut State,
    r: &Req,
    t: &Target,
    old: &Value,
    mut next: Value,
) -> Outcome {
    let ns = namespace(t)?;
    if next["metadata"]["name"].is_null() {
        next["metadata"]["name"] = json!(t.name);
    }
    let manager = r.manager();
    match t.sub.as_deref() {
        Some("scale") => strict(s.openapi.as_deref(), r, &next, "Scale", "autoscaling/v1")?,
        _ => strict(
            s.openapi.as_deref(),
            r,
            &next,
            t.kind.kind(),
            t.kind.api_version(),
        )?,
    }
    match t.sub.as_deref() {
        Some("scale") => {
            if next["kind"] != "Scale" && !next["kind"].is_null() {
                return Err(ApiError::bad_request(
                    "the body must be an autoscaling/v1 Scale",
                ));
            }
            let Some(replicas) = next["spec"]["replicas"].as_i64() else {
                return Err(ApiError::invalid(
                    t.kind,
                    t.name.as_deref().unwrap_or(""),
                    "spec.replicas: Required value",
                ));
            };
            if replicas < 0 {
                return Err(ApiError::invalid(
                    t.kind,
                    t.name.as_deref().unwrap_or(""),
                    "spec.replicas: Invalid value: must be greater than or equal to 0",
                ));
            }
            let mut d = old.clone();
            d["spec"]["replicas"] = json!(replicas);
            d["metadata"]["resourceVersion"] = next["metadata"]["resourceVersion"].clone();
            if d["metadata"]["resourceVersion"].is_null() {
                d["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            }
            let stored = shared.write(s, &manager, t.kind, ns, d, WriteMode::Main, false)?;
            Ok((200, scale_of(&stored)))
        }
        Some("status") => {
            let o = shared.write(s, &manager, t.kind, ns, next, WriteMode::Status, false)?;
            Ok((200, o))
        }
        _ => {
            let o = shared.write(s, &manager, t.kind, ns, next, WriteMode::Main, false)?;
            Ok((200, o))
        }
    }
}

fn update(shared: &Shared, r: &Req, t: &Target) -> Outcome {
    let body = r.json_body()?;
    check_name(t, &body)?;
    let mut s = shared.state();
    let old = current(&s, t)?;
    store(shared, &mut s, r, t, &old, body)
}

const PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

fn patch_(shared: &Shared, r: &Req, t: &Target) -> Outcome {
    let content_type = r
        .content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let unsupported = |accepted: &str| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    };
    let builtin_types = format!("{PATCH_TYPES}, application/strategic-merge-patch+json");
    let accepted = if t.kind.is_builtin() {
        builtin_types.as_str()
    } else {
        PATCH_TYPES
    };
    let patch = match content_type.as_str() {
        "application/merge-patch+json" | "application/json-patch+json" => r.json_body()?,
        "application/strategic-merge-patch+json" if t.kind.is_builtin() => r.json_body()?,
        // Server-side apply is not played by the fake.
        _ => return Err(unsupported(accepted)),
    };
    let mut s = shared.state();
    let old = current(&s, t)?;
    let view = if t.sub.as_deref() == Some("scale") {
        scale_of(&old)
    } else {
        old.clone()
    };
    let name = t.name.as_deref().unwrap_or_default();
    let next = match content_type.as_str() {
        "application/merge-patch+json" => patch::merge_patch(&view, &patch),
        "application/strategic-merge-patch+json" => {
            patch::strategic_merge(&view, &patch).map_err(ApiError::bad_request)?
        }
        _ => patch::json_patch(&view, &patch).map_err(|e| ApiError::invalid(t.kind, name, e))?,
    };
    if next["metadata"]["name"] != view["metadata"]["name"] {
        return Err(ApiError::bad_request(
            "metadata.name cannot be changed by a patch",
        ));
    }
    store(shared, &mut s, r, t, &old, next)
}

fn delete(shared: &Shared, r: &Req, t: &Target) -> Outcome {
    if t.sub.is_some() {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    let ns = namespace(t)?;
    let opts: Value = if r.body.is_empty() {
        json!({})
    } else {
        r.json_body()?
    };
    let precondition = opts["preconditions"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    let mut s = shared.state();
    let gone = shared.delete(
        &mut s,
        t.kind,
        ns,
        t.name.as_deref().unwrap_or_default(),
        precondition.as_deref(),
    )?;
    // Pods and Services answer the deleted object, the others a `Status`
    // (the OpenAPI documents' answers; the apiserver's ReturnDeletedObject).
    if matches!(t.kind, Kind::Pod | Kind::Service) {
        return Ok((200, gone));
    }
    let mut details = ApiError::new(200, "", "")
        .with_details(t.kind, t.name.as_deref())
        .details
        .unwrap_or_default();
    details["uid"] = gone["metadata"]["uid"].clone();
    Ok((
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
    ))
}

// ---- streams ----------------------------------------------------------------------

fn watch(shared: &Arc<Shared>, r: &Req, t: &Target) -> Answer {
    let (mut changed, mut epoch) = shared.subscribe();
    let start_epoch = *epoch.borrow_and_update();
    changed.borrow_and_update();
    let table = discovery::wants_table(r.accept.as_deref());
    let timeout = r
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (initial, mut cursor, expired) = {
        let s = shared.state();
        let since = r
            .param("resourceVersion")
            .filter(|v| !v.is_empty() && *v != "0");
        let mut initial = Vec::new();
        let (cursor, expired) = match since {
            None => {
                for ((k, ns, _), o) in &s.objects {
                    if *k == t.kind && t.namespace.as_ref().is_none_or(|w| w == ns) {
                        match matches(t, r, o) {
                            Ok(true) => initial.push(("ADDED", o.clone())),
                            Ok(false) => {}
                            Err(e) => return e.into(),
                        }
                    }
                }
                (s.history.len(), None)
            }
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n < s.history_floor => (
                    s.history.len(),
                    Some(format!(
                        "too old resource version: {n} ({})",
                        s.history_floor
                    )),
                ),
                Ok(n) => (s.history.partition_point(|e| e.rv <= n), None),
                Err(_) => {
                    return ApiError::bad_request(format!("invalid resource version: {v}")).into()
                }
            },
        };
        if let Some(sel) = r.param("labelSelector") {
            if let Err(e) = discovery::label_selector_matches(sel, &json!({})) {
                return ApiError::bad_request(e).into();
            }
        }
        if let Some(sel) = r.param("fieldSelector") {
            if let Err(e) = discovery::field_selector_matches(t.kind, sel, &json!({})) {
                return ApiError::bad_request(e).into();
            }
        }
        (initial, cursor, expired)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let shared = shared.clone();
    let t = t.clone();
    let r_labels = r.param("labelSelector").map(str::to_string);
    let r_fields = r.param("fieldSelector").map(str::to_string);
    let encode = move |type_: &str, o: &Value, rv: u64| -> Bytes {
        let object = if table {
            discovery::table(t.kind, std::slice::from_ref(o), rv)
        } else {
            o.clone()
        };
        let mut line = json!({"type": type_, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    };
    let t2 = t_clone(&t);
    tokio::spawn(async move {
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        if let Some(message) = expired {
            let status = ApiError::new(410, "Expired", message).status();
            let mut line = json!({"type": "ERROR", "object": status}).to_string();
            line.push('\n');
            let _ = tx.send(Bytes::from(line)).await;
            return;
        }
        let rv0 = shared.state().rv;
        for (type_, o) in initial {
            if tx.send(encode(type_, &o, rv0)).await.is_err() {
                return;
            }
        }
        let filter = Req {
            method: String::new(),
            query: r_labels
                .map(|l| ("labelSelector".to_string(), l))
                .into_iter()
                .chain(r_fields.map(|f| ("fieldSelector".to_string(), f)))
                .collect(),
            content_type: None,
            accept: None,
            user_agent: None,
            host: String::new(),
            body: Bytes::new(),
        };
        loop {
            let events: Vec<(&'static str, Value, u64)> = {
                let s = shared.state();
                let out = s.history[cursor.min(s.history.len())..]
                    .iter()
                    .filter(|e| {
                        e.kind == t2.kind
                            && t2.namespace.as_ref().is_none_or(|w| *w == e.namespace)
                            && matches(&t2, &filter, &e.object).unwrap_or(false)
                    })
                    .map(|e| (e.type_, e.object.clone(), e.rv))
                    .collect();
                cursor = s.history.len();
                out
            };
            for (type_, o, rv) in events {
                if tx.send(encode(type_, &o, rv)).await.is_err() {
                    return;
                }
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = epoch.changed() => {
                    if *epoch.borrow() != start_epoch { return }
                }
                _ = tx.closed() => return,
                _ = sleep => return,
            }
        }
    });
    Answer::Stream("application/json", rx)
}

fn t_clone(t: &Target) -> Target {
    t.clone()
}

fn logs(shared: &Arc<Shared>, r: &Req, t: &Target) -> Answer {
    let ns = match namespace(t) {
        Ok(ns) => ns.to_string(),
        Err(e) => return e.into(),
    };
    let pod_name = t.name.clone().unwrap_or_default();
    let pod = {
        let s = shared.state();
        match current(&s, t) {
            Ok(p) => p,
            Err(e) => return e.into(),
        }
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match r.param("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().any(|x| x == c) => c.to_string(),
        Some(c) => {
            return ApiError::bad_request(format!("container {c} is not valid for pod {pod_name}"))
                .into()
        }
        None => {
            let default = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
                .as_str()
                .map(str::to_string);
            match (default, containers.as_slice()) {
                (Some(d), _) => d,
                (None, [only]) => only.clone(),
                (None, _) => {
                    return ApiError::bad_request(format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    containers.join(" ")
                ))
                    .into()
                }
            }
        }
    };
    let timestamps = r.flag("timestamps");
    let follow = r.flag("follow");
    let since = match (r.param("sinceTime"), r.param("sinceSeconds")) {
        (Some(t), _) => match time::parse(t) {
            Some(t) => Some(t),
            None => return ApiError::bad_request(format!("invalid sinceTime: {t}")).into(),
        },
        (None, Some(secs)) => match secs.parse::<i64>() {
            Ok(n) if n > 0 => Some(time::now() - chrono::Duration::seconds(n)),
            _ => return ApiError::bad_request("sinceSeconds must be greater than 0").into(),
        },
        _ => None,
    };
    let tail: Option<usize> = r.param("tailLines").and_then(|n| n.parse().ok());
    let limit_bytes: Option<usize> = r.param("limitBytes").and_then(|n| n.parse().ok());
    let format_line = move |l: &super::store::LogLine| -> String {
        if timestamps {
            format!("{} {}\n", time::nano(l.time), l.line)
        } else {
            format!("{}\n", l.line)
        }
    };
    let key = (ns.clone(), pod_name.clone());
    let (initial, mut cursor) = {
        let s = shared.state();
        let lines = s.logs.get(&key).cloned().unwrap_or_default();
        let mut chosen: Vec<String> = lines
            .iter()
            .filter(|l| l.container == container && since.is_none_or(|t| l.time >= t))
            .map(&format_line)
            .collect();
        if let Some(n) = tail {
            let skip = chosen.len().saturating_sub(n);
            chosen.drain(..skip);
        }
        (chosen.concat(), lines.len())
    };
    if !follow {
        let mut text = initial;
        if let Some(n) = limit_bytes {
            text.truncate(n);
        }
        return Answer::Text(200, text);
    }
    let (mut changed, mut epoch) = shared.subscribe();
    let start_epoch = *epoch.borrow_and_update();
    changed.borrow_and_update();
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let shared = shared.clone();
    let kind = t.kind;
    tokio::spawn(async move {
        if !initial.is_empty() && tx.send(Bytes::from(initial)).await.is_err() {
            return;
        }
        loop {
            let (fresh, alive) = {
                let s = shared.state();
                let lines = s.logs.get(&key).map(Vec::as_slice).unwrap_or(&[]);
                let fresh: String = lines
                    .get(cursor..)
                    .unwrap_or(&[])
                    .iter()
                    .filter(|l| l.container == container)
                    .map(&format_line)
                    .collect();
                cursor = lines.len();
                let alive = s
                    .objects
                    .contains_key(&(kind, key.0.clone(), key.1.clone()));
                (fresh, alive)
            };
            if !fresh.is_empty() && tx.send(Bytes::from(fresh)).await.is_err() {
                return;
            }
            if !alive {
                return;
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = epoch.changed() => {
                    if *epoch.borrow() != start_epoch { return }
                }
                _ = tx.closed() => return,
            }
        }
    });
    Answer::Stream("text/plain", rx)
}
