/**
 * The daemon settings form: what each key accepts (docs/API.md, Settings: an unknown key or a
 * bad value is -32602 naming `settings.<key>`), the checks the window makes before sending (the
 * daemon checks again), and which keys a save changes.
 */
import type { DaemonSettings } from './types.js';

export type SettingKey =
  | 'input_device'
  | 'language'
  | 'keep_audio'
  | 'system_audio'
  | 'auto_stop_minutes'
  | 'model_keep_alive_minutes'
  | 'port'
  | 'start_at_login'
  | 'global_shortcut'
  | 'notifications';

export const SETTING_KEYS: SettingKey[] = [
  'input_device',
  'language',
  'keep_audio',
  'system_audio',
  'auto_stop_minutes',
  'model_keep_alive_minutes',
  'port',
  'start_at_login',
  'global_shortcut',
  'notifications',
];

/** Languages offered in the list (whisper's common ones); any ISO 639-1 code is accepted. */
export const LANGUAGES: Array<{ code: string; name: string }> = [
  { code: 'auto', name: 'Detect automatically' },
  { code: 'en', name: 'English' },
  { code: 'de', name: 'German' },
  { code: 'es', name: 'Spanish' },
  { code: 'fr', name: 'French' },
  { code: 'it', name: 'Italian' },
  { code: 'ja', name: 'Japanese' },
  { code: 'ko', name: 'Korean' },
  { code: 'nl', name: 'Dutch' },
  { code: 'pl', name: 'Polish' },
  { code: 'pt', name: 'Portuguese' },
  { code: 'ru', name: 'Russian' },
  { code: 'sv', name: 'Swedish' },
  { code: 'tr', name: 'Turkish' },
  { code: 'uk', name: 'Ukrainian' },
  { code: 'zh', name: 'Chinese' },
];

export type FieldErrors = Partial<Record<SettingKey, string>>;

export const MAX_MINUTES = 1440;

/** Non-blank text of at most `maxBytes` UTF-8 bytes without control characters. */
function isShortText(v: unknown, maxBytes: number): boolean {
  return (
    typeof v === 'string' &&
    v.trim() !== '' &&
    new TextEncoder().encode(v).length <= maxBytes &&
    !/[\u0000-\u001f\u007f]/.test(v)
  );
}

/** Checks a draft the way the contract describes; an empty object means it may be sent. */
export function validateSettings(draft: DaemonSettings): FieldErrors {
  const errors: FieldErrors = {};
  if (!(draft.language === 'auto' || /^[a-z]{2}$/.test(draft.language))) {
    errors.language = 'a two-letter ISO 639-1 code (e.g. "en"), or "auto"';
  }
  for (const key of ['auto_stop_minutes', 'model_keep_alive_minutes'] as const) {
    const v = draft[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_MINUTES) errors[key] = 'minutes from 0 to 1440';
  }
  if (draft.port !== null && (!Number.isInteger(draft.port) || draft.port < 1 || draft.port > 65535)) {
    errors.port = 'a port from 1 to 65535, or empty for the default';
  }
  if (draft.input_device !== null && !isShortText(draft.input_device, 256)) {
    errors.input_device = 'a device from the list, or the system default';
  }
  if (draft.global_shortcut !== null && !isShortText(draft.global_shortcut, 64)) {
    errors.global_shortcut = 'a shortcut such as CommandOrControl+Shift+R (at most 64 characters), or none';
  }
  for (const key of ['keep_audio', 'system_audio', 'start_at_login', 'notifications'] as const) {
    if (typeof draft[key] !== 'boolean') errors[key] = 'on or off';
  }
  return errors;
}

/** The keys whose value differs from the daemon's: what `settings.update` is sent. */
export function changedSettings(current: DaemonSettings, draft: DaemonSettings): Partial<DaemonSettings> {
  const out: Partial<DaemonSettings> = {};
  for (const key of SETTING_KEYS) {
    if (draft[key] !== current[key]) (out as Record<string, unknown>)[key] = draft[key];
  }
  return out;
}

/** A text field's value as an optional setting: blank is "none" (null). */
export function optionalText(text: string): string | null {
  const t = text.trim();
  return t === '' ? null : t;
}

/** A minutes field's text as a number (fractions allowed; NaN when it is not one). */
export function minutesValue(text: string): number {
  const t = text.trim().replace(',', '.');
  return /^\d+(\.\d+)?$|^\.\d+$/.test(t) ? Number(t) : Number.NaN;
}

/** The port field's text: blank is the default (null); else an integer (NaN when it is not one). */
export function portValue(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  return /^\d+$/.test(t) ? Number(t) : Number.NaN;
}

/**
 * The sources "Start recording" asks for: the microphone, plus the computer's sound when the
 * `system_audio` setting is on. The microphone names no device: the daemon opens the one
 * chosen in Settings (`input_device`), or the default when it is gone.
 */
export function recordingSources(settings: DaemonSettings | null): Array<Record<string, unknown>> {
  const sources: Array<Record<string, unknown>> = [{ kind: 'mic' }];
  if (settings?.system_audio) sources.push({ kind: 'system' });
  return sources;
}
