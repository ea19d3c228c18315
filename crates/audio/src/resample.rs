//! Streaming conversion of mono audio at any rate to 16 kHz with rubato's FFT resampler (a
//! proper band-limited resampler: cpal delivers e.g. 48 kHz). The resampler's own delay is
//! trimmed, so sample `n` of the output is at time `n / 16 kHz` of the input: timestamps on
//! the audio timeline stay true.

use rubato::{FftFixedIn, Resampler};

use crate::{AudioError, SAMPLE_RATE};

/// Input frames per resampler call (about 21 ms at 48 kHz).
const CHUNK_IN: usize = 1024;

pub struct To16k {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    /// Output samples still to drop (the resampler's delay).
    trim: usize,
    /// Input samples taken in, and output samples given out (to pad the tail exactly).
    frames_in: u64,
    frames_out: u64,
    rate_in: u32,
}

impl std::fmt::Debug for To16k {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("To16k").field("rate_in", &self.rate_in).finish_non_exhaustive()
    }
}

impl To16k {
    pub fn new(rate_in: u32) -> Result<Self, AudioError> {
        crate::check_format(rate_in, 1)?;
        let inner = if rate_in == SAMPLE_RATE {
            None
        } else {
            let r = FftFixedIn::<f32>::new(rate_in as usize, SAMPLE_RATE as usize, CHUNK_IN, 1, 1)
                .map_err(|e| AudioError::Resampler(e.to_string()))?;
            Some(r)
        };
        let trim = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(To16k { inner, pending: Vec::new(), trim, frames_in: 0, frames_out: 0, rate_in })
    }

    /// Converts `mono` and appends the 16 kHz result to `out`.
    pub fn push(&mut self, mono: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.frames_in += mono.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(mono);
            self.frames_out += mono.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(mono);
        let mut start = 0;
        while self.pending.len() - start >= r.input_frames_next() {
            let n = r.input_frames_next();
            let res = r
                .process(&[&self.pending[start..start + n]], None)
                .map_err(|e| AudioError::Resampler(e.to_string()))?;
            start += n;
            Self::emit(&mut self.trim, &mut self.frames_out, &res[0], out);
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Flushes what is buffered (end of stream): the output then covers exactly the input's
    /// duration.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let want = self.frames_in * u64::from(SAMPLE_RATE) / u64::from(self.rate_in);
        if let Some(r) = self.inner.as_mut() {
            // Feed silence until everything real has come out of the filter.
            let mut guard = 0;
            while self.frames_out < want && guard < 64 {
                let pending = std::mem::take(&mut self.pending);
                let input = [&pending[..]];
                let res = r
                    .process_partial(if pending.is_empty() { None } else { Some(&input[..]) }, None)
                    .map_err(|e| AudioError::Resampler(e.to_string()))?;
                Self::emit(&mut self.trim, &mut self.frames_out, &res[0], out);
                guard += 1;
            }
        }
        if self.frames_out > want {
            let extra = (self.frames_out - want) as usize;
            out.truncate(out.len().saturating_sub(extra));
            self.frames_out = want;
        }
        Ok(())
    }

    fn emit(trim: &mut usize, frames_out: &mut u64, chunk: &[f32], out: &mut Vec<f32>) {
        let skip = (*trim).min(chunk.len());
        *trim -= skip;
        out.extend_from_slice(&chunk[skip..]);
        *frames_out += (chunk.len() - skip) as u64;
    }
}

/// Converts a whole mono signal at `rate_in` to 16 kHz.
pub fn to_16k(mono: &[f32], rate_in: u32) -> Result<Vec<f32>, AudioError> {
    let mut r = To16k::new(rate_in)?;
    let mut out = Vec::with_capacity(mono.len() * SAMPLE_RATE as usize / rate_in.max(1) as usize + 16);
    r.push(mono, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 * freq * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn length_and_timing_survive_48k_to_16k() {
        let input = sine(440.0, 48_000, 1.0);
        // Stream it in odd-sized pieces, as a capture callback would.
        let mut r = To16k::new(48_000).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(333) {
            r.push(piece, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(out.len(), 16_000);
        // The tone is preserved: compare with the ideal 16 kHz sine in the middle.
        let ideal = sine(440.0, 16_000, 1.0);
        let err: f32 = (4000..12000).map(|i| (out[i] - ideal[i]).abs()).fold(0.0, f32::max);
        assert!(err < 0.02, "max error {err}");
    }

    #[test]
    fn aliasing_is_filtered() {
        // 12 kHz is above the 8 kHz Nyquist limit of 16 kHz audio: it must not fold back.
        let out = to_16k(&sine(12_000.0, 48_000, 1.0), 48_000).unwrap();
        let rms = (out[2000..14000].iter().map(|s| s * s).sum::<f32>() / 12000.0).sqrt();
        assert!(rms < 0.01, "rms {rms}");
    }

    #[test]
    fn passthrough_at_16k_and_bad_rates() {
        assert_eq!(to_16k(&[0.1, 0.2], 16_000).unwrap(), vec![0.1, 0.2]);
        assert!(To16k::new(0).is_err());
        assert!(To16k::new(1_000_000).is_err());
    }
}
