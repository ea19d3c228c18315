/** Small pieces several views share. All daemon text is rendered as text (Lit escapes it). */
import { html, nothing, type TemplateResult } from 'lit';
import { styleMap } from 'lit/directives/style-map.js';
import { formatOffset } from '../../lib/format.js';
import type { LiveSource } from '../../lib/state.js';
import type { Segment } from '../../lib/types.js';

const STATUS_TEXT: Record<string, string> = {
  recording: 'Recording',
  stopped: 'Stopped',
  interrupted: 'Interrupted (recovered)',
};

export function meetingStatus(status: string): TemplateResult {
  return html`<span class="badge status-${status}">${STATUS_TEXT[status] ?? status}</span>`;
}

const CAPABILITY_TEXT: Record<string, string> = {
  microphone: 'use the microphone',
  transcripts: 'read your transcripts',
};

/** "use the microphone" / "read your transcripts" / the capability's own name. */
export function capabilityText(capability: string): string {
  return CAPABILITY_TEXT[capability] ?? `use "${capability}"`;
}

export function capabilityName(capability: string): string {
  return capability === 'microphone' ? 'Microphone' : capability === 'transcripts' ? 'Transcripts' : capability;
}

/** A JSON value as indented text, cut at `max` characters. */
export function jsonText(value: unknown, max = 2000): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function sourceText(source: string, role: string): string {
  return role && role !== 'unknown' && role !== source ? `${source} (${role})` : source;
}

/** A transcript: final segments, then the partial guesses of sources still speaking. */
export function transcript(
  segments: Segment[],
  partials: LiveSource[],
  opts: { follow?: boolean; label: string; onScroll?: (e: Event) => void } = { label: 'Transcript' },
): TemplateResult {
  const open = partials.filter((s) => s.partial);
  if (segments.length === 0 && open.length === 0) {
    return html`<p class="empty transcript-empty">No speech transcribed yet.</p>`;
  }
  return html`<ol class="transcript ${opts.follow ? 'follow' : ''}" aria-label=${opts.label} @scroll=${opts.onScroll ?? nothing}>
    ${segments.map(
      (s) => html`<li class="seg final" data-seq=${s.seq}>
        <span class="seg-time">${formatOffset(s.t0_ms)}</span>
        <span class="seg-source">${sourceText(s.source, s.role)}</span>
        <span class="seg-text">${s.text}</span>
      </li>`,
    )}
    ${open.map(
      (s) => html`<li class="seg partial" data-source=${s.name}>
        <span class="seg-time" aria-hidden="true">…</span>
        <span class="seg-source">${sourceText(s.name, s.role)}</span>
        <span class="seg-text"><span class="visually-hidden">(still speaking) </span>${s.partial}</span>
      </li>`,
    )}
  </ol>`;
}

/** A horizontal bar (role meter) for a 0..1 fill. The width is set through the CSSOM
 * (styleMap), which a CSP without 'unsafe-inline' styles still allows. */
export function meterBar(label: string, fill: number, cls = 'level'): TemplateResult {
  const clamped = Math.max(0, Math.min(1, fill));
  const pct = Math.round(clamped * 100);
  // Drawn as a transform in steps of 5% and never animated: a `width` transition relaid and
  // repainted the page for most of every 100 ms between level events, which cost WebKitGTK more
  // than a whole core while a meeting ran (BENCHMARKS.md, "The window while a meeting runs").
  const step = Math.round(clamped * 20) / 20;
  return html`<div class="meter ${cls}" role="meter" aria-label=${label} aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}>
    <div class="meter-fill" style=${styleMap({ transform: `scaleX(${step})` })}></div>
  </div>`;
}
