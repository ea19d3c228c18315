//! Where a voice stream's events go. A plain stream (`voice.transcribe_stream.start`) sends them
//! to its owner's outbox as `voice.event`s; a meeting's stream hands them, and its audio, to the
//! meeting's recorder, which stores each final before anyone is told of it (`meetings/`).

use std::sync::Arc;

use hark_protocol::jsonrpc;
use hark_protocol::voice::VoiceEvent;
use serde_json::json;

use crate::caller::Outbox;

/// Receives one stream's output, in order. Called from the stream's task: never blocks for long.
pub trait EventSink: Send + Sync {
    /// The next event of stream `stream_id`.
    fn event(&self, stream_id: &str, event: VoiceEvent);
    /// Audio the stream took in (16 kHz mono), before any event it causes.
    fn audio(&self, _samples: &[f32]) {}
}

/// The `voice.event` notification for one event.
pub fn voice_event_text(stream_id: &str, event: &VoiceEvent) -> String {
    jsonrpc::notification("voice.event", json!({ "session_id": stream_id, "event": event })).to_string()
}

/// Sends `event` to `outbox`: a `partial` may be replaced by a newer one still queued for a slow
/// client; everything else is queued as is.
pub fn send_voice_event(outbox: &dyn Outbox, stream_id: &str, event: &VoiceEvent) {
    let text = voice_event_text(stream_id, event);
    if matches!(event, VoiceEvent::Partial { .. }) {
        outbox.push_coalescable(format!("partial:{stream_id}"), text);
    } else {
        outbox.push_text(text);
    }
}

/// A plain stream's sink: its owner's outbox.
pub struct OwnerSink(pub Arc<dyn Outbox>);

impl EventSink for OwnerSink {
    fn event(&self, stream_id: &str, event: VoiceEvent) {
        send_voice_event(&*self.0, stream_id, &event);
    }
}
