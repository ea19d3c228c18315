//! Identifier rules shared by every method (PROTOCOL §4, §6.1, §7).

/// Agent and voice-session ids: `^[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127}$`.
pub fn is_valid_agent_id(id: &str) -> bool {
    is_valid_id(id, 128, |c| c == '.' || c == ':')
}

/// Meeting ids: `^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$` (never `.` or `..`: ids become paths).
pub fn is_valid_meeting_id(id: &str) -> bool {
    is_valid_id(id, 64, |c| c == '.')
}

fn is_valid_id(id: &str, max_len: usize, extra: impl Fn(char) -> bool) -> bool {
    let mut chars = id.chars();
    let Some(first) = chars.next() else { return false };
    let base = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    id.len() <= max_len && base(first) && chars.all(|c| base(c) || extra(c))
}

/// Where an id becomes a file name, `:` is written as `_` (PROTOCOL §4).
pub fn id_to_file_name(id: &str) -> String {
    id.replace(':', "_")
}

/// 12 lowercase hex chars of a fresh UUIDv4-style random value, as CAR mints session and
/// proposal ids. Takes the 16 random bytes from the caller so this crate stays I/O-free.
pub fn short_hex_id(random: [u8; 16]) -> String {
    random[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids() {
        assert!(is_valid_agent_id("agent-1"));
        assert!(is_valid_agent_id("_a.b:c"));
        assert!(!is_valid_agent_id(""));
        assert!(!is_valid_agent_id(".hidden"));
        assert!(!is_valid_agent_id("a/b"));
        assert!(!is_valid_agent_id(&"a".repeat(129)));
        assert!(is_valid_agent_id(&"a".repeat(128)));
    }

    #[test]
    fn meeting_ids_never_dot_paths() {
        assert!(!is_valid_meeting_id("."));
        assert!(!is_valid_meeting_id(".."));
        assert!(!is_valid_meeting_id("a:b"));
        assert!(is_valid_meeting_id("standup-2026.11"));
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_hex_id([0xab; 16]), "abababababab");
        assert_eq!(id_to_file_name("a:b:c"), "a_b_c");
    }
}
