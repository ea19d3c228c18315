/**
 * Exports as files: the formats `meeting.export` renders, their MIME types, and a file name made
 * from the meeting's title that every desktop file system accepts.
 */
export const EXPORT_FORMATS = [
  { format: 'md', label: 'Markdown (.md)', mime: 'text/markdown;charset=utf-8' },
  { format: 'txt', label: 'Plain text (.txt)', mime: 'text/plain;charset=utf-8' },
  { format: 'srt', label: 'SubRip subtitles (.srt)', mime: 'application/x-subrip;charset=utf-8' },
  { format: 'vtt', label: 'WebVTT subtitles (.vtt)', mime: 'text/vtt;charset=utf-8' },
  { format: 'json', label: 'JSON (.json)', mime: 'application/json;charset=utf-8' },
] as const;

export type ExportFormat = (typeof EXPORT_FORMATS)[number]['format'];

export function mimeFor(format: string): string {
  return EXPORT_FORMATS.find((f) => f.format === format)?.mime ?? 'application/octet-stream';
}

/**
 * `<title>.<format>`: characters that are not allowed in file names (or are path separators, or
 * control characters) become `_`, runs of blanks one space, at most 100 characters; a title with
 * nothing left falls back to the meeting id.
 */
export function exportFileName(title: string, meetingId: string, format: string): string {
  let base = title
    .replace(/[\u0000-\u001f\u007f<>:"/\\|?*]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '')
    .replace(/[. ]+$/, '');
  if (base.length > 100) base = base.slice(0, 100).trim();
  if (!base || /^_+$/.test(base)) base = `meeting-${meetingId}`;
  return `${base}.${format}`;
}
