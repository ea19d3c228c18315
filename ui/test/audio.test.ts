import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64, fetchAudio, type AudioCall, type AudioChunk } from '../src/lib/audio.js';

/** A fake daemon serving `file` (its bytes) in `meeting.audio` chunks, recording the calls. */
function daemon(file: Uint8Array, tweak: (r: AudioChunk, call: number) => AudioChunk = (r) => r) {
  const calls: Array<{ offset: number; length: number }> = [];
  const call: AudioCall = async (_method, p) => {
    calls.push({ offset: p.offset, length: p.length });
    const data = file.subarray(p.offset, p.offset + p.length);
    const r: AudioChunk = {
      meeting_id: p.meeting_id,
      source: p.source,
      offset: p.offset,
      length: data.length,
      total_bytes: file.length,
      data_b64: Buffer.from(data).toString('base64'),
      content_type: 'audio/wav',
      sample_rate: 16000,
      channels: 1,
      duration_ms: Math.floor(Math.max(0, file.length - 44) / 32),
    };
    return tweak(r, calls.length - 1);
  };
  return { call, calls };
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256);

test('base64 decodes to the bytes it encodes', () => {
  const b = bytes(1000);
  assert.deepEqual(decodeBase64(Buffer.from(b).toString('base64')), b);
  assert.deepEqual(decodeBase64(''), new Uint8Array(0));
  assert.throws(() => decodeBase64('not base64!'));
});

test('the chunks are fetched in order and join into the whole file, with progress', async () => {
  const file = bytes(2500);
  const d = daemon(file);
  const progress: Array<[number, number]> = [];
  const r = await fetchAudio(d.call, 'm1', 'mic', { chunk: 1000, onProgress: (b, t) => progress.push([b, t]) });
  assert.ok(r);
  assert.deepEqual(d.calls, [
    { offset: 0, length: 1000 },
    { offset: 1000, length: 1000 },
    { offset: 2000, length: 1000 },
  ]);
  assert.deepEqual(Buffer.concat(r.chunks), Buffer.from(file));
  assert.deepEqual(progress, [[1000, 2500], [2000, 2500], [2500, 2500]]);
  assert.equal(r.total, 2500);
  assert.equal(r.contentType, 'audio/wav');
  assert.equal(r.durationMs, Math.floor((2500 - 44) / 32));
});

test('a file of exactly one chunk takes one call; the default chunk is 1 MiB', async () => {
  const d = daemon(bytes(1000));
  const r = await fetchAudio(d.call, 'm1', 'mic', { chunk: 1000 });
  assert.equal(r?.chunks.length, 1);
  assert.equal(d.calls.length, 1);
  const big = daemon(bytes(10));
  await fetchAudio(big.call, 'm1', 'mic');
  assert.equal(big.calls[0].length, 1 << 20);
});

test('an empty file gives no chunks', async () => {
  const r = await fetchAudio(daemon(new Uint8Array(0)).call, 'm1', 'mic');
  assert.deepEqual(r?.chunks, []);
  assert.equal(r?.total, 0);
});

test('answers that do not add up are errors, not a broken file', async () => {
  const file = bytes(3000);
  const wrongOffset = daemon(file, (r, i) => (i === 1 ? { ...r, offset: r.offset + 1 } : r));
  await assert.rejects(fetchAudio(wrongOffset.call, 'm', 's', { chunk: 1000 }), /from byte 1001, not 1000/);
  const wrongLength = daemon(file, (r) => ({ ...r, length: r.length + 1 }));
  await assert.rejects(fetchAudio(wrongLength.call, 'm', 's', { chunk: 1000 }), /said 1001 bytes but sent 1000/);
  const grew = daemon(file, (r, i) => (i === 1 ? { ...r, total_bytes: r.total_bytes + 5 } : r));
  await assert.rejects(fetchAudio(grew.call, 'm', 's', { chunk: 1000 }), /changed while it was loading/);
  const stuck = daemon(file, (r, i) => (i === 1 ? { ...r, length: 0, data_b64: '' } : r));
  await assert.rejects(fetchAudio(stuck.call, 'm', 's', { chunk: 1000 }), /no audio at byte 1000 of 3000/);
});

test("the daemon's error is the caller's error", async () => {
  const refused: AudioCall = async () => {
    throw Object.assign(new Error('meeting m did not keep its audio (persist_audio: false)'), { code: -32012 });
  };
  await assert.rejects(fetchAudio(refused, 'm', 's'), /did not keep its audio/);
});

test('a cancelled load stops between chunks and returns nothing', async () => {
  const d = daemon(bytes(5000));
  let stop = false;
  const r = await fetchAudio(d.call, 'm', 's', {
    chunk: 1000,
    cancelled: () => stop,
    onProgress: (b) => {
      if (b >= 2000) stop = true;
    },
  });
  assert.equal(r, null);
  assert.equal(d.calls.length, 2);
});
