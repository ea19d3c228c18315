//! One-shot transcription of a whole recording without its long silences: voice activity
//! detection finds the speech, and every silence of [`MIN_CUT_MS`] or more is cut out, so the
//! recording becomes spans of speech (with their own short pauses), each transcribed alone and
//! its segment times put back on the recording's timeline. Whisper given a long silence invents
//! words for it, and repeats them (on a recording with two 20 s silences, one `full()` over the
//! file gave a word error rate over 1.0); it also spends a whole encoder window on it.
//!
//! Used by `hark transcribe`, the `transcribe` RPC and a meeting's second pass; live finals are
//! cut by the voice session's own segmenter and do not come here.

use hark_audio::vad::{self, VadConfig};
use hark_audio::{ms_to_samples, samples_to_ms};

use crate::{Options, Progress, Segment, TranscribeError, Transcriber, Transcript};

/// Silence at least this long (as the VAD hears it) is cut out; shorter pauses stay in the
/// audio whisper sees, as they are (pauses between sentences help it, BENCHMARKS.md).
pub const MIN_CUT_MS: u64 = 3_000;

/// whisper's mel frame step: 10 ms.
const MEL_HOP: usize = 160;

/// Audio kept either side of a cut, beyond the VAD's own pre-roll and end pad.
const PAD_MS: u64 = 500;

/// Speech ranges (sample indices, as [`vad::segments`] gives them) to the spans transcribed:
/// ranges less than `min_gap` samples apart are one span, with everything between them, and so
/// are the recording's start and end (a short lead-in or tail is not cut either). Each cut keeps
/// `pad` samples either side. With no long silence the one span is the whole recording, exactly
/// what whisper would have been given without this (whisper is sensitive to where its frames
/// fall: shifting a recording by 44 ms changed words).
pub fn plan(speech: &[(u64, u64)], audio_len: usize, min_gap: usize, pad: usize) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for &(start, end) in speech {
        let (start, end) = ((start as usize).min(audio_len), (end as usize).min(audio_len));
        if end <= start {
            continue;
        }
        match spans.last_mut() {
            Some(last) if start < last.1 + min_gap => last.1 = last.1.max(end),
            _ => spans.push((start, end)),
        }
    }
    let n = spans.len();
    for (i, span) in spans.iter_mut().enumerate() {
        span.0 = if i == 0 && span.0 < min_gap {
            0
        } else {
            // On whisper's 10 ms frame grid, as the recording's own frames are.
            (span.0 - pad) / MEL_HOP * MEL_HOP
        };
        span.1 = if i + 1 == n && audio_len - span.1 < min_gap { audio_len } else { span.1 + pad };
    }
    spans
}

/// Where the speech is in `audio` (16 kHz mono).
pub fn speech(audio: &[f32]) -> Vec<(u64, u64)> {
    vad::segments(audio, VadConfig::default())
}

/// Transcribes the speech in `audio` span by span (see the module's comment); silence gives an
/// empty transcript. `options.context` is not supported here (it is for live finals).
pub fn transcribe_speech(
    t: &dyn Transcriber,
    audio: &[f32],
    options: &Options,
    progress: Progress,
) -> Result<Transcript, TranscribeError> {
    let spans =
        plan(&speech(audio), audio.len(), ms_to_samples(MIN_CUT_MS) as usize, ms_to_samples(PAD_MS) as usize);
    let total: usize = spans.iter().map(|(s, e)| e - s).sum();
    let options = Options { context: None, ..options.clone() };
    let mut segments: Vec<Segment> = Vec::new();
    let mut done = 0usize;
    for &(start, end) in &spans {
        let share = (end - start) as f32 / total.max(1) as f32;
        let before = done as f32 / total.max(1) as f32;
        let report = progress.clone();
        let inner: Progress = std::sync::Arc::new(move |p: f32| report(before + p.clamp(0.0, 1.0) * share));
        let out = t.transcribe_with_progress(&audio[start..end], &options, inner)?;
        let (offset, span_ms) = (samples_to_ms(start as u64), samples_to_ms((end - start) as u64));
        for s in out.segments {
            // whisper's last timestamp may run past the audio given.
            let t1_ms = offset + s.t1_ms.min(span_ms);
            segments.push(Segment { t0_ms: (offset + s.t0_ms).min(t1_ms), t1_ms, text: s.text });
        }
        done += end - start;
    }
    progress(1.0);
    Ok(Transcript { segments, language: options.language.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 16_000;

    #[test]
    fn close_ranges_join_with_what_is_between_them() {
        let s = S as usize;
        // 3.5-5 s, 7-8 s (2 s apart: one span), 12-13 s (4 s later: its own, and 2 s before the
        // end: the tail stays), one past the end. The first span starts 3.5 s in: cut, padded.
        let speech = [(7 * S / 2, 5 * S), (7 * S, 8 * S), (12 * S, 13 * S), (16 * S, 17 * S)];
        let spans = plan(&speech, 15 * s, 3 * s, s / 2);
        assert_eq!(spans, vec![(3 * s, 17 * s / 2), (23 * s / 2, 15 * s)]);
        // A lead-in shorter than the cut stays; speech throughout is one span, the recording.
        assert_eq!(plan(&[(S, 2 * S), (4 * S, 5 * S)], 6 * s, 3 * s, s / 2), vec![(0, 6 * s)]);
        assert!(plan(&[], 10, 10, 1).is_empty());
    }

    #[test]
    fn the_fake_transcriber_hears_only_speech_on_the_right_timeline() {
        let jfk = crate::fixtures::jfk();
        // 5 s of silence, jfk.wav, 5 s of silence, jfk.wav.
        let silence = vec![0.0f32; 5 * S as usize];
        let audio: Vec<f32> = [&silence[..], &jfk, &silence, &jfk].concat();
        let seen = std::sync::Mutex::new(Vec::new());
        struct Recorder<'a>(&'a std::sync::Mutex<Vec<usize>>);
        impl Transcriber for Recorder<'_> {
            fn name(&self) -> &str {
                "recorder"
            }
            fn transcribe(&self, audio: &[f32], o: &Options) -> Result<Transcript, TranscribeError> {
                self.0.lock().unwrap().push(audio.len());
                let end = samples_to_ms(audio.len() as u64);
                Ok(Transcript {
                    segments: vec![Segment { t0_ms: 0, t1_ms: end, text: "words".into() }],
                    language: o.language.clone(),
                })
            }
        }
        let progress = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let p = progress.clone();
        let out = transcribe_speech(
            &Recorder(&seen),
            &audio,
            &Options::default(),
            std::sync::Arc::new(move |f| p.lock().unwrap().push(f)),
        )
        .unwrap();
        // Two spans (the 5 s silence between the copies is cut), each about one jfk.wav (its
        // own pauses are shorter than the cut, so they stay in).
        let calls = seen.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        for &n in &calls {
            assert!(
                n > jfk.len() * 8 / 10 && n <= jfk.len() + 2 * S as usize,
                "a span of {n} for {}",
                jfk.len()
            );
        }
        // Each span's segment is on the recording's timeline: after each 5 s of silence (less
        // the VAD's pre-roll and the pad), ending by the recording's end (32 s).
        assert_eq!(out.segments.len(), 2, "{:?}", out.segments);
        assert!((3_800..6_500).contains(&out.segments[0].t0_ms), "{:?}", out.segments);
        assert!((19_800..22_500).contains(&out.segments[1].t0_ms), "{:?}", out.segments);
        assert!((29_000..=32_000).contains(&out.segments[1].t1_ms), "{:?}", out.segments);
        assert!(out.segments[0].t1_ms <= out.segments[1].t0_ms, "{:?}", out.segments);
        let progress = progress.lock().unwrap();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]) && progress.last() == Some(&1.0), "{progress:?}");
        let none =
            transcribe_speech(&Recorder(&seen), &silence, &Options::default(), std::sync::Arc::new(|_| {}));
        assert!(none.unwrap().segments.is_empty());
    }
}
