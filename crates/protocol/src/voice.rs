//! Voice (PROTOCOL §6): audio sources, stream methods, `voice.event`, one-shot `transcribe`.

use serde::{Deserialize, Serialize};

/// `AudioSourceSpec` (tag `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AudioSourceSpec {
    Mic {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    System {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    PcmPush {
        #[serde(default = "default_rate")]
        sample_rate: u32,
        #[serde(default = "default_channels")]
        channels: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    File {
        path: String,
        #[serde(default = "default_true")]
        realtime: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

fn default_rate() -> u32 {
    16_000
}
fn default_channels() -> u16 {
    1
}
fn default_true() -> bool {
    true
}

impl AudioSourceSpec {
    /// `mic`, `system`, `pcm_push`, `file`.
    pub fn kind(&self) -> &'static str {
        match self {
            AudioSourceSpec::Mic { .. } => "mic",
            AudioSourceSpec::System { .. } => "system",
            AudioSourceSpec::PcmPush { .. } => "pcm_push",
            AudioSourceSpec::File { .. } => "file",
        }
    }

    /// The source's `name`, when the object gave one.
    pub fn name(&self) -> Option<&str> {
        match self {
            AudioSourceSpec::Mic { name, .. }
            | AudioSourceSpec::System { name }
            | AudioSourceSpec::PcmPush { name, .. }
            | AudioSourceSpec::File { name, .. } => name.as_deref(),
        }
    }

    /// Sets the source's `name`.
    pub fn set_name(&mut self, new: String) {
        match self {
            AudioSourceSpec::Mic { name, .. }
            | AudioSourceSpec::System { name }
            | AudioSourceSpec::PcmPush { name, .. }
            | AudioSourceSpec::File { name, .. } => *name = Some(new),
        }
    }

    /// Sources that hear the room need the `microphone` permission (PROTOCOL §9).
    pub fn needs_microphone(&self) -> bool {
        matches!(self, AudioSourceSpec::Mic { .. } | AudioSourceSpec::System { .. })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub partials: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StartParams {
    #[serde(default)]
    pub session_id: Option<String>,
    pub audio_source: AudioSourceSpec,
    #[serde(default)]
    pub options: StreamOptions,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushParams {
    pub session_id: String,
    pub pcm_b64: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionParams {
    pub session_id: String,
}

/// The `event` of a `voice.event` notification (PROTOCOL §6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VoiceEvent {
    SpeechStart { t_ms: u64 },
    SpeechEnd { t_ms: u64 },
    Partial { text: String, t0_ms: u64, t1_ms: u64, duration_ms: u64 },
    Transcript { text: String, t0_ms: u64, t1_ms: u64, duration_ms: u64, role: String, seq: u64 },
    Level { rms: f32, peak: f32 },
    Error { code: String, message: String },
    Done { reason: DoneReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneReason {
    Stopped,
    SourceEnded,
    Error,
    OwnerGone,
}

/// `transcribe {audio_b64? | path?, language?, model?}` (PROTOCOL §6.3).
#[derive(Debug, Clone, Deserialize)]
pub struct TranscribeParams {
    #[serde(default)]
    pub audio_b64: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// `voice.transcribe_stream.start`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartResult {
    pub session_id: String,
}

/// `voice.transcribe_stream.push`'s result: the samples taken, in the session's own rate and
/// channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResult {
    pub accepted: bool,
    pub samples: usize,
}

/// `voice.transcribe_stream.stop`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopResult {
    pub session_id: String,
    pub stopped: bool,
}

/// One input of `voice.devices.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
    pub default: bool,
    pub sample_rates: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevicesResult {
    pub inputs: Vec<DeviceInfo>,
    pub system_capture: bool,
}

/// One segment of a one-shot `transcribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeSegment {
    pub t0_ms: u64,
    pub t1_ms: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeResult {
    pub text: String,
    pub language: String,
    pub duration_ms: u64,
    pub segments: Vec<TranscribeSegment>,
}

/// Binary audio frames (PROTOCOL §6.4): `[0]=0x01`, `[1..17]` the session's UUID, `[17..25]`
/// a sequence number (u64 LE), `[25]=0x00` (s16le), then the PCM.
pub const AUDIO_FRAME_HEADER: usize = 26;

/// A binary audio frame for `session_id` (its 32 hex chars are the UUID's bytes); `None` for an
/// id that is not 32 hex chars (such a session cannot take binary frames).
pub fn audio_frame(session_id: &str, seq: u64, s16le: &[u8]) -> Option<Vec<u8>> {
    if session_id.len() != 32 {
        return None;
    }
    let mut frame = Vec::with_capacity(AUDIO_FRAME_HEADER + s16le.len());
    frame.push(0x01);
    for i in 0..16 {
        frame.push(u8::from_str_radix(session_id.get(i * 2..i * 2 + 2)?, 16).ok()?);
    }
    frame.extend_from_slice(&seq.to_le_bytes());
    frame.push(0x00);
    frame.extend_from_slice(s16le);
    Some(frame)
}

/// The session id (32 lowercase hex chars) and PCM of a binary audio frame; `None` for a short
/// or unknown frame.
pub fn parse_audio_frame(bytes: &[u8]) -> Option<(String, &[u8])> {
    if bytes.len() < AUDIO_FRAME_HEADER || bytes[0] != 0x01 || bytes[25] != 0x00 {
        return None;
    }
    let id = bytes[1..17].iter().map(|b| format!("{b:02x}")).collect();
    Some((id, &bytes[AUDIO_FRAME_HEADER..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        let s: AudioSourceSpec =
            serde_json::from_value(json!({ "kind": "pcm_push", "sample_rate": 48000, "channels": 2 }))
                .unwrap();
        assert_eq!(s, AudioSourceSpec::PcmPush { sample_rate: 48_000, channels: 2, name: None });
        let f: AudioSourceSpec = serde_json::from_value(json!({ "kind": "file", "path": "/a.wav" })).unwrap();
        assert!(matches!(f, AudioSourceSpec::File { realtime: true, .. }));
        assert!(serde_json::from_value::<AudioSourceSpec>(json!({ "kind": "radio" })).is_err());
        let e = VoiceEvent::Transcript {
            text: "hi".into(),
            t0_ms: 1,
            t1_ms: 2,
            duration_ms: 1,
            role: "unknown".into(),
            seq: 0,
        };
        assert_eq!(serde_json::to_value(&e).unwrap()["type"], json!("transcript"));
        assert_eq!(
            serde_json::to_value(VoiceEvent::Done { reason: DoneReason::OwnerGone }).unwrap(),
            json!({ "type": "done", "reason": "owner_gone" })
        );
    }

    #[test]
    fn audio_frames_round_trip_and_bad_ones_are_refused() {
        let id = "0123456789abcdef0123456789abcdef";
        let frame = audio_frame(id, 7, &[1, 2, 3, 4]).unwrap();
        assert_eq!(frame.len(), AUDIO_FRAME_HEADER + 4);
        assert_eq!(&frame[17..25], &7u64.to_le_bytes());
        assert_eq!(parse_audio_frame(&frame), Some((id.to_string(), &[1u8, 2, 3, 4][..])));
        assert_eq!(audio_frame("short", 0, &[]), None);
        assert_eq!(audio_frame("zz23456789abcdef0123456789abcdef", 0, &[]), None);
        assert_eq!(parse_audio_frame(&frame[..25]), None);
        let mut unknown = frame.clone();
        unknown[0] = 0x02;
        assert_eq!(parse_audio_frame(&unknown), None);
    }
}
