/**
 * The window's view of the daemon, as one immutable state and a reducer: the agent roster,
 * pending approvals, the meetings list, meetings that record now (their transcript growing,
 * partial text, levels), recovered meetings, surface owners, settings, the connection.
 *
 * Everything that changes it is an `Action`: a host event, a voice event, a snapshot, a result
 * of a call. The reducer is pure (no clock, no I/O): it is what the unit tests exercise.
 */
import type {
  DaemonSettings,
  HostAgent,
  HostApprovalRequest,
  HostEvent,
  MeetingMetadata,
  Segment,
  SubscribeResult,
  VoiceEvent,
} from './types.js';

export type ConnectionStatus = 'connecting' | 'connected' | 'disconnected';

export interface ConnectionState {
  status: ConnectionStatus;
  /** Why the last attempt failed or the socket closed. */
  error: string | null;
  /** When the next attempt starts (ms since the epoch), while disconnected. */
  retryAt: number | null;
}

export interface LiveSource {
  name: string;
  role: string;
  /** The current guess for the open segment (grey until final); null when none. */
  partial: string | null;
  level: { rms: number; peak: number } | null;
  /** Why the source's session ended (`done.reason`), once it did. */
  done: string | null;
  error: string | null;
}

/** Why a meeting ended (`meeting.stopped`'s `reason`: `stopped`, `sources_ended`, `auto_stop`). */
export interface StopInfo {
  reason: string;
  silence_ms?: number;
}

export interface LiveMeeting {
  meta: MeetingMetadata;
  /** Set once it stopped. */
  stop: StopInfo | null;
  /** Final segments, by `seq`. */
  segments: Segment[];
  sources: Record<string, LiveSource>;
}

export interface RecoveredMeeting {
  meeting_id: string;
  title: string;
  broken_lines: number;
}

export interface Notice {
  id: string;
  agent_id: string | null;
  message: string;
  timestamp: string;
}

export interface AppState {
  connection: ConnectionState;
  agents: HostAgent[];
  /** Pending approvals, oldest first. */
  approvals: HostApprovalRequest[];
  /** The meetings list, newest first (a page of `meeting.list`, kept current by host events). */
  meetings: MeetingMetadata[];
  meetingsTotal: number;
  meetingsLoaded: boolean;
  /** Meetings recording now, and those that stopped since this window saw them start. */
  live: Record<string, LiveMeeting>;
  /** Meetings recovered after a crash that the person has not dismissed. */
  recovered: RecoveredMeeting[];
  dismissedRecovered: string[];
  /**
   * The `agent_id` that last changed each surface (from host events); null: none claimed. Only
   * the fallback for a daemon whose surface views do not name their `owner`.
   */
  surfaceOwners: Record<string, string | null>;
  settings: DaemonSettings | null;
  /** `host.notification`s, newest first (at most 20). */
  notices: Notice[];
}

export const initialState: AppState = {
  connection: { status: 'connecting', error: null, retryAt: null },
  agents: [],
  approvals: [],
  meetings: [],
  meetingsTotal: 0,
  meetingsLoaded: false,
  live: {},
  recovered: [],
  dismissedRecovered: [],
  surfaceOwners: {},
  settings: null,
  notices: [],
};

export type Action =
  | { type: 'connection'; status: ConnectionStatus; error?: string | null; retryAt?: number | null }
  | { type: 'snapshot'; result: SubscribeResult }
  | { type: 'pastEvents'; events: HostEvent[] }
  | { type: 'hostEvent'; event: HostEvent }
  | { type: 'voiceEvent'; sessionId: string; event: VoiceEvent }
  | { type: 'agentsLoaded'; agents: HostAgent[] }
  | { type: 'meetingsLoaded'; meetings: MeetingMetadata[]; total: number; append: boolean }
  | { type: 'meetingChanged'; meeting: MeetingMetadata }
  | { type: 'meetingDeleted'; meetingId: string }
  | { type: 'liveSegments'; meetingId: string; segments: Segment[] }
  | { type: 'approvalGone'; approvalId: string }
  | { type: 'dismissRecovered'; meetingId: string }
  | { type: 'forgetLive'; meetingId: string }
  | { type: 'settings'; settings: DaemonSettings | null };

export const MAX_NOTICES = 20;

export function reduce(state: AppState, action: Action): AppState {
  switch (action.type) {
    case 'connection':
      return {
        ...state,
        connection: { status: action.status, error: action.error ?? null, retryAt: action.retryAt ?? null },
      };
    case 'snapshot':
      return applySnapshot(state, action.result);
    case 'pastEvents':
      return action.events.reduce(applyPastEvent, state);
    case 'hostEvent':
      return applyHostEvent(state, action.event);
    case 'voiceEvent':
      return applyVoiceEvent(state, action.sessionId, action.event);
    case 'agentsLoaded':
      return { ...state, agents: [...action.agents] };
    case 'meetingsLoaded': {
      const incoming = action.append ? [...state.meetings, ...action.meetings] : action.meetings;
      // Live figures win over a page fetched a moment ago.
      const meetings = dedupeMeetings(incoming).map((m) => state.live[m.id]?.meta.status === 'recording' ? state.live[m.id].meta : m);
      return { ...state, meetings: sortMeetings(meetings), meetingsTotal: action.total, meetingsLoaded: true };
    }
    case 'meetingChanged':
      return upsertMeeting(state, action.meeting);
    case 'meetingDeleted': {
      const had = state.meetings.some((m) => m.id === action.meetingId);
      const live = { ...state.live };
      delete live[action.meetingId];
      return {
        ...state,
        meetings: state.meetings.filter((m) => m.id !== action.meetingId),
        meetingsTotal: had ? Math.max(0, state.meetingsTotal - 1) : state.meetingsTotal,
        live,
        recovered: state.recovered.filter((r) => r.meeting_id !== action.meetingId),
      };
    }
    case 'liveSegments': {
      const m = state.live[action.meetingId];
      if (!m) return state;
      return withLive(state, action.meetingId, { ...m, segments: mergeSegments(m.segments, action.segments) });
    }
    case 'approvalGone':
      return { ...state, approvals: state.approvals.filter((a) => a.id !== action.approvalId) };
    case 'dismissRecovered':
      return {
        ...state,
        recovered: state.recovered.filter((r) => r.meeting_id !== action.meetingId),
        dismissedRecovered: [...state.dismissedRecovered, action.meetingId],
      };
    case 'forgetLive': {
      const m = state.live[action.meetingId];
      if (!m || m.meta.status === 'recording') return state;
      const live = { ...state.live };
      delete live[action.meetingId];
      return { ...state, live };
    }
    case 'settings':
      return { ...state, settings: action.settings };
  }
}

/** Meetings that record now, oldest first. */
export function recordingMeetings(state: AppState): LiveMeeting[] {
  return Object.values(state.live)
    .filter((m) => m.meta.status === 'recording')
    .sort((a, b) => a.meta.started_at.localeCompare(b.meta.started_at));
}

/** Splits `meeting:<id>:<source>` (ids and source names never contain `:`). */
export function parseMeetingSession(sessionId: string): { meetingId: string; source: string } | null {
  const parts = sessionId.split(':');
  if (parts.length !== 3 || parts[0] !== 'meeting' || !parts[1] || !parts[2]) return null;
  return { meetingId: parts[1], source: parts[2] };
}

function applySnapshot(state: AppState, snap: SubscribeResult): AppState {
  // The snapshot is the truth for what is live now; stopped meetings this window showed live
  // stay (their transcript is still on screen), recording ones it does not list have ended.
  const live: Record<string, LiveMeeting> = {};
  for (const [id, m] of Object.entries(state.live)) {
    if (m.meta.status !== 'recording') live[id] = m;
  }
  for (const meta of snap.meetings_active ?? []) {
    const previous = state.live[meta.id];
    live[meta.id] = previous ? { ...previous, meta, sources: sourcesFor(meta, previous.sources) } : newLive(meta);
  }
  let next: AppState = {
    ...state,
    agents: [...(snap.agents ?? [])],
    approvals: (snap.approvals ?? []).filter((a) => a.status === 'pending'),
    live,
  };
  for (const meta of snap.meetings_active ?? []) next = upsertMeeting(next, meta);
  return (snap.events ?? []).reduce(applyPastEvent, next);
}

/**
 * What an old event (from a snapshot or `host.events`) still tells: crash recoveries and who
 * owns a surface. Roster, approvals and live meetings come from the snapshot itself.
 */
function applyPastEvent(state: AppState, event: HostEvent): AppState {
  switch (event.kind) {
    case 'meeting.recovered':
      return noteRecovered(state, event.payload);
    case 'a2ui.surface_updated':
    case 'a2ui.surface_deleted':
      return noteSurfaceOwner(state, event);
    default:
      return state;
  }
}

function applyHostEvent(state: AppState, event: HostEvent): AppState {
  const p = (event.payload ?? {}) as Record<string, unknown>;
  switch (event.kind) {
    case 'agent.registered':
    case 'agent.status_changed': {
      const agent = p as unknown as HostAgent;
      if (typeof agent.id !== 'string') return state;
      const i = state.agents.findIndex((a) => a.id === agent.id);
      const agents = [...state.agents];
      if (i >= 0) agents[i] = agent;
      else agents.push(agent);
      return { ...state, agents };
    }
    case 'agent.unregistered': {
      const id = typeof p.id === 'string' ? p.id : event.agent_id;
      return { ...state, agents: state.agents.filter((a) => a.id !== id) };
    }
    case 'approval.requested': {
      const request = p.request as HostApprovalRequest | undefined;
      if (!request || typeof request.id !== 'string') return state;
      if (state.approvals.some((a) => a.id === request.id)) return state;
      return { ...state, approvals: [...state.approvals, request] };
    }
    case 'approval.resolved': {
      const id = typeof p.approval_id === 'string' ? p.approval_id : (p.request as HostApprovalRequest | undefined)?.id;
      return { ...state, approvals: state.approvals.filter((a) => a.id !== id) };
    }
    case 'meeting.started': {
      const meta = p.meeting as MeetingMetadata | undefined;
      if (!meta) return state;
      // A new recording replaces the finished ones still shown live.
      const live: Record<string, LiveMeeting> = {};
      for (const [id, m] of Object.entries(state.live)) {
        if (m.meta.status === 'recording') live[id] = m;
      }
      live[meta.id] = state.live[meta.id] ?? newLive(meta);
      return upsertMeeting({ ...state, live }, meta, true);
    }
    case 'meeting.segment': {
      const id = p.meeting_id as string;
      const segment = p.segment as Segment | undefined;
      const m = state.live[id];
      if (!m || !segment) return state;
      return withLive(state, id, {
        ...m,
        meta: { ...m.meta, segment_count: Math.max(m.meta.segment_count, segment.seq + 1) },
        segments: mergeSegments(m.segments, [segment]),
      });
    }
    case 'meeting.stopped': {
      const meta = p.meeting as MeetingMetadata | undefined;
      if (!meta) return state;
      const m = state.live[meta.id];
      const stop: StopInfo = { reason: typeof p.reason === 'string' ? p.reason : 'stopped' };
      if (typeof p.silence_ms === 'number') stop.silence_ms = p.silence_ms;
      const next = m
        ? withLive(state, meta.id, {
            ...m,
            meta,
            stop,
            sources: Object.fromEntries(
              Object.entries(m.sources).map(([k, s]) => [k, { ...s, partial: null, done: s.done ?? 'stopped' }]),
            ),
          })
        : state;
      return upsertMeeting(next, meta);
    }
    case 'meeting.recovered': {
      const meta = p.meeting as MeetingMetadata | undefined;
      const next = noteRecovered(state, p);
      return meta ? upsertMeeting(next, meta) : next;
    }
    case 'meeting.updated': {
      // Renamed, or a second pass stored a new revision (by this window or anyone else).
      const meta = p.meeting as MeetingMetadata | undefined;
      if (!meta || typeof meta.id !== 'string') return state;
      return applyMeetingUpdate(state, meta);
    }
    case 'meeting.deleted': {
      const id = typeof p.meeting_id === 'string' ? p.meeting_id : null;
      return id ? reduce(state, { type: 'meetingDeleted', meetingId: id }) : state;
    }
    case 'a2ui.surface_updated':
    case 'a2ui.surface_deleted':
      return noteSurfaceOwner(state, event);
    case 'host.notification': {
      const notice: Notice = {
        id: event.id,
        agent_id: event.agent_id ?? null,
        message: event.message,
        timestamp: event.timestamp,
      };
      return { ...state, notices: [notice, ...state.notices].slice(0, MAX_NOTICES) };
    }
    case 'settings.changed': {
      const settings = p.settings as DaemonSettings | undefined;
      return settings ? { ...state, settings } : state;
    }
    default:
      return state;
  }
}

function applyVoiceEvent(state: AppState, sessionId: string, event: VoiceEvent): AppState {
  const where = parseMeetingSession(sessionId);
  if (!where) return state;
  const m = state.live[where.meetingId];
  if (!m) return state;
  const src = m.sources[where.source] ?? blankSource(where.source, 'unknown');
  let source: LiveSource = src;
  let segments = m.segments;
  switch (event.type) {
    case 'partial':
      source = { ...src, partial: event.text };
      break;
    case 'transcript':
      source = { ...src, partial: null };
      segments = mergeSegments(m.segments, [
        {
          seq: event.seq,
          source: where.source,
          role: event.role,
          t0_ms: event.t0_ms,
          t1_ms: event.t1_ms,
          timestamp: '',
          text: event.text,
        },
      ]);
      break;
    case 'level':
      source = { ...src, level: { rms: event.rms, peak: event.peak } };
      break;
    case 'error':
      source = { ...src, error: event.message || event.code };
      break;
    case 'done':
      source = { ...src, partial: null, done: event.reason, level: null };
      break;
    default:
      return state;
  }
  return withLive(state, where.meetingId, { ...m, segments, sources: { ...m.sources, [where.source]: source } });
}

/**
 * A meeting's new metadata from `meeting.updated`: replaces the list's copy in place (one not in
 * the loaded page stays unlisted: it is counted already), the live copy (keeping the live segment
 * count, which may be ahead) and the title in the recovery notice.
 */
function applyMeetingUpdate(state: AppState, meta: MeetingMetadata): AppState {
  let next = state;
  const m = state.live[meta.id];
  const current = m && m.meta.status === 'recording' && meta.status === 'recording'
    ? { ...meta, segment_count: Math.max(meta.segment_count, m.meta.segment_count) }
    : meta;
  if (m) next = withLive(next, meta.id, { ...m, meta: current });
  const i = next.meetings.findIndex((x) => x.id === meta.id);
  if (i >= 0) {
    const meetings = [...next.meetings];
    meetings[i] = current;
    next = { ...next, meetings: sortMeetings(meetings) };
  }
  if (next.recovered.some((r) => r.meeting_id === meta.id)) {
    next = { ...next, recovered: next.recovered.map((r) => (r.meeting_id === meta.id ? { ...r, title: meta.title } : r)) };
  }
  return next;
}

function noteRecovered(state: AppState, payload: unknown): AppState {
  const p = (payload ?? {}) as Record<string, unknown>;
  const meta = p.meeting as MeetingMetadata | undefined;
  const id = typeof p.meeting_id === 'string' ? p.meeting_id : meta?.id;
  if (!id || state.dismissedRecovered.includes(id) || state.recovered.some((r) => r.meeting_id === id)) {
    return state;
  }
  const entry: RecoveredMeeting = {
    meeting_id: id,
    title: meta?.title ?? id,
    broken_lines: typeof p.broken_lines === 'number' ? p.broken_lines : 0,
  };
  return { ...state, recovered: [...state.recovered, entry] };
}

function noteSurfaceOwner(state: AppState, event: HostEvent): AppState {
  const p = (event.payload ?? {}) as Record<string, unknown>;
  const id = p.surfaceId;
  if (typeof id !== 'string') return state;
  const surfaceOwners = { ...state.surfaceOwners };
  if (event.kind === 'a2ui.surface_deleted') delete surfaceOwners[id];
  else surfaceOwners[id] = event.agent_id ?? null;
  return { ...state, surfaceOwners };
}

function newLive(meta: MeetingMetadata): LiveMeeting {
  return { meta, stop: null, segments: [], sources: sourcesFor(meta, {}) };
}

function sourcesFor(meta: MeetingMetadata, previous: Record<string, LiveSource>): Record<string, LiveSource> {
  const sources: Record<string, LiveSource> = {};
  for (const s of meta.sources ?? []) sources[s.name] = previous[s.name] ?? blankSource(s.name, s.role);
  return sources;
}

function blankSource(name: string, role: string): LiveSource {
  return { name, role, partial: null, level: null, done: null, error: null };
}

function withLive(state: AppState, id: string, m: LiveMeeting): AppState {
  return { ...state, live: { ...state.live, [id]: m } };
}

/** Segments by `seq`, one per seq (a later copy replaces an earlier one). */
export function mergeSegments(existing: Segment[], incoming: Segment[]): Segment[] {
  if (incoming.length === 0) return existing;
  const bySeq = new Map<number, Segment>();
  for (const s of existing) bySeq.set(s.seq, s);
  for (const s of incoming) {
    const old = bySeq.get(s.seq);
    // A voice event's copy has no timestamp (''): a stored copy's (from `meeting.segment` or
    // `meeting.get`) is kept whichever came first.
    bySeq.set(s.seq, old ? { ...old, ...s, timestamp: s.timestamp || old.timestamp } : s);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/**
 * Puts a meeting's latest metadata in the list. `isNew`: it was just created (`meeting.started`),
 * so the total grows; any other meeting missing from the list is already counted in the total.
 */
function upsertMeeting(state: AppState, meta: MeetingMetadata, isNew = false): AppState {
  const i = state.meetings.findIndex((m) => m.id === meta.id);
  if (i >= 0) {
    const meetings = [...state.meetings];
    meetings[i] = meta;
    return { ...state, meetings: sortMeetings(meetings) };
  }
  // When the list is one page of more, a meeting older than its last one belongs to a later
  // page: it is counted, not shown (a meeting started now is always the newest).
  const last = state.meetings[state.meetings.length - 1];
  const partialPage = state.meetingsLoaded && state.meetings.length < state.meetingsTotal;
  const total = isNew || !state.meetingsLoaded ? state.meetingsTotal + 1 : state.meetingsTotal;
  if (partialPage && last && meta.started_at < last.started_at) return { ...state, meetingsTotal: total };
  return { ...state, meetings: sortMeetings([meta, ...state.meetings]), meetingsTotal: Math.max(total, state.meetings.length + 1) };
}

function dedupeMeetings(meetings: MeetingMetadata[]): MeetingMetadata[] {
  const seen = new Map<string, MeetingMetadata>();
  for (const m of meetings) seen.set(m.id, m);
  return [...seen.values()];
}

/** Newest first (RFC 3339 UTC timestamps sort as strings), then by id for a stable order. */
export function sortMeetings(meetings: MeetingMetadata[]): MeetingMetadata[] {
  return [...meetings].sort((a, b) => b.started_at.localeCompare(a.started_at) || a.id.localeCompare(b.id));
}
