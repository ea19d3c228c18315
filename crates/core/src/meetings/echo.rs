//! Echo suppression (PRODUCT lesson 9): when a meeting records the microphone and system audio,
//! the microphone also hears the speakers, so the other side's words would be stored twice.
//!
//! The rule: a `me` (microphone) segment is an echo, and is not stored, when a `them` (system)
//! segment already stored overlaps it in time (with [`SLACK_MS`] either side: the two streams cut
//! their segments independently) and at least [`OVERLAP`] of the microphone segment's words
//! (lowercased letters and digits, counted with multiplicity) are among that system segment's
//! words. Segments of one or two words are compared the same way but need every word to match,
//! so a short "yes" of the person's own is kept unless the speakers said it at that moment.
//!
//! Only the order "system first" is caught: a microphone final stored before the system final
//! it repeats is kept (it has been sent to clients already, and the durability rule forbids
//! holding it back). With whisper on both streams the system stream, whose audio is clean,
//! usually finishes first.

use std::collections::{HashMap, VecDeque};

/// Share of the microphone segment's words found in the system segment.
pub const OVERLAP: f64 = 0.6;
/// Time either side within which the two segments count as overlapping.
pub const SLACK_MS: u64 = 1_500;
/// System segments remembered.
const KEPT: usize = 32;

#[derive(Default)]
pub struct EchoFilter {
    system: VecDeque<(u64, u64, Vec<String>)>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

impl EchoFilter {
    /// Whether a segment about to be stored is an echo of system audio.
    pub fn is_echo(&self, role: &str, t0_ms: u64, t1_ms: u64, text: &str) -> bool {
        if role != "me" {
            return false;
        }
        let mic = words(text);
        if mic.is_empty() {
            return false;
        }
        let needed = if mic.len() <= 2 { 1.0 } else { OVERLAP };
        self.system.iter().any(|(s0, s1, sys)| {
            let overlaps = t0_ms <= s1 + SLACK_MS && *s0 <= t1_ms + SLACK_MS;
            overlaps && shared_share(&mic, sys) >= needed
        })
    }

    /// Remembers a stored segment (only system segments matter).
    pub fn stored(&mut self, role: &str, t0_ms: u64, t1_ms: u64, text: &str) {
        if role != "them" {
            return;
        }
        if self.system.len() == KEPT {
            self.system.pop_front();
        }
        self.system.push_back((t0_ms, t1_ms, words(text)));
    }
}

/// The share of `a`'s words (with multiplicity) that `b` also has.
fn shared_share(a: &[String], b: &[String]) -> f64 {
    let mut pool: HashMap<&str, usize> = HashMap::new();
    for w in b {
        *pool.entry(w).or_default() += 1;
    }
    let mut found = 0;
    for w in a {
        if let Some(n) = pool.get_mut(w.as_str())
            && *n > 0
        {
            *n -= 1;
            found += 1;
        }
    }
    found as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mic_segment_repeating_system_audio_at_the_same_time_is_an_echo() {
        let mut f = EchoFilter::default();
        f.stored("them", 10_000, 14_000, "We should ship the release on Friday.");
        // Whisper heard the speakers through the microphone, slightly differently.
        assert!(f.is_echo("me", 10_400, 14_200, "we should ship the release friday"));
        // The person's own words at the same time are kept.
        assert!(!f.is_echo("me", 10_400, 14_200, "I think Monday is better for everyone"));
        // The same words much later are the person's own (quoting), not an echo.
        assert!(!f.is_echo("me", 40_000, 44_000, "we should ship the release on friday"));
        // Only microphone segments are ever suppressed.
        assert!(!f.is_echo("them", 10_400, 14_200, "we should ship the release friday"));
        assert!(!f.is_echo("unknown", 10_400, 14_200, "we should ship the release friday"));
    }

    #[test]
    fn short_segments_need_every_word() {
        let mut f = EchoFilter::default();
        f.stored("them", 0, 1_000, "Yes, exactly.");
        assert!(f.is_echo("me", 200, 900, "yes exactly"));
        assert!(!f.is_echo("me", 200, 900, "yes please"));
        // Multiplicity: "no no no" is not covered by one "no".
        f.stored("them", 5_000, 6_000, "no");
        assert!(!f.is_echo("me", 5_000, 6_000, "no no no"));
    }
}
