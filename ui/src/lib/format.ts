/**
 * How times, durations and sizes are written in the window. Pure: no DOM, no clock (callers
 * pass `now`), so every case is unit-tested.
 */

/** A position in a recording: `m:ss` under an hour, else `h:mm:ss` (floors to the second). */
export function formatOffset(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A length of time in words: `45 s`, `12 min`, `1 h 05 min` (whole seconds / minutes). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds} s`;
  const totalMinutes = Math.round(totalSeconds / 60);
  if (totalMinutes < 60) return `${totalMinutes} min`;
  const h = Math.floor(totalMinutes / 60);
  const m = totalMinutes % 60;
  return `${h} h ${String(m).padStart(2, '0')} min`;
}

/** Milliseconds between an RFC 3339 start and `now` (never negative; 0 for a bad date). */
export function elapsedSince(startedAt: string, now: number): number {
  const t = Date.parse(startedAt);
  if (Number.isNaN(t)) return 0;
  return Math.max(0, now - t);
}

/**
 * A date and time for lists: `2025-05-12 15:00` in the given time zone offset (minutes east of
 * UTC, as `-new Date().getTimezoneOffset()` gives), so tests do not depend on the machine's zone.
 */
export function formatDateTime(iso: string, offsetMinutes = localOffsetMinutes()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = new Date(t + offsetMinutes * 60_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/**
 * What recovering a meeting after a crash did (`MeetingMetadata.recovered`, Hark's own field), in
 * words: what was kept needs no mention, what was set aside or repaired does.
 */
export function recoveryText(
  r: { recovered_at: string; broken_lines: number; wavs_fixed: number; wavs_moved_aside: number },
  offsetMinutes = localOffsetMinutes(),
): string {
  const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  const done: string[] = [];
  if (r.broken_lines > 0) {
    done.push(`${n(r.broken_lines, 'transcript line', 'transcript lines')} could not be read and ${r.broken_lines === 1 ? 'was' : 'were'} set aside (transcript.jsonl.broken)`);
  }
  if (r.wavs_fixed > 0) done.push(`${n(r.wavs_fixed, 'audio file', 'audio files')} repaired`);
  if (r.wavs_moved_aside > 0) {
    done.push(`${n(r.wavs_moved_aside, 'audio file', 'audio files')} too short to repair, set aside (.wav.broken)`);
  }
  const when = `After a crash, on ${formatDateTime(r.recovered_at, offsetMinutes)}`;
  return done.length ? `${when}: ${done.join('; ')}.` : `${when}: everything written before it was kept.`;
}

export function localOffsetMinutes(): number {
  return -new Date().getTimezoneOffset();
}

/** Bytes for people: `512 B`, `1.5 KB`, `74.1 MB`, `1.20 GB` (powers of 1024, as files are shown). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) bytes = 0;
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit >= 2 && value < 10 ? 2 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** A whole percentage of `done` out of `total`, clamped to 0..100 (0 when total is 0). */
export function percent(done: number, total: number): number {
  if (!Number.isFinite(done) || !Number.isFinite(total) || total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

/**
 * A level meter's fill (0..1) for an RMS of samples in -1..1: dBFS mapped linearly from -60 dB
 * (empty) to 0 dB (full), which is how meters read for speech.
 */
export function levelFill(rms: number): number {
  if (!Number.isFinite(rms) || rms <= 0) return 0;
  const db = 20 * Math.log10(Math.min(1, rms));
  return Math.max(0, Math.min(1, (db + 60) / 60));
}
