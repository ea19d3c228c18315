/**
 * Live: start a recording (the sources Settings choose: the microphone, plus the computer's sound
 * when enabled) or transcribe a WAV file as a meeting (a `file` source); the running meeting's
 * transcript growing, partial text in grey, a level meter per source, elapsed time, Stop.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { live } from 'lit/directives/live.js';
import { elapsedSince, formatDuration, formatOffset, levelFill } from '../../lib/format.js';
import { recordingSources } from '../../lib/settings.js';
import { recordingMeetings, type LiveMeeting, type StopInfo } from '../../lib/state.js';
import type { MeetingMetadata } from '../../lib/types.js';
import type { HarkApp } from '../hark-app.js';
import { meetingStatus, meterBar, sourceText, transcript } from './common.js';

/** Why a meeting ended, in words (`meeting.stopped`'s `reason`). */
export function stopText(stop: StopInfo): string {
  switch (stop.reason) {
    case 'auto_stop':
      return `Stopped by itself after ${formatDuration(stop.silence_ms ?? 0)} without speech.`;
    case 'sources_ended':
      return 'Stopped by itself: every source ended.';
    case 'stopped':
      return 'Stopped.';
    default:
      return `Stopped (${stop.reason}).`;
  }
}

export class LiveView {
  private title = '';
  private filePath = '';
  private realtime = true;
  private starting = false;
  private stopping = new Set<string>();
  /** Whether the transcript should keep its end in view (false once the person scrolls up). */
  private follow = true;

  constructor(private readonly app: HarkApp) {}

  /** The language, keeping audio and the microphone are left to the daemon's settings. */
  private baseParams(): Record<string, unknown> {
    const params: Record<string, unknown> = {};
    const title = this.title.trim();
    if (title) params.title = title;
    return params;
  }

  private async start(sources: Array<Record<string, unknown>>, what: string): Promise<void> {
    this.starting = true;
    this.follow = true;
    this.app.requestUpdate();
    const r = await this.app.attempt(`Could not ${what}`, () =>
      this.app.call<{ id: string; title: string }>('meeting.start', { ...this.baseParams(), sources }),
    );
    this.starting = false;
    if (r) {
      this.title = '';
      this.app.flash(`Recording “${r.title}”.`);
    }
    this.app.requestUpdate();
  }

  private startRecording(): Promise<void> {
    return this.start(recordingSources(this.app.state.settings), 'start recording');
  }

  private startFile(): Promise<void> {
    const path = this.filePath.trim();
    if (!path) {
      this.app.flash('Type the path of a WAV file on this computer first.', 'error');
      return Promise.resolve();
    }
    return this.start([{ kind: 'file', path, realtime: this.realtime }], 'transcribe the file');
  }

  async stop(meetingId: string): Promise<void> {
    if (this.stopping.has(meetingId)) return;
    this.stopping.add(meetingId);
    this.app.requestUpdate();
    const m = await this.app.attempt('Could not stop the recording', () =>
      this.app.call<MeetingMetadata>('meeting.stop', { meeting_id: meetingId }),
    );
    this.stopping.delete(meetingId);
    if (m) this.app.dispatch({ type: 'meetingChanged', meeting: m });
    this.app.requestUpdate();
  }

  render(): TemplateResult {
    const s = this.app.state;
    const recording = recordingMeetings(s);
    const finished = Object.values(s.live)
      .filter((m) => m.meta.status !== 'recording')
      .sort((a, b) => b.meta.started_at.localeCompare(a.meta.started_at));
    const sources = recordingSources(s.settings);
    const sourceWords = sources.map((x) => (x.kind === 'mic' ? 'the microphone chosen in Settings' : "the computer's sound")).join(' and ');
    return html`
      <h2 tabindex="-1">Live</h2>
      <section class="start" aria-labelledby="start-title">
        <h3 id="start-title" class="visually-hidden">Start</h3>
        <div class="field">
          <label for="live-title">Title (optional)</label>
          <input id="live-title" type="text" maxlength="256" placeholder="Meeting <date> <time>" .value=${live(this.title)}
            @input=${(e: Event) => (this.title = (e.target as HTMLInputElement).value)} />
        </div>
        <div class="start-row">
          <button type="button" class="primary record" ?disabled=${this.starting || !this.app.connected} @click=${() => void this.startRecording()}>
            ● Start recording
          </button>
          <span class="muted">Records ${sourceWords}${s.settings ? nothing : html` (Settings did not load, so not the computer's sound)`}.</span>
        </div>
        <form class="file-row" @submit=${(e: Event) => {
          e.preventDefault();
          void this.startFile();
        }}>
          <div class="field grow">
            <label for="file-path">Transcribe a file (a WAV on this computer)</label>
            <input id="file-path" type="text" placeholder="/home/me/recordings/call.wav" spellcheck="false" .value=${live(this.filePath)}
              @input=${(e: Event) => (this.filePath = (e.target as HTMLInputElement).value)} />
          </div>
          <label class="check"><input type="checkbox" .checked=${this.realtime}
            @change=${(e: Event) => (this.realtime = (e.target as HTMLInputElement).checked)} /> At real-time pace</label>
          <button type="submit" ?disabled=${this.starting || !this.app.connected}>Transcribe file</button>
        </form>
      </section>
      ${recording.length === 0 && finished.length === 0 ? html`<p class="empty">Nothing is recording.</p>` : nothing}
      ${recording.map((m) => this.renderMeeting(m))}
      ${finished.slice(0, 1).map((m) => this.renderMeeting(m))}
    `;
  }

  private renderMeeting(m: LiveMeeting): TemplateResult {
    const rec = m.meta.status === 'recording';
    const elapsed = rec ? elapsedSince(m.meta.started_at, Date.now()) : m.meta.duration_ms;
    const sources = Object.values(m.sources);
    return html`<section class="live-meeting ${rec ? 'is-recording' : ''}" data-meeting-id=${m.meta.id} aria-labelledby="live-${m.meta.id}">
      <div class="live-head">
        <h3 id="live-${m.meta.id}">${rec ? nothing : html`<span class="muted">Last recording: </span>`}${m.meta.title}</h3>
        ${meetingStatus(m.meta.status)}
        <span class="elapsed" aria-label="${rec ? 'Elapsed' : 'Length'}">${rec ? formatOffset(elapsed) : formatDuration(elapsed)}</span>
        ${rec
          ? html`<button type="button" class="danger stop" ?disabled=${this.stopping.has(m.meta.id)} @click=${() => void this.stop(m.meta.id)}>
              ${this.stopping.has(m.meta.id) ? 'Stopping…' : '■ Stop'}
            </button>`
          : html`<button type="button" class="small" @click=${() => this.app.openMeeting(m.meta.id)}>Open</button>
              <button type="button" class="small" @click=${() => this.app.dispatch({ type: 'forgetLive', meetingId: m.meta.id })}>Dismiss</button>`}
      </div>
      ${!rec && m.stop ? html`<p class="muted stop-reason">${stopText(m.stop)}</p>` : nothing}
      ${rec
        ? html`<ul class="sources" aria-label="Sources">
            ${sources.map(
              (src) => html`<li class="source" data-source=${src.name}>
                <span class="source-name">${sourceText(src.name, src.role)}</span>
                ${meterBar(`Level of ${src.name}`, levelFill(src.level?.rms ?? 0))}
                ${src.error ? html`<span class="error">${src.error}</span>` : nothing}
                ${src.done ? html`<span class="muted">${src.done === 'source_ended' ? 'ended' : src.done}</span>` : nothing}
              </li>`,
            )}
          </ul>`
        : nothing}
      ${transcript(m.segments, rec ? sources : [], {
        label: `Transcript of ${m.meta.title}`,
        follow: rec && this.follow,
        onScroll: (e: Event) => {
          const el = e.currentTarget as HTMLElement;
          this.follow = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        },
      })}
    </section>`;
  }

  /** Keeps the end of a growing transcript in view (called after each render). */
  keepInView(root: ParentNode): void {
    if (!this.follow) return;
    for (const el of root.querySelectorAll<HTMLElement>('.transcript.follow')) el.scrollTop = el.scrollHeight;
  }
}
