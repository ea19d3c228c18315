//! Capture from sound devices with cpal: the microphone (`mic`) and, on Linux, what the computer
//! plays (`system`: the monitor of the default PulseAudio/PipeWire sink).
//!
//! On Linux cpal's PulseAudio host is used when a sound server is running (PipeWire answers it
//! through pipewire-pulse): its devices are the server's sources with stable names, monitors
//! included. Without a sound server cpal falls back to ALSA.
//!
//! cpal's stream is not `Send` on every platform, so each capture owns ONE thread that opens
//! the device, keeps the stream and drops it when the source is dropped. The device callback
//! only converts samples to `f32` and hands them to a bounded [`CaptureQueue`]; it never waits.

use std::sync::mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{ErrorKind, FromSample, SampleFormat, SizedSample};

use crate::source::{CaptureQueue, CaptureWriter, InputDevice, QueuedSource, SourceError};

/// Audio a capture queue holds: a reader busy with a long decode loses nothing; past that the
/// device drops (and counts) rather than waits.
const QUEUE_SECONDS: usize = 40;
/// How long opening a device may take before it counts as unavailable.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Rates listed for a device whose range covers them.
const COMMON_RATES: [u32; 8] = [8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000];

fn cpal_error(context: &str, e: cpal::Error) -> SourceError {
    let message = format!("{context}: {e}");
    match e.kind() {
        ErrorKind::DeviceBusy => SourceError::Busy(message),
        ErrorKind::UnsupportedConfig | ErrorKind::UnsupportedOperation => SourceError::Unsupported(message),
        _ => SourceError::Unavailable(message),
    }
}

/// Monitor sources are what a sink plays, not a microphone: `system` covers them.
fn is_monitor(id: &cpal::DeviceId) -> bool {
    id.id().ends_with(".monitor")
}

/// The input devices of the default host, monitors left out.
pub fn list_inputs() -> Result<Vec<InputDevice>, SourceError> {
    let host = cpal::default_host();
    let default_id = host.default_input_device().and_then(|d| d.id().ok());
    let devices = host.input_devices().map_err(|e| cpal_error("cannot list the audio devices", e))?;
    let mut out = Vec::new();
    for device in devices {
        let Ok(id) = device.id() else { continue };
        if is_monitor(&id) {
            continue;
        }
        let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| id.id().to_string());
        let mut rates: Vec<u32> = device
            .supported_input_configs()
            .map(|configs| {
                configs
                    .flat_map(|c| {
                        COMMON_RATES
                            .into_iter()
                            .filter(move |r| (c.min_sample_rate()..=c.max_sample_rate()).contains(r))
                    })
                    .collect()
            })
            .unwrap_or_default();
        rates.sort_unstable();
        rates.dedup();
        out.push(InputDevice {
            id: id.to_string(),
            name,
            default: Some(&id) == default_id.as_ref(),
            sample_rates: rates,
        });
    }
    Ok(out)
}

/// Whether `system` capture can work here now (a sound server with a default sink's monitor).
pub fn system_capture_available() -> bool {
    system_device(&cpal::default_host()).is_ok()
}

/// The microphone: a device id from [`list_inputs`] (or its bare name), or the default input.
pub fn open_mic(device: Option<String>) -> Result<QueuedSource, SourceError> {
    open_on_thread(move |host| match device {
        None => host.default_input_device().ok_or_else(|| {
            SourceError::Unavailable("no microphone: the system reports no default input device".into())
        }),
        Some(wanted) => find_input(host, &wanted),
    })
}

/// What the computer plays: the monitor of the default output (Linux, PulseAudio/PipeWire).
pub fn open_system() -> Result<QueuedSource, SourceError> {
    open_on_thread(system_device)
}

fn find_input(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, SourceError> {
    let not_found =
        || SourceError::Unavailable(format!("no input device {wanted:?} (voice.devices.list names them)"));
    if let Ok(id) = wanted.parse::<cpal::DeviceId>() {
        if id.host() == host.id() {
            return host.device_by_id(&id).ok_or_else(not_found);
        }
        if let Ok(other) = cpal::host_from_id(id.host()) {
            return other.device_by_id(&id).ok_or_else(not_found);
        }
    }
    // A bare device name (the part after `host:`), or its display name.
    let devices = host.input_devices().map_err(|e| cpal_error("cannot list the audio devices", e))?;
    for device in devices {
        let by_id = device.id().is_ok_and(|id| id.id() == wanted);
        if by_id || device.description().is_ok_and(|d| d.name() == wanted) {
            return Ok(device);
        }
    }
    Err(not_found())
}

#[cfg(target_os = "linux")]
fn system_device(host: &cpal::Host) -> Result<cpal::Device, SourceError> {
    if host.id() != cpal::HostId::PulseAudio {
        return Err(SourceError::Unavailable(
            "system audio capture needs a running PulseAudio or PipeWire (pipewire-pulse) sound server"
                .into(),
        ));
    }
    let sink = host
        .default_output_device()
        .and_then(|d| d.id().ok())
        .ok_or_else(|| SourceError::Unavailable("no default audio output to capture".into()))?;
    // PulseAudio and pipewire-pulse name a sink's monitor source "<sink>.monitor".
    let monitor = cpal::DeviceId::new(sink.host(), format!("{}.monitor", sink.id()));
    host.device_by_id(&monitor).ok_or_else(|| {
        SourceError::Unavailable(format!("the default output {:?} has no monitor source", sink.id()))
    })
}

#[cfg(not(target_os = "linux"))]
fn system_device(_host: &cpal::Host) -> Result<cpal::Device, SourceError> {
    Err(SourceError::Unsupported("system audio capture is not supported on this platform yet".into()))
}

/// Stops the thread that owns a device stream and waits (briefly) for the device to close.
struct DeviceThread {
    stop: Option<mpsc::Sender<()>>,
    /// Disconnects when the thread has dropped the stream.
    exited: mpsc::Receiver<()>,
}

/// How long dropping a capture waits for its device to close. A thread stuck in the sound
/// system (e.g. `play` waiting for a source that never delivers) is left to finish on its own
/// rather than hanging the stream's end.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

impl Drop for DeviceThread {
    fn drop(&mut self) {
        drop(self.stop.take()); // the thread's wait ends, it drops the stream
        let _ = self.exited.recv_timeout(CLOSE_WAIT);
    }
}

type Opened = (CaptureQueue, u32, usize);

fn open_on_thread(
    pick: impl FnOnce(&cpal::Host) -> Result<cpal::Device, SourceError> + Send + 'static,
) -> Result<QueuedSource, SourceError> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Opened, SourceError>>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (exited_tx, exited) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("hark-capture".into())
        .spawn(move || {
            let _exited = exited_tx; // dropped last, when everything else here is
            let opened = (|| {
                let host = cpal::default_host();
                let device = pick(&host)?;
                let config = device
                    .default_input_config()
                    .map_err(|e| cpal_error("the audio device cannot be opened", e))?;
                let samples_per_s = config.sample_rate() as usize * config.channels() as usize;
                let (writer, queue) = CaptureQueue::new(QUEUE_SECONDS * samples_per_s);
                let stream = build_stream(&device, &config, writer.clone())?;
                Ok((stream, writer, queue, config.sample_rate(), config.channels() as usize))
            })();
            match opened {
                Ok((stream, writer, queue, rate, channels)) => {
                    if ready_tx.send(Ok((queue, rate, channels))).is_err() {
                        return;
                    }
                    // Ready once built, before `play`: cpal's PulseAudio host returns from `play`
                    // only when the first audio arrives, and a source may have none yet (a
                    // FIFO-fed one before its writer starts). A failing `play` ends the capture.
                    if let Err(e) = stream.play() {
                        writer.fail(SourceError::Lost(format!("the audio device cannot start: {e}")));
                    }
                    drop(writer);
                    let _ = stop_rx.recv(); // until the source is dropped
                    drop(stream);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| SourceError::Unavailable(format!("cannot start the capture thread: {e}")))?;
    let guard = DeviceThread { stop: Some(stop_tx), exited };
    let (queue, rate, channels) = match ready_rx.recv_timeout(OPEN_TIMEOUT) {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(SourceError::Unavailable("the audio device did not open in time".into())),
    };
    QueuedSource::new(queue, rate, channels, Box::new(guard))
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    writer: CaptureWriter,
) -> Result<cpal::Stream, SourceError> {
    let stream_config = config.config();
    match config.sample_format() {
        SampleFormat::F32 => build::<f32>(device, &stream_config, writer),
        SampleFormat::F64 => build::<f64>(device, &stream_config, writer),
        SampleFormat::I16 => build::<i16>(device, &stream_config, writer),
        SampleFormat::I32 => build::<i32>(device, &stream_config, writer),
        SampleFormat::I8 => build::<i8>(device, &stream_config, writer),
        SampleFormat::U16 => build::<u16>(device, &stream_config, writer),
        SampleFormat::U8 => build::<u8>(device, &stream_config, writer),
        other => {
            Err(SourceError::Unsupported(format!("the device's sample format {other:?} is not supported")))
        }
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    writer: CaptureWriter,
) -> Result<cpal::Stream, SourceError>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let errors = writer.clone();
    device
        .build_input_stream::<T, _, _>(
            *config,
            move |data: &[T], _| {
                writer.push(data.iter().map(|&s| cpal::Sample::to_sample::<f32>(s)).collect())
            },
            move |e: cpal::Error| match e.kind() {
                // Glitches and a default device that followed a new route: capture goes on.
                ErrorKind::Xrun | ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied => {
                    tracing::debug!(error = %e, "audio capture glitch")
                }
                _ => errors.fail(SourceError::Lost(format!("the audio device failed: {e}"))),
            },
            Some(OPEN_TIMEOUT),
        )
        .map_err(|e| cpal_error("the audio device cannot be opened", e))
}
