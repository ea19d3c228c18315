//! The transcript line format and its writer and reader (PROTOCOL §16).
//!
//! A line is the record serialized by serde_json (fields in struct order) with `,"crc":<u32>`
//! inserted before the final `}`, where the CRC-32 is over exactly that serialized text without
//! it. The CRC is checked textually (strip the suffix, recompute over `prefix + "}"`), so a line
//! verifies only if its bytes are the ones written: a torn or bit-flipped line never passes for
//! a segment. The suffix cannot occur inside a JSON string (there a `"` is always escaped), so
//! the last `,"crc":` is the one we wrote. Memory facts use the same format.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hark_protocol::meeting::Segment;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::durable::{open_append_private, sync_dir};
use crate::{IoContext, Result};

/// PROTOCOL §16: the live transcript is fsynced at least this often (and at stop).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

const CRC_KEY: &str = ",\"crc\":";

/// Why a line did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Valid JSON but no `,"crc":N}` at its end: not a line this store wrote.
    #[error("no crc")]
    MissingCrc,
    /// Not the JSON of a record (garbage, a torn line, or a record of another shape).
    #[error("bad json: {0}")]
    BadJson(String),
    #[error("crc mismatch: stored {stored}, computed {computed}")]
    CrcMismatch { stored: u32, computed: u32 },
}

/// A record as one line, with its trailing `'\n'`.
pub fn encode_line(segment: &Segment) -> String {
    encode_record(segment)
}

/// The record of one line (without its `'\n'`), if it verifies.
pub fn decode_line(line: &str) -> Result<Segment, LineError> {
    decode_record(line)
}

pub(crate) fn encode_record<T: Serialize>(record: &T) -> String {
    // Infallible for the store's records: plain structs of strings, integers and lists.
    let json = serde_json::to_string(record).expect("a store record serializes");
    debug_assert!(json.ends_with('}'), "records are JSON objects");
    let crc = crc32fast::hash(json.as_bytes());
    let body = &json[..json.len() - 1];
    format!("{body}{CRC_KEY}{crc}}}\n")
}

pub(crate) fn decode_record<T: DeserializeOwned>(line: &str) -> Result<T, LineError> {
    let Some((prefix, stored)) = split_crc(line) else {
        return Err(match serde_json::from_str::<serde_json::Value>(line) {
            Ok(_) => LineError::MissingCrc,
            Err(e) => LineError::BadJson(e.to_string()),
        });
    };
    let mut json = String::with_capacity(prefix.len() + 1);
    json.push_str(prefix);
    json.push('}');
    let computed = crc32fast::hash(json.as_bytes());
    if computed != stored {
        return Err(LineError::CrcMismatch { stored, computed });
    }
    serde_json::from_str(&json).map_err(|e| LineError::BadJson(e.to_string()))
}

/// `(text before ,"crc":, the crc)` when the line ends in exactly `,"crc":<digits>}`.
fn split_crc(line: &str) -> Option<(&str, u32)> {
    let at = line.rfind(CRC_KEY)?;
    let digits = line[at + CRC_KEY.len()..].strip_suffix('}')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&line[..at], digits.parse().ok()?))
}

/// A line that did not verify, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// 1-based.
    pub line_no: usize,
    /// The line (lossily decoded when it is not UTF-8), without its `'\n'`.
    pub text: String,
    /// The line's exact bytes, without its `'\n'`: what recovery keeps in `.broken`.
    pub raw: Vec<u8>,
    pub error: LineError,
}

/// What a transcript file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscriptRead {
    /// The lines that verified, in file order.
    pub segments: Vec<Segment>,
    /// The lines that did not (empty lines are skipped, not bad).
    pub bad: Vec<BadLine>,
    /// The file does not end with `'\n'`: the last write was cut short. The unterminated tail
    /// is in `bad` unless it verifies (then the crash only lost the newline, and it is kept).
    pub torn_tail: bool,
}

/// Reads every line of a transcript (or any file of CRC lines) and sorts them into verified
/// records and bad lines.
pub fn read_transcript(path: &Path) -> Result<TranscriptRead> {
    let (records, bad, torn_tail) = read_records(path)?;
    Ok(TranscriptRead { segments: records, bad, torn_tail })
}

pub(crate) fn read_records<T: DeserializeOwned>(path: &Path) -> Result<(Vec<T>, Vec<BadLine>, bool)> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).at(path)?;
    let torn_tail = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let (mut records, mut bad) = (Vec::new(), Vec::new());
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if body.is_empty() && !torn_tail {
        return Ok((records, bad, false));
    }
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        if raw.is_empty() {
            continue;
        }
        let decoded = match std::str::from_utf8(raw) {
            Ok(text) => decode_record(text),
            Err(e) => Err(LineError::BadJson(e.to_string())),
        };
        match decoded {
            Ok(r) => records.push(r),
            Err(error) => bad.push(BadLine {
                line_no: i + 1,
                text: String::from_utf8_lossy(raw).into_owned(),
                raw: raw.to_vec(),
                error,
            }),
        }
    }
    Ok((records, bad, torn_tail))
}

/// Appends segments to the live transcript. Each [`append`](Self::append) is one `write` of the
/// whole line straight to the file (no buffering in this process), so when it returns the line
/// is in the OS and survives a crash of the daemon; fsync, which guards against a power cut, is
/// amortised to at most one per [`SYNC_INTERVAL`].
#[derive(Debug)]
pub struct TranscriptWriter {
    file: File,
    path: PathBuf,
    dirty: bool,
    last_sync: Instant,
}

impl TranscriptWriter {
    /// Opens (creating, mode 0600) `path` for appending. When the file ends in a torn line (a
    /// crash the caller did not [`recover`](crate::MeetingStore::recover)), a `'\n'` is written
    /// first so the next line stands alone and verifies, and the torn one stays a bad line.
    pub fn open_append(path: &Path) -> Result<Self> {
        let existed = path.exists();
        let mut file = open_append_private(path)?;
        let len = file.metadata().at(path)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            let mut reader = File::open(path).at(path)?;
            std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(len - 1)).at(path)?;
            reader.read_exact(&mut last).at(path)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").at(path)?;
            }
        }
        if !existed {
            // The new directory entry must survive a power cut along with the data.
            file.sync_all().at(path)?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(TranscriptWriter { file, path: path.to_path_buf(), dirty: false, last_sync: Instant::now() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the segment's line with one `write_all` (O_APPEND: it lands at the end), then
    /// fsyncs if the last fsync is at least [`SYNC_INTERVAL`] old. `Ok` means the line reached
    /// the OS: a failed fsync then is logged and tried again when next due, not reported as a
    /// lost line (the caller would otherwise reuse its `seq`). A failed write (a full disk) may
    /// have left part of the line: a `'\n'` is written after it, so the next line stands alone
    /// and verifies, and the fragment stays a bad line for recovery to set aside.
    pub fn append(&mut self, segment: &Segment) -> Result<()> {
        if let Err(e) = self.file.write_all(encode_line(segment).as_bytes()) {
            let _ = self.file.write_all(b"\n");
            return Err(e).at(&self.path);
        }
        self.dirty = true;
        if let Err(e) = self.sync_if_due() {
            tracing::warn!(error = %e, "cannot fsync the transcript; trying again in a second");
        }
        Ok(())
    }

    /// Fsyncs if there is unsynced data and the last fsync is at least [`SYNC_INTERVAL`] old;
    /// the recorder calls this on a timer so a quiet meeting's last line is synced too. Returns
    /// whether it synced.
    pub fn sync_if_due(&mut self) -> Result<bool> {
        if self.dirty && self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Fsyncs now (at stop).
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().at(&self.path)?;
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    pub(crate) fn seg(seq: u64, text: &str) -> Segment {
        Segment {
            seq,
            source: "mic".into(),
            role: "me".into(),
            t0_ms: seq * 1000,
            t1_ms: seq * 1000 + 900,
            timestamp: format!("2026-01-02T03:04:{:02}.000Z", seq % 60),
            text: text.into(),
        }
    }

    #[test]
    fn line_round_trip_and_shape() {
        let s = seg(3, "héllo \"quoted\" ,\"crc\":5}");
        let line = encode_line(&s);
        assert!(line.ends_with("}\n"));
        assert_eq!(line.matches('\n').count(), 1, "a line holds no raw newline");
        let json = serde_json::to_string(&s).unwrap();
        let want = format!("{},\"crc\":{}}}\n", &json[..json.len() - 1], crc32fast::hash(json.as_bytes()));
        assert_eq!(line, want);
        assert!(line.starts_with("{\"seq\":3,\"source\":\"mic\","), "fields in struct order: {line}");
        assert_eq!(decode_line(line.trim_end()).unwrap(), s);
        // Multi-line text is escaped by JSON, so still one line.
        let m = seg(1, "a\nb");
        assert_eq!(decode_line(encode_line(&m).trim_end()).unwrap(), m);
    }

    #[test]
    fn each_line_error() {
        let line = encode_line(&seg(1, "hello"));
        let line = line.trim_end();
        // Missing crc: the plain segment JSON.
        let plain = serde_json::to_string(&seg(1, "hello")).unwrap();
        assert_eq!(decode_line(&plain), Err(LineError::MissingCrc));
        // Garbage and a torn line.
        assert!(matches!(decode_line("garbage"), Err(LineError::BadJson(_))));
        assert!(matches!(decode_line(&line[..line.len() / 2]), Err(LineError::BadJson(_))));
        // A flipped character.
        let flipped = line.replace("hello", "hellp");
        assert!(matches!(decode_line(&flipped), Err(LineError::CrcMismatch { .. })));
        // A wrong crc value.
        let wrong = format!("{},\"crc\":1}}", &plain[..plain.len() - 1]);
        assert!(matches!(decode_line(&wrong), Err(LineError::CrcMismatch { stored: 1, .. })));
        // A correct crc over JSON that is not a Segment.
        let other = "{\"x\":1}";
        let foreign = format!("{{\"x\":1,\"crc\":{}}}", crc32fast::hash(other.as_bytes()));
        assert!(matches!(decode_line(&foreign), Err(LineError::BadJson(_))));
        // A malformed suffix.
        assert!(matches!(decode_line("{\"a\":1,\"crc\":}"), Err(LineError::BadJson(_))));
    }

    #[test]
    fn writer_appends_whole_lines_visible_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("transcript.jsonl");
        let mut w = TranscriptWriter::open_append(&p).unwrap();
        w.append(&seg(0, "one")).unwrap();
        // Visible to another reader before any sync: it reached the OS.
        assert_eq!(read_transcript(&p).unwrap().segments, vec![seg(0, "one")]);
        w.append(&seg(1, "two")).unwrap();
        assert!(!w.sync_if_due().unwrap(), "not due within a second of opening");
        w.sync().unwrap();
        assert!(!w.sync_if_due().unwrap(), "nothing dirty");
        drop(w);
        // Reopening appends after what is there.
        let mut w = TranscriptWriter::open_append(&p).unwrap();
        w.append(&seg(2, "three")).unwrap();
        w.last_sync -= SYNC_INTERVAL;
        assert!(w.sync_if_due().unwrap());
        let r = read_transcript(&p).unwrap();
        assert_eq!(r.segments.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(r.bad.is_empty() && !r.torn_tail);
    }

    #[test]
    fn reopening_after_a_torn_line_keeps_new_lines_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("transcript.jsonl");
        let good = encode_line(&seg(0, "one"));
        let torn = &encode_line(&seg(1, "two"))[..20];
        fs::write(&p, format!("{good}{torn}")).unwrap();
        let mut w = TranscriptWriter::open_append(&p).unwrap();
        w.append(&seg(2, "three")).unwrap();
        let r = read_transcript(&p).unwrap();
        assert_eq!(r.segments, vec![seg(0, "one"), seg(2, "three")]);
        assert_eq!(r.bad.len(), 1);
        assert_eq!(r.bad[0].text, torn);
        assert_eq!(r.bad[0].line_no, 2);
    }

    #[test]
    fn reader_sorts_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        let mut bytes = encode_line(&seg(0, "a")).into_bytes();
        bytes.extend_from_slice(b"\xff\xfe not utf8\n\n");
        bytes.extend_from_slice(encode_line(&seg(1, "b")).as_bytes());
        // A complete line whose newline was lost verifies and is kept.
        bytes.extend_from_slice(encode_line(&seg(2, "c")).trim_end().as_bytes());
        fs::write(&p, &bytes).unwrap();
        let r = read_transcript(&p).unwrap();
        assert_eq!(r.segments.len(), 3);
        assert!(r.torn_tail);
        assert_eq!(r.bad.len(), 1);
        assert_eq!(r.bad[0].line_no, 2);
        assert_eq!(r.bad[0].raw, b"\xff\xfe not utf8");
        // Empty and missing files.
        fs::write(&p, b"").unwrap();
        assert_eq!(read_transcript(&p).unwrap(), TranscriptRead::default());
        assert!(read_transcript(&dir.path().join("none")).is_err());
    }
}
