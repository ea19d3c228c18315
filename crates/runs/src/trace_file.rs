//! One run's file: how its lines are written, and the one reader that parses a file back,
//! re-verifies its chain and finds a torn last line (see the crate docs for the format).
//!
//! The reader streams (a run's file can reach ~500 MiB at the limits), hashes each record's text
//! exactly as it is in the file (never re-encoded: what was stored is what was hashed), and
//! checks the framing the chain does not cover: each record's `index` is its position, `turn`
//! records are objects, at most one `outcome` and only as the last record, nothing after a
//! terminal line, and the seal on an `incomplete` line.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::chain::ChainDigest;
use crate::{MAX_TURNS, RecordKind, Status, StoredRecord};

/// Longest line the reader takes in: far over what the writer produces (a 256 KiB record plus
/// its framing; a header with a 16 KiB intent and agent id, escaped). A longer line is bad.
const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Serialize)]
struct HeaderOut<'a> {
    kind: &'static str,
    run_id: &'a str,
    agent_id: &'a str,
    intent: &'a str,
    started_at: u64,
}

/// Line 0, as read back.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    kind: String,
    pub run_id: String,
    pub agent_id: String,
    pub intent: String,
    pub started_at: u64,
}

#[derive(Serialize)]
struct IncompleteOut<'a> {
    kind: &'static str,
    at: u64,
    reason: &'a str,
    records: u64,
    digest: &'a str,
}

/// Any line after the header, loosely: which fields matter depends on `kind`.
#[derive(Deserialize)]
struct LineIn<'a> {
    kind: String,
    index: Option<u64>,
    at: Option<u64>,
    #[serde(borrow)]
    record: Option<&'a RawValue>,
    digest: Option<String>,
    records: Option<u64>,
}

#[derive(Deserialize)]
struct OutcomeProbe {
    outcome: OutcomeStatus,
}

#[derive(Deserialize)]
struct OutcomeStatus {
    status: String,
}

/// The header line, `\n` included.
pub fn header_line(run_id: &str, agent_id: &str, intent: &str, started_at: u64) -> Vec<u8> {
    let mut line = serde_json::to_vec(&HeaderOut { kind: "run", run_id, agent_id, intent, started_at })
        .expect("a header serializes");
    line.push(b'\n');
    line
}

/// Appends one chain record's line (`\n` included) to `out`. `record` is canonical JSON and
/// `digest` hex, so the line is assembled as text: the record's bytes land in the file as is.
pub fn push_record_line(
    out: &mut Vec<u8>,
    kind: RecordKind,
    index: u64,
    at: u64,
    record: &str,
    digest: &str,
) {
    let kind = kind.as_str();
    out.extend_from_slice(
        format!("{{\"kind\":\"{kind}\",\"index\":{index},\"at\":{at},\"record\":{record},\"digest\":\"{digest}\"}}\n")
            .as_bytes(),
    );
}

/// The `incomplete` line, sealed with the number of records and the last digest.
pub fn incomplete_line(at: u64, reason: &str, records: u64, digest: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&IncompleteOut { kind: "incomplete", at, reason, records, digest })
        .expect("an incomplete line serializes");
    line.push(b'\n');
    line
}

/// What one read of a run's file found.
#[derive(Debug)]
pub struct Scan {
    /// `None` when line 0 is missing or is not a run header.
    pub header: Option<Header>,
    /// The records at positions `>= keep_from` (none when not asked for).
    pub records: Vec<StoredRecord>,
    /// Chain positions seen: records, and lines that should have been records but could not
    /// be read. The index the next record would get.
    pub count: u64,
    pub turns: u64,
    /// The stored digest of the last record read, or `d_0`'s hex when there is none.
    pub digest: String,
    pub status: Status,
    pub outcome_status: Option<String>,
    /// The latest `at` of a record, or the header's `started_at`.
    pub last_active_at: u64,
    pub first_bad: Option<u64>,
    /// Where the last line starts when it is torn: no trailing newline, or not parsable.
    pub torn_tail: Option<u64>,
    /// The file's length as read.
    pub len: u64,
}

impl Scan {
    /// Notes a bad record; `first_bad` keeps the lowest index.
    pub fn bad(&mut self, index: u64) {
        self.first_bad = Some(self.first_bad.map_or(index, |f| f.min(index)));
    }
}

/// Reads `path` as the file of run `run_id`, verifying its chain from `d_0`. Records at
/// positions `>= keep_from` are returned (pass `None` to keep none).
pub fn scan(path: &Path, run_id: &str, keep_from: Option<u64>) -> io::Result<Scan> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let genesis = ChainDigest::genesis(run_id);
    let mut s = Scan {
        header: None,
        records: Vec::new(),
        count: 0,
        turns: 0,
        digest: genesis.to_hex(),
        status: Status::Open,
        outcome_status: None,
        last_active_at: 0,
        first_bad: None,
        torn_tail: None,
        len: 0,
    };
    let mut chain = genesis;
    let mut ended = false; // an outcome or incomplete line was seen
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    while let Some(read) = read_line(&mut reader, &mut buf, MAX_LINE_BYTES)? {
        let offset = s.len;
        s.len += read.consumed;
        let text = if read.overlong { None } else { std::str::from_utf8(&buf).ok() };
        let first = line_no == 0;
        line_no += 1;
        if first {
            s.header = text.and_then(|t| serde_json::from_str::<Header>(t).ok()).filter(|h| h.kind == "run");
            match &s.header {
                Some(h) => {
                    s.last_active_at = h.started_at;
                    if h.run_id != run_id {
                        s.bad(0);
                    }
                }
                None => s.bad(0),
            }
            if !read.newline || s.header.is_none() {
                s.torn_tail = Some(offset);
            }
            continue;
        }
        let parsed = text.and_then(|t| serde_json::from_str::<LineIn>(t).ok());
        s.torn_tail = (!read.newline || parsed.is_none()).then_some(offset);
        let pos = s.count;
        let Some(line) = parsed else {
            s.bad(pos);
            if read.newline {
                s.count += 1;
            }
            continue;
        };
        let kind = match line.kind.as_str() {
            "turn" => RecordKind::Turn,
            "outcome" => RecordKind::Outcome,
            "incomplete" => {
                if ended {
                    s.bad(s.count);
                }
                ended = true;
                s.status = Status::Incomplete;
                match line.records {
                    Some(m) if m != s.count => s.bad(m.min(s.count)),
                    Some(_) if line.digest.as_deref().is_some_and(|d| d != s.digest) => {
                        s.bad(s.count.saturating_sub(1))
                    }
                    _ => {}
                }
                continue;
            }
            _ => {
                s.bad(pos);
                s.count += 1;
                continue;
            }
        };
        s.count += 1;
        let (Some(index), Some(at), Some(record), Some(digest)) =
            (line.index, line.at, line.record, line.digest)
        else {
            s.bad(pos);
            continue;
        };
        if ended || index != pos {
            s.bad(pos);
        }
        let text = record.get();
        match kind {
            RecordKind::Turn => {
                s.turns += 1;
                if !text.starts_with('{') || s.turns > MAX_TURNS {
                    s.bad(pos);
                }
            }
            RecordKind::Outcome => {
                ended = true;
                s.status = Status::Completed;
                let probe = text
                    .starts_with("{\"outcome\":{")
                    .then(|| serde_json::from_str::<OutcomeProbe>(text).ok())
                    .flatten();
                match probe {
                    Some(p) => s.outcome_status = Some(p.outcome.status),
                    None => s.bad(pos),
                }
            }
        }
        if s.first_bad.is_none() {
            chain = chain.next(text.as_bytes());
            if ChainDigest::from_hex(&digest) != Some(chain) {
                s.bad(pos);
            }
        }
        s.last_active_at = s.last_active_at.max(at);
        if keep_from.is_some_and(|from| pos >= from) {
            s.records.push(StoredRecord {
                index: pos,
                kind,
                at,
                record: record.to_owned(),
                digest: digest.clone(),
            });
        }
        s.digest = digest;
    }
    Ok(s)
}

struct LineRead {
    /// Bytes taken from the file, the newline included.
    consumed: u64,
    newline: bool,
    /// Longer than the bound: `buf` is left empty.
    overlong: bool,
}

/// One line into `buf` (without its `\n`), holding at most `max` bytes of it in memory.
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<LineRead>> {
    buf.clear();
    let mut consumed = 0u64;
    let mut overlong = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((consumed > 0).then_some(LineRead { consumed, newline: false, overlong }));
        }
        let newline = avail.iter().position(|&b| b == b'\n');
        let chunk = &avail[..newline.unwrap_or(avail.len())];
        if !overlong {
            if buf.len() + chunk.len() > max {
                overlong = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(newline.is_some());
        r.consume(used);
        consumed += used as u64;
        if newline.is_some() {
            return Ok(Some(LineRead { consumed, newline: true, overlong }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_line_reader() {
        let data = b"abc\n\nxxxxxxxxxx\ntail";
        let mut r = BufReader::with_capacity(3, &data[..]);
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        while let Some(l) = read_line(&mut r, &mut buf, 5).unwrap() {
            lines.push((String::from_utf8(buf.clone()).unwrap(), l.consumed, l.newline, l.overlong));
        }
        assert_eq!(
            lines,
            [
                ("abc".to_string(), 4, true, false),
                (String::new(), 1, true, false),
                (String::new(), 11, true, true),
                ("tail".to_string(), 4, false, false),
            ]
        );
    }

    #[test]
    fn record_lines_embed_the_record_text() {
        let mut out = Vec::new();
        push_record_line(&mut out, RecordKind::Turn, 3, 7, r#"{"a":"é"}"#, "ab");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"kind\":\"turn\",\"index\":3,\"at\":7,\"record\":{\"a\":\"é\"},\"digest\":\"ab\"}\n"
        );
    }
}
