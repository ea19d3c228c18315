//! Method handlers, one file per method family. Each is a typed function over the connection
//! context; parsing of params into types happens in [`parse`], in one place, so every -32602
//! names the field.

pub mod a2ui;
pub mod admission;
pub mod chat;
pub mod host;
pub mod meetings;
pub mod memory;
pub mod models;
pub mod permissions;
pub mod proposal;
pub mod runs;
pub mod session;
pub mod settings;
pub mod tools;
pub mod voice;

use hark_protocol::RpcError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

/// A handler's result, serialized once, straight from its typed value (no `Value` tree in
/// between: on the hot path that conversion cost more than the rest of the handler).
pub type Reply = Box<RawValue>;

/// Serializes a handler's result.
pub fn reply<T: Serialize + ?Sized>(value: &T) -> Result<Reply, RpcError> {
    serde_json::value::to_raw_value(value).map_err(|e| {
        tracing::error!(error = %e, "a result failed to serialize");
        RpcError::internal()
    })
}

/// Runs blocking work (files, SQLite) off the runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| RpcError::internal())?
}

/// Deserializes params; absent params read as `{}`. Errors name the JSON path of the field.
pub fn parse<T: DeserializeOwned>(params: Option<Value>) -> Result<T, RpcError> {
    let value = params.unwrap_or_else(|| Value::Object(Default::default()));
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." {
            // serde names a missing field only in its message: "missing field `token`".
            inner.split('`').nth(1).unwrap_or("params").to_string()
        } else {
            path
        };
        RpcError::invalid_params(&field, inner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct P {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<P>(Some(json!({}))).unwrap_err();
        assert_eq!(e.data.unwrap()["field"], "name");
        let e = parse::<P>(Some(json!({"name": "x", "inner": {"n": "no"}}))).unwrap_err();
        assert_eq!(e.data.as_ref().unwrap()["field"], "inner.n");
        assert!(e.message.contains("inner.n"), "{}", e.message);
        let e = parse::<P>(Some(json!([1]))).unwrap_err();
        assert_eq!(e.code, -32602);
    }
}
