//! Merge (RFC 7386), strategic merge (the subset built-in kinds need) and
//! JSON (RFC 6902) patches.

use serde_json::{Map, Value};

/// RFC 7386: objects merge recursively, `null` deletes, anything else
/// (lists included) replaces.
pub(crate) fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The merge key of a list at `path` (field names from the root, list
/// indices skipped), as the built-in types' `patchMergeKey` tags say.
fn merge_key(path: &[String]) -> Option<&'static str> {
    let last = path.last()?.as_str();
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    match (parent, last) {
        (_, "containers" | "initContainers" | "ephemeralContainers") => Some("name"),
        (_, "env" | "volumes" | "imagePullSecrets") => Some("name"),
        (_, "volumeMounts") => Some("mountPath"),
        (_, "volumeDevices") => Some("devicePath"),
        (Some("status"), "conditions") => Some("type"),
        (_, "containerStatuses" | "initContainerStatuses") => None,
        // Service ports merge on `port`, container ports on `containerPort`.
        (Some("spec"), "ports") if path.len() == 2 => Some("port"),
        (_, "ports") => Some("containerPort"),
        (Some("metadata"), "ownerReferences") => Some("uid"),
        (_, "hostAliases") => Some("ip"),
        (_, "topologySpreadConstraints") => Some("topologyKey"),
        _ => None,
    }
}

/// Strategic merge patch for built-in kinds: maps merge (`null` deletes),
/// lists with a merge key merge by it (`$patch: delete` in an item removes
/// it, `$patch: replace` replaces the list), other lists replace;
/// `$patch: replace` on a map replaces it; `$setElementOrder/…`,
/// `$retainKeys` and `$deleteFromPrimitiveList/…` directives are honoured
/// enough for kubectl.
pub(crate) fn strategic_merge(target: &Value, patch: &Value) -> Result<Value, String> {
    smp(target, patch, &mut Vec::new())
}

fn smp(target: &Value, patch: &Value, path: &mut Vec<String>) -> Result<Value, String> {
    let Value::Object(p) = patch else {
        return Ok(patch.clone());
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut m = p.clone();
        m.remove("$patch");
        return Ok(Value::Object(m));
    }
    if p.get("$patch").and_then(Value::as_str) == Some("delete") {
        return Ok(Value::Null);
    }
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    if let Some(keys) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()) || p.contains_key(k));
    }
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) = (out.get_mut(field), v.as_array()) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = match (out.get(k), v) {
            (Some(Value::Array(old)), Value::Array(new)) => merge_list(old, new, path)?,
            (_, Value::Array(new)) => {
                // No list yet: directives are dropped.
                Value::Array(
                    new.iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect(),
                )
            }
            (old, Value::Object(_)) => smp(old.unwrap_or(&Value::Null), v, path)?,
            _ => v.clone(),
        };
        path.pop();
        if merged.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), merged);
        }
    }
    Ok(Value::Object(out))
}

fn merge_list(old: &[Value], new: &[Value], path: &mut Vec<String>) -> Result<Value, String> {
    if new
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            new.iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    let Some(key) = merge_key(path) else {
        return Ok(Value::Array(new.to_vec()));
    };
    let mut out: Vec<Value> = old.to_vec();
    for item in new {
        let Some(id) = item.get(key) else {
            return Err(format!(
                "map: {item} does not contain declared merge key: {key}"
            ));
        };
        let at = out.iter().position(|o| o.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (at, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => out[i] = smp(&out[i], item, path)?,
            (None, false) => out.push(smp(&Value::Null, item, path)?),
        }
    }
    Ok(Value::Array(out))
}

/// RFC 6902. Errors are the apiserver's words for a failed patch.
pub(crate) fn json_patch(target: &Value, ops: &Value) -> Result<Value, String> {
    let Some(ops) = ops.as_array() else {
        return Err("json: cannot unmarshal object into Go value of type jsonpatch.Patch".into());
    };
    let mut doc = target.clone();
    for op in ops {
        let kind = op["op"].as_str().ok_or("missing op")?;
        let path = op["path"].as_str().ok_or("missing path")?;
        match kind {
            "add" => add(
                &mut doc,
                path,
                op.get("value").cloned().ok_or("missing value")?,
            )?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                let v = op.get("value").cloned().ok_or("missing value")?;
                let slot = pointer_mut(&mut doc, path).ok_or_else(|| {
                    format!("replace operation does not apply: doc is missing key: {path}")
                })?;
                *slot = v;
            }
            "move" => {
                let from = op["from"].as_str().ok_or("missing from")?;
                let v = remove(&mut doc, from)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("missing from")?;
                let v = doc
                    .pointer(&decode_pointer(from))
                    .cloned()
                    .ok_or_else(|| format!("copy from does not exist: {from}"))?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                let want = op.get("value").ok_or("missing value")?;
                let got = doc.pointer(&decode_pointer(path));
                if got != Some(want) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(doc)
}

/// serde_json's pointer already unescapes `~1` and `~0`; kept for clarity.
fn decode_pointer(p: &str) -> String {
    p.to_string()
}

fn split(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid path {path}"))?;
    Ok((
        parent.to_string(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn pointer_mut<'a>(doc: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    if path.is_empty() {
        return Some(doc);
    }
    doc.pointer_mut(path)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    let container = pointer_mut(doc, &parent)
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\""))?;
    match container {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last}"))?;
                if i > a.len() {
                    return Err(format!(
                        "add operation does not apply: index {i} out of bounds"
                    ));
                }
                a.insert(i, value);
            }
        }
        _ => {
            return Err(format!(
                "add operation does not apply: {parent} is not a container"
            ))
        }
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    let container = pointer_mut(doc, &parent).ok_or_else(missing)?;
    match container {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        // The RFC's appendix A, a few of them.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merge_patch(&target, &patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn strategic_merge_merges_containers_by_name_and_replaces_other_lists() {
        let d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "args": ["x"]},
            {"name": "side", "image": "s:1"}
        ]}}, "selector": {"matchLabels": {"app": "a", "v": "1"}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:2", "args": ["y"]},
            {"name": "new", "image": "n:1"},
            {"name": "side", "$patch": "delete"}
        ]}}, "selector": {"matchLabels": {"v": null}}}});
        let got = strategic_merge(&d, &p).unwrap();
        assert_eq!(
            got,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "a:2", "args": ["y"]},
                {"name": "new", "image": "n:1"}
            ]}}, "selector": {"matchLabels": {"app": "a"}}}})
        );
        let bad = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert!(strategic_merge(&d, &bad).unwrap_err().contains("merge key"));
    }

    #[test]
    fn json_patch_applies_and_tests() {
        let doc =
            json!({"metadata": {"resourceVersion": "5"}, "spec": {"rules": [{"w": 1}, {"w": 2}]}});
        let ops = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
            {"op": "replace", "path": "/spec/rules/1/w", "value": 9},
            {"op": "add", "path": "/spec/rules/-", "value": {"w": 3}},
            {"op": "remove", "path": "/spec/rules/0"},
            {"op": "copy", "from": "/spec/rules/0", "path": "/spec/first"},
            {"op": "move", "from": "/spec/first", "path": "/spec/moved"}
        ]);
        assert_eq!(
            json_patch(&doc, &ops).unwrap(),
            json!({"metadata": {"resourceVersion": "5"}, "spec": {"rules": [{"w": 9}, {"w": 3}], "moved": {"w": 9}}})
        );
        let stale = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}]);
        assert!(json_patch(&doc, &stale).is_err());
        let missing = json!([{"op": "replace", "path": "/spec/nope/x", "value": 1}]);
        assert!(json_patch(&doc, &missing).is_err());
    }
}
