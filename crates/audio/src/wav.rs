//! WAV in and out. Reading converts any PCM/float WAV to 16 kHz mono. [`WavWriter`] writes
//! 16 kHz mono s16 and refreshes the header about once a second, so a file cut short by a crash
//! is still a valid WAV holding everything up to the last refresh (meetings rely on it).

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::pcm::{downmix, f32_to_i16};
use crate::{AudioError, SAMPLE_RATE};

/// What a WAV file held before conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    /// Frames (samples per channel) in the file.
    pub frames: u64,
}

/// Reads a whole WAV from `reader` as 16 kHz mono `f32`.
pub fn read_16k_mono<R: Read>(reader: R) -> Result<(Vec<f32>, WavInfo), AudioError> {
    let mut wav = hound::WavReader::new(reader)?;
    let spec = wav.spec();
    crate::check_format(spec.sample_rate, spec.channels as usize)?;
    let info = WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        frames: u64::from(wav.duration()),
    };
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => wav.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            wav.samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect::<Result<_, _>>()?
        }
    };
    let mono = downmix(&interleaved, spec.channels as usize);
    Ok((crate::resample::to_16k(&mono, spec.sample_rate)?, info))
}

/// Reads a WAV file as 16 kHz mono `f32`.
pub fn read_file_16k_mono(path: &Path) -> Result<(Vec<f32>, WavInfo), AudioError> {
    let file = File::open(path).map_err(hound::Error::IoError)?;
    read_16k_mono(std::io::BufReader::new(file))
}

/// A 16 kHz mono s16 WAV being written, its header kept valid about once a second.
pub struct WavWriter {
    inner: Option<hound::WavWriter<BufWriter<File>>>,
    last_refresh: Instant,
    every: Duration,
    samples: u64,
}

impl std::fmt::Debug for WavWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavWriter").field("samples", &self.samples).finish_non_exhaustive()
    }
}

pub fn spec_16k_mono() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl WavWriter {
    pub fn create(path: &Path) -> Result<Self, AudioError> {
        Self::create_refreshing(path, Duration::from_secs(1))
    }

    /// Like [`create`](Self::create), with the header refreshed every `every`.
    pub fn create_refreshing(path: &Path, every: Duration) -> Result<Self, AudioError> {
        let inner = hound::WavWriter::create(path, spec_16k_mono())?;
        Ok(WavWriter { inner: Some(inner), last_refresh: Instant::now(), every, samples: 0 })
    }

    /// Appends samples; refreshes the header when `every` has passed since the last refresh.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let Some(w) = self.inner.as_mut() else { return Ok(()) };
        for &s in samples {
            w.write_sample(f32_to_i16(s))?;
        }
        self.samples += samples.len() as u64;
        if self.last_refresh.elapsed() >= self.every {
            self.refresh()?;
        }
        Ok(())
    }

    /// Writes the header for what has been written so far and flushes it to the OS.
    pub fn refresh(&mut self) -> Result<(), AudioError> {
        if let Some(w) = self.inner.as_mut() {
            w.flush()?;
        }
        self.last_refresh = Instant::now();
        Ok(())
    }

    /// Final header; the file is complete.
    pub fn finalize(mut self) -> Result<u64, AudioError> {
        if let Some(w) = self.inner.take() {
            w.finalize()?;
        }
        Ok(self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refreshed_file_is_valid_before_finalize() {
        let dir = tempfile_dir();
        let path = dir.join("live.wav");
        let mut w = WavWriter::create_refreshing(&path, Duration::ZERO).unwrap();
        let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 / 10.0).sin() * 0.3).collect();
        w.write(&tone).unwrap();
        w.write(&tone[..8_000]).unwrap();
        // Not finalized (as after a crash): still a WAV with all 1.5 s in it.
        let (samples, info) = read_file_16k_mono(&path).unwrap();
        assert_eq!((info.frames, samples.len()), (24_000, 24_000));
        assert!((samples[100] - tone[100]).abs() < 1e-3);
        assert_eq!(w.finalize().unwrap(), 24_000);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stereo_48k_float_becomes_16k_mono() {
        let dir = tempfile_dir();
        let path = dir.join("s.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..48_000 {
            let s = (i as f32 * 300.0 * std::f32::consts::TAU / 48_000.0).sin() * 0.4;
            w.write_sample(s).unwrap();
            w.write_sample(-s * 0.0).unwrap();
        }
        w.finalize().unwrap();
        let (samples, info) = read_file_16k_mono(&path).unwrap();
        assert_eq!((info.sample_rate, info.channels, info.frames), (48_000, 2, 48_000));
        assert_eq!(samples.len(), 16_000);
        let peak = samples[1000..15000].iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.2).abs() < 0.02, "peak {peak}"); // averaged with a silent channel
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn not_a_wav_is_a_clear_error() {
        let err = read_16k_mono(&b"RIFF\x00\x00\x00\x00WAVEjunk"[..]).unwrap_err();
        assert!(matches!(err, AudioError::Wav(_)), "{err}");
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hark-audio-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
