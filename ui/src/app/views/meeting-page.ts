/**
 * One meeting: its transcript (timestamps, source and role), rename (`meeting.update`), export
 * to every `meeting.export` format (saved as a file), delete after a confirmation,
 * "Transcribe again" (`meeting.retranscribe`) with a model choice and its progress, and the kept
 * audio of each source (`meeting.audio`, read in chunks into a Blob URL for an `<audio>` player).
 *
 * It follows the meeting's host events: a rename or a new revision made elsewhere
 * (`meeting.updated`) shows at once; a meeting deleted elsewhere (`meeting.deleted`) is said to
 * be gone instead of showing what it was.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { live } from 'lit/directives/live.js';
import { EXPORT_FORMATS, exportFileName, mimeFor } from '../../lib/download.js';
import { fetchAudio, type AudioChunk } from '../../lib/audio.js';
import { formatBytes, formatDateTime, formatDuration, formatOffset, percent, recoveryText } from '../../lib/format.js';
import { describeError } from '../../lib/rpc.js';
import type { HostEvent, MeetingMetadata, MeetingSource, ModelEntry, Segment } from '../../lib/types.js';
import { WINDOW_CLIENT_ID, downloadText } from '../daemon.js';
import type { HarkApp } from '../hark-app.js';
import { meetingStatus, sourceText, transcript } from './common.js';

interface Loaded {
  metadata: MeetingMetadata;
  revision: number;
  segments: Segment[];
}

/** One source's player: loading its chunks, ready (a Blob URL), or failed (why). */
interface SourceAudio {
  status: 'loading' | 'ready' | 'error';
  bytes: number;
  total: number;
  url: string | null;
  error: string | null;
}

export class MeetingPage {
  private id: string | null = null;
  private data: Loaded | null = null;
  private error: string | null = null;
  private loading = false;
  private renaming = false;
  private renameDraft = '';
  private exportFormat: string = 'md';
  private exporting = false;
  private confirmingDelete = false;
  private deleting = false;
  private models: ModelEntry[] | null = null;
  private transcriberName: string | null = null;
  private retranscribeModel = '';
  private progress: { done_ms: number; total_ms: number } | null = null;
  private retranscribeError: string | null = null;
  private loadSeq = 0;
  /** Set when the open meeting was deleted elsewhere: its title, shown instead of stale data. */
  private gone: { title: string; audio: boolean } | null = null;
  /** The players of the open meeting, by source name; their Blob URLs are revoked on leaving. */
  private audio = new Map<string, SourceAudio>();

  constructor(private readonly app: HarkApp) {}

  /** Opens a meeting (at its latest revision, or the one given). */
  async load(id: string, revision?: number): Promise<void> {
    if (id !== this.id) {
      this.releaseAudio();
      this.id = id;
      this.data = null;
      this.gone = null;
      this.renaming = false;
      this.confirmingDelete = false;
      this.progress = null;
      this.retranscribeError = null;
      this.retranscribeModel = '';
    }
    const mine = ++this.loadSeq;
    this.loading = true;
    this.error = null;
    this.app.requestUpdate();
    try {
      const params: Record<string, unknown> = { meeting_id: id };
      if (revision !== undefined) params.revision = revision;
      const r = await this.app.call<Loaded>('meeting.get', params);
      if (mine !== this.loadSeq) return;
      this.data = r;
      this.gone = null;
      if (r.metadata.status === 'recording') {
        this.app.dispatch({ type: 'liveSegments', meetingId: id, segments: r.segments });
      }
    } catch (e) {
      if (mine !== this.loadSeq) return;
      this.error = describeError(e);
    } finally {
      if (mine === this.loadSeq) {
        this.loading = false;
        this.app.requestUpdate();
      }
    }
    if (!this.models) void this.loadModels();
  }

  private async loadModels(): Promise<void> {
    try {
      const [list, info] = await Promise.all([
        this.app.call<{ models: ModelEntry[] }>('models.list'),
        this.app.call<{ model?: { name?: string } }>('server.info'),
      ]);
      this.models = list.models;
      this.transcriberName = info.model?.name ?? null;
    } catch {
      this.models = [];
    }
    this.app.requestUpdate();
  }

  onHostEvent(event: HostEvent): void {
    if (!this.id) return;
    const p = (event.payload ?? {}) as { meeting_id?: string; meeting?: MeetingMetadata; change?: string };
    if (p.meeting_id !== this.id) return;
    switch (event.kind) {
      case 'meeting.stopped':
      case 'meeting.recovered':
        void this.load(this.id);
        break;
      case 'meeting.updated':
        if (p.meeting) this.onUpdated(p.meeting, p.change);
        break;
      case 'meeting.deleted':
        this.onDeleted();
        break;
    }
  }

  /** Renamed (the heading follows) or transcribed again (the newest revision is shown). */
  private onUpdated(meta: MeetingMetadata, change: string | undefined): void {
    if (!this.data || this.data.metadata.id !== meta.id) return;
    const wasLatest = this.data.revision === this.data.metadata.revision;
    this.data = { ...this.data, metadata: meta };
    // This window's own second pass loads its revision when the call returns.
    if (change === 'revision' && this.progress === null && wasLatest && meta.revision !== this.data.revision) {
      this.app.flash(`“${meta.title}” was transcribed again: revision ${meta.revision} is shown.`);
      void this.load(meta.id);
    }
    this.app.requestUpdate();
  }

  /** Deleted elsewhere (another window, `hark`, ...): this window's own delete goes back to the list. */
  private onDeleted(): void {
    if (this.deleting) return;
    const meta = this.meta ?? this.data?.metadata ?? null;
    this.releaseAudio();
    this.gone = { title: meta?.title ?? this.id ?? '', audio: meta?.persist_audio ?? false };
    this.data = null;
    this.error = null;
    this.loadSeq++;
    this.loading = false;
    this.renaming = false;
    this.confirmingDelete = false;
    this.progress = null;
    this.app.requestUpdate();
  }

  /** Revokes the players' Blob URLs (leaving the page, another meeting, a deletion). */
  releaseAudio(): void {
    if (this.audio.size === 0) return;
    for (const a of this.audio.values()) if (a.url) URL.revokeObjectURL(a.url);
    // A load still running sees its entry gone and drops what it fetched.
    this.audio = new Map();
  }

  private async loadAudio(meetingId: string, source: string): Promise<void> {
    const previous = this.audio.get(source);
    if (previous?.status === 'loading') return;
    if (previous?.url) URL.revokeObjectURL(previous.url);
    const entry: SourceAudio = { status: 'loading', bytes: 0, total: 0, url: null, error: null };
    const players = this.audio;
    players.set(source, entry);
    this.app.requestUpdate();
    const stale = () => this.audio !== players || players.get(source) !== entry || this.id !== meetingId;
    try {
      const r = await fetchAudio((method, params) => this.app.call<AudioChunk>(method, params), meetingId, source, {
        cancelled: stale,
        onProgress: (bytes, total) => {
          entry.bytes = bytes;
          entry.total = total;
          this.app.requestUpdate();
        },
      });
      if (!r || stale()) return;
      entry.url = URL.createObjectURL(new Blob(r.chunks, { type: 'audio/wav' }));
      entry.status = 'ready';
    } catch (e) {
      if (stale()) return;
      entry.status = 'error';
      entry.error = describeError(e);
    }
    this.app.requestUpdate();
  }

  onRetranscribeProgress(p: Record<string, unknown>): void {
    if (p.meeting_id !== this.id || !this.progress) return;
    this.progress = { done_ms: Number(p.done_ms) || 0, total_ms: Number(p.total_ms) || 0 };
    this.app.requestUpdate();
  }

  private get meta(): MeetingMetadata | null {
    if (!this.data || this.data.metadata.id !== this.id) return null;
    // The list has the newest metadata (renames, stop) between loads.
    return this.app.state.meetings.find((m) => m.id === this.id) ?? this.data.metadata;
  }

  private async rename(): Promise<void> {
    const title = this.renameDraft.trim();
    if (!this.id || !title) return;
    const m = await this.app.attempt('Could not rename the meeting', () =>
      this.app.call<MeetingMetadata>('meeting.update', { meeting_id: this.id, title }),
    );
    if (!m) return;
    this.app.dispatch({ type: 'meetingChanged', meeting: m });
    if (this.data) this.data = { ...this.data, metadata: m };
    this.renaming = false;
    this.app.flash(`Renamed to “${m.title}”.`);
    this.app.requestUpdate();
  }

  private async exportAs(): Promise<void> {
    const meta = this.meta;
    if (!meta || !this.data) return;
    this.exporting = true;
    this.app.requestUpdate();
    const format = this.exportFormat;
    const r = await this.app.attempt('Could not export the meeting', () =>
      this.app.call<{ format: string; content: string }>('meeting.export', {
        meeting_id: meta.id,
        format,
        revision: this.data!.revision,
      }),
    );
    this.exporting = false;
    this.app.requestUpdate();
    if (!r) return;
    const name = exportFileName(meta.title, meta.id, r.format || format);
    downloadText(name, mimeFor(r.format || format), r.content);
    this.app.flash(`Exported ${name}.`);
  }

  private async remove(): Promise<void> {
    const meta = this.meta;
    if (!meta) return;
    this.deleting = true;
    this.app.requestUpdate();
    const r = await this.app.attempt('Could not delete the meeting', () =>
      this.app.call<{ deleted: boolean }>('meeting.delete', { meeting_id: meta.id }),
    );
    this.deleting = false;
    this.confirmingDelete = false;
    if (!r) {
      this.app.requestUpdate();
      return;
    }
    this.app.dispatch({ type: 'meetingDeleted', meetingId: meta.id });
    this.id = null;
    this.data = null;
    this.app.flash(`Deleted “${meta.title}”.`);
    this.app.openMeeting(null);
  }

  private async retranscribe(): Promise<void> {
    const meta = this.meta;
    if (!meta) return;
    this.progress = { done_ms: 0, total_ms: 0 };
    this.retranscribeError = null;
    this.app.requestUpdate();
    const params: Record<string, unknown> = { meeting_id: meta.id };
    if (this.retranscribeModel) params.model = this.retranscribeModel;
    try {
      const r = await this.app.call<{ revision: number; model: string; segment_count: number }>('meeting.retranscribe', params);
      this.progress = null;
      this.app.flash(`Transcribed again with ${r.model}: revision ${r.revision}, ${r.segment_count} ${r.segment_count === 1 ? 'segment' : 'segments'}.`);
      await this.load(meta.id);
      // The list's copy of the metadata is behind by one revision now.
      if (this.data) this.app.dispatch({ type: 'meetingChanged', meeting: this.data.metadata });
    } catch (e) {
      this.progress = null;
      this.retranscribeError = describeError(e);
      this.app.requestUpdate();
    }
  }

  render(id: string): TemplateResult {
    const back = html`<button type="button" class="link back" @click=${() => this.app.openMeeting(null)}>← All meetings</button>`;
    if (this.gone && id === this.id) {
      return html`${back}<h2 tabindex="-1">Meeting deleted</h2>
        <p class="banner warn meeting-gone" role="alert">“${this.gone.title}” was deleted elsewhere (another window, an agent
          or <code>hark</code> on the command line). Its transcript${this.gone.audio ? ' and audio are' : ' is'} no longer on this computer.</p>`;
    }
    if (this.error && (!this.data || this.data.metadata.id !== id)) {
      return html`${back}<h2 tabindex="-1">Meeting</h2>
        <p class="error" role="alert">Could not open the meeting: ${this.error}
          <button type="button" class="small" @click=${() => void this.load(id)}>Try again</button></p>`;
    }
    const meta = this.meta;
    if (!meta || !this.data) return html`${back}<h2 tabindex="-1">Meeting</h2><p class="muted">Loading…</p>`;
    const liveMeeting = this.app.state.live[id];
    const recording = meta.status === 'recording';
    return html`
      ${back}
      <div class="meeting-head">
        ${this.renaming
          ? html`<form class="rename" @submit=${(e: Event) => {
              e.preventDefault();
              void this.rename();
            }}>
              <label for="rename-title">Title</label>
              <input id="rename-title" type="text" maxlength="256" required .value=${live(this.renameDraft)}
                @input=${(e: Event) => (this.renameDraft = (e.target as HTMLInputElement).value)} />
              <button type="submit" class="primary">Save</button>
              <button type="button" @click=${() => {
                this.renaming = false;
                this.app.requestUpdate();
              }}>Cancel</button>
            </form>`
          : html`<h2 tabindex="-1" class="meeting-heading">${meta.title}</h2>
              <button type="button" class="small" @click=${() => {
                this.renaming = true;
                this.renameDraft = meta.title;
                this.app.requestUpdate();
                void this.app.updateComplete.then(() => this.app.querySelector<HTMLInputElement>('#rename-title')?.focus());
              }}>Rename</button>`}
        ${meetingStatus(meta.status)}
        ${this.loading ? html`<span class="muted" role="status">Updating…</span>` : nothing}
      </div>
      <dl class="facts">
        <div><dt>Started</dt><dd><time datetime=${meta.started_at}>${formatDateTime(meta.started_at)}</time></dd></div>
        <div><dt>Length</dt><dd>${formatDuration(meta.duration_ms)}</dd></div>
        <div><dt>Sources</dt><dd>${meta.sources.map((s) => sourceText(s.name, s.role)).join(', ')}</dd></div>
        ${meta.language ? html`<div><dt>Language</dt><dd>${meta.language}</dd></div>` : nothing}
        <div><dt>Started by</dt><dd>${meta.started_by === WINDOW_CLIENT_ID ? 'you, in this window' : meta.started_by}</dd></div>
        ${meta.recovered ? html`<div class="recovery"><dt>Recovered</dt><dd>${recoveryText(meta.recovered)}</dd></div>` : nothing}
      </dl>
      ${this.renderRevision(meta)}
      ${this.renderActions(meta, recording)}
      ${this.renderAudio(meta)}
      <h3>Transcript</h3>
      ${recording && liveMeeting
        ? transcript(liveMeeting.segments, Object.values(liveMeeting.sources), { label: 'Transcript', follow: true })
        : transcript(this.data.segments, [], { label: 'Transcript' })}
    `;
  }

  private renderRevision(meta: MeetingMetadata): TemplateResult | typeof nothing {
    if (!meta.revisions || meta.revisions.length < 2) return nothing;
    return html`<p class="revision">
      <label for="revision-select">Transcript version</label>
      <select id="revision-select" @change=${(e: Event) => void this.load(meta.id, Number((e.target as HTMLSelectElement).value))}>
        ${meta.revisions.map(
          (r) => html`<option value=${r.revision} ?selected=${r.revision === this.data?.revision}>
            ${r.revision === 1 ? 'Live transcript' : `Revision ${r.revision}`} · ${r.model ?? 'live'} · ${r.segment_count} segments
          </option>`,
        )}
      </select>
    </p>`;
  }

  private renderActions(meta: MeetingMetadata, recording: boolean): TemplateResult {
    const installed = (this.models ?? []).filter((m) => m.installed);
    const fake = this.transcriberName === 'fake';
    const whyNot = recording
      ? 'Available once the recording stops.'
      : !meta.persist_audio
        ? 'This meeting did not keep its audio, so it cannot be transcribed again.'
        : null;
    return html`<div class="actions">
      <section class="action-group" aria-labelledby="export-title">
        <h3 id="export-title">Export</h3>
        <label for="export-format">Format</label>
        <select id="export-format" .value=${live(this.exportFormat)} @change=${(e: Event) => (this.exportFormat = (e.target as HTMLSelectElement).value)}>
          ${EXPORT_FORMATS.map((f) => html`<option value=${f.format} ?selected=${f.format === this.exportFormat}>${f.label}</option>`)}
        </select>
        <button type="button" ?disabled=${this.exporting} @click=${() => void this.exportAs()}>${this.exporting ? 'Exporting…' : 'Export'}</button>
      </section>

      <section class="action-group" aria-labelledby="again-title">
        <h3 id="again-title">Transcribe again</h3>
        ${whyNot
          ? html`<p class="muted">${whyNot}</p>`
          : html`
              <label for="again-model">Model</label>
              <select id="again-model" ?disabled=${this.progress !== null}
                @change=${(e: Event) => (this.retranscribeModel = (e.target as HTMLSelectElement).value)}>
                <option value="" ?selected=${this.retranscribeModel === ''}>The daemon's model${fake ? ' (fake transcriber)' : ''}</option>
                ${fake
                  ? nothing
                  : installed.map((m) => html`<option value=${m.name} ?selected=${this.retranscribeModel === m.name}>${m.name}${m.default ? ' (default)' : ''}</option>`)}
              </select>
              <button type="button" ?disabled=${this.progress !== null} @click=${() => void this.retranscribe()}>
                ${this.progress ? 'Transcribing…' : 'Transcribe again'}
              </button>
              ${this.progress
                ? html`<div class="progress-row">
                    <progress id="again-progress" aria-label="Transcribing again" max="100"
                      .value=${live(percent(this.progress.done_ms, this.progress.total_ms))}></progress>
                    <span>${this.progress.total_ms > 0
                      ? `${formatOffset(this.progress.done_ms)} of ${formatOffset(this.progress.total_ms)}`
                      : 'Starting…'}</span>
                  </div>`
                : nothing}
              ${this.retranscribeError ? html`<p class="error" role="alert">${this.retranscribeError}</p>` : nothing}
            `}
      </section>

      <section class="action-group" aria-labelledby="delete-title">
        <h3 id="delete-title">Delete</h3>
        ${recording
          ? html`<p class="muted">Stop the recording before deleting it.</p>`
          : this.confirmingDelete
            ? html`<div class="confirm" role="alertdialog" aria-labelledby="delete-q" aria-describedby="delete-d">
                <p id="delete-q"><strong>Delete “${meta.title}”?</strong></p>
                <p id="delete-d">Its transcript${meta.persist_audio ? ' and audio' : ''} will be removed from this computer. This cannot be undone.</p>
                <button type="button" class="danger" ?disabled=${this.deleting} @click=${() => void this.remove()}>
                  ${this.deleting ? 'Deleting…' : 'Delete for good'}
                </button>
                <button type="button" @click=${() => {
                  this.confirmingDelete = false;
                  this.app.requestUpdate();
                }}>Keep it</button>
              </div>`
            : html`<button type="button" class="danger" @click=${() => {
                this.confirmingDelete = true;
                this.app.requestUpdate();
              }}>Delete…</button>`}
      </section>
    </div>`;
  }

  private renderAudio(meta: MeetingMetadata): TemplateResult {
    if (!meta.persist_audio) return html`<p class="muted audio-note">This meeting did not keep its audio.</p>`;
    if (meta.status === 'recording') {
      return html`<p class="muted audio-note">The audio can be played here once the recording stops.</p>`;
    }
    return html`<section class="audio" aria-labelledby="audio-title">
      <h3 id="audio-title">Audio</h3>
      <ul class="audio-sources">
        ${meta.sources.map((s, i) => this.renderSourceAudio(meta.id, s, i))}
      </ul>
    </section>`;
  }

  private renderSourceAudio(meetingId: string, s: MeetingSource, i: number): TemplateResult {
    const a = this.audio.get(s.name);
    const label = sourceText(s.name, s.role);
    const labelId = `audio-label-${i}`;
    return html`<li class="audio-source" data-source=${s.name}>
      <span class="audio-label" id=${labelId}>${label}</span>
      ${a?.status === 'ready' && a.url
        ? html`<audio class="audio-player" controls preload="metadata" src=${a.url} aria-labelledby=${labelId}></audio>`
        : nothing}
      ${!a || a.status === 'error'
        ? html`<button type="button" class="small" aria-label="Load audio of ${label}" @click=${() => void this.loadAudio(meetingId, s.name)}>
            ${a ? 'Try again' : 'Load audio'}
          </button>`
        : nothing}
      ${a?.status === 'loading'
        ? html`<span class="progress-row">
            <progress class="audio-progress" max="100" .value=${live(percent(a.bytes, a.total))} aria-label="Loading the audio of ${label}"></progress>
            <span class="audio-figures">${a.total > 0 ? `${formatBytes(a.bytes)} of ${formatBytes(a.total)}` : 'Starting…'}</span>
          </span>`
        : nothing}
      ${a?.status === 'error' ? html`<p class="error audio-error" role="alert">Could not load the audio of ${label}: ${a.error}</p>` : nothing}
    </li>`;
  }
}
