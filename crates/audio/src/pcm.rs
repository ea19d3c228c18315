//! Sample formats: s16le bytes <-> `f32`, and down-mixing interleaved channels to mono.

use crate::AudioError;

/// Decodes little-endian signed 16-bit PCM into `f32` in [-1, 1).
pub fn s16le_to_f32(bytes: &[u8]) -> Result<Vec<f32>, AudioError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(AudioError::OddPcmLength(bytes.len()));
    }
    Ok(bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect())
}

/// `f32` -> `i16`, clamped (for WAV writing).
pub fn f32_to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// `f32` samples -> little-endian signed 16-bit PCM bytes (what a client pushes).
pub fn f32_to_s16le(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| f32_to_i16(*s).to_le_bytes()).collect()
}

/// Averages interleaved frames of `channels` samples into one channel. A trailing partial frame
/// is dropped (a caller that streams keeps it for the next call: see [`Downmixer`]).
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    match channels {
        0 | 1 => interleaved.to_vec(),
        n => interleaved.chunks_exact(n).map(|frame| frame.iter().sum::<f32>() / n as f32).collect(),
    }
}

/// Streaming down-mix that carries a partial frame over to the next push.
#[derive(Debug)]
pub struct Downmixer {
    channels: usize,
    carry: Vec<f32>,
}

impl Downmixer {
    pub fn new(channels: usize) -> Self {
        Downmixer { channels: channels.max(1), carry: Vec::new() }
    }

    pub fn push(&mut self, interleaved: &[f32]) -> Vec<f32> {
        if self.channels == 1 {
            return interleaved.to_vec();
        }
        self.carry.extend_from_slice(interleaved);
        let whole = self.carry.len() / self.channels * self.channels;
        let mono = downmix(&self.carry[..whole], self.channels);
        self.carry.drain(..whole);
        mono
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16le_round_trip_and_odd_lengths() {
        let bytes: Vec<u8> = [0i16, 16384, -32768, 32767].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(s16le_to_f32(&bytes).unwrap(), vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]);
        assert!(matches!(s16le_to_f32(&[1, 2, 3]), Err(AudioError::OddPcmLength(3))));
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(-0.5), -16384);
    }

    #[test]
    fn downmix_carries_partial_frames() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
        let mut d = Downmixer::new(2);
        assert_eq!(d.push(&[1.0, 0.0, 0.5]), vec![0.5]);
        assert_eq!(d.push(&[0.5, 0.2, 0.2]), vec![0.5, 0.2]);
    }
}
