//! Memory (PROTOCOL §11): `memory.add_fact`, `memory.query`, `memory.fact_count`. Final meeting
//! segments are memory without an ingest step: the index keeps every meeting's latest
//! revision, and `memory.query` ranks those segments (speaker `meeting/<id>/<source>`) together
//! with the facts agents added. Facts are stored first in `memory/facts.jsonl` (CRC lines, the
//! truth), then in the index, so a rebuilt index loses none.
//!
//! Decided here where PROTOCOL is silent: adding a fact needs no permission (an agent writing
//! down what it learnt), reading memory needs `transcripts` (segments are transcripts); fact text
//! at most 4 KiB, subject 256 bytes, at most 16 tags of 64 bytes; `k` at most 100.

use hark_protocol::RpcError;
use hark_protocol::meeting::{AddFactParams, AddFactResult, MemoryQueryParams, MemoryQueryResult};
use hark_store::Fact;
use serde_json::{Value, json};

use super::{Reply, blocking, parse, reply};
use crate::caller::Caller;
use crate::daemon::Daemon;
use crate::meetings::store_error;

pub async fn add_fact(daemon: &Daemon, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: AddFactParams = parse(params)?;
    if p.text.trim().is_empty() || p.text.len() > 4096 {
        return Err(RpcError::invalid_params("text", "1 to 4096 bytes, not blank"));
    }
    if p.subject.as_ref().is_some_and(|s| s.len() > 256) {
        return Err(RpcError::invalid_params("subject", "at most 256 bytes"));
    }
    if p.tags.len() > 16 || p.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
        return Err(RpcError::invalid_params("tags", "at most 16 tags of 1 to 64 bytes"));
    }
    let fact = Fact {
        fact_id: format!("fact-{}", crate::mint_id()),
        text: p.text,
        subject: p.subject,
        tags: p.tags,
        timestamp: hark_protocol::time::now_rfc3339(),
    };
    let (store, index) = (daemon.meetings.store.clone(), daemon.meetings.index.clone());
    let id = fact.fact_id.clone();
    blocking(move || {
        store.append_fact(&fact).map_err(store_error)?;
        if let Err(e) = crate::lock(&index).add_fact(&fact) {
            tracing::warn!(error = %e, "cannot index a fact (the index is rebuilt from the files at the next start)");
        }
        Ok(())
    })
    .await?;
    reply(&AddFactResult { fact_id: id })
}

pub async fn query(daemon: &Daemon, caller: &Caller, params: Option<Value>) -> Result<Reply, RpcError> {
    let p: MemoryQueryParams = parse(params)?;
    let k = p.k.unwrap_or(8);
    if k == 0 || k > 100 {
        return Err(RpcError::invalid_params("k", "1 to 100"));
    }
    if p.query.len() > 1024 {
        return Err(RpcError::invalid_params("query", "at most 1024 bytes"));
    }
    if let Some(id) = &p.meeting_id
        && !hark_protocol::ids::is_valid_meeting_id(id)
    {
        return Err(RpcError::invalid_params("meeting_id", "must match ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"));
    }
    if let Some(since) = &p.since
        && !is_rfc3339_utc(since)
    {
        return Err(RpcError::invalid_params(
            "since",
            "an RFC 3339 UTC time such as 2026-12-02T09:00:00.000Z",
        ));
    }
    crate::permissions::gate(daemon, caller, "transcripts", "memory.query", json!({ "query": p.query }))
        .await?;
    let index = daemon.meetings.index.clone();
    let results = blocking(move || {
        let since = p.since.as_deref().map(normalize_utc);
        crate::lock(&index)
            .memory_query(&p.query, k, p.meeting_id.as_deref(), since.as_deref())
            .map_err(store_error)
    })
    .await?;
    reply(&MemoryQueryResult { results })
}

pub async fn fact_count(daemon: &Daemon) -> Result<Reply, RpcError> {
    let index = daemon.meetings.index.clone();
    let counts = blocking(move || crate::lock(&index).counts().map_err(store_error)).await?;
    reply(&counts)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z`: the stored timestamps are UTC with millis, compared as text.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && digits(20..b.len() - 1)))
}

/// The same instant in the stored form (`.mmm` millis), so text comparison orders correctly.
fn normalize_utc(s: &str) -> String {
    let (base, frac) = (&s[..19], s[19..].trim_end_matches('Z').trim_start_matches('.'));
    let millis: String = frac.chars().chain(std::iter::repeat('0')).take(3).collect();
    format!("{base}.{millis}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_must_be_utc_and_is_compared_in_the_stored_form() {
        assert!(is_rfc3339_utc("2026-12-02T09:00:00Z"));
        assert!(is_rfc3339_utc("2026-12-02T09:00:00.5Z"));
        assert!(!is_rfc3339_utc("2026-12-02 09:00:00Z"));
        assert!(!is_rfc3339_utc("2026-12-02T09:00:00+01:00"));
        assert!(!is_rfc3339_utc("yesterday"));
        assert_eq!(normalize_utc("2026-12-02T09:00:00Z"), "2026-12-02T09:00:00.000Z");
        assert_eq!(normalize_utc("2026-12-02T09:00:00.5Z"), "2026-12-02T09:00:00.500Z");
        assert_eq!(normalize_utc("2026-12-02T09:00:00.123456Z"), "2026-12-02T09:00:00.123Z");
    }
}
