//! Stable partials by LocalAgreement-2 (Macháček et al., whisper_streaming): each partial decode
//! of an open segment is a hypothesis for the whole segment so far; the words on which the last
//! two hypotheses agree, from the start, are committed and never change again in this segment's
//! partials. A partial shows the committed words, then the newest hypothesis's words after them
//! (the tentative tail). Without it tiny.en rewrites early words of a growing segment from one
//! partial to the next, and a reader sees the text jump.
//!
//! Words are compared without case and punctuation ("Americans." agrees with "Americans"); a
//! committed word keeps the spelling it had when it was committed.

use hark_transcribe::text::words;

#[derive(Debug, Default)]
pub struct Agreement {
    /// Words committed in this segment, as shown.
    committed: Vec<String>,
    /// The previous hypothesis's words after the committed ones.
    tentative: Vec<String>,
}

fn same(a: &str, b: &str) -> bool {
    words(a) == words(b)
}

impl Agreement {
    /// Forgets the segment (a new one opens).
    pub fn reset(&mut self) {
        self.committed.clear();
        self.tentative.clear();
    }

    /// Takes the newest hypothesis for the whole open segment and returns the partial's text:
    /// the committed words, then the hypothesis's words after them.
    pub fn update(&mut self, hypothesis: &str) -> String {
        let hyp: Vec<&str> = hypothesis.split_whitespace().collect();
        // The hypothesis is for the whole segment: its first words stand where the committed
        // ones are (they usually match; when they do not, the committed ones win).
        let tail: Vec<&str> = hyp.get(self.committed.len()..).unwrap_or_default().to_vec();
        let agreed = self.tentative.iter().zip(&tail).take_while(|(a, b)| same(a, b)).count();
        self.committed.extend(tail[..agreed].iter().map(|w| w.to_string()));
        self.tentative = tail[agreed..].iter().map(|w| w.to_string()).collect();
        self.text()
    }

    /// Committed words, then the tentative tail.
    pub fn text(&self) -> String {
        self.committed.iter().chain(&self.tentative).map(String::as_str).collect::<Vec<_>>().join(" ")
    }

    /// The committed words: the next partial's decode starts from them (forced), so only what
    /// follows is decoded.
    pub fn committed(&self) -> String {
        self.committed.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_what_two_hypotheses_agree_on_and_never_revises_it() {
        let mut a = Agreement::default();
        // The first hypothesis commits nothing: there is nothing to agree with yet.
        assert_eq!(a.update("And so my fellow"), "And so my fellow");
        assert_eq!(a.committed(), "");
        // The two agree on four words (case and punctuation aside): those are committed.
        assert_eq!(a.update("and so my fellow. Americans"), "and so my fellow. Americans");
        assert_eq!(a.committed(), "and so my fellow.");
        // A later hypothesis that rewrites committed words does not change them...
        assert_eq!(a.update("In so by fellow Americans ask"), "and so my fellow. Americans ask");
        assert_eq!(a.committed(), "and so my fellow. Americans");
        // ...and a disagreement in the tail replaces the tail only.
        assert_eq!(a.update("And so my fellow Americans, task not"), "and so my fellow. Americans task not");
        assert_eq!(a.committed(), "and so my fellow. Americans");
        assert_eq!(
            a.update("And so my fellow Americans, ask not what"),
            "and so my fellow. Americans ask not what"
        );
        assert_eq!(a.committed(), "and so my fellow. Americans");
        assert_eq!(a.update("And so my fellow Americans, ask not what your"), a.text());
        assert_eq!(a.committed(), "and so my fellow. Americans ask not what");
    }

    #[test]
    fn a_shorter_hypothesis_keeps_the_committed_words() {
        let mut a = Agreement::default();
        a.update("the birch canoe");
        a.update("the birch canoe slid");
        assert_eq!(a.committed(), "the birch canoe");
        assert_eq!(a.update("the"), "the birch canoe", "committed words stay even when a guess drops them");
        assert_eq!(a.update("the birch canoe slid on"), "the birch canoe slid on");
    }

    #[test]
    fn every_partial_starts_with_everything_committed_before() {
        let hyps =
            ["glue", "blue machine", "blue machine to", "glue the sheet to the", "blue machine to the dark"];
        let mut a = Agreement::default();
        let mut committed = String::new();
        for h in hyps {
            let shown = a.update(h);
            assert!(shown.starts_with(&committed), "{shown:?} dropped committed {committed:?}");
            committed = a.committed();
        }
        // The fourth guess put other words where "to" stood, so "to" was never agreed on.
        assert_eq!(committed, "blue machine");
    }

    #[test]
    fn reset_starts_a_new_segment() {
        let mut a = Agreement::default();
        a.update("one two");
        a.update("one two three");
        a.reset();
        assert_eq!(a.update("four"), "four");
        assert_eq!(a.committed(), "");
    }
}
