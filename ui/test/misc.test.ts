import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKOFF_MAX_MS, backoffDelay } from '../src/lib/backoff.js';
import { EXPORT_FORMATS, exportFileName, mimeFor } from '../src/lib/download.js';
import { externalUrl } from '../src/lib/links.js';

test('backoff doubles from 0.5 s up to 10 s, with at most 20% jitter off', () => {
  const none = () => 0;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(n, none)), [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  assert.equal(backoffDelay(0, () => 1), 400);
  assert.ok(backoffDelay(100, Math.random) <= BACKOFF_MAX_MS);
});

test('only absolute https links leave the window', () => {
  assert.equal(externalUrl('https://example.com/a?b=1'), 'https://example.com/a?b=1');
  assert.equal(externalUrl('  HTTPS://Example.com  '), 'https://example.com/');
  for (const bad of ['http://example.com', 'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'file:///etc/passwd', 'data:text/html,x', '/relative', '#top', '', 'https://', 'https://user:pw@example.com/', null, undefined]) {
    assert.equal(externalUrl(bad as string), null, String(bad));
  }
});

test('export file names are safe and keep the format', () => {
  assert.equal(exportFileName('Weekly sync', 'abc', 'srt'), 'Weekly sync.srt');
  assert.equal(exportFileName('a/b\\c:d*e?f"g<h>i|j', 'abc', 'md'), 'a_b_c_d_e_f_g_h_i_j.md');
  assert.equal(exportFileName('  ..hidden  ', 'abc', 'txt'), 'hidden.txt');
  assert.equal(exportFileName('///', 'abc', 'vtt'), 'meeting-abc.vtt');
  assert.equal(exportFileName('x'.repeat(300), 'abc', 'json').length, 105);
});

test('every export format has a MIME type', () => {
  assert.deepEqual(EXPORT_FORMATS.map((f) => f.format), ['md', 'txt', 'srt', 'vtt', 'json']);
  assert.equal(mimeFor('vtt'), 'text/vtt;charset=utf-8');
  assert.equal(mimeFor('zip'), 'application/octet-stream');
});
