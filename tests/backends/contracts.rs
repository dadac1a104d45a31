//! Keeps the fake Cloud Run and the cockpit honest against Google's discovery
//! documents (`tests/contracts/run.v2.discovery.json`,
//! `tests/contracts/logging.v2.discovery.json`, copies of `../shared/contracts/`): every field the fake
//! returns and every field the cockpit sends must exist in the schema, with the
//! right JSON type and enum value; every URL path and method used must be a
//! method of the API.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use canary::core::model::{Severity, TrafficSplit};
use canary::google::Auth;
use canary::logs::cloud_logging::{CloudLogging, CloudLoggingSettings};
use canary::logs::LogSource;
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::Platform;
use canary_fakes::cloud_run::{
    to_latest, to_revision, FakeCloudRun, FakeLogEntry, RecordedRequest, RevisionSpec, Route,
    DEMO_CANARY, DEMO_OLD, DEMO_STABLE,
};
use regex::Regex;
use serde_json::{json, Value};

struct Discovery {
    doc: Value,
}

impl Discovery {
    fn load() -> Discovery {
        Discovery::load_file("run.v2.discovery.json")
    }

    fn load_file(name: &str) -> Discovery {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("tests/contracts").join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        // The copies in the repository must be the team's shared ones, verbatim.
        if let Ok(shared) = std::fs::read_to_string(root.join("../shared/contracts").join(name)) {
            assert!(
                shared == text,
                "tests/contracts/{name} differs from ../shared/contracts/{name}: copy it again"
            );
        }
        Discovery {
            doc: serde_json::from_str(&text).unwrap(),
        }
    }

    /// Everything in `value` that the schema named `schema` does not allow.
    fn check(&self, value: &Value, schema: &str) -> Vec<String> {
        let mut problems = Vec::new();
        self.walk(value, &json!({ "$ref": schema }), schema, &mut problems);
        problems
    }

    fn walk(&self, v: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match self.doc["schemas"].get(r) {
                Some(schema) => self.walk(v, schema, path, out),
                None => out.push(format!("{path}: no schema {r}")),
            }
            return;
        }
        let ty = s.get("type").and_then(Value::as_str).unwrap_or("any");
        match ty {
            "object" => self.walk_object(v, s, path, out),
            "array" => match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item, &s["items"], &format!("{path}[{i}]"), out);
                    }
                }
                None => out.push(format!("{path}: expected an array, got {v}")),
            },
            "string" => match v.as_str() {
                Some(text) => check_string(text, s, path, out),
                None => out.push(format!("{path}: expected a string, got {v}")),
            },
            "integer" => match v.as_i64() {
                Some(n) if s["format"] == "int32" && i32::try_from(n).is_err() => {
                    out.push(format!("{path}: {n} is not an int32"))
                }
                Some(_) => {}
                None => out.push(format!("{path}: expected an integer, got {v}")),
            },
            "number" if !v.is_number() => out.push(format!("{path}: expected a number, got {v}")),
            "boolean" if !v.is_boolean() => {
                out.push(format!("{path}: expected a boolean, got {v}"))
            }
            "any" => self.walk_any(v, path, out),
            "number" | "boolean" => {}
            other => out.push(format!("{path}: schema type {other} not understood")),
        }
    }

    fn walk_object(&self, v: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
        let Some(map) = v.as_object() else {
            out.push(format!("{path}: expected an object, got {v}"));
            return;
        };
        let props = s.get("properties").and_then(Value::as_object);
        let extra = s.get("additionalProperties");
        let schema_name = s.get("id").and_then(Value::as_str).unwrap_or("a map");
        if props.is_none() && extra.is_some_and(|e| e["type"] == "any") {
            // `{"@type": …}` objects (Operation.metadata / response).
            return self.walk_any(v, path, out);
        }
        for (k, val) in map {
            let sub = format!("{path}.{k}");
            if let Some(p) = props.and_then(|p| p.get(k)) {
                self.walk(val, p, &sub, out);
            } else if let Some(a) = extra {
                self.walk(val, a, &sub, out);
            } else {
                out.push(format!("{sub}: {schema_name} has no field `{k}`"));
            }
        }
    }

    /// `any`: an object carrying `@type` of a Cloud Run v2 message is checked
    /// against that message's schema.
    fn walk_any(&self, v: &Value, path: &str, out: &mut Vec<String>) {
        let Some(ty) = v.get("@type").and_then(Value::as_str) else {
            return;
        };
        let Some(message) = ty.strip_prefix("type.googleapis.com/google.cloud.run.v2.") else {
            return;
        };
        let schema = format!("GoogleCloudRunV2{message}");
        if self.doc["schemas"].get(&schema).is_none() {
            out.push(format!("{path}: @type {ty} has no schema {schema}"));
            return;
        }
        let mut rest = v.clone();
        if let Some(m) = rest.as_object_mut() {
            m.remove("@type");
        }
        self.walk(&rest, &json!({ "$ref": schema }), path, out);
    }

    /// All methods as (id, HTTP method, flatPath regex, parameter names).
    fn methods(&self) -> Vec<(String, String, Regex, BTreeSet<String>)> {
        fn collect(node: &Value, out: &mut Vec<Value>) {
            if let Some(ms) = node.get("methods").and_then(Value::as_object) {
                out.extend(ms.values().cloned());
            }
            if let Some(rs) = node.get("resources").and_then(Value::as_object) {
                for r in rs.values() {
                    collect(r, out);
                }
            }
        }
        let mut raw = Vec::new();
        collect(&self.doc, &mut raw);
        let placeholder = Regex::new(r"\{[^}]+\}").unwrap();
        raw.iter()
            .map(|m| {
                let flat = m["flatPath"].as_str().unwrap();
                let literal: Vec<String> = placeholder.split(flat).map(regex::escape).collect();
                let re = Regex::new(&format!("^/{}$", literal.join("[^/]+"))).unwrap();
                let params = m["parameters"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                (
                    m["id"].as_str().unwrap().to_string(),
                    m["httpMethod"].as_str().unwrap().to_string(),
                    re,
                    params,
                )
            })
            .collect()
    }
}

fn check_string(text: &str, s: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        if !values.iter().any(|e| e == text) {
            out.push(format!(
                "{path}: `{text}` is not one of the schema's enum values"
            ));
        }
    }
    match s.get("format").and_then(Value::as_str) {
        Some("int64") if text.parse::<i64>().is_err() => {
            out.push(format!("{path}: `{text}` is not an int64 string"))
        }
        Some("google-datetime") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
            out.push(format!("{path}: `{text}` is not an RFC 3339 timestamp"))
        }
        Some("google-duration")
            if text
                .strip_suffix('s')
                .and_then(|n| n.parse::<f64>().ok())
                .is_none() =>
        {
            out.push(format!("{path}: `{text}` is not a duration like `1.5s`"))
        }
        _ => {}
    }
}

fn assert_ok(d: &Discovery, value: &Value, schema: &str) {
    let problems = d.check(value, schema);
    assert!(
        problems.is_empty(),
        "{schema} does not match the discovery document:\n{}\n{value:#}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_catches_invented_fields_types_and_enums() {
    let d = Discovery::load();
    let good = json!({
        "name": "projects/p/locations/l/services/s",
        "generation": "3",
        "reconciling": true,
        "labels": {"team": "web"},
        "createTime": "2026-11-20T10:00:00.123456Z",
        "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "r", "percent": 100}],
        "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
    });
    assert_ok(&d, &good, "GoogleCloudRunV2Service");

    let mut bogus = good.clone();
    bogus["trafficSplit"] = json!([]);
    let problems = d.check(&bogus, "GoogleCloudRunV2Service");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("has no field `trafficSplit`"),
        "{problems:?}"
    );

    for (patch, fragment) in [
        (
            json!({"traffic": [{"revision": "r", "weight": 1}]}),
            "no field `weight`",
        ),
        (
            json!({"traffic": [{"percent": "100"}]}),
            "expected an integer",
        ),
        (
            json!({"traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_NEWEST"}]}),
            "enum",
        ),
        (json!({"generation": 3}), "expected a string"),
        (json!({"generation": "three"}), "int64"),
        (json!({"createTime": "yesterday"}), "RFC 3339"),
        (json!({"reconciling": "false"}), "expected a boolean"),
        (json!({"labels": {"team": 1}}), "expected a string"),
        (json!({"terminalCondition": {"state": "DONE"}}), "enum"),
    ] {
        let problems = d.check(&patch, "GoogleCloudRunV2Service");
        assert!(
            problems.iter().any(|p| p.contains(fragment)),
            "{patch}: {problems:?}"
        );
    }
    // Inside an Operation, a Service carried as `any` is checked too.
    let op = json!({"name": "x", "done": true,
        "response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", "uri": "u", "urls": []}});
    let problems = d.check(&op, "GoogleLongrunningOperation");
    assert!(
        problems.iter().any(|p| p.contains("no field `urls`")),
        "{problems:?}"
    );
}

async fn get(url: &str) -> Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

fn client(url: &str) -> CloudRun {
    let mut s = CloudRunSettings::new(
        "emergence-469005",
        "europe-west1",
        "emergence-app",
        Auth::None,
    )
    .with_endpoint(url);
    s.poll_initial = Duration::from_millis(20);
    s.poll_max = Duration::from_millis(50);
    CloudRun::new(s).unwrap()
}

/// Drives the fake through every state the cockpit meets and checks each
/// response; then checks what the cockpit sent, and the paths it used.
#[tokio::test]
async fn the_fake_and_the_cockpit_speak_the_documented_api() {
    let d = Discovery::load();
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.add_revision(
        &at,
        &RevisionSpec::new(
            "emergence-app-00044-bad",
            "img:bad",
            Duration::from_secs(60),
        )
        .unready("Container failed to start"),
    )
    .unwrap();
    fake.change_traffic(
        &at,
        vec![
            to_revision(DEMO_STABLE, 100, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
            to_latest(0, Some("head")),
            to_revision(DEMO_OLD, 0, Some("old")),
        ],
    )
    .unwrap();
    let service_url = format!("{url}/v2/{}", at.name());
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut check = |value: &Value, schema: &str| {
        assert_ok(&d, value, schema);
        if let Some(m) = value.as_object() {
            seen.extend(m.keys().map(|k| format!("{schema}.{k}")));
        }
    };

    // Service (settled) and every page of revisions.
    check(&get(&service_url).await, "GoogleCloudRunV2Service");
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = get(&format!(
            "{service_url}/revisions?pageSize=2&pageToken={token}"
        ))
        .await;
        check(&page, "GoogleCloudRunV2ListRevisionsResponse");
        for rev in page["revisions"].as_array().unwrap() {
            check(rev, "GoogleCloudRunV2Revision");
        }
        pages += 1;
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 2);

    // A change in flight: the PATCH's operation, the pending service, the done operation.
    let cr = client(&url);
    let snap = cr.snapshot().await.unwrap();
    fake.set_operation_delay(Duration::from_millis(400));
    let target = TrafficSplit::new([(DEMO_STABLE, 90), (DEMO_CANARY, 10)]).unwrap();
    let preview = canary::core::preview::preview(&snap, &target);
    let cr = std::sync::Arc::new(cr);
    let task = {
        let (cr, t, v) = (cr.clone(), target.clone(), snap.version.clone());
        tokio::spawn(async move { cr.set_traffic(&t, &v).await })
    };
    let mut op_name = None;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        op_name = fake.operations().pop();
        if op_name.is_some() {
            break;
        }
    }
    let op_name = op_name.expect("the PATCH started an operation");
    let pending = get(&format!("{url}/v2/{op_name}")).await;
    assert_eq!(pending["done"], Value::Null, "omitted while false");
    check(&pending, "GoogleLongrunningOperation");
    let reconciling = get(&service_url).await;
    assert_eq!(reconciling["reconciling"], json!(true));
    check(&reconciling, "GoogleCloudRunV2Service");
    task.await.unwrap().unwrap();
    let done = get(&format!("{url}/v2/{op_name}")).await;
    assert_eq!(done["done"], json!(true));
    check(&done, "GoogleLongrunningOperation");

    // An operation that fails, and the service it leaves behind.
    fake.fail_next_operation("Revision failed health checks.");
    let v = cr.snapshot().await.unwrap().version;
    cr.set_traffic(&TrafficSplit::all_to(DEMO_STABLE), &v)
        .await
        .unwrap_err();
    let failed_name = fake
        .operations()
        .into_iter()
        .find(|o| *o != op_name)
        .unwrap();
    let failed = get(&format!("{url}/v2/{failed_name}")).await;
    assert!(failed["error"]["message"].is_string());
    check(&failed, "GoogleLongrunningOperation");
    let after_failure = get(&service_url).await;
    assert_eq!(
        after_failure["terminalCondition"]["state"],
        "CONDITION_FAILED"
    );
    check(&after_failure, "GoogleCloudRunV2Service");

    // The checks covered the fields that matter.
    for field in [
        "GoogleCloudRunV2Service.traffic",
        "GoogleCloudRunV2Service.trafficStatuses",
        "GoogleCloudRunV2Service.terminalCondition",
        "GoogleCloudRunV2Service.latestReadyRevision",
        "GoogleCloudRunV2Service.reconciling",
        "GoogleCloudRunV2Service.etag",
        "GoogleCloudRunV2Service.uri",
        "GoogleCloudRunV2Revision.conditions",
        "GoogleCloudRunV2Revision.containers",
        "GoogleCloudRunV2Revision.createTime",
        "GoogleCloudRunV2ListRevisionsResponse.nextPageToken",
        "GoogleLongrunningOperation.metadata",
        "GoogleLongrunningOperation.response",
        "GoogleLongrunningOperation.error",
    ] {
        assert!(seen.contains(field), "never checked {field}");
    }

    // What the cockpit sent: every PATCH body, and the preview's.
    let requests: Vec<RecordedRequest> = fake.requests();
    let bodies: Vec<Value> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    for body in bodies
        .iter()
        .chain([serde_json::from_str::<Value>(&preview[2]).unwrap()].iter())
    {
        assert_ok(&d, body, "GoogleCloudRunV2Service");
        for t in body["traffic"].as_array().unwrap() {
            assert_ok(&d, t, "GoogleCloudRunV2TrafficTarget");
        }
        assert!(body["etag"].is_string());
        let tags: BTreeSet<&str> = body["traffic"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["tag"].as_str())
            .collect();
        assert_eq!(tags, BTreeSet::from(["canary", "head", "old"]), "{body}");
    }

    // Paths and methods: each request is a method of the API, with its parameters.
    let methods = d.methods();
    let global: BTreeSet<String> = d.doc["parameters"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut used = BTreeSet::new();
    for r in &requests {
        let (id, _, _, params) = methods
            .iter()
            .find(|(_, m, re, _)| *m == r.method && re.is_match(&r.path))
            .unwrap_or_else(|| panic!("{} {} is not a method of run.v2", r.method, r.path));
        let query = reqwest::Url::parse(&format!("http://x/?{}", r.query)).unwrap();
        for (k, _) in query.query_pairs() {
            assert!(
                params.contains(k.as_ref()) || global.contains(k.as_ref()),
                "{id} has no parameter {k}"
            );
        }
        used.insert(id.clone());
    }
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        [
            "run.projects.locations.operations.get",
            "run.projects.locations.services.get",
            "run.projects.locations.services.patch",
            "run.projects.locations.services.revisions.list",
        ]
    );
}

#[tokio::test]
async fn error_bodies_have_googles_shape() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    fake.seed_demo();
    for path in [
        "v2/projects/emergence-469005/locations/europe-west1/services/nope",
        "v2/projects/emergence-469005/locations/europe-west1/operations/nope",
        "v2/projects/emergence-469005/locations/europe-west1/services/emergence-app/revisions?pageToken=zz",
    ] {
        let body = get(&format!("{url}/{path}")).await;
        let e = &body["error"];
        assert!(e["code"].is_u64() && e["message"].is_string() && e["status"].is_string(), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 1);
    }
}

/// Cloud Logging: what the source sends (`ListLogEntriesRequest`) and what the
/// fake answers (`ListLogEntriesResponse`, `LogEntry`, `HttpRequest`,
/// `MonitoredResource`), on the documented method.
#[tokio::test]
async fn logging_requests_and_answers_follow_the_discovery_document() {
    let d = Discovery::load_file("logging.v2.discovery.json");
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let now = chrono::Utc::now();
    fake.append_log(
        FakeLogEntry::request(
            &at,
            DEMO_CANARY,
            "GET",
            "/api/health",
            503,
            Duration::from_millis(1520),
        )
        .at(now - chrono::Duration::seconds(30)),
    );
    fake.append_log(
        FakeLogEntry::json(&at, DEMO_CANARY, Severity::Warning, "cache cold")
            .at(now - chrono::Duration::seconds(20)),
    );
    fake.append_log(
        FakeLogEntry::text(&at, DEMO_STABLE, Severity::Error, "boom")
            .at(now - chrono::Duration::seconds(10))
            .insert_id("abc123"),
    );
    let mut s = CloudLoggingSettings::new(&at.project, &at.service, Auth::None).with_endpoint(&url);
    s.page_size = 2;
    let mut src = CloudLogging::new(s).unwrap();
    src.revision_filter().set(Some(DEMO_CANARY.into()));
    assert_eq!(src.poll().await.unwrap().len(), 2);
    src.revision_filter().set(None);
    assert_eq!(src.poll().await.unwrap().len(), 1);

    let requests: Vec<RecordedRequest> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::ListLogEntries)
        .collect();
    assert!(requests.len() >= 3, "paged: {}", requests.len());
    let methods = d.methods();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for r in &requests {
        let (id, _, _, _) = methods
            .iter()
            .find(|(_, m, re, _)| *m == r.method && re.is_match(&r.path))
            .unwrap_or_else(|| panic!("{} {} is not a method of logging.v2", r.method, r.path));
        assert_eq!(id, "logging.entries.list");
        assert!(r.query.is_empty(), "{}", r.query);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_ok(&d, &body, "ListLogEntriesRequest");
        seen.extend(
            body.as_object()
                .unwrap()
                .keys()
                .map(|k| format!("request.{k}")),
        );
        // The same request again, to check the answer against the schema.
        let answer: Value = reqwest::Client::new()
            .post(format!("{url}{}", r.path))
            .body(r.body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ok(&d, &answer, "ListLogEntriesResponse");
        seen.extend(
            answer
                .as_object()
                .unwrap()
                .keys()
                .map(|k| format!("response.{k}")),
        );
        for e in answer["entries"].as_array().into_iter().flatten() {
            assert_ok(&d, e, "LogEntry");
            seen.extend(e.as_object().unwrap().keys().map(|k| format!("entry.{k}")));
        }
    }
    for field in [
        "request.resourceNames",
        "request.filter",
        "request.orderBy",
        "request.pageSize",
        "request.pageToken",
        "response.entries",
        "response.nextPageToken",
        "entry.httpRequest",
        "entry.jsonPayload",
        "entry.textPayload",
        "entry.severity",
        "entry.timestamp",
        "entry.insertId",
        "entry.resource",
    ] {
        assert!(seen.contains(field), "never checked {field}");
    }
    // The checker knows the Logging schemas too.
    let bad = json!({"entries": [{"severity": "LOUD", "httpRequest": {"status": "503"}}]});
    let problems = d.check(&bad, "ListLogEntriesResponse");
    assert!(problems.iter().any(|p| p.contains("enum")), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("expected an integer")),
        "{problems:?}"
    );
    // Errors have Google's shape on this route too.
    let err: Value = reqwest::Client::new()
        .post(format!("{url}/v2/entries:list"))
        .body(r#"{"resourceNames":[],"filter":"x"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(err["error"]["status"], "INVALID_ARGUMENT", "{err}");
}

/// The shared audit trail: what the sink sends (`WriteLogEntriesRequest`
/// with `LogEntry`s, then `ListLogEntriesRequest` to read back) on the
/// documented methods, and what the fake answers (`WriteLogEntriesResponse`,
/// the entries as `LogEntry`); the fake refuses an entry the API would.
#[tokio::test]
async fn the_shared_audit_trail_follows_the_logging_discovery_document() {
    use canary::journal::shared::cloud_logging::CloudLoggingAudit;
    use canary::journal::shared::SharedSink;

    let d = Discovery::load_file("logging.v2.discovery.json");
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let sink = CloudLoggingAudit::new(
        Some(&url),
        Auth::None,
        &at.project,
        &at.service,
        "canary-audit",
    )
    .unwrap();
    let records: Vec<Value> = (0..3)
        .map(|i| {
            json!({
                "at": format!("2026-11-30T10:00:0{i}.000Z"),
                "who": {"user": "alice", "from": "10.0.0.7"},
                "service": at.service,
                "event": "note",
                "message": format!("note {i}"),
            })
        })
        .collect();
    sink.write(&records[..2]).await.unwrap();
    sink.write(&records[2..]).await.unwrap();
    // Sent again (an unclear answer): stored once.
    sink.write(&records[2..]).await.unwrap();
    let back = sink.read().await.unwrap();
    assert_eq!(
        back.iter().map(|r| r.record.clone()).collect::<Vec<_>>(),
        records
    );
    assert!(back.iter().all(|r| r.driver.starts_with("alice@")));

    let methods = d.methods();
    let mut ids = BTreeSet::new();
    for r in fake.requests() {
        let (id, _, _, _) = methods
            .iter()
            .find(|(_, m, re, _)| *m == r.method && re.is_match(&r.path))
            .unwrap_or_else(|| panic!("{} {} is not a method of logging.v2", r.method, r.path));
        ids.insert(id.clone());
        let body: Value = serde_json::from_str(&r.body).unwrap();
        match r.route {
            Route::WriteLogEntries => {
                assert_ok(&d, &body, "WriteLogEntriesRequest");
                for e in body["entries"].as_array().unwrap() {
                    assert_ok(&d, e, "LogEntry");
                }
                let answer: Value = reqwest::Client::new()
                    .post(format!("{url}{}", r.path))
                    .body(r.body.clone())
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_ok(&d, &answer, "WriteLogEntriesResponse");
            }
            Route::ListLogEntries => assert_ok(&d, &body, "ListLogEntriesRequest"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        ["logging.entries.list", "logging.entries.write"]
    );
    // What the API refuses, the fake refuses: no logName, two payloads.
    for bad in [
        json!({"entries": [{"resource": {"type": "global"}, "textPayload": "x"}]}),
        json!({"logName": "projects/p/logs/l", "resource": {"type": "global"},
               "entries": [{"textPayload": "x", "jsonPayload": {}}]}),
        json!({"logName": "projects/p/logs/l", "entries": [], "nope": 1}),
    ] {
        let err: Value = reqwest::Client::new()
            .post(format!("{url}/v2/entries:write"))
            .body(bad.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(err["error"]["status"], "INVALID_ARGUMENT", "{bad}: {err}");
    }
}

/// The cockpit's metrics requests to Cloud Monitoring's Prometheus API hit a
/// documented method of `monitoring.v1` (path shape), with only the
/// parameters of `QueryRangeRequest`; the fake answers them, the same query
/// as a JSON body (the discovery document's POST form), and refuses a query
/// it does not know with Prometheus' `bad_data`.
#[tokio::test]
async fn promql_requests_follow_the_monitoring_discovery_document() {
    use canary::metrics::prometheus::{PrometheusMetrics, PrometheusSettings, QueryTemplates};
    use canary::metrics::{MetricsSource, MetricsWindow};

    let d = Discovery::load_file("monitoring.v1.discovery.json");
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let base = fake.monitoring_endpoint(&at.project);
    let source = PrometheusMetrics::new(PrometheusSettings::new(
        &base,
        QueryTemplates::cloud_run(&at.service),
    ))
    .unwrap();
    let window = MetricsWindow {
        end: chrono::Utc::now(),
        span: Duration::from_secs(300),
        step: Duration::from_secs(10),
    };
    let revs = [DEMO_STABLE.to_string(), DEMO_CANARY.to_string()];
    fake.set_sample_lag(150.0);
    let batch = source.fetch(&revs, window).await.unwrap();
    assert!(!batch.series.is_empty());
    // Cloud Monitoring 150 s behind: the range query's points reach its end
    // (evaluated at the query's own timestamps), the newest sample does not.
    let sampled = batch.sampled_until.expect("the newest sample's time");
    let behind = (chrono::Utc::now() - sampled).num_seconds();
    assert!((149..=155).contains(&behind), "{behind} s behind");
    assert_eq!(
        canary::core::model::data_until(&batch),
        Some(sampled),
        "the lag the judge and the plan see"
    );

    let allowed: BTreeSet<String> = d.doc["schemas"]["QueryRangeRequest"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let methods = d.methods();
    let requests: Vec<RecordedRequest> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::PromQueryRange)
        .collect();
    assert_eq!(
        requests.len(),
        8,
        "3 signals and the latency buckets × 2 revisions"
    );
    let instants: Vec<RecordedRequest> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::PromQuery)
        .collect();
    assert_eq!(
        instants.len(),
        1,
        "the freshness query of the serving revision only (the canary at 0 % would hold up the lag with an old sample)"
    );
    // The buckets became the judge's counts: the stable (serving) has a
    // cumulative histogram in ms whose p95 is its behaviour's; the canary
    // at 0 % has no series, so no counts.
    let stable = batch.counts.get(DEMO_STABLE).expect("the stable's counts");
    let (_, last) = stable.last().expect("a point");
    assert!(last.latency_le.len() > 10, "{last:?}");
    assert!(!batch.counts.contains_key(DEMO_CANARY));
    let p95 = batch.series[&(
        DEMO_STABLE.to_string(),
        canary::core::model::MetricKind::LatencyP95,
    )]
        .last()
        .expect("a p95");
    let mut tally = canary::core::judge::tally::Tally::default();
    tally.merge(
        &batch,
        DEMO_STABLE,
        chrono::DateTime::<chrono::Utc>::MIN_UTC,
    );
    let q = tally
        .totals(None, None)
        .quantile(0.95)
        .expect("a histogram");
    // Linear inside a bucket 1.4× wide (as histogram_quantile reads it): a
    // few per cent off the log-normal's own p95 (129 for 120 here).
    assert!(
        (q - p95).abs() < 0.1 * p95,
        "p95 from the buckets {q} vs {p95}"
    );
    for r in &requests {
        let (id, _, _, _) = methods
            .iter()
            .find(|(_, _, re, _)| re.is_match(&r.path))
            .unwrap_or_else(|| panic!("{} is not a path of monitoring.v1", r.path));
        assert_eq!(
            id,
            "monitoring.projects.location.prometheus.api.v1.query_range"
        );
        let params: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?{}", r.query))
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        for (k, _) in &params {
            assert!(allowed.contains(k), "{k} is not in QueryRangeRequest");
        }
        // The same request as the discovery document's POST with a JSON body.
        let body: serde_json::Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let answer: Value = reqwest::Client::new()
            .post(format!("{url}{}", r.path))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "success", "{answer}");
        assert_eq!(answer["data"]["resultType"], "matrix");
    }
    // The stable serves 100 %: 50 req/s; the canary at 0 % has no series.
    let q = |rev: &str| {
        canary::metrics::prometheus::expand(
            &QueryTemplates::cloud_run(&at.service).request_rate,
            rev,
            Duration::from_secs(60),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let get = |query: String| {
        let url = format!("{base}/api/v1/query_range");
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .query(&[
                    ("query", query),
                    ("start", (now - 60).to_string()),
                    ("end", now.to_string()),
                    ("step", "30s".to_string()),
                ])
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, stable) = get(q(DEMO_STABLE)).await;
    assert_eq!(status, 200);
    let values = stable["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0][1], "50");
    let (_, canary) = get(q(DEMO_CANARY)).await;
    assert_eq!(canary["data"]["result"], json!([]));
    let (status, err) = get("up".into()).await;
    assert_eq!(status, 400);
    assert_eq!(err["status"], "error");
    assert_eq!(err["errorType"], "bad_data");
}

/// The driver's lease as a service annotation (`canary release`): the
/// request body, the service read back and the operation follow the
/// discovery document; the fake keeps the annotation (and the others), and
/// a write at an old etag is refused like the real API (409 ABORTED).
#[tokio::test]
async fn the_lease_annotation_follows_the_documented_api() {
    use canary::platform::cloud_run::lease::{CloudRunLease, ANNOTATION};
    use canary::platform::lease::{Lease, LeaseError, LeaseInfo};
    let d = Discovery::load();
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let run = std::sync::Arc::new(client(&url));
    // Someone's own annotation survives the lease's writes.
    let svc = run.read_service().await.unwrap();
    let mut mine = svc.annotations.clone();
    mine.insert("team.example/owner".into(), "payments".into());
    run.patch_annotations(&mine, svc.etag.as_deref().unwrap())
        .await
        .unwrap();
    let lease = CloudRunLease::new(run.clone());
    let now = chrono::Utc::now();
    let me = LeaseInfo::new(
        "ci@runner-3".into(),
        42,
        "ci".into(),
        now,
        chrono::Duration::seconds(60),
    );
    lease.acquire(&me, false).await.unwrap();
    let service = get(&format!("{url}/v2/{}", at.name())).await;
    assert_ok(&d, &service, "GoogleCloudRunV2Service");
    assert_eq!(service["annotations"]["team.example/owner"], "payments");
    let held: LeaseInfo =
        serde_json::from_str(service["annotations"][ANNOTATION].as_str().unwrap()).unwrap();
    assert_eq!(held, me);
    let patch = fake
        .requests()
        .into_iter()
        .rfind(|r| r.route == Route::PatchService)
        .expect("the lease's PATCH");
    assert_eq!(patch.query, "updateMask=annotations");
    let body: Value = serde_json::from_str(&patch.body).unwrap();
    assert_ok(&d, &body, "GoogleCloudRunV2Service");
    assert!(body["etag"].is_string(), "written with the etag: {body}");
    // Another driver is refused, naming the first.
    let other = LeaseInfo {
        driver: "alice@bastion".into(),
        pid: 7,
        ..me.clone()
    };
    assert_eq!(
        lease.acquire(&other, true).await,
        Err(LeaseError::Held(Box::new(me.clone())))
    );
    // A write at the etag before is refused (409), not applied.
    let stale = svc.etag.clone().unwrap();
    let e = run.patch_annotations(&mine, &stale).await.unwrap_err();
    assert!(e.is_conflict(), "{e}");
    lease.release(&me).await.unwrap();
    let service = get(&format!("{url}/v2/{}", at.name())).await;
    assert!(
        service["annotations"].get(ANNOTATION).is_none(),
        "{service}"
    );
    assert_eq!(service["annotations"]["team.example/owner"], "payments");
}

/// The release's side of the API: the deploy PATCH (template and traffic),
/// the revision it creates while deploying and once ready or failed, a
/// revision read alone, the delete operation; and the paths and methods.
#[tokio::test]
async fn deploys_and_deletions_follow_the_discovery_document() {
    use canary::core::release::DeployRequest;
    use canary::platform::release::SnapshotSink;
    let d = Discovery::load();
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.set_deploy_step(Duration::from_millis(150));
    let cr = client(&url);
    let releases = cr.releases().expect("cloud run deploys");
    let snap = cr.snapshot().await.unwrap();
    let request = DeployRequest {
        revision: "emergence-app-00044-zaq".into(),
        image: "europe-west1-docker.pkg.dev/p/app/emergence:deploy-2".into(),
        tag: "canary-20261130".into(),
        env: vec![("FEATURE".into(), "on".into())],
    };
    let preview = canary::core::release_call::preview(
        &snap,
        &canary::core::release::ReleaseOp::Deploy(request.clone()),
    )
    .unwrap();
    // While it deploys: the revision read alone, and listed.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let rev_url = format!("{url}/v2/{}/revisions/{}", at.name(), request.revision);
    let sink: SnapshotSink = std::sync::Arc::new(|_| {});
    let deploy = {
        let (cr, request, v) = (
            std::sync::Arc::new(client(&url)),
            request.clone(),
            snap.version.clone(),
        );
        tokio::spawn(async move { cr.releases().unwrap().deploy(&request, &v, sink).await })
    };
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let v = get(&rev_url).await;
        if v.get("error").is_none() {
            seen.lock().unwrap().push(v);
        }
        if seen.lock().unwrap().len() > 3 {
            break;
        }
    }
    deploy.await.unwrap().expect("deployed");
    let deploying = seen.lock().unwrap().clone();
    assert!(
        !deploying.is_empty(),
        "the revision was never read while deploying"
    );
    assert_eq!(deploying[0]["reconciling"], json!(true));
    for v in &deploying {
        assert_ok(&d, v, "GoogleCloudRunV2Revision");
    }
    let ready = get(&rev_url).await;
    assert_ok(&d, &ready, "GoogleCloudRunV2Revision");
    assert_eq!(ready["conditions"][0]["state"], "CONDITION_SUCCEEDED");
    assert_ok(
        &d,
        &get(&format!("{url}/v2/{}", at.name())).await,
        "GoogleCloudRunV2Service",
    );
    // A failed one.
    let failing = DeployRequest {
        revision: "emergence-app-00045-bad".into(),
        image: "r/app:bad-pull".into(),
        tag: "canary-20261130-2".into(),
        env: vec![],
    };
    let v = cr.snapshot().await.unwrap().version;
    let sink: SnapshotSink = std::sync::Arc::new(|_| {});
    releases.deploy(&failing, &v, sink).await.unwrap_err();
    let failed = get(&format!(
        "{url}/v2/{}/revisions/{}",
        at.name(),
        failing.revision
    ))
    .await;
    assert_ok(&d, &failed, "GoogleCloudRunV2Revision");
    assert_eq!(failed["conditions"][0]["reason"], "CONTAINER_MISSING");
    // Every operation (deploys, the untag, the delete) has the shape.
    let sink: SnapshotSink = std::sync::Arc::new(|_| {});
    let now = cr.snapshot().await.unwrap();
    let delete_preview = canary::core::release_call::preview(
        &now,
        &canary::core::release::ReleaseOp::Delete(vec![failing.revision.clone()]),
    )
    .unwrap();
    releases
        .delete_revision(&failing.revision, sink.clone())
        .await
        .expect("deleted");
    releases
        .delete_revision(DEMO_OLD, sink)
        .await
        .expect("deleted");
    for op in fake.operations() {
        assert_ok(
            &d,
            &get(&format!("{url}/v2/{op}")).await,
            "GoogleLongrunningOperation",
        );
    }
    // What the cockpit sent: the deploy's body and its preview's.
    let requests = fake.requests();
    let deploy_bodies: Vec<Value> = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.query.contains("template"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(deploy_bodies.len(), 2);
    for body in deploy_bodies
        .iter()
        .chain([serde_json::from_str::<Value>(&preview[2]).unwrap()].iter())
    {
        assert_ok(&d, body, "GoogleCloudRunV2Service");
        assert!(body["etag"].is_string());
        assert!(body["template"]["revision"].is_string());
    }
    let untag: Value = serde_json::from_str(&delete_preview[2]).unwrap();
    assert_ok(&d, &untag, "GoogleCloudRunV2Service");
    // The v1 surface gcloud reads: the same revisions, Knative-shaped.
    let v1 = Discovery::load_file("run.v1.discovery.json");
    let list = get(&format!(
        "{url}/apis/serving.knative.dev/v1/namespaces/{}/revisions?labelSelector=serving.knative.dev%2Fservice%3D{}",
        at.project, at.service
    ))
    .await;
    assert_ok(&v1, &list, "ListRevisionsResponse");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");
    let v1_methods = v1.methods();
    assert!(v1_methods
        .iter()
        .any(|(id, m, re, _)| id == "run.namespaces.revisions.list"
            && m == "GET"
            && re.is_match(&format!(
                "/apis/serving.knative.dev/v1/namespaces/{}/revisions",
                at.project
            ))));
    let methods = d.methods();
    let mut used = BTreeSet::new();
    for r in &requests {
        let (id, _, _, params) = methods
            .iter()
            .find(|(_, m, re, _)| *m == r.method && re.is_match(&r.path))
            .unwrap_or_else(|| panic!("{} {} is not a method of run.v2", r.method, r.path));
        let query = reqwest::Url::parse(&format!("http://x/?{}", r.query)).unwrap();
        for (k, _) in query.query_pairs() {
            assert!(params.contains(k.as_ref()), "{id} has no parameter {k}");
        }
        used.insert(id.clone());
    }
    for m in [
        "run.projects.locations.services.revisions.get",
        "run.projects.locations.services.revisions.delete",
        "run.projects.locations.services.patch",
        "run.projects.locations.operations.get",
    ] {
        assert!(used.contains(m), "never used {m}: {used:?}");
    }
}
