//! Sources the daemon reads itself (microphone, system audio, WAV files): which backend opens
//! devices, and the pump that moves a source's audio into its stream.
//!
//! The backend is part of the daemon's configuration so tests can put a fake device where the
//! sound system would be (`hark_audio::source::FakeDevice`); `hark serve` uses cpal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hark_audio::source::{AudioSource, InputDevice, SourceError};
use hark_protocol::voice::DoneReason;
use hark_protocol::{ErrorCode, RpcError};
use tokio::sync::mpsc;

use super::session::Command;

/// Opens capture devices. Every call may block (device enumeration, opening): callers run it on
/// a blocking thread.
pub trait CaptureBackend: Send + Sync + std::fmt::Debug {
    fn inputs(&self) -> Result<Vec<InputDevice>, SourceError>;
    /// Whether `{"kind":"system"}` can work here now.
    fn system_capture(&self) -> bool;
    fn open_mic(&self, device: Option<String>) -> Result<Box<dyn AudioSource>, SourceError>;
    fn open_system(&self) -> Result<Box<dyn AudioSource>, SourceError>;
}

/// The backend `hark serve` uses: cpal where the `capture` feature is built, else none.
pub fn default_backend() -> Arc<dyn CaptureBackend> {
    #[cfg(feature = "capture")]
    {
        Arc::new(Cpal)
    }
    #[cfg(not(feature = "capture"))]
    {
        Arc::new(NoCapture)
    }
}

/// cpal: the real microphone and, on Linux, the default sink's monitor.
#[cfg(feature = "capture")]
#[derive(Debug)]
pub struct Cpal;

#[cfg(feature = "capture")]
impl CaptureBackend for Cpal {
    fn inputs(&self) -> Result<Vec<InputDevice>, SourceError> {
        hark_audio::capture::list_inputs()
    }
    fn system_capture(&self) -> bool {
        hark_audio::capture::system_capture_available()
    }
    fn open_mic(&self, device: Option<String>) -> Result<Box<dyn AudioSource>, SourceError> {
        Ok(Box::new(hark_audio::capture::open_mic(device)?))
    }
    fn open_system(&self) -> Result<Box<dyn AudioSource>, SourceError> {
        Ok(Box::new(hark_audio::capture::open_system()?))
    }
}

/// A build without capture: no devices, and a clear refusal.
#[derive(Debug)]
pub struct NoCapture;

impl CaptureBackend for NoCapture {
    fn inputs(&self) -> Result<Vec<InputDevice>, SourceError> {
        Ok(Vec::new())
    }
    fn system_capture(&self) -> bool {
        false
    }
    fn open_mic(&self, _: Option<String>) -> Result<Box<dyn AudioSource>, SourceError> {
        Err(SourceError::Unsupported("this build of the daemon has no audio capture".into()))
    }
    fn open_system(&self) -> Result<Box<dyn AudioSource>, SourceError> {
        self.open_mic(None)
    }
}

/// A source that could not start, as the RPC error the caller gets.
pub fn open_error(e: SourceError) -> RpcError {
    match e {
        SourceError::Unavailable(m) | SourceError::Lost(m) => RpcError::new(ErrorCode::NotFound, m)
            .with_data(serde_json::json!({ "field": "audio_source", "reason": "unavailable" })),
        SourceError::Busy(m) => RpcError::busy(m),
        SourceError::Unsupported(m) => RpcError::invalid_params("audio_source.kind", m),
        SourceError::Read(m) => RpcError::invalid_params("audio_source.path", m),
    }
}

/// The `error` event code for a source that failed while running.
fn failure_code(e: &SourceError) -> &'static str {
    match e {
        SourceError::Lost(_) | SourceError::Unavailable(_) | SourceError::Busy(_) => "device_lost",
        SourceError::Unsupported(_) | SourceError::Read(_) => "source_failed",
    }
}

/// How long one read waits before the pump checks whether its stream is still there.
const POLL: Duration = Duration::from_millis(100);

/// Moves a source's audio into its stream on a thread of its own, until the source ends (the
/// stream gets `source_ended`), fails (`error`, then `done`), or the stream is gone. The source
/// (and its device) is dropped on that thread when the pump ends. `dropped_ms` mirrors what the
/// device had to drop; the stream gets that much silence in its place, so timestamps after a
/// drop still match the audio's own time (the gap is placed where the drop is noticed).
pub fn spawn_pump(
    mut source: Box<dyn AudioSource>,
    commands: mpsc::Sender<Command>,
    dropped_ms: Arc<AtomicU64>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("hark-source".into()).spawn(move || {
        let mut gap_filled_ms = 0;
        loop {
            let read = source.read(POLL);
            let dropped = source.dropped_ms();
            dropped_ms.store(dropped, Ordering::Relaxed);
            if dropped > gap_filled_ms {
                let silence = vec![0.0; hark_audio::ms_to_samples(dropped - gap_filled_ms) as usize];
                gap_filled_ms = dropped;
                tracing::warn!(dropped_ms = dropped, "the stream fell behind its device: audio was dropped");
                if commands.blocking_send(Command::Audio(silence)).is_err() {
                    return;
                }
            }
            match read {
                Ok(Some(samples)) if samples.is_empty() => {
                    if commands.is_closed() {
                        return;
                    }
                }
                Ok(Some(samples)) => {
                    // Waits while the stream is busy: the device side keeps capturing into its
                    // own bounded queue meanwhile, so capture never waits for inference.
                    if commands.blocking_send(Command::Audio(samples)).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = commands.blocking_send(Command::Stop(DoneReason::SourceEnded, None));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an audio source failed");
                    let code = failure_code(&e).to_string();
                    let _ = commands.blocking_send(Command::Fail { code, message: e.to_string() });
                    return;
                }
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays a script of reads: (samples, dropped_ms after the read), then ends or fails.
    struct Scripted {
        reads: std::collections::VecDeque<(Vec<f32>, u64)>,
        dropped: u64,
        fail: Option<SourceError>,
    }

    impl AudioSource for Scripted {
        fn read(&mut self, _: Duration) -> Result<Option<Vec<f32>>, SourceError> {
            match self.reads.pop_front() {
                Some((samples, dropped)) => {
                    self.dropped = dropped;
                    Ok(Some(samples))
                }
                None => self.fail.take().map_or(Ok(None), Err),
            }
        }
        fn dropped_ms(&self) -> u64 {
            self.dropped
        }
    }

    async fn commands_of(source: Scripted) -> (Vec<Command>, u64) {
        let (tx, mut rx) = mpsc::channel(64);
        let dropped = Arc::new(AtomicU64::new(0));
        spawn_pump(Box::new(source), tx, dropped.clone()).unwrap();
        let mut out = Vec::new();
        while let Some(c) = rx.recv().await {
            out.push(c);
        }
        (out, dropped.load(Ordering::Relaxed))
    }

    fn lengths(commands: &[Command]) -> Vec<usize> {
        commands.iter().filter_map(|c| if let Command::Audio(a) = c { Some(a.len()) } else { None }).collect()
    }

    #[tokio::test]
    async fn dropped_audio_becomes_silence_so_the_timeline_stays_true() {
        let reads = vec![(vec![0.5; 320], 0), (vec![], 0), (vec![0.5; 320], 100), (vec![0.5; 160], 100)];
        let source = Scripted { reads: reads.into(), dropped: 0, fail: None };
        let (commands, dropped) = commands_of(source).await;
        // The 100 ms gap (1,600 samples of silence) comes before the audio read after it; the
        // empty read sends nothing.
        assert_eq!(lengths(&commands), [320, 1_600, 320, 160]);
        assert!(matches!(commands.last(), Some(Command::Stop(DoneReason::SourceEnded, None))));
        assert_eq!(dropped, 100);
    }

    #[tokio::test]
    async fn a_failing_source_ends_with_fail_after_its_audio() {
        let reads = vec![(vec![0.1; 320], 0)];
        let lost = SourceError::Lost("the audio device was disconnected".into());
        let (commands, _) = commands_of(Scripted { reads: reads.into(), dropped: 0, fail: Some(lost) }).await;
        assert_eq!(lengths(&commands), [320]);
        assert!(
            matches!(commands.last(), Some(Command::Fail { code, .. }) if code == "device_lost"),
            "{commands:?}"
        );
    }
}
