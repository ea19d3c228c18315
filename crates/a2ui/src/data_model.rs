//! `updateDataModel` semantics: set or remove the value at a JSON Pointer path (the rules are in
//! the crate docs, "Data model").

use serde_json::{Map, Value};

/// The decoded segments of `path`; empty for the whole model.
pub(crate) fn parse_path(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() || path == "/" {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path '{path}' is not a JSON Pointer: it must start with '/'"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').map(unescape).collect()
}

fn unescape(segment: &str) -> Result<String, String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return Err(format!("segment '{segment}' has a '~' not followed by 0 or 1")),
        }
    }
    Ok(out)
}

fn index_of(segment: &str) -> Option<usize> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse().ok()
}

/// Whether [`set`] at `segments` would succeed, without changing anything: the same walk, where a
/// missing (or `null`) step stands for the container [`set`] would create there.
pub(crate) fn check_set(model: &Value, segments: &[String]) -> Result<(), String> {
    let mut node = Some(model);
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        node = match node {
            Some(Value::Object(map)) => map.get(segment.as_str()),
            Some(Value::Array(items)) => items.get(array_index(segment, items.len())?),
            Some(other) => return Err(format!("cannot set '{segment}' inside a {}", type_name(other))),
            // A created container: an array exactly when this segment is an index, and empty.
            None => {
                if index_of(segment).is_some() {
                    array_index(segment, 0)?;
                }
                None
            }
        }
        .filter(|v| !v.is_null());
        if let Some(v) = node.filter(|v| !last && !v.is_object() && !v.is_array()) {
            return Err(format!(
                "cannot go into '{segment}': it holds a {}, not an object or array",
                type_name(v)
            ));
        }
    }
    Ok(())
}

/// Sets `value` at `segments` in `model` (the whole model when `segments` is empty). Checks first
/// ([`check_set`]), so on an error nothing has changed.
pub(crate) fn set(model: &mut Value, segments: &[String], value: Value) -> Result<(), String> {
    check_set(model, segments)?;
    let Some((last, parents)) = segments.split_last() else {
        *model = value;
        return Ok(());
    };
    let mut current = model;
    for (i, segment) in parents.iter().enumerate() {
        let next_is_index = index_of(segments.get(i + 1).map_or("", String::as_str)).is_some();
        current = child_or_create(current, segment, next_is_index)?;
    }
    put(current, last, value)
}

fn child_or_create<'v>(
    container: &'v mut Value,
    segment: &str,
    array_next: bool,
) -> Result<&'v mut Value, String> {
    let fresh = || if array_next { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
    let slot = match container {
        Value::Object(map) => map.entry(segment.to_string()).or_insert(Value::Null),
        Value::Array(items) => {
            let len = items.len();
            let i = array_index(segment, len)?;
            if i == len {
                items.push(Value::Null);
            }
            &mut items[i]
        }
        _ => return Err(format!("cannot go into '{segment}': the value above it is not an object or array")),
    };
    match slot {
        Value::Null => {
            *slot = fresh();
            Ok(slot)
        }
        Value::Object(_) | Value::Array(_) => Ok(slot),
        _ => {
            Err(format!("cannot go into '{segment}': it holds a {}, not an object or array", type_name(slot)))
        }
    }
}

fn put(container: &mut Value, segment: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(map) => {
            map.insert(segment.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = array_index(segment, items.len())?;
            if i == items.len() {
                items.push(value);
            } else {
                items[i] = value;
            }
            Ok(())
        }
        other => Err(format!("cannot set '{segment}' inside a {}", type_name(other))),
    }
}

fn array_index(segment: &str, len: usize) -> Result<usize, String> {
    match index_of(segment) {
        Some(i) if i <= len => Ok(i),
        Some(i) => Err(format!("index {i} is past the end of an array of {len}")),
        None => Err(format!("'{segment}' is not an array index")),
    }
}

/// Removes the value at `segments` (the whole model becomes `{}` when `segments` is empty).
pub(crate) fn remove(model: &mut Value, segments: &[String]) {
    let Some((last, parents)) = segments.split_last() else {
        *model = Value::Object(Map::new());
        return;
    };
    let mut current = model;
    for segment in parents {
        let next = match current {
            Value::Object(map) => map.get_mut(segment.as_str()),
            Value::Array(items) => index_of(segment).and_then(|i| items.get_mut(i)),
            _ => None,
        };
        let Some(next) = next else { return };
        current = next;
    }
    match current {
        Value::Object(map) => {
            map.remove(last.as_str());
        }
        Value::Array(items) => {
            if let Some(slot) = index_of(last).and_then(|i| items.get_mut(i)) {
                *slot = Value::Null;
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn segs(p: &str) -> Vec<String> {
        parse_path(p).unwrap()
    }

    #[test]
    fn paths_decode_like_json_pointer() {
        assert!(segs("/").is_empty());
        assert!(segs("").is_empty());
        assert_eq!(segs("/a/b~1c/d~0e"), vec!["a", "b/c", "d~e"]);
        assert_eq!(segs("/a/"), vec!["a"]);
        assert!(parse_path("a/b").is_err());
        assert!(parse_path("/a~2").is_err());
    }

    #[test]
    fn set_creates_intermediates_and_replaces() {
        let mut m = json!({});
        set(&mut m, &segs("/user/name"), json!("Ada")).unwrap();
        set(&mut m, &segs("/items/0/title"), json!("x")).unwrap();
        set(&mut m, &segs("/items/1"), json!("y")).unwrap();
        assert_eq!(m, json!({"user": {"name": "Ada"}, "items": [{"title": "x"}, "y"]}));
        set(&mut m, &segs("/user"), json!(1)).unwrap();
        assert_eq!(m["user"], json!(1));
    }

    #[test]
    fn set_refuses_what_it_would_have_to_destroy() {
        let mut m = json!({"s": "text", "xs": [1]});
        assert!(set(&mut m, &segs("/s/inner"), json!(1)).is_err());
        assert!(set(&mut m, &segs("/xs/5"), json!(1)).is_err());
        assert!(set(&mut m, &segs("/xs/name"), json!(1)).is_err());
        assert_eq!(m, json!({"s": "text", "xs": [1]}));
    }

    /// `check_set` and `set` agree: every path either fails both (and `set` changes nothing) or
    /// passes both.
    #[test]
    fn check_set_agrees_with_set() {
        let model = json!({"o": {"k": 1, "n": null}, "xs": [1, [2], {"y": 3}], "s": "t", "z": null});
        let paths = [
            "/o/k",
            "/o/new",
            "/o/n/deep",
            "/o/k/deep",
            "/xs/0",
            "/xs/3",
            "/xs/4",
            "/xs/x",
            "/xs/1/0",
            "/xs/1/1",
            "/xs/1/2",
            "/xs/2/y/z",
            "/s",
            "/s/x",
            "/z/0",
            "/z/1",
            "/z/a/0/b",
            "/z/a/1",
            "/new/0/0/k",
            "/new/0/1",
            "/xs/0/a",
        ];
        for path in paths {
            let segments = segs(path);
            let mut m = model.clone();
            let checked = check_set(&model, &segments);
            let got = set(&mut m, &segments, json!("v"));
            assert_eq!(checked.is_ok(), got.is_ok(), "{path}: {checked:?} vs {got:?}");
            if got.is_err() {
                assert_eq!(m, model, "{path}");
            }
        }
    }

    #[test]
    fn remove_deletes_keys_and_nulls_array_slots() {
        let mut m = json!({"a": {"b": 1, "c": 2}, "xs": [1, 2]});
        remove(&mut m, &segs("/a/b"));
        remove(&mut m, &segs("/xs/0"));
        remove(&mut m, &segs("/nope/deeper"));
        assert_eq!(m, json!({"a": {"c": 2}, "xs": [null, 2]}));
        remove(&mut m, &[]);
        assert_eq!(m, json!({}));
    }
}
