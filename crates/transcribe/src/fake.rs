//! The deterministic stand-in of PROTOCOL §6.2: a final call is one speech segment and becomes
//! `speech <n> (<seconds> s)`, `n` counting finals on this instance from 1 (make one per voice
//! session); a partial call (a guess at the next segment) becomes `speech <n> …`. No model, no
//! CPU to speak of: for event-flow tests and demos.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Options, Segment, TranscribeError, Transcriber, Transcript};

#[derive(Debug, Default)]
pub struct FakeTranscriber {
    finals: AtomicU64,
}

impl FakeTranscriber {
    pub fn new() -> Self {
        Self::default()
    }

    /// The text for segment `n` of `duration_ms`.
    pub fn text_for(n: u64, duration_ms: u64) -> String {
        format!("speech {n} ({:.1} s)", duration_ms as f64 / 1000.0)
    }
}

impl Transcriber for FakeTranscriber {
    fn name(&self) -> &str {
        "fake"
    }

    fn transcribe(&self, audio: &[f32], options: &Options) -> Result<Transcript, TranscribeError> {
        // The left context is not part of the segment.
        let duration_ms =
            (audio.len() as u64 * 1000 / 16_000).saturating_sub(options.context.as_ref().map_or(0, |c| c.ms));
        let text = if options.partial {
            let guess = format!("speech {} …", self.finals.load(Ordering::Relaxed) + 1);
            // Words forced as the decode's start (a partial's committed ones) are not repeated.
            match options.context.as_ref().filter(|c| c.ms == 0) {
                Some(forced) => Some(crate::text::after_context(&forced.text, &guess))
                    .filter(|rest| !crate::text::is_non_speech(rest))
                    .unwrap_or_default(),
                None => guess,
            }
        } else {
            Self::text_for(self.finals.fetch_add(1, Ordering::Relaxed) + 1, duration_ms)
        };
        Ok(Transcript {
            segments: vec![Segment { t0_ms: 0, t1_ms: duration_ms, text }],
            language: options.language.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_segments_and_says_their_length() {
        let fake = FakeTranscriber::new();
        let one = fake.transcribe(&[0.0; 24_000], &Options::default()).unwrap();
        let two = fake.transcribe(&[0.0; 8_000], &Options::default()).unwrap();
        assert_eq!(
            (one.text(), two.text()),
            ("speech 1 (1.5 s)".to_string(), "speech 2 (0.5 s)".to_string())
        );
        assert_eq!(one.segments[0].t1_ms, 1500);
        let guess = fake.transcribe(&[0.0; 8_000], &Options { partial: true, ..Options::default() }).unwrap();
        assert_eq!(guess.text(), "speech 3 …");
        let with_context = fake.transcribe(
            &[0.0; 40_000],
            &Options {
                context: Some(crate::Context { ms: 1000, text: "speech 2 (0.5 s)".into() }),
                ..Options::default()
            },
        );
        assert_eq!(with_context.unwrap().text(), "speech 3 (1.5 s)", "the context is not counted");
        // A partial whose first words are forced (its committed ones) gives only the rest.
        let forced = |text: &str| Options {
            partial: true,
            context: Some(crate::Context { ms: 0, text: text.into() }),
            ..Options::default()
        };
        assert_eq!(fake.transcribe(&[0.0; 8_000], &forced("speech")).unwrap().text(), "4 …");
        assert_eq!(fake.transcribe(&[0.0; 8_000], &forced("speech 4 …")).unwrap().text(), "");
    }
}
