import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  elapsedSince,
  formatBytes,
  formatDateTime,
  formatDuration,
  formatOffset,
  levelFill,
  percent,
  recoveryText,
} from '../src/lib/format.js';

test('offsets are m:ss under an hour and h:mm:ss above, floored', () => {
  assert.equal(formatOffset(0), '0:00');
  assert.equal(formatOffset(999), '0:00');
  assert.equal(formatOffset(61_500), '1:01');
  assert.equal(formatOffset(3_599_999), '59:59');
  assert.equal(formatOffset(3_600_000), '1:00:00');
  assert.equal(formatOffset(3_723_000), '1:02:03');
  assert.equal(formatOffset(-5), '0:00');
  assert.equal(formatOffset(Number.NaN), '0:00');
});

test('durations read in seconds, minutes, then hours and minutes', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(44_600), '45 s');
  assert.equal(formatDuration(59_400), '59 s');
  assert.equal(formatDuration(60_000), '1 min');
  assert.equal(formatDuration(1_907_480), '32 min');
  assert.equal(formatDuration(3_900_000), '1 h 05 min');
});

test('elapsed time since a start is never negative and 0 for a bad date', () => {
  const start = '2025-05-12T15:00:00.000Z';
  assert.equal(elapsedSince(start, Date.parse(start) + 12_345), 12_345);
  assert.equal(elapsedSince(start, Date.parse(start) - 1000), 0);
  assert.equal(elapsedSince('not a date', 5), 0);
});

test('date and time in a given zone offset', () => {
  assert.equal(formatDateTime('2025-05-12T15:00:00.012Z', 0), '2025-05-12 15:00');
  assert.equal(formatDateTime('2025-05-12T23:30:00Z', 120), '2025-05-13 01:30');
  assert.equal(formatDateTime('2025-05-12T00:10:00Z', -60), '2025-05-11 23:10');
  assert.equal(formatDateTime('garbage', 0), 'garbage');
});

test('bytes in binary units', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(77_704_715), '74.1 MB');
  assert.equal(formatBytes(1_288_490_189), '1.20 GB');
});

test('percent clamps and handles a zero total', () => {
  assert.equal(percent(50, 200), 25);
  assert.equal(percent(199, 200), 99);
  assert.equal(percent(300, 200), 100);
  assert.equal(percent(5, 0), 0);
  assert.equal(percent(-1, 10), 0);
});

test('level meter fill maps -60..0 dBFS to 0..1', () => {
  assert.equal(levelFill(0), 0);
  assert.equal(levelFill(1), 1);
  assert.equal(levelFill(2), 1);
  assert.ok(Math.abs(levelFill(0.001) - 0) < 1e-9, '-60 dB is empty');
  assert.ok(Math.abs(levelFill(0.1) - 2 / 3) < 1e-9, '-20 dB is two thirds');
});

test('a recovery says what was set aside or repaired, and when', () => {
  const at = '2026-12-04T09:30:00.000Z';
  assert.equal(
    recoveryText({ recovered_at: at, broken_lines: 0, wavs_fixed: 0, wavs_moved_aside: 0 }, 0),
    'After a crash, on 2026-12-04 09:30: everything written before it was kept.',
  );
  assert.equal(
    recoveryText({ recovered_at: at, broken_lines: 1, wavs_fixed: 2, wavs_moved_aside: 0 }, 60),
    'After a crash, on 2026-12-04 10:30: 1 transcript line could not be read and was set aside (transcript.jsonl.broken); 2 audio files repaired.',
  );
  assert.equal(
    recoveryText({ recovered_at: at, broken_lines: 3, wavs_fixed: 0, wavs_moved_aside: 1 }, 0),
    'After a crash, on 2026-12-04 09:30: 3 transcript lines could not be read and were set aside (transcript.jsonl.broken); 1 audio file too short to repair, set aside (.wav.broken).',
  );
});
