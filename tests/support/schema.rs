//! A validator for the subset of JSON Schema (2020-12) that
//! `docs/release-events.schema.json` uses: `type` (one or a list), `const`,
//! `enum`, `properties`, `required`, `additionalProperties` (false or a
//! schema), `items`, `minimum`/`maximum`, `oneOf` and local `$ref`s
//! (`#/$defs/NAME`). A keyword it does not know fails loudly, so the schema
//! cannot grow past what is checked here unnoticed.

use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minimum",
    "maximum",
    "oneOf",
    "$ref",
    "$defs",
];

/// The documented schema of `canary release`'s events.
pub fn release_events() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/release-events.schema.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("schema JSON")
}

/// `Err(why)` when `value` does not validate against `schema` (`root` for `$ref`s).
pub fn validate(root: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let obj = schema.as_object().ok_or("a schema must be an object")?;
    for k in obj.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword `{k}` is not supported by the test's validator"
        );
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .ok_or(format!("unsupported $ref {r}"))?;
        let target = root["$defs"].get(name).ok_or(format!("no $defs/{name}"))?;
        validate(root, target, value)?;
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err("bad type".into()),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            return Err(format!("{value} is not of type {t}"));
        }
    }
    if let Some(c) = obj.get("const") {
        if c != value {
            return Err(format!("{value} is not {c}"));
        }
    }
    if let Some(Value::Array(options)) = obj.get("enum") {
        if !options.contains(value) {
            return Err(format!("{value} is not one of {options:?}"));
        }
    }
    if let (Some(min), Some(v)) = (obj.get("minimum").and_then(Value::as_f64), value.as_f64()) {
        if v < min {
            return Err(format!("{v} < minimum {min}"));
        }
    }
    if let (Some(max), Some(v)) = (obj.get("maximum").and_then(Value::as_f64), value.as_f64()) {
        if v > max {
            return Err(format!("{v} > maximum {max}"));
        }
    }
    if let (Some(items), Some(arr)) = (obj.get("items"), value.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(root, items, item).map_err(|e| format!("[{i}]: {e}"))?;
        }
    }
    if let Some(map) = value.as_object() {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    return Err(format!("missing required field `{r}`"));
                }
            }
        }
        for (k, v) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, v).map_err(|e| format!("{k}: {e}"))?,
                None => match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("unexpected field `{k}`")),
                    Some(s @ Value::Object(_)) => {
                        validate(root, s, v).map_err(|e| format!("{k}: {e}"))?
                    }
                    _ => {}
                },
            }
        }
    }
    if let Some(Value::Array(options)) = obj.get("oneOf") {
        let matching: Vec<_> = options
            .iter()
            .filter(|s| validate(root, s, value).is_ok())
            .collect();
        if matching.len() != 1 {
            let why: Vec<String> = options
                .iter()
                .filter_map(|s| validate(root, s, value).err())
                .filter(|e| !e.starts_with("event:"))
                .collect();
            return Err(format!(
                "matches {} of oneOf (exactly one needed): {why:?}",
                matching.len()
            ));
        }
    }
    Ok(())
}

/// Every line of `stdout` is one event valid against the documented schema.
pub fn check_stream(stdout: &str) -> Vec<Value> {
    let schema = release_events();
    stdout
        .lines()
        .map(|line| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if let Err(e) = validate(&schema, &schema, &v) {
                panic!(
                    "event does not validate against docs/release-events.schema.json: {e}\n{line}"
                );
            }
            v
        })
        .collect()
}
