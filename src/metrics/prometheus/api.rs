//! The Prometheus HTTP API's JSON: `{"status":"success","data":{"resultType",
//! "result"}}` or `{"status":"error","errorType","error"}`, and what a failed
//! request means for the operator.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::core::error::BackendError;
use crate::core::model::Series;

#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub status: String,
    #[serde(default)]
    pub data: Option<Data>,
    #[serde(default, rename = "errorType")]
    pub error_type: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Data {
    #[serde(rename = "resultType")]
    pub result_type: String,
    #[serde(default)]
    pub result: Value,
}

/// A series' labels.
pub type Labels = BTreeMap<String, String>;

/// One series of a range query: its labels and its points. Points whose value is
/// NaN or infinite (a 0/0 ratio, a quantile without observations) are left out:
/// they are gaps ("no data"), not zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    pub series: Series,
}

#[derive(Deserialize)]
struct MatrixItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Prometheus writes sample values as strings: `"1.5"`, `"NaN"`, `"+Inf"`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn time_of(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    // Prometheus timestamps have millisecond precision.
    DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
}

/// The series of a `matrix` result.
pub fn matrix(data: Data, what: &str) -> Result<Vec<RangeSeries>, BackendError> {
    if data.result_type != "matrix" {
        return Err(BackendError::Other(format!(
            "{what}: expected a matrix, Prometheus answered a {}",
            data.result_type
        )));
    }
    let items: Vec<MatrixItem> = serde_json::from_value(data.result)
        .map_err(|e| BackendError::Other(format!("{what}: malformed matrix: {e}")))?;
    Ok(items
        .into_iter()
        .map(|item| RangeSeries {
            labels: item.metric,
            series: Series {
                points: item
                    .values
                    .iter()
                    .filter_map(|(t, v)| {
                        let v = parse_value(v).filter(|v| v.is_finite())?;
                        Some((time_of(*t)?, v))
                    })
                    .collect(),
            },
        })
        .collect())
}

/// The samples of a `vector` (or `scalar`) result, values as they are (NaN kept).
pub fn instant(data: Data, what: &str) -> Result<Vec<(Labels, f64)>, BackendError> {
    let malformed = |e: serde_json::Error| {
        BackendError::Other(format!("{what}: malformed {}: {e}", data.result_type))
    };
    let value = |s: &str| {
        parse_value(s).ok_or_else(|| BackendError::Other(format!("{what}: `{s}` is not a number")))
    };
    match data.result_type.as_str() {
        "vector" => {
            let items: Vec<VectorItem> =
                serde_json::from_value(data.result.clone()).map_err(malformed)?;
            items
                .into_iter()
                .map(|i| Ok((i.metric, value(&i.value.1)?)))
                .collect()
        }
        "scalar" => {
            let (_, v): (f64, String) =
                serde_json::from_value(data.result.clone()).map_err(malformed)?;
            Ok(vec![(BTreeMap::new(), value(&v)?)])
        }
        other => Err(BackendError::Other(format!(
            "{what}: expected a vector or a scalar, Prometheus answered a {other}"
        ))),
    }
}

/// The start of a body on one line, for error messages.
pub fn excerpt(body: &str) -> String {
    crate::core::error::excerpt(body, 200)
}

/// Classifies an answer that is not a success. `base` names the server (never
/// with credentials), `query` the PromQL sent.
pub fn failure(status: u16, body: &str, base: &str, query: &str) -> BackendError {
    let env = serde_json::from_str::<Envelope>(body)
        .ok()
        .filter(|e| e.status == "error");
    let (kind, message) = match &env {
        Some(e) => (
            e.error_type.clone().unwrap_or_default(),
            e.error.clone().unwrap_or_default(),
        ),
        None => (String::new(), excerpt(body)),
    };
    let detail = if kind.is_empty() {
        format!("HTTP {status}: {message}")
    } else {
        format!("{kind}: {message}")
    };
    match (status, kind.as_str()) {
        (401 | 403, _) => BackendError::Auth(format!(
            "Prometheus at {base} refused the request (HTTP {status}): check the bearer token \
             and its permissions ({message})"
        )),
        (_, "bad_data") | (400, _) => {
            BackendError::Refused(format!("Prometheus rejected the query `{query}`: {detail}"))
        }
        (_, "execution") | (422, _) => {
            BackendError::Refused(format!("Prometheus could not evaluate `{query}`: {detail}"))
        }
        (404, _) if env.is_none() => BackendError::NotFound(format!(
            "no Prometheus API at {base} (HTTP 404): check the URL and its path prefix"
        )),
        (_, "timeout" | "canceled" | "unavailable") | (429 | 500..=599, _) => {
            BackendError::Unavailable {
                message: format!("Prometheus at {base} is unavailable: {detail}"),
                retry_after: None,
            }
        }
        _ => BackendError::Other(format!("Prometheus at {base}: {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> Data {
        let env: Envelope = serde_json::from_str(json).expect("envelope");
        env.data.expect("data")
    }

    #[test]
    fn matrix_drops_nan_and_keeps_labels() {
        let d = data(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"server":"v1"},"values":[[1700000000,"1.5"],[1700000005.5,"NaN"],[1700000010,"+Inf"],[1700000015,"0"]]}]}}"#,
        );
        let m = matrix(d, "q").expect("matrix");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].labels["server"], "v1");
        let pts = &m[0].series.points;
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].1, 1.5);
        assert_eq!(pts[1].1, 0.0);
        assert_eq!(pts[1].0.timestamp(), 1700000015);
        let empty = data(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
        assert!(matrix(empty, "q").expect("matrix").is_empty());
        let v = data(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert!(matrix(v, "q").is_err());
    }

    #[test]
    fn instant_vector_and_scalar() {
        let d = data(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1700000000.1,"NaN"]},{"metric":{},"value":[1700000000.1,"2"]}]}}"#,
        );
        let v = instant(d, "q").expect("vector");
        assert!(v[0].1.is_nan());
        assert_eq!(v[0].0["a"], "b");
        assert_eq!(v[1].1, 2.0);
        let d = data(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#,
        );
        assert_eq!(
            instant(d, "q").expect("scalar"),
            vec![(BTreeMap::new(), 3.0)]
        );
    }

    #[test]
    fn classifies_failures() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#;
        let e = failure(400, body, "http://p", "sum(");
        assert!(
            matches!(&e, BackendError::Refused(m) if m.contains("parse error") && m.contains("`sum(`")),
            "{e:?}"
        );
        let e = failure(
            503,
            r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#,
            "http://p",
            "q",
        );
        assert!(e.is_transient());
        let e = failure(404, "404 page not found", "http://p/prefix", "q");
        assert!(matches!(&e, BackendError::NotFound(m) if m.contains("path prefix")));
        let e = failure(401, "Unauthorized", "http://p", "q");
        assert!(matches!(&e, BackendError::Auth(_)));
        let e = failure(502, "<html>bad gateway</html>", "http://p", "q");
        assert!(
            matches!(&e, BackendError::Unavailable { message, .. } if message.contains("bad gateway"))
        );
    }
}
