//! The search index and memory over `index.sqlite` (PROTOCOL §7 `meeting.list/search`, §11).
//!
//! A cache of the files: the meetings' metadata, the segments of each meeting's latest revision
//! (only the latest is searched, PROTOCOL §7) and the memory facts. It can always be thrown away
//! and rebuilt from [`MeetingStore`], so [`Index::open`] does exactly that when the file is
//! missing, is not a healthy database, or was made by another schema version.
//!
//! Layout: each searchable table (`meetings.title`, `segments.text`, `facts.text/subject`) has an
//! FTS5 table in *external content* mode over it, kept in step by triggers. External content
//! keeps each text once (the base table has to hold it anyway: a hit returns the segment's
//! full text and its other columns), and unlike a contentless table it lets `snippet()` read
//! the text back. The triggers make every base-table change and its index change one statement,
//! so they commit together. External content joins on an integer rowid that must never change,
//! hence each base table's `INTEGER PRIMARY KEY` (`rid`), with the natural key (`meetings.id`,
//! `(meeting_id, seq)`, `fact_id`) a `UNIQUE` constraint beside it. Tokenizer: `porter
//! unicode61` (case and diacritics folded, English stemming: "meetings" finds "meeting").
//!
//! Timestamps (`segments.timestamp`, `facts.timestamp`, `since`) are compared as strings: the
//! daemon writes every one with `hark_protocol::time` as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`, a
//! fixed-width form in which lexical order is time order. A `since` in another offset or
//! precision compares wrongly; the daemon normalises it first.

use std::path::{Path, PathBuf};

use hark_protocol::meeting::{
    FactCount, MeetingMetadata, MemoryHit, MemoryKind, SearchHit, Segment, SnippetPart,
};
use hark_protocol::time::now_millis;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::query::fts_query;
use crate::{Fact, IoContext, MeetingStore, Result, StoreError};

/// Bump when the schema changes: an index of another version is rebuilt from the files.
pub const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE meetings (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    started_at TEXT NOT NULL,
    title TEXT NOT NULL,
    metadata_json TEXT NOT NULL
);
CREATE INDEX meetings_newest ON meetings (started_at DESC, id);
CREATE VIRTUAL TABLE meetings_fts USING fts5 (
    title, content = 'meetings', content_rowid = 'rid', tokenize = 'porter unicode61'
);
CREATE TRIGGER meetings_ai AFTER INSERT ON meetings BEGIN
    INSERT INTO meetings_fts (rowid, title) VALUES (new.rid, new.title);
END;
CREATE TRIGGER meetings_ad AFTER DELETE ON meetings BEGIN
    INSERT INTO meetings_fts (meetings_fts, rowid, title) VALUES ('delete', old.rid, old.title);
END;
CREATE TRIGGER meetings_au AFTER UPDATE ON meetings BEGIN
    INSERT INTO meetings_fts (meetings_fts, rowid, title) VALUES ('delete', old.rid, old.title);
    INSERT INTO meetings_fts (rowid, title) VALUES (new.rid, new.title);
END;

CREATE TABLE segments (
    rid INTEGER PRIMARY KEY,
    meeting_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    role TEXT NOT NULL,
    t0_ms INTEGER NOT NULL,
    t1_ms INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (meeting_id, seq)
);
CREATE VIRTUAL TABLE segments_fts USING fts5 (
    text, content = 'segments', content_rowid = 'rid', tokenize = 'porter unicode61'
);
CREATE TRIGGER segments_ai AFTER INSERT ON segments BEGIN
    INSERT INTO segments_fts (rowid, text) VALUES (new.rid, new.text);
END;
CREATE TRIGGER segments_ad AFTER DELETE ON segments BEGIN
    INSERT INTO segments_fts (segments_fts, rowid, text) VALUES ('delete', old.rid, old.text);
END;
CREATE TRIGGER segments_au AFTER UPDATE ON segments BEGIN
    INSERT INTO segments_fts (segments_fts, rowid, text) VALUES ('delete', old.rid, old.text);
    INSERT INTO segments_fts (rowid, text) VALUES (new.rid, new.text);
END;

CREATE TABLE facts (
    rid INTEGER PRIMARY KEY,
    fact_id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    subject TEXT,
    tags_json TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE VIRTUAL TABLE facts_fts USING fts5 (
    text, subject, content = 'facts', content_rowid = 'rid', tokenize = 'porter unicode61'
);
CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
    INSERT INTO facts_fts (rowid, text, subject) VALUES (new.rid, new.text, new.subject);
END;
CREATE TRIGGER facts_ad AFTER DELETE ON facts BEGIN
    INSERT INTO facts_fts (facts_fts, rowid, text, subject) VALUES ('delete', old.rid, old.text, old.subject);
END;
CREATE TRIGGER facts_au AFTER UPDATE ON facts BEGIN
    INSERT INTO facts_fts (facts_fts, rowid, text, subject) VALUES ('delete', old.rid, old.text, old.subject);
    INSERT INTO facts_fts (rowid, text, subject) VALUES (new.rid, new.text, new.subject);
END;
";

/// Dropping the tables drops their triggers and indexes too.
const DROP: &str = "
DROP TABLE IF EXISTS meetings_fts;
DROP TABLE IF EXISTS meetings;
DROP TABLE IF EXISTS segments_fts;
DROP TABLE IF EXISTS segments;
DROP TABLE IF EXISTS facts_fts;
DROP TABLE IF EXISTS facts;
";

/// `snippet()`'s marks and length (PROTOCOL §7: matches marked `[` `]`).
const SNIPPET: &str = "snippet(segments_fts, 0, '[', ']', '…', 12)";
/// The same snippet marked with two private-use characters instead, which speech does not
/// contain, for `snippet_parts` (the brackets of `snippet` may be the text's own).
const SNIPPET_MARKED: &str = "snippet(segments_fts, 0, char(57344), char(57345), '…', 12)";
const OPEN_MARK: char = '\u{E000}';
const CLOSE_MARK: char = '\u{E001}';

/// A snippet marked with [`OPEN_MARK`] and [`CLOSE_MARK`] as pieces; `None` when the text has
/// either character itself (then which ones are marks cannot be told).
fn snippet_parts(marked: &str, text: &str) -> Option<Vec<SnippetPart>> {
    if text.contains([OPEN_MARK, CLOSE_MARK]) {
        return None;
    }
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut is_match = false;
    for piece in marked.split_inclusive([OPEN_MARK, CLOSE_MARK]) {
        let (words, mark) = match piece.strip_suffix([OPEN_MARK, CLOSE_MARK]) {
            Some(words) => (words, piece[words.len()..].chars().next()),
            None => (piece, None),
        };
        if !words.is_empty() {
            match parts.last_mut() {
                Some(last) if last.is_match == is_match => last.text.push_str(words),
                _ => parts.push(SnippetPart { text: words.to_string(), is_match }),
            }
        }
        if let Some(mark) = mark {
            is_match = mark == OPEN_MARK;
        }
    }
    Some(parts)
}

/// Whether [`Index::open`] had to rebuild, and why (the daemon logs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    pub rebuilt: bool,
    pub reason: Option<String>,
    /// When not rebuilt: how many meetings [`Index::reconcile`] re-indexed or dropped.
    pub reconciled: usize,
}

/// The open index. Not `Sync` (one SQLite connection): the daemon keeps it behind a mutex and
/// calls it from blocking threads. Writes take `&mut self`.
#[derive(Debug)]
pub struct Index {
    conn: Connection,
    path: PathBuf,
}

impl Index {
    /// Opens `index.sqlite` at `path`, rebuilding it from `store` when it is missing, corrupt
    /// (moved aside as `<name>.corrupt-<millis>` for inspection, its `-wal`/`-shm` removed) or
    /// of another [`SCHEMA_VERSION`] (replaced). Run [`MeetingStore::recover`] first, so a
    /// rebuild sees recovered meetings.
    pub fn open(path: &Path, store: &MeetingStore) -> Result<(Index, OpenReport)> {
        let reason = if !path.exists() {
            Some("missing".to_string())
        } else {
            match health(path) {
                Ok(v) if v == SCHEMA_VERSION => None,
                Ok(v) => {
                    remove_db_files(path)?;
                    Some(format!("schema version {v}, this build uses {SCHEMA_VERSION}"))
                }
                Err(why) => {
                    let aside = move_aside(path)?;
                    Some(format!("corrupt ({why}); moved aside to {}", aside.display()))
                }
            }
        };
        let conn = Connection::open(path)?;
        // WAL: readers never wait for the recorder's writes. NORMAL: a commit does not fsync
        // (a power cut may lose the last commits, which a rebuild restores from the files).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut index = Index { conn, path: path.to_path_buf() };
        let mut reconciled = 0;
        if let Some(why) = &reason {
            tracing::warn!(path = %path.display(), reason = %why, "rebuilding the index from the meeting files");
            index.rebuild(store)?;
        } else {
            reconciled = index.reconcile(store)?;
        }
        Ok((index, OpenReport { rebuilt: reason.is_some(), reason, reconciled }))
    }

    /// Brings a healthy index back in step with the files, meeting by meeting: the files are
    /// written first and the index after, so a crash in between (or a power cut, which under
    /// `synchronous = NORMAL` may drop the last commits), or a recovery that rewrote a
    /// meeting's metadata, leaves the index behind. A meeting is re-indexed from its files when
    /// its indexed metadata or segment count differs from `meeting.json`; one no longer on disk
    /// is dropped; facts are re-added when their number differs. Costs one read of each
    /// `meeting.json` (which recovery reads anyway) and of `facts.jsonl`. Returns how many
    /// meetings it re-indexed or dropped.
    pub fn reconcile(&mut self, store: &MeetingStore) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut indexed: std::collections::HashMap<String, (String, u64)> = {
            let mut stmt = tx.prepare(
                "SELECT m.id, m.metadata_json, (SELECT count(*) FROM segments s WHERE s.meeting_id = m.id)
                 FROM meetings m",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut changed = 0;
        for id in store.ids()? {
            let metadata = match store.read_metadata(&id) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(meeting = %id, error = %e, "not indexing a meeting whose metadata is unreadable");
                    continue;
                }
            };
            let json = serde_json::to_string(&metadata).expect("metadata serializes");
            if indexed.remove(&id) == Some((json, metadata.segment_count)) {
                continue;
            }
            changed += 1;
            upsert_meeting(&tx, &metadata)?;
            tx.execute("DELETE FROM segments WHERE meeting_id = ?1", [&id])?;
            match store.read_segments(&id, metadata.revision) {
                Ok(segments) => insert_segments(&tx, &id, &segments)?,
                Err(e) => {
                    tracing::warn!(meeting = %id, error = %e, "not indexing a meeting's unreadable transcript")
                }
            }
        }
        // Indexed but gone from disk (deleted while the index missed it).
        for gone in indexed.keys() {
            changed += 1;
            tx.execute("DELETE FROM segments WHERE meeting_id = ?1", [gone])?;
            tx.execute("DELETE FROM meetings WHERE id = ?1", [gone])?;
        }
        let facts = store.read_facts()?;
        let indexed_facts: u64 = tx.query_row("SELECT count(*) FROM facts", [], |r| r.get(0))?;
        if indexed_facts != facts.len() as u64 {
            for fact in &facts {
                upsert_fact(&tx, fact)?;
            }
        }
        tx.commit()?;
        if changed > 0 {
            tracing::info!(meetings = changed, "re-indexed meetings the index was behind on");
        }
        Ok(changed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Recreates the schema and fills it from every meeting's metadata, its latest revision's
    /// segments and `memory/facts.jsonl`, in one transaction: a crash midway leaves the old
    /// index (or, on a first build, a `user_version` of 0, which the next open rebuilds).
    /// Meetings whose files cannot be read are logged and skipped.
    pub fn rebuild(&mut self, store: &MeetingStore) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(DROP)?;
        tx.execute_batch(SCHEMA)?;
        for id in store.ids()? {
            let metadata = match store.read_metadata(&id) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(meeting = %id, error = %e, "not indexing a meeting whose metadata is unreadable");
                    continue;
                }
            };
            upsert_meeting(&tx, &metadata)?;
            match store.read_segments(&id, metadata.revision) {
                Ok(segments) => insert_segments(&tx, &id, &segments)?,
                Err(e) => {
                    tracing::warn!(meeting = %id, error = %e, "not indexing a meeting's unreadable transcript")
                }
            }
        }
        for fact in store.read_facts()? {
            upsert_fact(&tx, &fact)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// Adds or updates a meeting's row (call on every metadata change: `list` reads from here).
    pub fn upsert_meeting(&mut self, metadata: &MeetingMetadata) -> Result<()> {
        upsert_meeting(&self.conn, metadata)
    }

    /// Indexes one live final segment: a single autocommit insert (no fsync under WAL +
    /// NORMAL), cheap enough for every segment. A segment with an indexed `seq` replaces it.
    pub fn add_segment(&mut self, meeting_id: &str, segment: &Segment) -> Result<()> {
        insert_segments(&self.conn, meeting_id, std::slice::from_ref(segment))
    }

    /// Replaces a meeting's indexed segments by those of its new latest revision.
    pub fn replace_segments(&mut self, meeting_id: &str, segments: &[Segment]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM segments WHERE meeting_id = ?1", [meeting_id])?;
        insert_segments(&tx, meeting_id, segments)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a meeting and its segments; `false` when it was not indexed.
    pub fn delete_meeting(&mut self, id: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM segments WHERE meeting_id = ?1", [id])?;
        let n = tx.execute("DELETE FROM meetings WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Indexes a fact (after [`MeetingStore::append_fact`] made it durable).
    pub fn add_fact(&mut self, fact: &Fact) -> Result<()> {
        upsert_fact(&self.conn, fact)
    }

    /// A page of meetings, newest first (`started_at` descending, then `id` ascending), and how
    /// many there are in all. With a query, only meetings whose title or any indexed segment
    /// matches it.
    pub fn list(&self, limit: u32, offset: u32, query: Option<&str>) -> Result<(Vec<MeetingMetadata>, u64)> {
        let (rows, total) = match query {
            None => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT metadata_json FROM meetings ORDER BY started_at DESC, id LIMIT ?1 OFFSET ?2",
                )?;
                let rows = stmt.query_map(params![limit, offset], |r| r.get::<_, String>(0))?;
                let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                let total: u64 = self.conn.query_row("SELECT count(*) FROM meetings", [], |r| r.get(0))?;
                (rows, total)
            }
            Some(q) => {
                let q = fts_query(q)?;
                const MATCHING: &str = "
                    WITH hits(id) AS (
                        SELECT m.id FROM meetings_fts JOIN meetings m ON m.rid = meetings_fts.rowid
                        WHERE meetings_fts MATCH ?1
                        UNION
                        SELECT s.meeting_id FROM segments_fts JOIN segments s ON s.rid = segments_fts.rowid
                        WHERE segments_fts MATCH ?1
                    )";
                let mut stmt = self.conn.prepare_cached(&format!(
                    "{MATCHING} SELECT metadata_json FROM meetings WHERE id IN (SELECT id FROM hits)
                     ORDER BY started_at DESC, id LIMIT ?2 OFFSET ?3"
                ))?;
                let rows = stmt.query_map(params![q, limit, offset], |r| r.get::<_, String>(0))?;
                let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                let total: u64 = self.conn.query_row(
                    &format!("{MATCHING} SELECT count(*) FROM meetings WHERE id IN (SELECT id FROM hits)"),
                    [&q],
                    |r| r.get(0),
                )?;
                (rows, total)
            }
        };
        let meetings = rows
            .iter()
            .map(|json| {
                serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    reason: format!("metadata_json: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((meetings, total))
    }

    /// Full-text search over the latest revision of every meeting, best first (score = -bm25).
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let q = fts_query(query)?;
        // One step. Ranking first and making the snippets of the kept rows only, with a second
        // MATCH on each kept rowid, measured 2.6x slower (FTS5 reads the query's doclists again
        // for every row; BENCHMARKS.md, meeting.search).
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT s.meeting_id, coalesce(m.title, ''), s.seq, s.t0_ms, s.text, {SNIPPET}, {SNIPPET_MARKED},
                    bm25(segments_fts) AS rank
             FROM segments_fts JOIN segments s ON s.rid = segments_fts.rowid
             LEFT JOIN meetings m ON m.id = s.meeting_id
             WHERE segments_fts MATCH ?1
             ORDER BY rank, s.meeting_id, s.seq LIMIT ?2"
        ))?;
        let hits = stmt.query_map(params![q, limit], |r| {
            let text: String = r.get(4)?;
            let marked: String = r.get(6)?;
            Ok(SearchHit {
                meeting_id: r.get(0)?,
                title: r.get(1)?,
                seq: r.get(2)?,
                t0_ms: r.get(3)?,
                snippet_parts: snippet_parts(&marked, &text),
                text,
                snippet: r.get(5)?,
                score: -r.get::<_, f64>(7)?,
            })
        })?;
        Ok(hits.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// `memory.query`: segments and facts matching `query`, merged by score, the best `k`.
    /// `meeting_id` keeps that meeting's segments only (facts belong to no meeting, so none
    /// are returned then); `since` keeps what was stored at or after it (see the module doc
    /// on comparing timestamps).
    pub fn memory_query(
        &self,
        query: &str,
        k: u32,
        meeting_id: Option<&str>,
        since: Option<&str>,
    ) -> Result<Vec<MemoryHit>> {
        let q = fts_query(query)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.meeting_id, s.source, s.t0_ms, s.timestamp, s.text, bm25(segments_fts) AS rank
             FROM segments_fts JOIN segments s ON s.rid = segments_fts.rowid
             WHERE segments_fts MATCH ?1 AND (?2 IS NULL OR s.meeting_id = ?2)
               AND (?3 IS NULL OR s.timestamp >= ?3)
             ORDER BY rank, s.meeting_id, s.seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![q, meeting_id, since, k], |r| {
            let meeting: String = r.get(0)?;
            let source: String = r.get(1)?;
            Ok(MemoryHit {
                kind: MemoryKind::Segment,
                speaker: Some(format!("meeting/{meeting}/{source}")),
                meeting_id: Some(meeting),
                t0_ms: Some(r.get(2)?),
                timestamp: r.get(3)?,
                text: r.get(4)?,
                score: -r.get::<_, f64>(5)?,
            })
        })?;
        let mut hits = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if meeting_id.is_none() {
            let mut stmt = self.conn.prepare_cached(
                "SELECT f.text, f.subject, f.timestamp, bm25(facts_fts) AS rank
                 FROM facts_fts JOIN facts f ON f.rid = facts_fts.rowid
                 WHERE facts_fts MATCH ?1 AND (?2 IS NULL OR f.timestamp >= ?2)
                 ORDER BY rank, f.rid LIMIT ?3",
            )?;
            let facts = stmt.query_map(params![q, since, k], |r| {
                Ok(MemoryHit {
                    kind: MemoryKind::Fact,
                    text: r.get(0)?,
                    speaker: r.get(1)?,
                    meeting_id: None,
                    t0_ms: None,
                    timestamp: r.get(2)?,
                    score: -r.get::<_, f64>(3)?,
                })
            })?;
            hits.extend(facts.collect::<rusqlite::Result<Vec<_>>>()?);
            // Stable: on a tie, segments (already in order) stay before facts.
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            hits.truncate(k as usize);
        }
        Ok(hits)
    }

    /// `memory.fact_count`: facts, and segments indexed (latest revisions).
    pub fn counts(&self) -> Result<FactCount> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM facts), (SELECT count(*) FROM segments)",
            [],
            |r| Ok(FactCount { facts: r.get(0)?, segments: r.get(1)? }),
        )?)
    }
}

// The helpers take a `Connection`; a `Transaction` derefs to one.
fn upsert_meeting(conn: &Connection, m: &MeetingMetadata) -> Result<()> {
    // Infallible: a struct of strings, numbers and lists.
    let json = serde_json::to_string(m).expect("metadata serializes");
    conn.prepare_cached(
        "INSERT INTO meetings (id, started_at, title, metadata_json) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET
             started_at = excluded.started_at, title = excluded.title, metadata_json = excluded.metadata_json",
    )?
    .execute(params![m.id, m.started_at, m.title, json])?;
    Ok(())
}

fn insert_segments(conn: &Connection, meeting_id: &str, segments: &[Segment]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO segments (meeting_id, seq, source, role, t0_ms, t1_ms, timestamp, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (meeting_id, seq) DO UPDATE SET
             source = excluded.source, role = excluded.role, t0_ms = excluded.t0_ms,
             t1_ms = excluded.t1_ms, timestamp = excluded.timestamp, text = excluded.text",
    )?;
    for s in segments {
        stmt.execute(params![meeting_id, s.seq, s.source, s.role, s.t0_ms, s.t1_ms, s.timestamp, s.text])?;
    }
    Ok(())
}

fn upsert_fact(conn: &Connection, f: &Fact) -> Result<()> {
    let tags = serde_json::to_string(&f.tags).expect("a list of strings serializes");
    conn.prepare_cached(
        "INSERT INTO facts (fact_id, text, subject, tags_json, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (fact_id) DO UPDATE SET
             text = excluded.text, subject = excluded.subject, tags_json = excluded.tags_json,
             timestamp = excluded.timestamp",
    )?
    .execute(params![f.fact_id, f.text, f.subject, tags, f.timestamp])?;
    Ok(())
}

/// The schema version of a healthy database at `path`, or why it is not one.
fn health(path: &Path) -> std::result::Result<i32, String> {
    let check = || -> rusqlite::Result<std::result::Result<i32, String>> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let verdict: Option<String> = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).optional()?;
        if verdict.as_deref() != Some("ok") {
            return Ok(Err(format!("quick_check: {}", verdict.unwrap_or_default())));
        }
        Ok(Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    };
    check().unwrap_or_else(|e| Err(e.to_string()))
}

/// `-wal` and `-shm` beside `path`.
fn sidecars(path: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    [with("-wal"), with("-shm")]
}

fn remove_db_files(path: &Path) -> Result<()> {
    for p in std::iter::once(path.to_path_buf()).chain(sidecars(path)) {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Io { path: p, source: e });
            }
            _ => {}
        }
    }
    Ok(())
}

fn move_aside(path: &Path) -> Result<PathBuf> {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".corrupt-{}", now_millis()));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside).at(path)?;
    // The sidecars belong to the corrupt file; next to a fresh one SQLite would replay them.
    remove_db_files(path)?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting_files::tests::meta;
    use crate::transcript::tests::seg;
    use hark_protocol::meeting::MeetingStatus;

    fn seg_at(seq: u64, text: &str, timestamp: &str) -> Segment {
        Segment { timestamp: timestamp.into(), ..seg(seq, text) }
    }

    fn fact(id: &str, text: &str, subject: Option<&str>, timestamp: &str) -> Fact {
        Fact {
            fact_id: id.into(),
            text: text.into(),
            subject: subject.map(str::to_string),
            tags: vec!["t".into()],
            timestamp: timestamp.into(),
        }
    }

    /// Three meetings on disk (one with a second revision) and two facts.
    fn fixture(dir: &Path) -> MeetingStore {
        let store = MeetingStore::new(dir);
        // Segment counts as the daemon keeps them (reconcile compares them with the index).
        let mut a = meta("a", "Budget review", "2026-01-01T09:00:00.000Z");
        a.status = MeetingStatus::Stopped;
        a.segment_count = 2;
        store.create(&a).unwrap();
        let mut w = store.open_live_transcript("a").unwrap();
        w.append(&seg_at(0, "we need to cut the travel line", "2026-01-01T09:00:01.000Z")).unwrap();
        w.append(&seg_at(1, "the roadmap slips a quarter", "2026-01-01T09:00:02.000Z")).unwrap();
        let b = MeetingMetadata { segment_count: 1, ..meta("b", "Standup", "2026-01-02T09:00:00.000Z") };
        store.create(&b).unwrap();
        let mut w = store.open_live_transcript("b").unwrap();
        w.append(&seg_at(0, "the budget is fine", "2026-01-02T09:00:01.000Z")).unwrap();
        let mut c = meta("c", "Retro", "2026-01-03T09:00:00.000Z");
        store.create(&c).unwrap();
        let mut w = store.open_live_transcript("c").unwrap();
        w.append(&seg_at(0, "old words zebra", "2026-01-03T09:00:01.000Z")).unwrap();
        // Revision 2 is the latest: only it is indexed.
        store.write_revision("c", 2, &[seg_at(0, "new words giraffe", "2026-01-03T10:00:00.000Z")]).unwrap();
        c.revision = 2;
        c.segment_count = 1;
        store.write_metadata(&c).unwrap();
        store
            .append_fact(&fact("f1", "Alice owns the budget", Some("alice"), "2026-01-01T00:00:00.000Z"))
            .unwrap();
        store
            .append_fact(&fact("f2", "The office moves in March", None, "2026-02-01T00:00:00.000Z"))
            .unwrap();
        store
    }

    /// Everything of [`fixture`] is searchable.
    fn assert_all_there(index: &Index) {
        let (meetings, total) = index.list(10, 0, None).unwrap();
        assert_eq!(total, 3);
        assert_eq!(meetings.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        assert_eq!(index.counts().unwrap(), FactCount { facts: 2, segments: 4 });
        assert_eq!(index.search("travel", 10).unwrap().len(), 1);
        assert_eq!(index.search("giraffe", 10).unwrap().len(), 1);
        assert!(index.search("zebra", 10).unwrap().is_empty(), "revision 1 of c is not indexed");
        let facts = index.memory_query("march office", 8, None, None).unwrap();
        assert_eq!(facts.len(), 1);
    }

    #[test]
    fn fts5_is_compiled_in() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x)").unwrap();
        let on: i64 =
            conn.query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| r.get(0)).unwrap();
        assert_eq!(on, 1);
    }

    #[test]
    fn rebuilds_when_missing_then_reopens_without() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let path = store.layout().index();
        let (index, report) = Index::open(&path, &store).unwrap();
        assert!(report.rebuilt);
        assert_eq!(report.reason.as_deref(), Some("missing"));
        assert_all_there(&index);
        drop(index);
        let (index, report) = Index::open(&path, &store).unwrap();
        assert_eq!(report, OpenReport { rebuilt: false, reason: None, reconciled: 0 });
        assert_all_there(&index);
    }

    #[test]
    fn reopening_catches_up_with_files_the_index_missed() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let path = store.layout().index();
        let (mut index, _) = Index::open(&path, &store).unwrap();
        // A crash between the file writes and the index writes: a segment, a recovery's
        // metadata change, a new meeting, a deletion and a fact the index never heard of.
        let mut w = store.open_live_transcript("b").unwrap();
        w.append(&seg_at(1, "missed hippo line", "2026-01-02T09:00:03.000Z")).unwrap();
        let mut b = store.read_metadata("b").unwrap();
        b.status = MeetingStatus::Interrupted;
        b.segment_count = 2;
        store.write_metadata(&b).unwrap();
        store.create(&meta("e", "Unseen", "2026-01-05T09:00:00.000Z")).unwrap();
        store.delete("a").unwrap();
        store.append_fact(&fact("f9", "Carol likes tea", None, "2026-03-01T00:00:00.000Z")).unwrap();
        index.add_fact(&fact("f9", "Carol likes tea", None, "2026-03-01T00:00:00.000Z")).unwrap();
        store.append_fact(&fact("f10", "Dave likes coffee", None, "2026-03-02T00:00:00.000Z")).unwrap();
        drop(index);

        let (index, report) = Index::open(&path, &store).unwrap();
        assert!(!report.rebuilt);
        assert_eq!(report.reconciled, 3, "b changed, e new, a gone");
        let (meetings, total) = index.list(10, 0, None).unwrap();
        assert_eq!(total, 3);
        assert_eq!(meetings.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["e", "c", "b"]);
        assert_eq!(meetings[2].status, MeetingStatus::Interrupted);
        assert_eq!(index.search("hippo", 10).unwrap().len(), 1);
        assert!(index.search("travel", 10).unwrap().is_empty());
        assert_eq!(index.counts().unwrap(), FactCount { facts: 4, segments: 3 });
        drop(index);
        assert_eq!(Index::open(&path, &store).unwrap().1.reconciled, 0, "in step now");
    }

    #[test]
    fn rebuilds_when_garbage_and_keeps_the_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let path = store.layout().index();
        std::fs::write(&path, vec![0xa5u8; 8192]).unwrap();
        std::fs::write(dir.path().join("index.sqlite-wal"), b"junk").unwrap();
        let (index, report) = Index::open(&path, &store).unwrap();
        assert!(report.rebuilt);
        assert!(report.reason.as_deref().unwrap().starts_with("corrupt"), "{report:?}");
        assert_all_there(&index);
        let aside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("index.sqlite.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), vec![0xa5u8; 8192]);
    }

    #[test]
    fn rebuilds_when_the_schema_version_differs() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let path = store.layout().index();
        {
            // An older build's index: other tables, another version, stale rows.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE meetings (id TEXT); INSERT INTO meetings VALUES ('stale');")
                .unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        }
        let (index, report) = Index::open(&path, &store).unwrap();
        assert!(report.rebuilt);
        assert!(report.reason.as_deref().unwrap().contains("schema version"), "{report:?}");
        assert_all_there(&index);
        drop(index);
        assert!(!Index::open(&path, &store).unwrap().1.rebuilt);
    }

    #[test]
    fn live_updates_replace_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let (mut index, _) = Index::open(&store.layout().index(), &store).unwrap();
        let mut d = meta("d", "Planning", "2026-01-04T09:00:00.000Z");
        index.upsert_meeting(&d).unwrap();
        index.add_segment("d", &seg(0, "first draft of the plan")).unwrap();
        index.add_segment("d", &seg(1, "second point")).unwrap();
        // The same seq again replaces, never duplicates.
        index.add_segment("d", &seg(1, "second point revised")).unwrap();
        assert_eq!(index.search("second", 10).unwrap().len(), 1);
        assert_eq!(index.search("revised", 10).unwrap().len(), 1);
        d.title = "Quarterly planning".into();
        index.upsert_meeting(&d).unwrap();
        assert_eq!(index.list(10, 0, Some("quarterly")).unwrap().1, 1);
        assert_eq!(index.list(10, 0, None).unwrap().0[0].title, "Quarterly planning");
        index.replace_segments("d", &[seg(0, "entirely new text")]).unwrap();
        assert!(index.search("draft", 10).unwrap().is_empty());
        assert_eq!(index.search("entirely", 10).unwrap()[0].meeting_id, "d");
        assert!(index.delete_meeting("d").unwrap());
        assert!(!index.delete_meeting("d").unwrap());
        assert!(index.search("entirely", 10).unwrap().is_empty());
        assert_eq!(index.list(10, 0, Some("quarterly")).unwrap().1, 0);
        index.add_fact(&fact("f3", "Bob prefers mornings", Some("bob"), "2026-03-01T00:00:00.000Z")).unwrap();
        assert_eq!(index.counts().unwrap(), FactCount { facts: 3, segments: 4 });
    }

    #[test]
    fn list_pages_newest_first_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let (mut index, _) = Index::open(&store.layout().index(), &store).unwrap();
        // A tie on started_at is broken by id.
        index.upsert_meeting(&meta("b0", "Other", "2026-01-02T09:00:00.000Z")).unwrap();
        let ids = |v: Vec<MeetingMetadata>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        let (page, total) = index.list(2, 0, None).unwrap();
        assert_eq!((ids(page), total), (vec!["c".to_string(), "b".into()], 4));
        let (page, total) = index.list(2, 2, None).unwrap();
        assert_eq!((ids(page), total), (vec!["b0".to_string(), "a".into()], 4));
        assert_eq!(index.list(2, 9, None).unwrap(), (vec![], 4));
        // "budget": a's title, b's segment; the total ignores the page.
        let (page, total) = index.list(1, 0, Some("budget")).unwrap();
        assert_eq!((ids(page), total), (vec!["b".to_string()], 2));
        let (page, total) = index.list(1, 1, Some("Budget")).unwrap();
        assert_eq!((ids(page), total), (vec!["a".to_string()], 2));
        // Prefix while typing, stemming ("slips" ~ "slip").
        assert_eq!(ids(index.list(10, 0, Some("roadm")).unwrap().0), ["a"]);
        assert_eq!(ids(index.list(10, 0, Some("slip ")).unwrap().0), ["a"]);
        assert_eq!(index.list(10, 0, Some("nothing matches this")).unwrap(), (vec![], 0));
        assert!(matches!(index.list(10, 0, Some(" \" ")), Err(StoreError::EmptyQuery)));
    }

    #[test]
    fn a_hit_names_its_meeting_and_its_snippet_comes_in_parts_brackets_and_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        let (mut index, _) = Index::open(&store.layout().index(), &store).unwrap();
        index.upsert_meeting(&meta("m", "Quarterly planning", "2026-01-01T00:00:00.000Z")).unwrap();
        // The speaker's own brackets, around and next to a match: `snippet` cannot tell them
        // from its marks; the parts can.
        index.add_segment("m", &seg(0, "[laughs] the [budget] is budget-ish")).unwrap();
        let hit = index.search("budget", 10).unwrap().remove(0);
        assert_eq!(hit.title, "Quarterly planning");
        assert_eq!(hit.snippet, "[laughs] the [[budget]] is [budget]-ish");
        let parts = hit.snippet_parts.unwrap();
        let pieces: Vec<(&str, bool)> = parts.iter().map(|p| (p.text.as_str(), p.is_match)).collect();
        assert_eq!(
            pieces,
            [
                ("[laughs] the [", false),
                ("budget", true),
                ("] is ", false),
                ("budget", true),
                ("-ish", false)
            ]
        );
        assert_eq!(parts.iter().map(|p| p.text.as_str()).collect::<String>(), hit.text);
        // A text with one of the index's own marks: no parts, the snippet as ever.
        index.add_segment("m", &seg(1, "odd \u{E000} budget")).unwrap();
        let odd = index.search("budget", 10).unwrap().into_iter().find(|h| h.seq == 1).unwrap();
        assert_eq!(odd.snippet_parts, None);
        assert_eq!(odd.snippet, "odd \u{E000} [budget]");
        // On the wire: `match`, and no `snippet_parts` key when there are none.
        let wire = serde_json::to_value(&odd).unwrap();
        assert!(wire.get("snippet_parts").is_none(), "{wire}");
        let wire = serde_json::to_value(index.search("laughs", 1).unwrap().remove(0)).unwrap();
        assert_eq!(wire["snippet_parts"][0], serde_json::json!({"text": "[", "match": false}));
        assert_eq!(wire["title"], "Quarterly planning");
        // A segment whose meeting has no row (never the daemon's case): found, with no title.
        index.add_segment("orphan", &seg(0, "budget alone")).unwrap();
        let orphan = index.search("alone", 10).unwrap().remove(0);
        assert_eq!((orphan.meeting_id.as_str(), orphan.title.as_str()), ("orphan", ""));
    }

    #[test]
    fn search_ranks_marks_and_survives_hostile_queries() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        let (mut index, _) = Index::open(&store.layout().index(), &store).unwrap();
        index.upsert_meeting(&meta("m", "t", "2026-01-01T00:00:00.000Z")).unwrap();
        index.add_segment("m", &seg(0, "a budget line and other words here")).unwrap();
        // Same length in tokens (7), so only the term frequency differs.
        index.add_segment("m", &seg(1, "budget talk: the budget again, words here")).unwrap();
        index.add_segment("m", &seg(2, "nothing relevant at all in this one")).unwrap();
        let hits = index.search("budget", 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.seq).collect::<Vec<_>>(), [1, 0]);
        assert!(hits[0].score > hits[1].score && hits[1].score > 0.0);
        assert_eq!(hits[0].text, "budget talk: the budget again, words here");
        assert_eq!(hits[0].t0_ms, 1000);
        assert!(hits[0].snippet.contains("[budget]"), "{}", hits[0].snippet);
        assert!(hits[1].snippet.contains("[budget]"), "{}", hits[1].snippet);
        assert_eq!(index.search("budget", 1).unwrap().len(), 1);
        // A long segment's snippet is cut with an ellipsis.
        let long = format!("{} budget {}", "word ".repeat(30), "more ".repeat(30));
        index.add_segment("m", &seg(3, &long)).unwrap();
        let hit = index.search("budget", 10).unwrap().into_iter().find(|h| h.seq == 3).unwrap();
        assert!(hit.snippet.starts_with('…') && hit.snippet.ends_with('…'), "{}", hit.snippet);
        assert!(hit.snippet.len() < long.len() / 2);
        let parts = hit.snippet_parts.as_ref().unwrap();
        assert!(parts[0].text.starts_with("…word ") && !parts[0].is_match, "{parts:?}");
        assert_eq!(
            parts.iter().filter(|p| p.is_match).map(|p| p.text.as_str()).collect::<Vec<_>>(),
            ["budget"]
        );
        assert!(parts.last().unwrap().text.ends_with('…'));
        for hostile in [
            "\"",
            "OR",
            "NEAR(",
            "*",
            "-",
            "a OR \"",
            "budget\" OR \"x",
            "NOT budget",
            "col:budget",
            "^budget",
            "(budget",
        ] {
            match index.search(hostile, 10) {
                Ok(_) | Err(StoreError::EmptyQuery) => {}
                Err(e) => panic!("{hostile:?}: {e}"),
            }
            match index.memory_query(hostile, 8, None, None) {
                Ok(_) | Err(StoreError::EmptyQuery) => {}
                Err(e) => panic!("{hostile:?}: {e}"),
            }
            match index.list(10, 0, Some(hostile)) {
                Ok(_) | Err(StoreError::EmptyQuery) => {}
                Err(e) => panic!("{hostile:?}: {e}"),
            }
        }
        assert!(matches!(index.search("\"", 10), Err(StoreError::EmptyQuery)));
        // Operators are words: "NOT budget" needs the word "not" too.
        assert!(index.search("NOT budget", 10).unwrap().is_empty());
        assert_eq!(index.search("(budget", 10).unwrap().len(), 3);
    }

    #[test]
    fn memory_query_merges_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = fixture(dir.path());
        let (index, _) = Index::open(&store.layout().index(), &store).unwrap();
        let hits = index.memory_query("budget", 8, None, None).unwrap();
        assert_eq!(hits.len(), 2, "{hits:?}");
        let seg_hit = hits.iter().find(|h| h.kind == MemoryKind::Segment).unwrap();
        assert_eq!(seg_hit.meeting_id.as_deref(), Some("b"));
        assert_eq!(seg_hit.speaker.as_deref(), Some("meeting/b/mic"));
        assert_eq!(seg_hit.t0_ms, Some(0));
        assert_eq!(seg_hit.timestamp, "2026-01-02T09:00:01.000Z");
        let fact_hit = hits.iter().find(|h| h.kind == MemoryKind::Fact).unwrap();
        assert_eq!(fact_hit.speaker.as_deref(), Some("alice"));
        assert_eq!((fact_hit.meeting_id.as_deref(), fact_hit.t0_ms), (None, None));
        assert!(hits[0].score >= hits[1].score);
        // The subject is searchable.
        assert_eq!(index.memory_query("alice", 8, None, None).unwrap().len(), 1);
        // k bounds the merged list.
        assert_eq!(index.memory_query("budget", 1, None, None).unwrap().len(), 1);
        // By meeting: only its segments, no facts.
        let only_b = index.memory_query("budget", 8, Some("b"), None).unwrap();
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].kind, MemoryKind::Segment);
        assert!(index.memory_query("budget", 8, Some("a"), None).unwrap().is_empty());
        // Since: the segment (2026-01-02) stays, the fact (2026-01-01) goes.
        let since = index.memory_query("budget", 8, None, Some("2026-01-01T12:00:00.000Z")).unwrap();
        assert_eq!(since.iter().map(|h| h.kind).collect::<Vec<_>>(), [MemoryKind::Segment]);
        assert!(index.memory_query("budget", 8, None, Some("2026-01-02T09:00:01.001Z")).unwrap().is_empty());
        let exact = index.memory_query("budget", 8, None, Some("2026-01-02T09:00:01.000Z")).unwrap();
        assert_eq!(exact.len(), 1, "since is inclusive");
        assert!(index.memory_query("budget", 0, None, None).unwrap().is_empty());
    }
}
