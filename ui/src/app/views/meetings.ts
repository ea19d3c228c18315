/**
 * Meetings: the list (newest first, `meeting.list`), full-text search (`meeting.search`, its
 * snippets with the matches highlighted), and the banner for meetings recovered after a crash.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { live } from 'lit/directives/live.js';
import { formatDateTime, formatDuration, formatOffset } from '../../lib/format.js';
import { ErrorCode, RpcError, describeError } from '../../lib/rpc.js';
import { hitParts } from '../../lib/snippet.js';
import type { HostEvent, MeetingMetadata, SearchHit } from '../../lib/types.js';
import type { HarkApp } from '../hark-app.js';
import { meetingStatus } from './common.js';

const PAGE = 50;
const SEARCH_DELAY_MS = 250;

export class MeetingsView {
  query = '';
  hits: SearchHit[] | null = null;
  searchError: string | null = null;
  searching = false;
  listError: string | null = null;
  loadingMore = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private searchSeq = 0;
  /** Titles of meetings a search found that the list page does not hold. */
  private titles = new Map<string, string>();

  constructor(private readonly app: HarkApp) {}

  async reload(): Promise<void> {
    try {
      const r = await this.app.call<{ meetings: MeetingMetadata[]; total: number }>('meeting.list', { limit: PAGE });
      this.listError = null;
      this.app.dispatch({ type: 'meetingsLoaded', meetings: r.meetings, total: r.total, append: false });
    } catch (e) {
      this.listError = describeError(e);
      this.app.requestUpdate();
    }
    if (this.query.trim()) void this.search();
  }

  private async loadMore(): Promise<void> {
    this.loadingMore = true;
    this.app.requestUpdate();
    try {
      const r = await this.app.call<{ meetings: MeetingMetadata[]; total: number }>('meeting.list', {
        limit: PAGE,
        offset: this.app.state.meetings.length,
      });
      this.app.dispatch({ type: 'meetingsLoaded', meetings: r.meetings, total: r.total, append: true });
    } catch (e) {
      this.app.flash(`Could not load more meetings: ${describeError(e)}`, 'error');
    } finally {
      this.loadingMore = false;
      this.app.requestUpdate();
    }
  }

  onHostEvent(event: HostEvent): void {
    // The list itself follows the events in the state (lib/state.ts); the titles of search hits
    // outside the loaded page are kept here.
    const p = (event.payload ?? {}) as { meeting_id?: string; meeting?: MeetingMetadata };
    if (event.kind === 'meeting.updated' && p.meeting && this.titles.has(p.meeting.id)) this.titles.set(p.meeting.id, p.meeting.title);
    if (event.kind === 'meeting.deleted' && p.meeting_id) this.titles.delete(p.meeting_id);
    // Results of a search go stale when a meeting changes under it: search again.
    if (!this.query.trim()) return;
    if (['meeting.stopped', 'meeting.recovered', 'meeting.updated', 'meeting.deleted'].includes(event.kind)) this.scheduleSearch();
  }

  private onInput(value: string): void {
    this.query = value;
    this.scheduleSearch();
    this.app.requestUpdate();
  }

  private scheduleSearch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.search();
    }, SEARCH_DELAY_MS);
  }

  private async search(): Promise<void> {
    const q = this.query.trim();
    const mine = ++this.searchSeq;
    if (!q) {
      this.hits = null;
      this.searchError = null;
      this.searching = false;
      this.app.requestUpdate();
      return;
    }
    this.searching = true;
    this.app.requestUpdate();
    try {
      const r = await this.app.call<{ hits: SearchHit[] }>('meeting.search', { query: q, limit: 100 });
      if (mine !== this.searchSeq) return;
      this.hits = r.hits;
      this.searchError = null;
      void this.fetchTitles(r.hits);
    } catch (e) {
      if (mine !== this.searchSeq) return;
      this.hits = [];
      this.searchError =
        e instanceof RpcError && e.code === ErrorCode.InvalidParams ? 'Type a word to search for.' : describeError(e);
    } finally {
      if (mine === this.searchSeq) {
        this.searching = false;
        this.app.requestUpdate();
      }
    }
  }

  private async fetchTitles(hits: SearchHit[]): Promise<void> {
    // Hark's daemon names each hit's meeting; another daemon's hits are looked up.
    for (const h of hits) if (typeof h.title === 'string' && h.title) this.titles.set(h.meeting_id, h.title);
    const known = new Set(this.app.state.meetings.map((m) => m.id));
    const missing = [...new Set(hits.map((h) => h.meeting_id))].filter((id) => !known.has(id) && !this.titles.has(id));
    for (const id of missing.slice(0, 20)) {
      try {
        const r = await this.app.call<{ metadata: MeetingMetadata }>('meeting.get', { meeting_id: id });
        this.titles.set(id, r.metadata.title);
      } catch {
        /* the id is shown instead */
      }
    }
    if (missing.length) this.app.requestUpdate();
  }

  private titleOf(id: string): string {
    return this.app.state.meetings.find((m) => m.id === id)?.title ?? this.titles.get(id) ?? id;
  }

  render(): TemplateResult {
    const s = this.app.state;
    return html`
      <h2 tabindex="-1">Meetings</h2>
      ${this.renderRecovered()}
      <form class="search" role="search" @submit=${(e: Event) => {
        e.preventDefault();
        if (this.timer) clearTimeout(this.timer);
        void this.search();
      }}>
        <label for="meeting-search">Search transcripts</label>
        <input
          id="meeting-search"
          type="search"
          autocomplete="off"
          placeholder="Words said in a meeting, or its title"
          .value=${live(this.query)}
          @input=${(e: Event) => this.onInput((e.target as HTMLInputElement).value)}
        />
      </form>
      ${this.query.trim() ? this.renderHits() : this.renderList(s.meetings, s.meetingsTotal, s.meetingsLoaded)}
    `;
  }

  private renderRecovered(): TemplateResult | typeof nothing {
    const recovered = this.app.state.recovered;
    if (recovered.length === 0) return nothing;
    return html`<section class="banner warn recovered" aria-labelledby="recovered-title">
      <h3 id="recovered-title">Recovered after a crash</h3>
      <p>Hark stopped unexpectedly while these meetings were recording. Everything transcribed before that was kept.</p>
      <ul>
        ${recovered.map(
          (r) => html`<li data-meeting-id=${r.meeting_id}>
            <button type="button" class="link" @click=${() => this.app.openMeeting(r.meeting_id)}>${r.title}</button>
            ${r.broken_lines > 0
              ? html`<span class="muted">(${r.broken_lines} damaged ${r.broken_lines === 1 ? 'line was' : 'lines were'} set aside)</span>`
              : nothing}
            <button type="button" class="small" @click=${() => this.app.dispatch({ type: 'dismissRecovered', meetingId: r.meeting_id })}
              aria-label="Dismiss the notice about ${r.title}">Dismiss</button>
          </li>`,
        )}
      </ul>
    </section>`;
  }

  private renderList(meetings: MeetingMetadata[], total: number, loaded: boolean): TemplateResult {
    if (this.listError) {
      return html`<p class="error" role="alert">Could not load the meetings: ${this.listError}
        <button type="button" class="small" @click=${() => void this.reload()}>Try again</button></p>`;
    }
    if (!loaded) return html`<p class="muted">Loading meetings…</p>`;
    if (meetings.length === 0) {
      return html`<p class="empty">No meetings yet. Start one from <button type="button" class="link" @click=${() => this.app.go('live')}>Live</button>.</p>`;
    }
    return html`
      <p class="muted list-count">${total} ${total === 1 ? 'meeting' : 'meetings'}</p>
      <ul class="meeting-list" aria-label="Meetings, newest first">
        ${meetings.map(
          (m) => html`<li>
            <button type="button" class="meeting-row" data-meeting-id=${m.id} @click=${() => this.app.openMeeting(m.id)}>
              <span class="meeting-title">${m.title}</span>
              <span class="meeting-meta">
                <time datetime=${m.started_at}>${formatDateTime(m.started_at)}</time>
                · ${formatDuration(m.duration_ms)} · ${m.segment_count} ${m.segment_count === 1 ? 'segment' : 'segments'}
              </span>
              ${m.status !== 'stopped' ? meetingStatus(m.status) : nothing}
            </button>
          </li>`,
        )}
      </ul>
      ${meetings.length < total
        ? html`<button type="button" ?disabled=${this.loadingMore} @click=${() => void this.loadMore()}>
            ${this.loadingMore ? 'Loading…' : `Show more (${total - meetings.length} older)`}
          </button>`
        : nothing}
    `;
  }

  private renderHits(): TemplateResult {
    if (this.searchError) return html`<p class="muted" role="status">${this.searchError}</p>`;
    if (this.hits === null) return html`<p class="muted" role="status">Searching…</p>`;
    if (this.hits.length === 0) {
      return html`<p class="empty" role="status">${this.searching ? 'Searching…' : `Nothing said matches “${this.query.trim()}”.`}</p>`;
    }
    // Grouped by meeting, in the order of each meeting's best hit.
    const groups = new Map<string, SearchHit[]>();
    for (const h of this.hits) {
      const g = groups.get(h.meeting_id);
      if (g) g.push(h);
      else groups.set(h.meeting_id, [h]);
    }
    return html`<p class="muted" role="status">${this.hits.length} ${this.hits.length === 1 ? 'match' : 'matches'} in ${groups.size}
        ${groups.size === 1 ? 'meeting' : 'meetings'}</p>
      <ul class="search-results" aria-label="Search results">
        ${[...groups.entries()].map(
          ([id, hits]) => html`<li class="search-group" data-meeting-id=${id}>
            <h3><button type="button" class="link" @click=${() => this.app.openMeeting(id)}>${this.titleOf(id)}</button></h3>
            <ul>
              ${hits.map(
                (h) => html`<li class="hit">
                  <button type="button" class="hit-open" @click=${() => this.app.openMeeting(id)}
                    aria-label="Open ${this.titleOf(id)} at ${formatOffset(h.t0_ms)}">${formatOffset(h.t0_ms)}</button>
                  <span class="snippet">${hitParts(h).map((p) => (p.match ? html`<mark>${p.text}</mark>` : p.text))}</span>
                </li>`,
              )}
            </ul>
          </li>`,
        )}
      </ul>`;
  }
}
