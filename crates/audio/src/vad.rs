//! Voice activity detection: where speech starts and ends on the audio timeline.
//!
//! Frame scores come from earshot (a small pure-Rust neural VAD on 16 ms frames at 16 kHz).
//! [`Segmenter`] turns them into segments with the rules a transcriber needs:
//! - onset: speech must add up to `min_speech` (gaps up to `onset_gap` allowed) before a segment
//!   starts, so clicks and coughs make no segment;
//! - pre-roll: a segment starts `pre_roll` before its first speech frame, so first words are not
//!   clipped;
//! - hangover: a segment ends only after `hangover` without speech (pauses between words stay
//!   inside), and keeps `end_pad` of audio after its last speech frame.
//!
//! Positions are sample indices at 16 kHz from the start of the stream.

use crate::ms_to_samples;

pub const FRAME: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Frame score at or above which a frame is speech (0..1).
    pub threshold: f32,
    pub min_speech_ms: u64,
    /// Longest non-speech gap inside an onset before it is abandoned.
    pub onset_gap_ms: u64,
    pub pre_roll_ms: u64,
    pub hangover_ms: u64,
    pub end_pad_ms: u64,
}

impl Default for VadConfig {
    fn default() -> Self {
        // A speaker pausing for breath is not done: 500 ms of hangover. (Short segments are
        // joined with the next before they are transcribed: see the voice session's
        // MIN_FINAL_MS; that, not a longer hangover, keeps whisper from decoding a lone phrase.)
        VadConfig {
            threshold: 0.5,
            min_speech_ms: 200,
            onset_gap_ms: 160,
            pre_roll_ms: 500,
            hangover_ms: 500,
            end_pad_ms: 150,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech started at `sample` (pre-roll included).
    Start { sample: u64 },
    /// The segment ends at `sample` (exclusive; end pad included).
    End { sample: u64 },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Silence { onset: Option<u64>, speech_frames: u64, gap_frames: u64 },
    Speech { last_speech_end: u64 },
}

pub struct Segmenter {
    detector: Box<earshot::Detector>,
    config: VadConfig,
    carry: Vec<f32>,
    /// Samples consumed in whole frames.
    pos: u64,
    /// Where the last segment ended: a new one never starts before it.
    last_end: u64,
    state: State,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter")
            .field("pos", &self.pos)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Segmenter {
    pub fn new(config: VadConfig) -> Self {
        Segmenter {
            detector: earshot::Detector::default_boxed(),
            config,
            carry: Vec::with_capacity(FRAME),
            pos: 0,
            last_end: 0,
            state: State::Silence { onset: None, speech_frames: 0, gap_frames: 0 },
        }
    }

    /// Samples since the last speech frame of the open segment (0 outside speech).
    pub fn trailing_silence(&self) -> u64 {
        match self.state {
            State::Speech { last_speech_end } => self.pos.saturating_sub(last_speech_end),
            State::Silence { .. } => 0,
        }
    }

    /// Feeds 16 kHz mono samples; returns the events they complete, in order.
    pub fn push(&mut self, samples: &[f32]) -> Vec<VadEvent> {
        let mut events = Vec::new();
        let mut rest = samples;
        if !self.carry.is_empty() {
            let take = (FRAME - self.carry.len()).min(rest.len());
            self.carry.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.carry.len() == FRAME {
                let frame = std::mem::take(&mut self.carry);
                self.frame(&frame, &mut events);
                self.carry = frame;
                self.carry.clear();
            }
        }
        let mut chunks = rest.chunks_exact(FRAME);
        for frame in &mut chunks {
            self.frame(frame, &mut events);
        }
        self.carry.extend_from_slice(chunks.remainder());
        events
    }

    /// End of stream: closes an open segment at the last sample seen.
    pub fn finish(&mut self) -> Option<VadEvent> {
        let end_of_audio = self.pos + self.carry.len() as u64;
        match self.state {
            State::Speech { last_speech_end } => {
                let end = (last_speech_end + ms_to_samples(self.config.end_pad_ms)).min(end_of_audio);
                self.close(end);
                Some(VadEvent::End { sample: end })
            }
            State::Silence { .. } => None,
        }
    }

    fn close(&mut self, end: u64) {
        self.last_end = end;
        self.state = State::Silence { onset: None, speech_frames: 0, gap_frames: 0 };
    }

    fn frame(&mut self, frame: &[f32], events: &mut Vec<VadEvent>) {
        let start = self.pos;
        let end = start + FRAME as u64;
        self.pos = end;
        let speech = self.detector.predict_f32(frame) >= self.config.threshold;
        let frames = |ms: u64| ms_to_samples(ms).div_ceil(FRAME as u64);
        match &mut self.state {
            State::Silence { onset, speech_frames, gap_frames } => {
                if speech {
                    let first = *onset.get_or_insert(start);
                    *speech_frames += 1;
                    *gap_frames = 0;
                    if *speech_frames >= frames(self.config.min_speech_ms) {
                        let sample =
                            first.saturating_sub(ms_to_samples(self.config.pre_roll_ms)).max(self.last_end);
                        events.push(VadEvent::Start { sample });
                        self.state = State::Speech { last_speech_end: end };
                    }
                } else if onset.is_some() {
                    *gap_frames += 1;
                    if *gap_frames > frames(self.config.onset_gap_ms) {
                        self.state = State::Silence { onset: None, speech_frames: 0, gap_frames: 0 };
                    }
                }
            }
            State::Speech { last_speech_end } => {
                if speech {
                    *last_speech_end = end;
                } else if end - *last_speech_end >= ms_to_samples(self.config.hangover_ms) {
                    let sample = (*last_speech_end + ms_to_samples(self.config.end_pad_ms)).min(end);
                    events.push(VadEvent::End { sample });
                    self.close(sample);
                }
            }
        }
    }
}

/// Runs a whole signal through a fresh segmenter: `(start, end)` sample ranges.
pub fn segments(samples: &[f32], config: VadConfig) -> Vec<(u64, u64)> {
    let mut s = Segmenter::new(config);
    let mut events = s.push(samples);
    events.extend(s.finish());
    let mut out = Vec::new();
    let mut open = None;
    for e in events {
        match e {
            VadEvent::Start { sample } => open = Some(sample),
            VadEvent::End { sample } => out.extend(open.take().map(|s| (s, sample))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SAMPLE_RATE, samples_to_ms};

    fn jfk() -> Vec<f32> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/audio/jfk.wav");
        crate::wav::read_file_16k_mono(&path).expect("tests/fixtures/audio/jfk.wav").0
    }

    /// A deterministic noise source (xorshift), white or low-passed ("brown-ish").
    fn noise(secs: u32, amplitude: f32, smooth: bool) -> Vec<f32> {
        let mut x: u32 = 0x9E37_79B9;
        let mut prev = 0.0f32;
        (0..secs * SAMPLE_RATE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let white = (x as f32 / u32::MAX as f32) * 2.0 - 1.0;
                prev = if smooth { prev * 0.98 + white * 0.02 * 7.0 } else { white };
                prev * amplitude
            })
            .collect()
    }

    fn ms(range: (u64, u64)) -> (u64, u64) {
        (samples_to_ms(range.0), samples_to_ms(range.1))
    }

    #[test]
    fn finds_the_speech_in_jfk() {
        let audio = jfk();
        let segs = segments(&audio, VadConfig::default());
        let spans: Vec<_> = segs.iter().map(|&s| ms(s)).collect();
        assert!(!segs.is_empty());
        // jfk.wav: speech from about 0.3 s to about 10.6 s, with pauses between phrases.
        let (first, last) = (spans[0], *spans.last().unwrap());
        assert!(first.0 <= 700, "first segment starts at {} ms: {spans:?}", first.0);
        assert!(last.1 >= 10_000, "last segment ends at {} ms: {spans:?}", last.1);
        let covered: u64 = spans.iter().map(|(a, b)| b - a).sum();
        assert!(covered >= 7_000, "only {covered} ms of speech found: {spans:?}");
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "segments overlap: {spans:?}");
    }

    #[test]
    fn speech_after_silence_is_found_where_it_is_with_pre_roll() {
        let mut audio = vec![0.0; 3 * SAMPLE_RATE as usize];
        audio.extend(jfk());
        audio.extend(vec![0.0; 2 * SAMPLE_RATE as usize]);
        let segs = segments(&audio, VadConfig::default());
        let spans: Vec<_> = segs.iter().map(|&s| ms(s)).collect();
        // jfk's first word is at about 3.3 s here; the pre-roll puts the start a little before.
        assert!((2_700..=3_500).contains(&spans[0].0), "{spans:?}");
        // jfk's last word runs to the end of its file (14.0 s here): the segment ends there plus
        // the detector's window (48 ms) and the end pad (150 ms), not in the silence after.
        assert!((13_800..=14_300).contains(&spans.last().unwrap().1), "{spans:?}");
    }

    #[test]
    fn silence_and_noise_make_no_segments() {
        assert_eq!(segments(&vec![0.0; 30 * SAMPLE_RATE as usize], VadConfig::default()), vec![]);
        for (amplitude, smooth) in [(0.005, false), (0.02, false), (0.1, false), (0.05, true)] {
            let segs = segments(&noise(30, amplitude, smooth), VadConfig::default());
            assert!(
                segs.is_empty(),
                "noise {amplitude} (smooth {smooth}) gave {:?}",
                segs.iter().map(|&s| ms(s)).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn streaming_in_odd_pieces_gives_the_same_segments() {
        let audio = jfk();
        let whole = segments(&audio, VadConfig::default());
        let mut s = Segmenter::new(VadConfig::default());
        let mut events = Vec::new();
        for piece in audio.chunks(1000) {
            events.extend(s.push(piece));
        }
        events.extend(s.finish());
        let starts = events.iter().filter(|e| matches!(e, VadEvent::Start { .. })).count();
        assert_eq!(starts, whole.len());
        assert!(matches!(events.last(), Some(VadEvent::End { .. })));
    }
}
