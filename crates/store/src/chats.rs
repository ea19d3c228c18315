//! Chat history (PROTOCOL §13, §16): `chats/<agent>/<session_id>.jsonl`, one file per chat
//! session, appended as turns complete, so the window shows past conversations after a restart.
//!
//! Line 1 is a header `{"kind":"session","session_id","agent_id","started_at"}`; every other
//! line is `{"kind":"turn", ...ChatTurn}`. Files are 0600 in 0700 directories. A torn last line
//! (a crash mid-append) is skipped when read; a bad line in the middle is skipped and logged.
//!
//! The agent id comes from a client, so its directory name is [`agent_dir_name`] of
//! it, as for run traces (the header keeps the real id). Session ids are checked by [`is_valid_session_id`] before they are
//! joined into a path.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hark_protocol::chat::{ChatSession, ChatTurn};
use serde::{Deserialize, Serialize};

use hark_runs::agent_dir_name;

use crate::durable::{create_dir_private, open_append_private};
use crate::{IoContext, Result};

pub const CHATS_DIR: &str = "chats";

/// A chat session id Hark accepts: 1 to 128 of `[A-Za-z0-9_-]` (what it mints, or a host's own).
pub fn is_valid_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Session { session_id: String, agent_id: String, started_at: String },
    Turn(ChatTurn),
}

/// The chat files under one data dir.
#[derive(Debug, Clone)]
pub struct ChatLog {
    root: PathBuf,
}

impl ChatLog {
    pub fn new(data_dir: &Path) -> Self {
        ChatLog { root: data_dir.join(CHATS_DIR) }
    }

    fn file(&self, agent_id: &str, session_id: &str) -> PathBuf {
        debug_assert!(is_valid_session_id(session_id));
        self.root.join(agent_dir_name(agent_id)).join(format!("{session_id}.jsonl"))
    }

    /// True when `session_id` of `agent_id` has a history file.
    pub fn exists(&self, agent_id: &str, session_id: &str) -> bool {
        is_valid_session_id(session_id) && self.file(agent_id, session_id).is_file()
    }

    /// Appends `turns` to the session's file, creating it (with its header) when new. One
    /// `write_all` for everything, then flushed to the OS.
    pub fn append(&self, agent_id: &str, session_id: &str, turns: &[ChatTurn]) -> Result<()> {
        if !is_valid_session_id(session_id) {
            return Err(crate::StoreError::InvalidId(session_id.to_string()));
        }
        let path = self.file(agent_id, session_id);
        let dir = path.parent().expect("a file in a directory");
        create_dir_private(dir)?;
        let mut file = open_append_private(&path)?;
        let mut bytes = Vec::new();
        if file.metadata().at(&path)?.len() == 0 {
            let started_at = turns.first().map_or_else(hark_protocol::time::now_rfc3339, |t| t.at.clone());
            let header = Line::Session {
                session_id: session_id.to_string(),
                agent_id: agent_id.to_string(),
                started_at,
            };
            push_line(&mut bytes, &header);
        }
        for turn in turns {
            push_line(&mut bytes, &Line::Turn(turn.clone()));
        }
        file.write_all(&bytes).at(&path)
    }

    /// Sessions newest first (by their last turn), optionally of one agent and/or one session,
    /// at most `limit`. `active` is false in what this returns (the daemon knows its routes).
    pub fn sessions(
        &self,
        agent_id: Option<&str>,
        session_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChatSession>> {
        let dirs: Vec<PathBuf> = match agent_id {
            Some(agent) => vec![self.root.join(agent_dir_name(agent))],
            None => match fs::read_dir(&self.root) {
                Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e).at(&self.root),
            },
        };
        let mut sessions = Vec::new();
        for dir in dirs {
            let files: Vec<PathBuf> = match session_id {
                Some(id) if is_valid_session_id(id) => vec![dir.join(format!("{id}.jsonl"))],
                Some(_) => Vec::new(),
                None => match fs::read_dir(&dir) {
                    Ok(entries) => entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                        .collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => return Err(e).at(&dir),
                },
            };
            for file in files {
                // Two ids can share a directory on a case-insensitive file system: the header says whose.
                if let Some(session) = read_session(&file)?
                    && agent_id.is_none_or(|a| a == session.agent_id)
                {
                    sessions.push(session);
                }
            }
        }
        sessions
            .sort_by(|a, b| b.last_active_at.cmp(&a.last_active_at).then(a.session_id.cmp(&b.session_id)));
        sessions.truncate(limit);
        Ok(sessions)
    }
}

fn push_line(bytes: &mut Vec<u8>, line: &Line) {
    serde_json::to_writer(&mut *bytes, line).expect("chat lines serialize");
    bytes.push(b'\n');
}

/// One session's file; `None` when it is missing or has no readable header.
fn read_session(path: &Path) -> Result<Option<ChatSession>> {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(path),
    };
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    let mut lines = complete.lines();
    let Some(Ok(Line::Session { session_id, agent_id, started_at })) =
        lines.next().map(serde_json::from_str::<Line>)
    else {
        tracing::warn!(file = %path.display(), "a chat history file without its header; skipped");
        return Ok(None);
    };
    let mut turns = Vec::new();
    for (n, line) in lines.enumerate() {
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Turn(turn)) => turns.push(turn),
            _ => {
                tracing::warn!(file = %path.display(), line = n + 2, "an unreadable chat history line; skipped")
            }
        }
    }
    let last_active_at = turns.last().map_or_else(|| started_at.clone(), |t| t.at.clone());
    Ok(Some(ChatSession { session_id, agent_id, started_at, last_active_at, active: false, turns }))
}

#[cfg(test)]
mod tests {
    use hark_protocol::chat::ChatRole;

    use super::*;

    fn turn(role: ChatRole, text: &str, at: &str) -> ChatTurn {
        ChatTurn {
            role,
            text: text.into(),
            tool_calls: vec![],
            error: None,
            ended: None,
            truncated: false,
            at: at.into(),
        }
    }

    #[test]
    fn appends_and_reads_back_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = ChatLog::new(dir.path());
        log.append("agent/one", "s1", &[turn(ChatRole::User, "hi", "2026-01-01T00:00:00.000Z")]).unwrap();
        log.append("agent/one", "s1", &[turn(ChatRole::Agent, "hello", "2026-01-01T00:00:01.000Z")]).unwrap();
        log.append("other", "s2", &[turn(ChatRole::User, "later", "2026-01-02T00:00:00.000Z")]).unwrap();
        let all = log.sessions(None, None, 10).unwrap();
        assert_eq!(all.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), ["s2", "s1"]);
        assert_eq!(all[1].agent_id, "agent/one");
        assert_eq!(all[1].turns.len(), 2);
        assert_eq!(all[1].started_at, "2026-01-01T00:00:00.000Z");
        assert_eq!(all[1].last_active_at, "2026-01-01T00:00:01.000Z");
        let one = log.sessions(Some("agent/one"), Some("s1"), 10).unwrap();
        assert_eq!(one.len(), 1);
        assert!(log.exists("agent/one", "s1") && !log.exists("agent/one", "s2"));
        assert_eq!(log.sessions(None, None, 1).unwrap().len(), 1);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = ChatLog::new(dir.path());
        log.append("a", "s", &[turn(ChatRole::User, "hi", "2026-01-01T00:00:00.000Z")]).unwrap();
        let path = log.file("a", "s");
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"kind\":\"turn\",\"role\":\"ag").unwrap();
        let s = log.sessions(Some("a"), None, 10).unwrap();
        assert_eq!(s[0].turns.len(), 1);
    }

    #[test]
    fn ids_never_escape_the_chats_dir() {
        let dir = tempfile::tempdir().unwrap();
        let log = ChatLog::new(dir.path());
        log.append("../../x", "s", &[turn(ChatRole::User, "hi", "2026-01-01T00:00:00.000Z")]).unwrap();
        let agents: Vec<_> = fs::read_dir(dir.path().join(CHATS_DIR)).unwrap().collect();
        assert_eq!(agents.len(), 1, "the agent id stayed one directory inside chats/");
        assert!(!dir.path().join("x").exists());
        for bad in ["", "../x", "a.b", "a/b", &"x".repeat(129)] {
            assert!(!is_valid_session_id(bad), "{bad:?}");
        }
        assert!(is_valid_session_id("chat-0123_abc"));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = ChatLog::new(dir.path());
        log.append("a", "s", &[turn(ChatRole::User, "hi", "2026-01-01T00:00:00.000Z")]).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&log.file("a", "s")), 0o600);
        assert_eq!(mode(log.file("a", "s").parent().unwrap()), 0o700);
    }
}
