//! The A2UI messages inside an A2A-shaped payload (`a2ui.ingest`); see [`messages_of_a2a`].

use std::collections::HashSet;

use serde_json::Value;

use crate::{Kind, Refusal};

/// The MIME type that tags an A2A data part as A2UI.
pub const A2UI_MIME_TYPE: &str = "application/json+a2ui";

/// The A2UI messages in an A2A-shaped payload, in order, borrowed from it. Walks only the fixed
/// A2A structure: nothing recurses into the messages themselves (they are validated later).
///
/// What is accepted, outermost first:
/// - a JSON-RPC response `{"result": X, ...}`: `X` is read as below (one level of `result`);
/// - a single A2UI message (an object with `version` or one of the four message keys): itself;
/// - an A2A `Message` (`{"kind": "message"?, "role", "parts": [...]}`, any object with a
///   `parts` array): its parts;
/// - an A2A `Task` (`"kind": "task"`, or an object with `status`, `artifacts` or `history`):
///   the parts of each `history` message in order, then of `status.message` (skipped when its
///   `messageId` already appeared in `history`, where A2A servers often repeat it), then of each
///   artifact in order;
/// - a streaming event: `"kind": "status-update"` (`status.message`'s parts) or
///   `"kind": "artifact-update"` (`artifact.parts`);
/// - a bare array: a list of parts when it is non-empty and every element looks like a part (an
///   object with `kind`, `data`, `text` or `file` and none of the A2UI message keys); otherwise a
///   list of A2UI messages, every element passed on as it is (a malformed one is then reported by
///   its index rather than silently dropped).
///
/// A part contributes when it is a data part (`kind` absent or `"data"`, and a `data` field) and
/// either it is tagged A2UI (`metadata.mimeType`, or the part's own `mimeType` / `mediaType`, is
/// `application/json+a2ui`) or its `data` looks like an A2UI message. A tagged part contributes
/// its `data`, or each element when `data` is an array; an untagged part whose `data` is a
/// non-empty array of A2UI-looking objects contributes each element. Text, file and other data
/// parts are skipped.
///
/// A recognized payload with no A2UI part gives an empty list (nothing to do is not an error); a
/// payload of no recognized shape is refused (rule `a2a_shape`).
pub fn messages_of_a2a(payload: &Value) -> Result<Vec<&Value>, Refusal> {
    let payload = match payload.get("result") {
        Some(result) if !looks_a2ui(payload) && payload.get("parts").is_none() => result,
        _ => payload,
    };
    let mut out = Vec::new();
    match payload {
        Value::Array(items) => from_list(items, &mut out),
        Value::Object(obj) => {
            if looks_a2ui(payload) {
                out.push(payload);
            } else if obj.get("parts").is_some_and(Value::is_array) {
                from_message(payload, &mut out);
            } else if let Some(kind) = obj.get("kind").and_then(Value::as_str).filter(|k| is_event(k)) {
                from_event(payload, kind, &mut out);
            } else if is_task(payload) {
                from_task(payload, &mut out);
            } else {
                return Err(unrecognized());
            }
        }
        _ => return Err(unrecognized()),
    }
    Ok(out)
}

fn unrecognized() -> Refusal {
    Refusal::new(
        "",
        "a2a_shape",
        "not an A2A Message, Task, streaming event, JSON-RPC result, list of parts or list of A2UI messages",
    )
}

/// An object with `version` or one of the four message keys.
fn looks_a2ui(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.contains_key("version") || Kind::ALL.iter().any(|k| o.contains_key(k.key())))
}

fn looks_like_part(value: &Value) -> bool {
    let Some(obj) = value.as_object() else { return false };
    !looks_a2ui(value) && ["kind", "data", "text", "file"].iter().any(|k| obj.contains_key(*k))
}

fn is_event(kind: &str) -> bool {
    kind == "status-update" || kind == "artifact-update"
}

fn is_task(value: &Value) -> bool {
    let kind = value.get("kind").and_then(Value::as_str);
    kind == Some("task")
        || (kind.is_none() && ["status", "artifacts", "history"].iter().any(|k| value.get(*k).is_some()))
}

fn from_list<'a>(items: &'a [Value], out: &mut Vec<&'a Value>) {
    if !items.is_empty() && items.iter().all(looks_like_part) {
        from_parts(items, out);
    } else {
        out.extend(items.iter());
    }
}

fn from_message<'a>(message: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(parts) = message.get("parts").and_then(Value::as_array) {
        from_parts(parts, out);
    }
}

fn from_event<'a>(event: &'a Value, kind: &str, out: &mut Vec<&'a Value>) {
    let source =
        if kind == "status-update" { event.pointer("/status/message") } else { event.get("artifact") };
    if let Some(source) = source {
        from_message(source, out);
    }
}

fn from_task<'a>(task: &'a Value, out: &mut Vec<&'a Value>) {
    let mut seen: HashSet<&str> = HashSet::new();
    for message in task.get("history").and_then(Value::as_array).into_iter().flatten() {
        if let Some(id) = message.get("messageId").and_then(Value::as_str) {
            seen.insert(id);
        }
        from_message(message, out);
    }
    if let Some(status) = task.pointer("/status/message") {
        let repeated = status.get("messageId").and_then(Value::as_str).is_some_and(|id| seen.contains(id));
        if !repeated {
            from_message(status, out);
        }
    }
    for artifact in task.get("artifacts").and_then(Value::as_array).into_iter().flatten() {
        from_message(artifact, out);
    }
}

fn from_parts<'a>(parts: &'a [Value], out: &mut Vec<&'a Value>) {
    for part in parts {
        from_part(part, out);
    }
}

fn is_tagged(part: &Value) -> bool {
    let mime = |v: Option<&Value>| v.and_then(Value::as_str) == Some(A2UI_MIME_TYPE);
    mime(part.pointer("/metadata/mimeType")) || mime(part.get("mimeType")) || mime(part.get("mediaType"))
}

fn from_part<'a>(part: &'a Value, out: &mut Vec<&'a Value>) {
    if part.get("kind").is_some_and(|k| k.as_str() != Some("data")) {
        return;
    }
    let Some(data) = part.get("data") else { return };
    let tagged = is_tagged(part);
    match data {
        Value::Array(items) if tagged || (!items.is_empty() && items.iter().all(looks_a2ui)) => {
            out.extend(items.iter())
        }
        Value::Array(_) => {}
        data if tagged || looks_a2ui(data) => out.push(data),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn skips_text_file_and_foreign_data_parts() {
        let msg = json!({"role": "agent", "parts": [
            {"kind": "text", "text": "hi"},
            {"kind": "file", "file": {"uri": "x"}},
            {"kind": "data", "data": {"temperature": 3}},
            {"kind": "data", "data": {"version": "v0.9", "deleteSurface": {"surfaceId": "s"}}},
        ]});
        let got = messages_of_a2a(&msg).unwrap();
        assert_eq!(got, vec![&msg["parts"][3]["data"]]);
    }

    #[test]
    fn a_tagged_part_contributes_whatever_it_holds() {
        let part =
            json!({"kind": "data", "data": [{"oops": 1}, 2], "metadata": {"mimeType": A2UI_MIME_TYPE}});
        let parts = json!([part]);
        let got = messages_of_a2a(&parts).unwrap();
        assert_eq!(got, vec![&json!({"oops": 1}), &json!(2)]);
    }

    #[test]
    fn status_message_repeated_in_history_is_read_once() {
        let m = json!({"version": "v0.9", "deleteSurface": {"surfaceId": "s"}});
        let msg = json!({"role": "agent", "messageId": "m1", "parts": [{"kind": "data", "data": m}]});
        let status = json!({"state": "completed", "message": msg});
        let task = json!({"kind": "task", "id": "t", "history": [msg], "status": status});
        assert_eq!(messages_of_a2a(&task).unwrap().len(), 1);
    }

    #[test]
    fn unknown_shapes_are_refused() {
        assert_eq!(messages_of_a2a(&json!(3)).unwrap_err().rule, "a2a_shape");
        assert_eq!(messages_of_a2a(&json!({"hello": 1})).unwrap_err().rule, "a2a_shape");
    }
}
