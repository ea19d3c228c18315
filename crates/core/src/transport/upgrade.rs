//! Security at the door (PROTOCOL §2.1, §2.2, §2.5): the WebSocket upgrade is refused with HTTP 403
//! for a non-local `Host` or a browser `Origin` that is not allowlisted, and with 503 when the
//! connection limit is reached, before any JSON is read.

use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

pub type RequestRef = Request;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

/// The desktop webview's origins, always allowed.
pub const WEBVIEW_ORIGINS: [&str; 3] =
    ["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"];

/// `127.0.0.1[:port]`, `[::1][:port]` or `localhost[:port]` (case-insensitive host part).
pub fn is_local_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, tail)) if tail.is_empty() || is_port(tail) => return addr == "::1",
            _ => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn is_port(tail: &str) -> bool {
    tail.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Decides an upgrade. `over_limit` is true when accepting would exceed the connection limit.
// The error type is tungstenite's callback contract, not ours to shrink.
#[allow(clippy::result_large_err)]
pub fn check(
    request: &Request,
    response: Response,
    allowed_origins: &[String],
    over_limit: bool,
) -> Result<Response, ErrorResponse> {
    let host = request.headers().get("host").and_then(|h| h.to_str().ok());
    if !host.is_some_and(is_local_host) {
        tracing::info!(host = ?host, "upgrade refused: Host is not local");
        return Err(refuse(StatusCode::FORBIDDEN, "forbidden: Host must be 127.0.0.1, [::1] or localhost"));
    }
    if let Some(origin) = request.headers().get("origin") {
        let origin = origin.to_str().unwrap_or("");
        let allowed = WEBVIEW_ORIGINS.contains(&origin) || allowed_origins.iter().any(|o| o == origin);
        if !allowed {
            tracing::info!(origin, "upgrade refused: Origin not allowed");
            return Err(refuse(StatusCode::FORBIDDEN, "forbidden: Origin not allowed"));
        }
    }
    if over_limit {
        return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections; retry later"));
    }
    Ok(response)
}

fn refuse(status: StatusCode, body: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for ok in ["127.0.0.1", "127.0.0.1:9470", "localhost", "LOCALHOST:1", "[::1]", "[::1]:80"] {
            assert!(is_local_host(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "127.0.0.1.evil.com",
            "localhost.evil",
            "[::2]:1",
            "127.0.0.1:",
            "0.0.0.0",
            "127.0.0.1:x",
            "[::1]x",
            "",
        ] {
            assert!(!is_local_host(bad), "{bad}");
        }
    }
}
