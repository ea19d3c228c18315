//! The JSON-RPC 2.0 envelope: classifying an incoming value (request, notification, response to
//! a daemon->client callback, or invalid), and the outgoing shapes.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::RpcError;

/// A request id: a string, a number or null (JSON-RPC 2.0 §4), echoed byte for byte: `1` stays
/// `1`, `"1"` stays `"1"`, `"\u00e9"` keeps its escape, and an integer past 64 bits
/// (`18446744073709551616`) stays that integer instead of becoming a float (which parsing it into
/// a `serde_json::Value` would make it). Ids that a `Value` holds exactly (integers within 64
/// bits, strings without escapes, null: nearly all) are kept as one, with no allocation for a
/// number; the others as their raw JSON text. Two ids are equal when they say the same: strings
/// by their content however escaped, numbers by their text.
#[derive(Debug, Clone)]
pub struct Id(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Value(Value),
    Raw(Box<RawValue>),
}

impl Id {
    pub fn null() -> Self {
        Id(Repr::Value(Value::Null))
    }
    pub fn str(s: impl Into<String>) -> Self {
        Id(Repr::Value(Value::String(s.into())))
    }
    /// An id from a value (numbers as serde_json writes them).
    pub fn from_value(v: &Value) -> Self {
        Id(Repr::Value(v.clone()))
    }
    /// An id from its JSON text as the peer wrote it.
    fn from_raw(raw: &RawValue) -> Self {
        let text = raw.get();
        let exact = match text.as_bytes().first() {
            Some(b'n') => Some(Value::Null),
            Some(b'"') if !text.contains('\\') => Some(Value::String(text[1..text.len() - 1].to_string())),
            Some(b'-' | b'0'..=b'9') => {
                let n = text
                    .parse::<u64>()
                    .map(Value::from)
                    .or_else(|_| text.parse::<i64>().map(Value::from))
                    .ok();
                // Only when writing it back gives the same text (`1e3`, `-0`, `1.0` do not).
                n.filter(|v| format!("{v}") == text)
            }
            _ => None,
        };
        Id(exact.map_or_else(|| Repr::Raw(raw.to_owned()), Repr::Value))
    }
    /// The id's JSON text, as it will be written.
    pub fn raw(&self) -> std::borrow::Cow<'_, str> {
        match &self.0 {
            Repr::Value(v) => std::borrow::Cow::Owned(v.to_string()),
            Repr::Raw(r) => std::borrow::Cow::Borrowed(r.get()),
        }
    }
    /// A string id's content.
    pub fn as_str(&self) -> Option<std::borrow::Cow<'_, str>> {
        match &self.0 {
            Repr::Value(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s)),
            Repr::Value(_) => None,
            Repr::Raw(r) if r.get().starts_with('"') => {
                serde_json::from_str::<String>(r.get()).ok().map(std::borrow::Cow::Owned)
            }
            Repr::Raw(_) => None,
        }
    }
    /// Whether the raw text is an id JSON-RPC allows: a string, a number or null.
    fn of_allowed_kind(raw: &RawValue) -> bool {
        matches!(raw.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9' | b'n'))
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Value(v) => v.serialize(s),
            Repr::Raw(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(|r| Id::from_raw(&r))
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        match (self.as_str(), other.as_str()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.raw() == other.raw(),
            _ => false,
        }
    }
}

impl Eq for Id {}

impl std::hash::Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.as_str() {
            Some(s) => s.hash(state),
            None => self.raw().hash(state),
        }
    }
}

/// A call from the peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Id,
    pub method: String,
    pub params: Option<Value>,
}

/// A call from the peer that wants no reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Option<Value>,
}

/// A reply from the peer to a call the daemon made (a `tools.execute` callback).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Id,
    pub outcome: Result<Value, RpcError>,
}

/// One classified JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    Response(Response),
}

/// What one text frame held.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A single message, or an invalid one with the id to answer it with (null when none).
    Single(Result<Message, (Id, RpcError)>),
    /// A non-empty batch: each element classified on its own (JSON-RPC 2.0 §6).
    Batch(Vec<Result<Message, (Id, RpcError)>>),
    /// Not JSON at all, or `[]`: one error object with id null.
    Invalid(RpcError),
}

impl Incoming {
    pub fn parse(text: &str) -> Incoming {
        if let Some(message) = fast_request(text) {
            return Incoming::Single(Ok(message));
        }
        // Parsed element by element from their raw text, so each id can be kept as written.
        let raw: &RawValue = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Incoming::Invalid(RpcError::parse_error(e.to_string())),
        };
        if raw.get().starts_with('[') {
            let items: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
                Ok(items) => items,
                Err(e) => return Incoming::Invalid(RpcError::parse_error(e.to_string())),
            };
            if items.is_empty() {
                return Incoming::Invalid(RpcError::invalid_request("empty batch"));
            }
            return Incoming::Batch(items.into_iter().map(classify_raw).collect());
        }
        Incoming::Single(classify_raw(raw))
    }
}

/// Classifies one raw JSON value, its id kept as written.
fn classify_raw(raw: &RawValue) -> Result<Message, (Id, RpcError)> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default, deserialize_with = "present_raw")]
        id: Option<&'a RawValue>,
    }
    let value: Value = match serde_json::from_str(raw.get()) {
        Ok(v) => v,
        Err(e) => return Err((Id::null(), RpcError::parse_error(e.to_string()))),
    };
    // Only an object has an id; a duplicated "id" is left to the value's reading (the last).
    let raw_id =
        raw.get().starts_with('{').then(|| serde_json::from_str::<IdOnly<'_>>(raw.get()).ok()).flatten();
    classify_with(value, raw_id.and_then(|i| i.id))
}

/// `Some` whenever the member is there, `null` included (serde's default maps null to None).
fn present_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The common case, a well-formed single request or notification, parsed straight into its
/// parts without building the envelope as a `Value` (the hot path of every round trip). Anything
/// else (batches, replies, invalid messages, escaped method names, duplicate keys) returns `None`
/// and takes the general path, which alone decides errors, so both paths agree on semantics.
fn fast_request(text: &str) -> Option<Message> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        jsonrpc: &'a str,
        #[serde(borrow)]
        method: &'a str,
        #[serde(borrow, default, deserialize_with = "present_raw")]
        id: Option<&'a RawValue>,
        #[serde(default, deserialize_with = "present")]
        params: Option<Value>,
    }
    /// `Some` whenever the member is there, `null` included (serde's default maps null to None).
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(d).map(Some)
    }
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let e: Envelope<'_> = serde_json::from_str(text).ok()?;
    if e.jsonrpc != "2.0" || !matches!(e.params, None | Some(Value::Object(_) | Value::Array(_))) {
        return None;
    }
    let method = e.method.to_string();
    match e.id {
        None => Some(Message::Notification(Notification { method, params: e.params })),
        Some(id) if Id::of_allowed_kind(id) => {
            Some(Message::Request(Request { id: Id::from_raw(id), method, params: e.params }))
        }
        Some(_) => None,
    }
}

/// Classifies one JSON value per JSON-RPC 2.0: anything that is not a well-formed request,
/// notification or response is an invalid request, answered with the id when one is readable.
pub fn classify(value: Value) -> Result<Message, (Id, RpcError)> {
    classify_with(value, None)
}

/// [`classify`], with the id's raw text when the caller has it (so it is echoed as written).
fn classify_with(value: Value, raw_id: Option<&RawValue>) -> Result<Message, (Id, RpcError)> {
    let Value::Object(mut obj) = value else {
        return Err((Id::null(), RpcError::invalid_request("expected a JSON object")));
    };
    let id = match obj.remove("id") {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Null)) => {
            Some(raw_id.filter(|r| Id::of_allowed_kind(r)).map_or_else(|| Id::from_value(&v), Id::from_raw))
        }
        Some(_) => {
            return Err((Id::null(), RpcError::invalid_request("id must be a string, number or null")));
        }
    };
    let reply_id = id.clone().unwrap_or_else(Id::null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((reply_id, RpcError::invalid_request("jsonrpc must be \"2.0\"")));
    }
    match obj.remove("method") {
        Some(Value::String(method)) => {
            let params = match obj.remove("params") {
                None => None,
                Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
                Some(_) => {
                    return Err((
                        reply_id,
                        RpcError::invalid_request("params must be an object or an array"),
                    ));
                }
            };
            Ok(match id {
                Some(id) => Message::Request(Request { id, method, params }),
                None => Message::Notification(Notification { method, params }),
            })
        }
        Some(_) => Err((reply_id, RpcError::invalid_request("method must be a string"))),
        None => response_from(id, obj)
            .ok_or_else(|| (reply_id, RpcError::invalid_request("neither a request nor a response"))),
    }
}

fn response_from(id: Option<Id>, mut obj: Map<String, Value>) -> Option<Message> {
    let id = id?;
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(result),
        // A malformed error object is still the peer's answer: the call fails with what can be
        // read of it (never a reply of ours: a response is never answered).
        (None, Some(error)) => {
            Err(serde_json::from_value::<RpcError>(error.clone()).unwrap_or_else(|_| RpcError {
                code: error
                    .get("code")
                    .and_then(Value::as_i64)
                    .unwrap_or(crate::ErrorCode::InternalError.code()),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("malformed error reply: {error}"), str::to_string),
                data: None,
            }))
        }
        _ => return None,
    };
    Some(Message::Response(Response { id, outcome }))
}

/// `{"jsonrpc":"2.0","id":..,"result":..}`
pub fn success(id: &Id, result: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// [`success`] written straight to text, around a result already serialized (`result` must be
/// one JSON value), without building the envelope as a `Value`.
pub fn success_text(id: &Id, result: &str) -> String {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, id).expect("an id serializes");
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(result.as_bytes());
    out.push(b'}');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `{"jsonrpc":"2.0","id":..,"error":{..}}`
pub fn failure(id: &Id, error: &RpcError) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// A daemon->client request (a callback such as `tools.execute`).
pub fn request(id: &Id, method: &str, params: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// A daemon->client notification (`voice.event`, `host.event`, `tools.cancel`, ...).
pub fn notification(method: &str, params: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use serde_json::json;

    fn code(r: &Result<Message, (Id, RpcError)>) -> i64 {
        r.as_ref().unwrap_err().1.code
    }

    #[test]
    fn requests_notifications_responses() {
        let Incoming::Single(Ok(Message::Request(r))) =
            Incoming::parse(r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#)
        else {
            panic!()
        };
        assert_eq!((r.id, r.method.as_str()), (Id::from_value(&json!(1)), "subtract"));
        assert!(matches!(
            Incoming::parse(r#"{"jsonrpc":"2.0","method":"update","params":[1,2,3]}"#),
            Incoming::Single(Ok(Message::Notification(_)))
        ));
        let Incoming::Single(Ok(Message::Response(r))) =
            Incoming::parse(r#"{"jsonrpc":"2.0","id":"cb-1","error":{"code":-1,"message":"boom"}}"#)
        else {
            panic!()
        };
        assert_eq!(r.outcome.unwrap_err().message, "boom");
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_one() {
        let cases = [
            r#"{"jsonrpc":"2.0","method":"a","params":{"x":1},"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"a","id":null}"#,
            r#"{"jsonrpc":"2.0","method":"a"}"#,
            r#"{"jsonrpc":"2.0","method":"a","params":null,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"a","params":3}"#,
            r#"{"jsonrpc":"2.0","method":"a","id":{"x":1}}"#,
            r#"{"jsonrpc":"1.0","method":"a","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"a","id":"s"}"#,
            r#"{"jsonrpc":"2.0","method":"a","id":1,"id":2}"#,
            r#"{"jsonrpc":"2.0","method":"a","extra":true,"id":1}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","result":{}}"#,
        ];
        for text in cases {
            let general = match serde_json::from_str::<Value>(text) {
                Ok(v) => classify(v),
                Err(_) => unreachable!(),
            };
            // Where the fast path answers, it answers as the general path would.
            if let Some(fast) = fast_request(text) {
                assert_eq!(Ok(fast), general, "{text}");
            }
            assert_eq!(Incoming::parse(text), Incoming::Single(general), "{text}");
        }
        assert!(fast_request(r#"{"jsonrpc":"2.0","method":"a","id":1}"#).is_some());
        let id = Id::from_value(&serde_json::json!(7));
        let text = success_text(&id, r#"{"a":[1,"b"]}"#);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            success(&id, serde_json::json!({"a": [1, "b"]}))
        );
    }

    #[test]
    fn invalid_shapes() {
        assert!(matches!(Incoming::parse("{"), Incoming::Invalid(e) if e.is(ErrorCode::ParseError)));
        assert!(matches!(Incoming::parse("[]"), Incoming::Invalid(e) if e.is(ErrorCode::InvalidRequest)));
        let Incoming::Single(r) = Incoming::parse(r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#) else {
            panic!()
        };
        assert_eq!(code(&r), -32600);
        let Incoming::Single(r) = Incoming::parse(r#"{"method":"x","id":7}"#) else { panic!() };
        assert_eq!(r.as_ref().unwrap_err().0, Id::from_value(&json!(7)));
        let Incoming::Single(Ok(Message::Response(r))) =
            Incoming::parse(r#"{"jsonrpc":"2.0","id":"cb-2","error":{"code":"x"}}"#)
        else {
            panic!("a malformed error reply is still a reply")
        };
        assert!(r.outcome.unwrap_err().message.contains("malformed"));
        let Incoming::Batch(items) = Incoming::parse("[1,2,3]") else { panic!() };
        assert_eq!(items.iter().map(code).collect::<Vec<_>>(), vec![-32600; 3]);
    }

    #[test]
    fn ids_are_echoed_as_written() {
        for id in [
            "18446744073709551616",
            "-9223372036854775809",
            "12345678901234567890123",
            "0",
            "-1",
            "1.5e3",
            "\"x\"",
            "null",
        ] {
            let text = format!(r#"{{"jsonrpc":"2.0","method":"a","id":{id}}}"#);
            let Incoming::Single(Ok(Message::Request(r))) = Incoming::parse(&text) else { panic!("{text}") };
            assert_eq!(r.id.raw(), id, "fast path");
            assert!(success_text(&r.id, "1").contains(&format!(r#""id":{id},"#)));
            // The general path (a batch) keeps them too.
            let batch = format!("[{text},{text}]");
            let Incoming::Batch(items) = Incoming::parse(&batch) else { panic!() };
            for item in items {
                let Ok(Message::Request(r)) = item else { panic!("{batch}") };
                assert_eq!(r.id.raw(), id, "batch");
            }
            // And an invalid request is answered with it.
            let bad = format!(r#"{{"jsonrpc":"1.0","method":"a","id":{id}}}"#);
            let Incoming::Single(Err((got, _))) = Incoming::parse(&bad) else { panic!("{bad}") };
            assert_eq!(got.raw(), id);
        }
        let Incoming::Single(Ok(Message::Response(escaped))) =
            Incoming::parse(r#"{"jsonrpc":"2.0","id":"cb\u002d1","result":1}"#)
        else {
            panic!()
        };
        assert_eq!(escaped.id.raw(), r#""cb\u002d1""#);
        assert_eq!(Id::str("cb-1"), escaped.id, "a callback reply's id matches however it is escaped");
        assert_eq!(Id::str("cb-1").as_str().as_deref(), Some("cb-1"));
        assert_ne!(Id::str("1"), Id::from_value(&json!(1)));
    }
}
