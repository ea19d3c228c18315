//! Text clean-up shared by the backends: joining pieces, and the hallucination guards that
//! whisper needs (PRODUCT.md lesson 3).

/// Lower-case words without punctuation: what a word error rate compares.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: the word-level edit distance from `reference` to `hypothesis`, divided by
/// the reference's length.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(rw != hw)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

/// What `hypothesis` says after `context`: the hypothesis decodes audio that starts with the
/// context's speech, so its first words are (roughly) the context's text. The cut is where the
/// context's words align best with a prefix of the hypothesis (word edit distance, case and
/// punctuation aside, a near miss such as "American"/"Americans" costing half); on a tie, the
/// earliest such prefix that ends a sentence, else the earliest, so a new word is never dropped
/// for a context word the decode skipped unless whisper's full stop says it was the context's.
/// Returns the hypothesis's own words after the cut.
pub fn after_context(context: &str, hypothesis: &str) -> String {
    let c = words(context);
    let pieces: Vec<&str> = hypothesis.split_whitespace().collect();
    let h: Vec<String> = pieces.iter().map(|p| words(p).join(" ")).collect();
    // Costs in halves: a different word 2, a near miss 1, a word left out or added 2.
    let sub = |a: &str, b: &str| {
        let common = |x: &mut dyn Iterator<Item = (char, char)>| x.take_while(|(p, q)| p == q).count();
        let near = common(&mut a.chars().zip(b.chars())) >= 3
            || common(&mut a.chars().rev().zip(b.chars().rev())) >= 3;
        if a == b {
            0
        } else if near {
            1
        } else {
            2
        }
    };
    // A piece that is punctuation only is free to skip.
    let add = |w: &str| if w.is_empty() { 0 } else { 2 };
    // prev[j]: the cost from the context's first i words to the hypothesis's first j pieces.
    let mut prev: Vec<usize> = vec![0; h.len() + 1];
    for j in 0..h.len() {
        prev[j + 1] = prev[j] + add(&h[j]);
    }
    for (i, cw) in c.iter().enumerate() {
        let mut cur = vec![2 * (i + 1); h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + sub(cw, hw)).min(prev[j + 1] + 2).min(cur[j] + add(hw));
        }
        prev = cur;
    }
    // On a tie, a cut after a piece that ends a sentence wins: the context is a whole utterance
    // (a pause ended it), which whisper closes with a full stop, so "smooth clikes. It is" after
    // "...on the smooth planks" cuts after "clikes." (a misheard context word), not before it.
    let best = prev.iter().copied().min().unwrap_or(0);
    let ends_sentence = |j: usize| j == 0 || pieces[j - 1].ends_with(['.', '?', '!']);
    let ties = || (0..=h.len()).filter(|&j| prev[j] == best);
    let cut = ties().find(|&j| ends_sentence(j)).or_else(|| ties().next()).unwrap_or(0);
    pieces[cut..].join(" ")
}

/// Letters and digits: how much was said, nearly independent of the words' lengths.
pub fn spoken_chars(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// True when a decode with left context seems to have lost the new speech: its new words
/// (`new_text`, over `new_ms` of audio) come at under 0.6x the rate, in letters a second, of
/// the context's own finals (`context_text`, over `context_ms` of their speech), or there are
/// none. The same speaker's rate just before is the yardstick, so a slow speaker is not
/// mistaken for a lost sentence.
///
/// What it catches: greedy decoding over context + a short new sentence sometimes runs the
/// two together and drops most of the new one ("It is easy to tell the naps and it will" for
/// "...the depth of a well. These days a chicken leg is a rare dish"); the cut after the
/// context then leaves a few stray words, or nothing, and the next final's context is wrong
/// too. On the generated recordings (`hark-bench accuracy`, BENCHMARKS.md "Finals that lost
/// their sentence") such decodes came at 0.00-0.49x the context's rate and every sound one at
/// 0.82x or more.
pub fn lost_new_speech(context_text: &str, context_ms: u64, new_text: &str, new_ms: u64) -> bool {
    let new = spoken_chars(new_text);
    if new == 0 {
        return true;
    }
    let context = spoken_chars(context_text);
    if context == 0 || context_ms == 0 || new_ms == 0 {
        return false;
    }
    // new / new_ms < 0.6 * context / context_ms, in integers.
    (new as u64) * context_ms * 10 < 6 * (context as u64) * new_ms
}

/// Joins pieces with single spaces, trimming each.
pub fn join<'a>(pieces: impl Iterator<Item = &'a str>) -> String {
    pieces.map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// True for text that carries no words: empty, punctuation only, or a non-speech annotation
/// such as `[BLANK_AUDIO]`, `(music)` or `♪`.
pub fn is_non_speech(text: &str) -> bool {
    let t = text.trim();
    let bracketed = (t.starts_with('[') && t.ends_with(']')) || (t.starts_with('(') && t.ends_with(')'));
    bracketed || !t.chars().any(char::is_alphanumeric)
}

/// True when a phrase of 1 to 8 words repeats back to back more than `max_repeats` times: the
/// decoder ran away ("thank you thank you thank you ...").
pub fn is_runaway(text: &str, max_repeats: usize) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    for n in 1..=8 {
        if words.len() < n * (max_repeats + 1) {
            break;
        }
        let mut run = 1;
        let mut i = n;
        while i + n <= words.len() {
            if words[i..i + n] == words[i - n..i] {
                run += 1;
                if run > max_repeats {
                    return true;
                }
                i += n;
            } else {
                run = 1;
                i += 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech() {
        for t in ["", "  ", "[BLANK_AUDIO]", "(music)", "...", "♪ ♪"] {
            assert!(is_non_speech(t), "{t:?}");
        }
        assert!(!is_non_speech("Ask not."));
    }

    #[test]
    fn runaway_repetition() {
        assert!(is_runaway("Thank you. Thank you. Thank you. Thank you. Thank you.", 3));
        assert!(is_runaway("go go go go go go", 4));
        assert!(is_runaway("and then we went and then we went and then we went and then we went", 3));
        assert!(!is_runaway(
            "ask not what your country can do for you, ask what you can do for your country",
            3
        ));
        assert!(!is_runaway("no no no", 3));
    }

    #[test]
    fn word_error_rate() {
        assert_eq!(wer("a b c d", "a b c d"), 0.0);
        assert_eq!(wer("a b c d", "a x c"), 0.5);
        assert_eq!(wer("Ask not.", "ask NOT"), 0.0);
        assert_eq!(words("Hello, world!"), ["hello", "world"]);
    }

    #[test]
    fn the_words_after_the_context() {
        let ctx = "And so my fellow Americans.";
        assert_eq!(after_context(ctx, "And so my fellow Americans, ask not what"), "ask not what");
        // The context decoded a little differently this time: still cut after it.
        assert_eq!(after_context(ctx, "And so, my fellow American. Ask not"), "Ask not");
        assert_eq!(after_context(ctx, "my fellow Americans ask not"), "ask not", "a context word skipped");
        assert_eq!(after_context(ctx, "And so my fellow Americans."), "", "nothing new");
        assert_eq!(after_context("", "Ask not."), "Ask not.");
        assert_eq!(after_context(ctx, "Ask not."), "Ask not.", "the decode left the context out");
        // A context word misheard at the end: a tie between "misheard" and "skipped, then a new
        // word", which the full stop settles.
        let ctx = "The birch canoe slid on the smooth planks";
        let hyp = "The birch canoe slid on the smooth clikes. It is easy";
        assert_eq!(after_context(ctx, hyp), "It is easy");
        assert_eq!(after_context(ctx, "The birch canoe slid on the smooth clikes It is"), "clikes It is");
    }

    #[test]
    fn a_decode_that_lost_the_new_sentence() {
        let ctx = "It is easy to tell the nip the mitt well."; // 31 letters over 2.9 s
        assert!(lost_new_speech(ctx, 2_890, "naps and it will", 2_778), "13 letters in 2.8 s");
        assert!(lost_new_speech(ctx, 2_890, "", 2_778), "nothing at all");
        assert!(lost_new_speech(ctx, 2_890, " . ", 2_778), "punctuation only");
        assert!(!lost_new_speech(ctx, 2_890, "These days a chicken leg is a rare dish.", 2_778));
        assert!(!lost_new_speech(ctx, 2_890, "Rice is often served in round bowls.", 2_906));
        // A slow speaker's rate is measured against their own.
        assert!(!lost_new_speech("Well I think so", 4_000, "and then we left", 4_000));
        assert!(!lost_new_speech("", 0, "anything", 1_000), "no context to compare with");
    }

    #[test]
    fn joins() {
        assert_eq!(join([" And so", "", "my fellow "].into_iter()), "And so my fellow");
    }
}
