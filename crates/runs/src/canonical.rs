//! The canonical JSON a record is hashed (and stored) as, and the limits a record is held to
//! before it is: the 16 KiB string cut, the nesting bound and the 256 KiB size bound.
//!
//! Canonical JSON here is:
//!
//! - compact: no whitespace anywhere;
//! - object keys sorted by their UTF-8 bytes, at every level (sorted here, explicitly: nothing
//!   relies on `serde_json::Map` happening to be a `BTreeMap`, which a dependency turning on
//!   serde_json's `preserve_order` would change);
//! - strings (keys and values) escaped as serde_json escapes them: `"` as `\"`, `\` as `\\`,
//!   U+0008/09/0A/0C/0D as `\b` `\t` `\n` `\f` `\r`, every other char below U+0020 as `\u00xx`
//!   (lowercase hex), and nothing else: `/`, U+007F and all non-ASCII chars are written as
//!   their raw UTF-8 bytes;
//! - numbers as serde_json prints them: integers in plain decimal (`-3`, `18446744073709551615`),
//!   floats in their shortest round-trip form (`1.0`, `0.1`, `1e+20`, `-2.5e-7` with the
//!   serde_json release Hark builds with today). Float formatting is serde_json's, and it has
//!   changed between releases (older ones wrote `1e20`): a client that wants to compute digests
//!   itself should send integers and strings only. Stored files are unaffected, since
//!   verification hashes the stored text and never re-encodes it;
//! - `true`, `false`, `null` as themselves.
//!
//! The writer is iterative (an explicit stack), so no input can exhaust the thread's stack, and
//! it refuses values nested deeper than [`MAX_DEPTH`].

use serde_json::Value;

/// Every JSON string value (not object keys) longer than this many bytes is cut to at most
/// this many bytes, at a char boundary, with nothing appended.
pub const MAX_STRING_BYTES: usize = 16 * 1024;

/// A record whose canonical JSON (after the string cuts) is longer than this is refused.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Deepest nesting a record may have: the record object itself is level 1, an object or array
/// inside it level 2, and so on; scalars add no level. serde_json already stops wire input at 128.
pub const MAX_DEPTH: usize = 64;

/// Why a value could not become a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("a record must be a JSON object")]
    NotObject,
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("over {MAX_RECORD_BYTES} bytes as canonical JSON")]
    TooLarge,
}

/// Cuts `s` to at most `max` bytes at a char boundary (no marker). True when it cut.
pub fn cut_string(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

/// Applies the string cut to every string value inside `value` (keys are left alone) and checks
/// the nesting bound, iteratively. Returns how many strings were cut.
pub fn cut_strings(value: &mut Value) -> Result<usize, RecordError> {
    let mut cut = 0;
    let mut stack: Vec<(&mut Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::String(s) => cut += usize::from(cut_string(s, MAX_STRING_BYTES)),
            Value::Array(items) => {
                check_depth(depth + 1)?;
                stack.extend(items.iter_mut().map(|item| (item, depth + 1)));
            }
            Value::Object(map) => {
                check_depth(depth + 1)?;
                stack.extend(map.iter_mut().map(|(_, item)| (item, depth + 1)));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Ok(cut)
}

/// A JSON object as a record: the string cuts applied, then its canonical JSON, refused when it
/// is not an object, nested deeper than [`MAX_DEPTH`] or over [`MAX_RECORD_BYTES`].
pub fn prepare_record(mut value: Value) -> Result<String, RecordError> {
    if !value.is_object() {
        return Err(RecordError::NotObject);
    }
    cut_strings(&mut value)?;
    let canonical = to_canonical(&value)?;
    if canonical.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge);
    }
    Ok(canonical)
}

/// The canonical JSON of `value` (see the module docs).
pub fn to_canonical(value: &Value) -> Result<String, RecordError> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    // Every piece written is UTF-8: punctuation, escapes, and whole `str`s.
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
}

enum Task<'a> {
    Value(&'a Value, usize),
    Key(&'a str),
    Byte(u8),
}

/// Appends the canonical JSON of `value` to `out`. On error `out` holds a partial value.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), RecordError> {
    let mut stack = vec![Task::Value(value, 0)];
    while let Some(task) = stack.pop() {
        match task {
            Task::Byte(b) => out.push(b),
            Task::Key(k) => {
                write_string(k, out);
                out.push(b':');
            }
            Task::Value(v, depth) => match v {
                Value::Null => out.extend_from_slice(b"null"),
                Value::Bool(true) => out.extend_from_slice(b"true"),
                Value::Bool(false) => out.extend_from_slice(b"false"),
                Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Value::String(s) => write_string(s, out),
                Value::Array(items) => {
                    check_depth(depth + 1)?;
                    out.push(b'[');
                    stack.push(Task::Byte(b']'));
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push(Task::Value(item, depth + 1));
                        if i > 0 {
                            stack.push(Task::Byte(b','));
                        }
                    }
                }
                Value::Object(map) => {
                    check_depth(depth + 1)?;
                    let mut entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    out.push(b'{');
                    stack.push(Task::Byte(b'}'));
                    for (i, (k, item)) in entries.into_iter().enumerate().rev() {
                        stack.push(Task::Value(item, depth + 1));
                        stack.push(Task::Key(k));
                        if i > 0 {
                            stack.push(Task::Byte(b','));
                        }
                    }
                }
            },
        }
    }
    Ok(())
}

fn check_depth(level: usize) -> Result<(), RecordError> {
    if level > MAX_DEPTH { Err(RecordError::TooDeep) } else { Ok(()) }
}

/// A JSON string literal, escaped exactly as serde_json escapes (see the module docs).
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0A => b'n',
            0x0C => b'f',
            0x0D => b'r',
            0x00..=0x1F => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(&[b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        to_canonical(v).unwrap()
    }

    #[test]
    fn sorts_keys_at_every_level_and_is_compact() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": true}], "é": "e", "A": false}, "": 0});
        assert_eq!(canon(&v), r#"{"":0,"a":{"A":false,"z":[3,{"x":true,"y":null}],"é":"e"},"b":1}"#);
    }

    #[test]
    fn keys_sort_by_bytes_not_chars() {
        // U+FFFF (EF BF BF) sorts before U+10000 (F0 90 80 80) in UTF-8 bytes, and after it in
        // UTF-16 code units (FFFF vs D800): bytes it is.
        let v = json!({"\u{10000}": 1, "\u{FFFF}": 2, "~": 3});
        assert_eq!(canon(&v), "{\"~\":3,\"\u{FFFF}\":2,\"\u{10000}\":1}");
    }

    #[test]
    fn strings_escape_exactly_like_serde_json() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é漢🎉\u{2028}/");
        let v = Value::String(all);
        assert_eq!(canon(&v), serde_json::to_string(&v).unwrap());
        assert_eq!(canon(&json!("a\"b\\c\n\u{1}\u{7f}")), "\"a\\\"b\\\\c\\n\\u0001\u{7f}\"");
    }

    #[test]
    fn numbers_print_as_serde_json_prints_them() {
        let v = json!([0, -3, u64::MAX, i64::MIN, 1.0, 0.1, 1e20, -2.5e-7, 123456.789]);
        assert_eq!(canon(&v), serde_json::to_string(&v).unwrap());
        // serde_json 1.0.154's float printer (zmij) writes exponents with a sign; older
        // releases (ryu) wrote `1e20`. Verification hashes the stored text, so files written
        // either way still verify.
        assert_eq!(canon(&json!([1.0, 0.1, 1e20, -2.5e-7])), "[1.0,0.1,1e+20,-2.5e-7]");
    }

    /// A record object holding `containers` nested arrays/objects: `containers + 1` levels.
    fn nested(containers: usize) -> Value {
        let mut v = json!(1);
        for i in 0..containers {
            v = if i % 2 == 0 { json!([v]) } else { json!({ "k": v }) };
        }
        json!({ "top": v })
    }

    #[test]
    fn depth_is_bounded() {
        assert!(prepare_record(nested(MAX_DEPTH - 1)).is_ok());
        assert_eq!(prepare_record(nested(MAX_DEPTH)), Err(RecordError::TooDeep));
        assert_eq!(to_canonical(&nested(MAX_DEPTH)), Err(RecordError::TooDeep));
        assert_eq!(cut_strings(&mut nested(MAX_DEPTH)), Err(RecordError::TooDeep));
    }

    #[test]
    fn cuts_strings_at_char_boundaries_but_not_keys() {
        let long_key = "k".repeat(MAX_STRING_BYTES + 10);
        // 16383 ASCII bytes then a 3-byte char straddling the 16384 limit.
        let straddle = format!("{}漢漢", "a".repeat(MAX_STRING_BYTES - 1));
        let mut v = json!({ long_key.clone(): "short", "s": straddle, "n": ["é".repeat(MAX_STRING_BYTES)] });
        assert_eq!(cut_strings(&mut v).unwrap(), 2);
        assert!(v.get(&long_key).is_some());
        assert_eq!(v["s"].as_str().unwrap(), "a".repeat(MAX_STRING_BYTES - 1));
        let n = v["n"][0].as_str().unwrap();
        assert_eq!(n.len(), MAX_STRING_BYTES);
        assert!(n.chars().all(|c| c == 'é'));
        let exact = "b".repeat(MAX_STRING_BYTES);
        let mut w = json!({ "s": exact.clone() });
        assert_eq!(cut_strings(&mut w).unwrap(), 0);
        assert_eq!(w["s"], exact.as_str());
    }

    #[test]
    fn records_must_be_objects_and_small() {
        assert_eq!(prepare_record(json!([1])), Err(RecordError::NotObject));
        assert_eq!(prepare_record(json!("x")), Err(RecordError::NotObject));
        // 17 strings of 16 KiB: 17 * 16 KiB + overhead > 256 KiB.
        let big: serde_json::Map<String, Value> =
            (0..17).map(|i| (format!("k{i}"), Value::String("x".repeat(MAX_STRING_BYTES)))).collect();
        assert_eq!(prepare_record(Value::Object(big)), Err(RecordError::TooLarge));
        let fits: serde_json::Map<String, Value> =
            (0..15).map(|i| (format!("k{i}"), Value::String("x".repeat(MAX_STRING_BYTES)))).collect();
        assert!(prepare_record(Value::Object(fits)).is_ok());
    }
}
