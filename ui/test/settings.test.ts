import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedSettings, minutesValue, optionalText, portValue, recordingSources, validateSettings } from '../src/lib/settings.js';
import type { DaemonSettings } from '../src/lib/types.js';

const base: DaemonSettings = {
  input_device: null,
  language: 'en',
  keep_audio: true,
  system_audio: false,
  auto_stop_minutes: 15,
  model_keep_alive_minutes: 5,
  port: null,
  start_at_login: false,
  global_shortcut: null,
  notifications: true,
};

test('the defaults are valid', () => {
  assert.deepEqual(validateSettings(base), {});
});

test('bad values are named by field', () => {
  const errors = validateSettings({ ...base, language: 'english', auto_stop_minutes: 1441, model_keep_alive_minutes: Number.NaN, port: 70000, global_shortcut: 'a\nb', input_device: '' });
  assert.deepEqual(Object.keys(errors).sort(), ['auto_stop_minutes', 'global_shortcut', 'input_device', 'language', 'model_keep_alive_minutes', 'port']);
  assert.ok(validateSettings({ ...base, port: 0 }).port, 'port 0 is refused (null is the default)');
  assert.ok(validateSettings({ ...base, global_shortcut: 'x'.repeat(65) }).global_shortcut, 'at most 64 bytes');
  assert.deepEqual(validateSettings({ ...base, language: 'auto', auto_stop_minutes: 0, model_keep_alive_minutes: 0.5, port: 9999 }), {});
});

test('only changed keys are sent', () => {
  assert.deepEqual(changedSettings(base, { ...base }), {});
  assert.deepEqual(changedSettings(base, { ...base, keep_audio: false, global_shortcut: 'CommandOrControl+Shift+R' }), {
    keep_audio: false,
    global_shortcut: 'CommandOrControl+Shift+R',
  });
});

test('field texts become setting values', () => {
  assert.equal(optionalText('   '), null);
  assert.equal(optionalText(' Ctrl+R '), 'Ctrl+R');
  assert.equal(minutesValue('15'), 15);
  assert.equal(minutesValue('0.5'), 0.5);
  assert.equal(minutesValue('2,5'), 2.5);
  assert.ok(Number.isNaN(minutesValue('')));
  assert.ok(Number.isNaN(minutesValue('-1')));
  assert.equal(portValue(''), null);
  assert.equal(portValue('9470'), 9470);
  assert.ok(Number.isNaN(portValue('94.7') as number));
});

test('recording sources follow the settings; the daemon picks the microphone', () => {
  assert.deepEqual(recordingSources(null), [{ kind: 'mic' }]);
  assert.deepEqual(recordingSources({ ...base, input_device: 'pulseaudio:vmic', system_audio: true }), [{ kind: 'mic' }, { kind: 'system' }]);
});
