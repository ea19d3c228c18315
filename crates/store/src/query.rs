//! User search text to an FTS5 query. Users type words, not FTS5 syntax: the text is cut into
//! tokens (runs of alphanumeric chars, which is how the `unicode61` tokenizer splits too), each
//! is quoted as an FTS5 string and they are ANDed, so `a OR "`, `NEAR(` or `*` are just words
//! (or nothing) and MATCH never sees an operator from the user. The last token is a prefix
//! (`"tok"*`) while it is still being typed (the text does not end in a separator), so results
//! follow typing-as-you-search.

use crate::{Result, StoreError};

pub(crate) fn fts_query(text: &str) -> Result<String> {
    let tokens: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
    let Some(last) = tokens.len().checked_sub(1) else { return Err(StoreError::EmptyQuery) };
    let typing = text.chars().next_back().is_some_and(char::is_alphanumeric);
    let quoted: Vec<String> = tokens
        .iter()
        .enumerate()
        // Tokens are alphanumeric only, so there is no `"` to escape inside the quotes.
        .map(|(i, t)| if i == last && typing { format!("\"{t}\"*") } else { format!("\"{t}\"") })
        .collect();
    Ok(quoted.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_anded() {
        assert_eq!(fts_query("budget review").unwrap(), r#""budget" AND "review"*"#);
        assert_eq!(fts_query("budget review ").unwrap(), r#""budget" AND "review""#);
        assert_eq!(fts_query("a OR \"").unwrap(), r#""a" AND "OR""#);
        assert_eq!(fts_query("NEAR(x").unwrap(), r#""NEAR" AND "x"*"#);
        assert_eq!(fts_query("Grüße, naïve").unwrap(), r#""Grüße" AND "naïve"*"#);
        for empty in ["", "   ", "\"", "*", "-", "()", "^"] {
            assert!(matches!(fts_query(empty), Err(StoreError::EmptyQuery)), "{empty:?}");
        }
    }
}
