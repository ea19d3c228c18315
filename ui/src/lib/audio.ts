/**
 * A kept meeting source's audio, read over the socket in chunks (`meeting.audio`): the chunks are
 * the bytes of the source's WAV file in order (its header at offset 0), so joined they make a
 * playable `audio/wav`. Pure: the call is handed in, so the loop is unit-tested with fakes.
 */

/** The daemon's default chunk (1 MiB of WAV, a third more as base64 on the wire). */
export const AUDIO_CHUNK_BYTES = 1 << 20;

/** `meeting.audio`'s result (docs/API.md, Meetings). */
export interface AudioChunk {
  meeting_id: string;
  source: string;
  offset: number;
  length: number;
  total_bytes: number;
  data_b64: string;
  content_type: string;
  sample_rate: number;
  channels: number;
  duration_ms: number;
}

export interface FetchedAudio {
  chunks: Uint8Array<ArrayBuffer>[];
  total: number;
  contentType: string;
  durationMs: number;
}

export type AudioCall = (method: 'meeting.audio', params: { meeting_id: string; source: string; offset: number; length: number }) => Promise<AudioChunk>;

/** Standard base64 (what the daemon sends) to bytes. Throws on anything else. */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Reads a source's audio from offset 0 to its end, one chunk after the other, reporting
 * `onProgress(bytes, total)` after each. Returns null when `cancelled()` says so between chunks
 * (the page was left). Throws the call's error, or an Error when the daemon's answers do not add
 * up (another offset than asked, a length that is not the data's, a file that changed size).
 */
export async function fetchAudio(
  call: AudioCall,
  meetingId: string,
  source: string,
  opts: { chunk?: number; onProgress?: (bytes: number, total: number) => void; cancelled?: () => boolean } = {},
): Promise<FetchedAudio | null> {
  const chunk = opts.chunk ?? AUDIO_CHUNK_BYTES;
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let offset = 0;
  let total: number | null = null;
  let contentType = 'audio/wav';
  let durationMs = 0;
  for (;;) {
    if (opts.cancelled?.()) return null;
    const r = await call('meeting.audio', { meeting_id: meetingId, source, offset, length: chunk });
    if (opts.cancelled?.()) return null;
    if (r.offset !== offset) throw new Error(`the daemon sent the audio from byte ${r.offset}, not ${offset}`);
    if (total !== null && r.total_bytes !== total) throw new Error('the audio file changed while it was loading');
    total = r.total_bytes;
    contentType = r.content_type || contentType;
    durationMs = r.duration_ms;
    const data = decodeBase64(r.data_b64 ?? '');
    if (data.length !== r.length) throw new Error(`the daemon said ${r.length} bytes but sent ${data.length}`);
    if (data.length > 0) chunks.push(data);
    offset += data.length;
    opts.onProgress?.(offset, total);
    if (offset >= total) break;
    if (data.length === 0) throw new Error(`the daemon sent no audio at byte ${offset} of ${total}`);
  }
  return { chunks, total: total ?? 0, contentType, durationMs };
}
