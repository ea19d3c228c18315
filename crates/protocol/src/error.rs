//! JSON-RPC error objects and the error-code table of PROTOCOL §3.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The error codes Hark sends (CAR's table plus Hark's own, PROTOCOL §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum ErrorCode {
    ParseError = -32700,
    InvalidRequest = -32600,
    MethodNotFound = -32601,
    InvalidParams = -32602,
    InternalError = -32603,
    Unauthorized = -32001,
    Forbidden = -32002,
    ApprovalDenied = -32003,
    DeadlineExceeded = -32004,
    /// CAR's "handshake required"; Hark never requires the handshake, so never sends it.
    HandshakeRequired = -32005,
    ProtocolVersion = -32006,
    /// CAR's "content refused"; reserved, never sent by Hark.
    ContentRefused = -32007,
    NotFound = -32010,
    Busy = -32011,
    Conflict = -32012,
}

impl ErrorCode {
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// A JSON-RPC error object. `message` is plain English, safe to show to a person; details that
/// are not safe (paths, internal state) go to the log, never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RpcError { code: code.code(), message: message.into(), data: None }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn parse_error(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::ParseError, format!("parse error: {}", reason.into()))
    }

    pub fn invalid_request(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, format!("invalid request: {}", reason.into()))
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(ErrorCode::MethodNotFound, format!("method not found: {method}"))
            .with_data(json!({ "method": method }))
    }

    /// -32602 naming the field and what was expected (PROTOCOL §3).
    pub fn invalid_params(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let message = if field.is_empty() {
            format!("invalid params: {reason}")
        } else {
            format!("invalid params: {field}: {reason}")
        };
        Self::new(ErrorCode::InvalidParams, message).with_data(json!({ "field": field, "reason": reason }))
    }

    /// -32603. The caller logs the details; the client only learns that something went wrong.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "internal error")
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found: {id}"))
            .with_data(json!({ "field": what, "reason": "not found", "id": id }))
    }

    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Busy, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == code.code()
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}
