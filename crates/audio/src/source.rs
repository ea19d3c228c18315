//! Where audio comes from. Every source delivers 16 kHz mono `f32` ([`crate::SAMPLE_RATE`]),
//! whatever its device or file gives.
//!
//! Sources the daemon reads itself (a WAV file, the fake, the microphone and system audio in
//! `capture`) implement [`AudioSource`]: one thread per stream calls [`AudioSource::read`] in a
//! loop. Pushed PCM (`pcm_push`) is the other way round, the client drives it, so it is a
//! [`PushConverter`] the RPC handler feeds.
//!
//! Capture sources never make the device wait: the device callback copies into a bounded
//! [`CaptureQueue`] and counts what does not fit; conversion happens on the reading thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::pcm::Downmixer;
use crate::resample::To16k;
use crate::{AudioError, SAMPLE_RATE};

/// A source of 16 kHz mono audio, read by one thread.
pub trait AudioSource: Send {
    /// Waits at most `timeout` for audio. `Ok(Some(samples))` may be empty when nothing came in
    /// time (so the reader can check whether it should stop); `Ok(None)` is the end of the
    /// source; `Err` ends it with an error (e.g. the device was unplugged).
    fn read(&mut self, timeout: Duration) -> Result<Option<Vec<f32>>, SourceError>;

    /// Milliseconds of audio lost because the reader fell behind the device (0 for sources that
    /// wait for their reader).
    fn dropped_ms(&self) -> u64 {
        0
    }
}

/// One input device, as `voice.devices.list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDevice {
    /// Stable id to pass back as `{"kind":"mic","device": id}`, e.g. `pulseaudio:alsa_input.usb-...`.
    pub id: String,
    pub name: String,
    pub default: bool,
    pub sample_rates: Vec<u32>,
}

/// Why a source could not start or stopped. Messages are plain English, safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No such device, or no audio system to capture from.
    #[error("{0}")]
    Unavailable(String),
    /// The device is in use elsewhere.
    #[error("{0}")]
    Busy(String),
    /// This platform or build cannot capture this way.
    #[error("{0}")]
    Unsupported(String),
    /// The device failed or went away during capture.
    #[error("{0}")]
    Lost(String),
    /// A file that cannot be read as audio.
    #[error("{0}")]
    Read(String),
}

/// Converts one input format (any rate, interleaved channels) into 16 kHz mono, streaming.
pub struct Converter {
    down: Downmixer,
    resample: To16k,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter").finish_non_exhaustive()
    }
}

impl Converter {
    pub fn new(rate: u32, channels: usize) -> Result<Self, AudioError> {
        crate::check_format(rate, channels)?;
        Ok(Converter { down: Downmixer::new(channels), resample: To16k::new(rate)? })
    }

    pub fn convert(&mut self, interleaved: &[f32]) -> Result<Vec<f32>, AudioError> {
        let mono = self.down.push(interleaved);
        let mut out = Vec::with_capacity(mono.len());
        self.resample.push(&mono, &mut out)?;
        Ok(out)
    }
}

/// `pcm_push`: s16le bytes at the session's rate and channels in, 16 kHz mono out.
#[derive(Debug)]
pub struct PushConverter {
    converter: Converter,
}

impl PushConverter {
    pub fn new(rate: u32, channels: usize) -> Result<Self, AudioError> {
        Ok(PushConverter { converter: Converter::new(rate, channels)? })
    }

    /// Returns the converted audio and the number of input samples taken.
    pub fn push(&mut self, s16le: &[u8]) -> Result<(Vec<f32>, usize), AudioError> {
        let samples = crate::pcm::s16le_to_f32(s16le)?;
        Ok((self.converter.convert(&samples)?, samples.len()))
    }
}

/// The bounded hand-off between a device callback and the reading thread, bounded in samples
/// (device buffers range from a few to hundreds of milliseconds). The callback side
/// ([`CaptureWriter`]) never blocks: what does not fit is counted and dropped.
#[derive(Debug)]
pub struct CaptureQueue {
    rx: mpsc::Receiver<Vec<f32>>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    dropped: AtomicU64,
    /// Samples sent and not yet read.
    queued: AtomicU64,
    max_samples: u64,
    failure: Mutex<Option<SourceError>>,
}

/// The device side of a [`CaptureQueue`]; `Send`, cheap to clone.
#[derive(Debug, Clone)]
pub struct CaptureWriter {
    tx: mpsc::Sender<Vec<f32>>,
    shared: Arc<Shared>,
}

impl CaptureQueue {
    /// A queue of at most `max_samples` samples (all channels).
    pub fn new(max_samples: usize) -> (CaptureWriter, CaptureQueue) {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared { max_samples: max_samples as u64, ..Shared::default() });
        (CaptureWriter { tx, shared: shared.clone() }, CaptureQueue { rx, shared })
    }

    /// Everything queued (waiting at most `timeout` for the first buffer), concatenated. `Err`
    /// once the writer reported a failure and everything before it was read; `Ok(None)` when
    /// every writer is gone.
    pub fn read(&self, timeout: Duration) -> Result<Option<Vec<f32>>, SourceError> {
        let mut out = match self.rx.recv_timeout(timeout) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return match self.failure() {
                    Some(e) => Err(e),
                    None => Ok(Some(Vec::new())),
                };
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return match self.failure() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
        };
        while let Ok(more) = self.rx.try_recv() {
            out.extend_from_slice(&more);
        }
        self.shared.queued.fetch_sub(out.len() as u64, Ordering::AcqRel);
        Ok(Some(out))
    }

    fn failure(&self) -> Option<SourceError> {
        self.shared.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Samples the writer had to drop.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl CaptureWriter {
    /// Queues `samples`, or counts them as dropped when the queue is full. Never blocks (the
    /// channel is unbounded; the bound is the sample count checked here).
    pub fn push(&self, samples: Vec<f32>) {
        let n = samples.len() as u64;
        let queued = self.shared.queued.fetch_add(n, Ordering::AcqRel);
        if queued + n > self.shared.max_samples || self.tx.send(samples).is_err() {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            self.shared.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Ends the capture with an error; the reader sees it after the audio queued before it.
    pub fn fail(&self, error: SourceError) {
        let mut slot = self.shared.failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(error);
    }
}

/// A captured device stream: its queue and the format conversion, read on the stream's thread.
#[derive(Debug)]
pub struct QueuedSource {
    queue: CaptureQueue,
    converter: Converter,
    /// Input samples per second (all channels): turns dropped samples into time.
    samples_per_s: u64,
    /// Kept alive while reading (e.g. the thread that owns the device stream); dropped with it.
    _guard: Box<dyn std::any::Any + Send>,
}

impl QueuedSource {
    pub fn new(
        queue: CaptureQueue,
        rate: u32,
        channels: usize,
        guard: Box<dyn std::any::Any + Send>,
    ) -> Result<Self, SourceError> {
        let converter = Converter::new(rate, channels)
            .map_err(|e| SourceError::Unsupported(format!("the device's format cannot be used: {e}")))?;
        let samples_per_s = u64::from(rate) * channels as u64;
        Ok(QueuedSource { queue, converter, samples_per_s, _guard: guard })
    }
}

impl AudioSource for QueuedSource {
    fn read(&mut self, timeout: Duration) -> Result<Option<Vec<f32>>, SourceError> {
        match self.queue.read(timeout)? {
            Some(raw) if raw.is_empty() => Ok(Some(raw)),
            Some(raw) => self
                .converter
                .convert(&raw)
                .map(Some)
                .map_err(|e| SourceError::Lost(format!("audio conversion failed: {e}"))),
            None => Ok(None),
        }
    }

    fn dropped_ms(&self) -> u64 {
        self.queue.dropped() * 1000 / self.samples_per_s.max(1)
    }
}

/// A WAV file (any format), delivered in 20 ms chunks at real-time pace, or as fast as read.
#[derive(Debug)]
pub struct FileSource {
    audio: Vec<f32>,
    pos: usize,
    realtime: bool,
    started: Option<Instant>,
}

/// 20 ms at 16 kHz: the chunk a real-time file source delivers.
const FILE_CHUNK: usize = 320;
/// Chunk size when reading as fast as possible (1 s).
const FAST_CHUNK: usize = SAMPLE_RATE as usize;

impl FileSource {
    pub fn open(path: &std::path::Path, realtime: bool) -> Result<Self, SourceError> {
        let (audio, _) =
            crate::wav::read_file_16k_mono(path).map_err(|e| SourceError::Read(e.to_string()))?;
        Ok(Self::from_samples(audio, realtime))
    }

    /// 16 kHz mono samples already in memory.
    pub fn from_samples(audio: Vec<f32>, realtime: bool) -> Self {
        FileSource { audio, pos: 0, realtime, started: None }
    }
}

impl AudioSource for FileSource {
    fn read(&mut self, timeout: Duration) -> Result<Option<Vec<f32>>, SourceError> {
        if self.pos >= self.audio.len() {
            return Ok(None);
        }
        let chunk = if self.realtime { FILE_CHUNK } else { FAST_CHUNK };
        if self.realtime {
            // Chunk k is due once the audio before its end has "played".
            let started = *self.started.get_or_insert_with(Instant::now);
            let end = (self.pos + chunk).min(self.audio.len());
            let due = started + Duration::from_micros(end as u64 * 1_000_000 / SAMPLE_RATE as u64);
            let now = Instant::now();
            if due > now {
                if due - now > timeout {
                    std::thread::sleep(timeout);
                    return Ok(Some(Vec::new()));
                }
                std::thread::sleep(due - now);
            }
        }
        let end = (self.pos + chunk).min(self.audio.len());
        let out = self.audio[self.pos..end].to_vec();
        self.pos = end;
        Ok(Some(out))
    }
}

/// A stand-in device for tests: delivers given audio in device-sized pieces through a real
/// [`CaptureQueue`] from its own thread at a chosen pace, and can fail like an unplugged device.
/// Lets the capture path (drops, errors, conversion) be tested with no sound system.
pub struct FakeDevice;

/// How a [`FakeDevice`] behaves.
#[derive(Debug, Clone)]
pub struct FakeDeviceConfig {
    /// Interleaved samples the device "hears".
    pub audio: Vec<f32>,
    pub rate: u32,
    pub channels: usize,
    /// Frames per callback.
    pub frames_per_callback: usize,
    /// Pace: real time when true, as fast as possible otherwise.
    pub realtime: bool,
    /// Samples (all channels) the queue holds before the device drops.
    pub queue_samples: usize,
    /// Report the device lost after its audio instead of just ending.
    pub fail_at_end: bool,
}

impl FakeDevice {
    pub fn start(config: FakeDeviceConfig) -> Result<QueuedSource, SourceError> {
        let (writer, queue) = CaptureQueue::new(config.queue_samples);
        let (rate, channels) = (config.rate, config.channels);
        let thread = std::thread::Builder::new()
            .name("hark-fake-device".into())
            .spawn(move || {
                let step = config.frames_per_callback * config.channels;
                let started = Instant::now();
                for (i, piece) in config.audio.chunks(step.max(1)).enumerate() {
                    if config.realtime {
                        let frames = ((i + 1) * config.frames_per_callback) as u64;
                        let due = started + Duration::from_micros(frames * 1_000_000 / config.rate as u64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    writer.push(piece.to_vec());
                }
                if config.fail_at_end {
                    writer.fail(SourceError::Lost("the audio device was disconnected".into()));
                }
            })
            .map_err(|e| SourceError::Unavailable(format!("cannot start the capture thread: {e}")))?;
        QueuedSource::new(queue, rate, channels, Box::new(JoinOnDrop(Some(thread))))
    }
}

/// Joins a helper thread when the source is dropped, so nothing outlives the stream.
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(src: &mut dyn AudioSource) -> (Vec<f32>, Option<SourceError>) {
        let mut out = Vec::new();
        loop {
            match src.read(Duration::from_millis(200)) {
                Ok(Some(s)) => out.extend_from_slice(&s),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn a_device_at_48k_stereo_becomes_16k_mono_with_nothing_lost() {
        // 1 s of a 440 Hz tone in both channels.
        let tone: Vec<f32> =
            (0..48_000).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 0.5).collect();
        let stereo: Vec<f32> = tone.iter().flat_map(|&s| [s, s]).collect();
        let mut src = FakeDevice::start(FakeDeviceConfig {
            audio: stereo,
            rate: 48_000,
            channels: 2,
            frames_per_callback: 480,
            realtime: false,
            queue_samples: 1_000_000,
            fail_at_end: false,
        })
        .unwrap();
        let (out, err) = read_all(&mut src);
        assert!(err.is_none());
        assert_eq!(src.dropped_ms(), 0);
        // The resampler holds back its last partial block (until more audio comes): within 60 ms of 1 s.
        assert!((15_040..=16_000).contains(&out.len()), "{} samples", out.len());
        let rms = (out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.02, "rms {rms}");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking_the_device() {
        let (writer, queue) = CaptureQueue::new(200);
        let t = Instant::now();
        for _ in 0..10 {
            writer.push(vec![0.0; 100]);
        }
        assert!(t.elapsed() < Duration::from_millis(50), "the device side must never wait");
        assert_eq!(queue.dropped(), 800);
        assert_eq!(queue.read(Duration::from_millis(10)).unwrap().unwrap().len(), 200);
    }

    #[test]
    fn a_lost_device_is_an_error_after_the_audio_before_it() {
        let mut src = FakeDevice::start(FakeDeviceConfig {
            audio: vec![0.1; 16_000],
            rate: 16_000,
            channels: 1,
            frames_per_callback: 160,
            realtime: false,
            queue_samples: 1_000_000,
            fail_at_end: true,
        })
        .unwrap();
        let (out, err) = read_all(&mut src);
        assert_eq!(out.len(), 16_000);
        assert_eq!(err, Some(SourceError::Lost("the audio device was disconnected".into())));
    }

    #[test]
    fn a_realtime_file_takes_real_time_and_a_fast_one_does_not() {
        let audio = vec![0.0; 8_000]; // 0.5 s
        let t = Instant::now();
        let (out, _) = read_all(&mut FileSource::from_samples(audio.clone(), true));
        let took = t.elapsed();
        assert_eq!(out.len(), 8_000);
        assert!(took >= Duration::from_millis(480) && took < Duration::from_millis(900), "{took:?}");
        let t = Instant::now();
        let (out, _) = read_all(&mut FileSource::from_samples(audio, false));
        assert_eq!(out.len(), 8_000);
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn pushed_pcm_keeps_partial_frames_for_the_next_push() {
        let mut p = PushConverter::new(16_000, 2).unwrap();
        // 3 s16 samples = one stereo frame and half of the next.
        let bytes: Vec<u8> = [1000i16, 3000, 5000].iter().flat_map(|s| s.to_le_bytes()).collect();
        let (out, taken) = p.push(&bytes).unwrap();
        assert_eq!((out.len(), taken), (1, 3));
        let (out, _) = p.push(&7000i16.to_le_bytes()).unwrap();
        assert_eq!(out.len(), 1);
        assert!((out[0] - 6000.0 / 32768.0).abs() < 1e-6);
        assert!(p.push(&[1, 2, 3]).is_err());
        assert!(PushConverter::new(16_000, 0).is_err());
    }
}
