//! Hark's audio toolkit, GUI-free and transport-free: everything becomes 16 kHz mono `f32` in
//! [-1, 1] (`pcm`, `resample`, `wav`), levels for meters (`level`), and where speech is
//! (`vad`), and where audio comes from (`source`: files, pushed PCM, a fake device; `capture`:
//! the microphone and system audio through cpal, feature `cpal`).

#[cfg(feature = "cpal")]
pub mod capture;
pub mod level;
pub mod pcm;
pub mod resample;
pub mod source;
pub mod vad;
pub mod wav;

/// The one sample rate everything downstream of capture uses (whisper's).
pub const SAMPLE_RATE: u32 = 16_000;

/// Samples at [`SAMPLE_RATE`] -> milliseconds.
pub fn samples_to_ms(samples: u64) -> u64 {
    samples * 1000 / SAMPLE_RATE as u64
}

/// Milliseconds -> samples at [`SAMPLE_RATE`].
pub fn ms_to_samples(ms: u64) -> u64 {
    ms * SAMPLE_RATE as u64 / 1000
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("s16le PCM must have an even number of bytes, got {0}")]
    OddPcmLength(usize),
    #[error("{channels} channels is not supported (1 to 32)")]
    Channels { channels: usize },
    #[error("sample rate {rate} Hz is not supported (8000 to 384000)")]
    SampleRate { rate: u32 },
    #[error("not a readable WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("resampler: {0}")]
    Resampler(String),
}

/// Checks a stream format before any audio flows.
pub fn check_format(rate: u32, channels: usize) -> Result<(), AudioError> {
    if !(1..=32).contains(&channels) {
        return Err(AudioError::Channels { channels });
    }
    if !(8_000..=384_000).contains(&rate) {
        return Err(AudioError::SampleRate { rate });
    }
    Ok(())
}
