import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, parseMeetingSession, recordingMeetings, reduce, type Action, type AppState } from '../src/lib/state.js';
import type { HostEvent, MeetingMetadata } from '../src/lib/types.js';

let seq = 0;
function ev(kind: string, payload: unknown, agent_id: string | null = null): HostEvent {
  seq++;
  return { id: `evt-${seq}`, sequence: seq, timestamp: '2025-05-12T15:00:00Z', kind, agent_id, message: kind, payload };
}

function meeting(id: string, started_at: string, status = 'recording', extra: Partial<MeetingMetadata> = {}): MeetingMetadata {
  return {
    id,
    title: `Meeting ${id}`,
    status,
    started_at,
    duration_ms: 0,
    sources: [{ kind: 'file', name: 'file', role: 'unknown' }],
    persist_audio: true,
    segment_count: 0,
    started_by: 'host',
    revision: 1,
    revisions: [],
    ...extra,
  };
}

function run(actions: Action[], from: AppState = initialState): AppState {
  return actions.reduce(reduce, from);
}

test('a snapshot sets roster, pending approvals and live meetings', () => {
  const s = run([
    {
      type: 'snapshot',
      result: {
        agents: [{ id: 'a', name: 'A', status: 'idle', capabilities: [], metadata: {}, session_id: 's', registered_at: 'x' }],
        approvals: [
          { id: 'apr-1', client_id: 'c', action: 'use the microphone', details: {}, options: [], status: 'pending', created_at: 'x' },
        ],
        meetings_active: [meeting('m1', '2025-05-12T15:00:00Z')],
        events: [ev('meeting.recovered', { meeting_id: 'old', meeting: meeting('old', '2025-05-11T10:00:00Z', 'interrupted'), broken_lines: 1 })],
      },
    },
  ]);
  assert.deepEqual(s.agents.map((a) => a.id), ['a']);
  assert.deepEqual(s.approvals.map((a) => a.id), ['apr-1']);
  assert.deepEqual(recordingMeetings(s).map((m) => m.meta.id), ['m1']);
  assert.deepEqual(s.recovered, [{ meeting_id: 'old', title: 'Meeting old', broken_lines: 1 }]);
  assert.equal(s.live.m1.sources.file.role, 'unknown');
});

test('agents are added, updated and removed by host events', () => {
  const agent = { id: 'notes', name: 'Notes', status: 'idle', capabilities: [], metadata: {}, session_id: 's', registered_at: 'x' };
  let s = run([{ type: 'hostEvent', event: ev('agent.registered', agent, 'notes') }]);
  s = reduce(s, { type: 'hostEvent', event: ev('agent.status_changed', { ...agent, status: 'running', message: 'busy' }, 'notes') });
  assert.equal(s.agents.length, 1);
  assert.equal(s.agents[0].status, 'running');
  s = reduce(s, { type: 'hostEvent', event: ev('agent.unregistered', agent, 'notes') });
  assert.deepEqual(s.agents, []);
});

test('a roster load replaces the agents and nothing else', () => {
  const s0 = run([{ type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'm', meeting: meeting('m', '2025-01-01T00:00:00Z') }) }]);
  const s = reduce(s0, { type: 'agentsLoaded', agents: [{ id: 'x', name: 'X', status: 'idle', capabilities: [], metadata: {}, session_id: 's', registered_at: 'r' }] });
  assert.deepEqual(s.agents.map((a) => a.id), ['x']);
  assert.equal(s.live, s0.live);
});

test('approvals appear once and go when resolved', () => {
  const request = { id: 'apr-9', agent_id: 'notes', client_id: 'c', action: 'use the microphone', details: { capability: 'microphone' }, options: ['approve_once', 'approve_always', 'deny'], status: 'pending' as const, created_at: 'x' };
  const requested = ev('approval.requested', { approval_id: 'apr-9', agent_id: 'notes', capability: 'microphone', method: 'meeting.start', params_preview: {}, request });
  let s = run([
    { type: 'hostEvent', event: requested },
    { type: 'hostEvent', event: requested },
  ]);
  assert.equal(s.approvals.length, 1);
  s = reduce(s, { type: 'hostEvent', event: ev('approval.resolved', { approval_id: 'apr-9', resolution: 'deny', request }) });
  assert.equal(s.approvals.length, 0);
});

test('a meeting grows live: partial, then its final replaces it, levels per source, then it stops', () => {
  const m = meeting('m1', '2025-05-12T15:00:00Z');
  let s = run([{ type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'm1', meeting: m }) }]);
  assert.equal(s.meetings[0].id, 'm1');
  s = reduce(s, { type: 'voiceEvent', sessionId: 'meeting:m1:file', event: { type: 'partial', text: 'speech 1 …', t0_ms: 0, t1_ms: 500, duration_ms: 500 } });
  assert.equal(s.live.m1.sources.file.partial, 'speech 1 …');
  s = reduce(s, { type: 'voiceEvent', sessionId: 'meeting:m1:file', event: { type: 'level', rms: 0.1, peak: 0.5 } });
  assert.deepEqual(s.live.m1.sources.file.level, { rms: 0.1, peak: 0.5 });
  s = reduce(s, {
    type: 'voiceEvent',
    sessionId: 'meeting:m1:file',
    event: { type: 'transcript', text: 'speech 1 (2.3 s)', t0_ms: 100, t1_ms: 2400, duration_ms: 2300, role: 'unknown', seq: 0 },
  });
  assert.equal(s.live.m1.sources.file.partial, null, 'the final replaces the partial');
  assert.equal(s.live.m1.segments.length, 1);
  // The stored copy of the same segment (host event) does not duplicate it, and its timestamp wins.
  const stored = { seq: 0, source: 'file', role: 'unknown', t0_ms: 100, t1_ms: 2400, timestamp: '2025-05-12T15:00:02.4Z', text: 'speech 1 (2.3 s)' };
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.segment', { meeting_id: 'm1', segment: stored }) });
  assert.equal(s.live.m1.segments.length, 1);
  assert.equal(s.live.m1.segments[0].timestamp, stored.timestamp);
  assert.equal(s.live.m1.meta.segment_count, 1);
  assert.equal(recordingMeetings(s).length, 1);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.stopped', { meeting_id: 'm1', meeting: { ...m, status: 'stopped', segment_count: 1 }, reason: 'auto_stop', silence_ms: 900000 }) });
  assert.equal(recordingMeetings(s).length, 0);
  assert.deepEqual(s.live.m1.stop, { reason: 'auto_stop', silence_ms: 900000 });
  assert.equal(s.live.m1.meta.status, 'stopped', 'the finished transcript stays on screen');
  assert.equal(s.meetings[0].status, 'stopped');
});

test('segments are kept in seq order whatever order they arrive in', () => {
  let s = run([{ type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'm', meeting: meeting('m', '2025-01-01T00:00:00Z') }) }]);
  for (const n of [2, 0, 1]) {
    s = reduce(s, { type: 'hostEvent', event: ev('meeting.segment', { meeting_id: 'm', segment: { seq: n, source: 'file', role: 'r', t0_ms: n, t1_ms: n + 1, timestamp: 't', text: `s${n}` } }) });
  }
  assert.deepEqual(s.live.m.segments.map((x) => x.text), ['s0', 's1', 's2']);
});

test('voice events of sessions that are not meetings, or of unknown meetings, change nothing', () => {
  const s0 = run([{ type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'm', meeting: meeting('m', '2025-01-01T00:00:00Z') }) }]);
  const partial = { type: 'partial' as const, text: 'x', t0_ms: 0, t1_ms: 1, duration_ms: 1 };
  assert.equal(reduce(s0, { type: 'voiceEvent', sessionId: '5e515b5c068d4613b7f4dfe498417e49', event: partial }), s0);
  assert.equal(reduce(s0, { type: 'voiceEvent', sessionId: 'meeting:other:mic', event: partial }), s0);
  assert.deepEqual(parseMeetingSession('meeting:abc:mic'), { meetingId: 'abc', source: 'mic' });
  assert.equal(parseMeetingSession('meeting:abc'), null);
});

test('a new recording clears finished live meetings', () => {
  let s = run([
    { type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'a', meeting: meeting('a', '2025-01-01T00:00:00Z') }) },
    { type: 'hostEvent', event: ev('meeting.stopped', { meeting_id: 'a', meeting: meeting('a', '2025-01-01T00:00:00Z', 'stopped') }) },
  ]);
  assert.ok(s.live.a);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'b', meeting: meeting('b', '2025-01-02T00:00:00Z') }) });
  assert.deepEqual(Object.keys(s.live), ['b']);
});

test('the list stays newest first; a loaded page keeps live figures of recording meetings', () => {
  let s = run([{ type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'live', meeting: meeting('live', '2025-03-01T00:00:00Z', 'recording', { segment_count: 4 }) }) }]);
  s = reduce(s, {
    type: 'meetingsLoaded',
    meetings: [meeting('live', '2025-03-01T00:00:00Z', 'recording', { segment_count: 1 }), meeting('old', '2025-01-01T00:00:00Z', 'stopped'), meeting('mid', '2025-02-01T00:00:00Z', 'stopped')],
    total: 3,
    append: false,
  });
  assert.deepEqual(s.meetings.map((m) => m.id), ['live', 'mid', 'old']);
  assert.equal(s.meetings[0].segment_count, 4);
  assert.equal(s.meetingsTotal, 3);
});

test('a meeting older than a partial page is counted, not shown; a new one joins the top', () => {
  let s = run([{ type: 'meetingsLoaded', meetings: [meeting('b', '2025-02-01T00:00:00Z', 'stopped')], total: 5, append: false }]);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.recovered', { meeting_id: 'z', meeting: meeting('z', '2024-01-01T00:00:00Z', 'interrupted'), broken_lines: 0 }) });
  assert.deepEqual(s.meetings.map((m) => m.id), ['b']);
  assert.equal(s.meetingsTotal, 5);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'n', meeting: meeting('n', '2025-06-01T00:00:00Z') }) });
  assert.deepEqual(s.meetings.map((m) => m.id), ['n', 'b']);
  assert.equal(s.meetingsTotal, 6);
});

test('renames replace the list entry; deletions remove it and its live copy', () => {
  let s = run([{ type: 'meetingsLoaded', meetings: [meeting('a', '2025-02-01T00:00:00Z', 'stopped')], total: 1, append: false }]);
  s = reduce(s, { type: 'meetingChanged', meeting: { ...s.meetings[0], title: 'Renamed' } });
  assert.equal(s.meetings[0].title, 'Renamed');
  assert.equal(s.meetingsTotal, 1);
  s = reduce(s, { type: 'meetingDeleted', meetingId: 'a' });
  assert.deepEqual(s.meetings, []);
  assert.equal(s.meetingsTotal, 0);
});

test('recovered meetings show until dismissed, and a dismissed one does not come back', () => {
  const recovered = ev('meeting.recovered', { meeting_id: 'r', meeting: meeting('r', '2025-01-01T00:00:00Z', 'interrupted'), broken_lines: 2 });
  let s = run([{ type: 'hostEvent', event: recovered }]);
  assert.equal(s.recovered.length, 1);
  s = reduce(s, { type: 'dismissRecovered', meetingId: 'r' });
  assert.equal(s.recovered.length, 0);
  s = reduce(s, { type: 'pastEvents', events: [recovered] });
  assert.equal(s.recovered.length, 0);
});

test('surface owners come from the host events of the surface', () => {
  let s = run([
    { type: 'pastEvents', events: [ev('a2ui.surface_updated', { surfaceId: 'budget', revision: 1 }, 'planner')] },
    { type: 'hostEvent', event: ev('a2ui.surface_updated', { surfaceId: 'anon', revision: 1 }, null) },
  ]);
  assert.deepEqual(s.surfaceOwners, { budget: 'planner', anon: null });
  s = reduce(s, { type: 'hostEvent', event: ev('a2ui.surface_deleted', { surfaceId: 'budget', revision: null }, 'planner') });
  assert.deepEqual(s.surfaceOwners, { anon: null });
});

test('settings follow settings.changed; notifications keep the newest 20', () => {
  const settings = { input_device: null, language: 'en', keep_audio: true, system_audio: false, auto_stop_minutes: 15, model_keep_alive_minutes: 5, port: 9470, start_at_login: false, global_shortcut: null, notifications: true };
  let s = run([{ type: 'hostEvent', event: ev('settings.changed', { settings }) }]);
  assert.equal(s.settings?.language, 'en');
  for (let i = 0; i < 25; i++) s = reduce(s, { type: 'hostEvent', event: ev('host.notification', { kind: 'k', payload: i }, 'bot') });
  assert.equal(s.notices.length, 20);
  assert.equal(s.notices[0].id, `evt-${seq}`);
});

test('a snapshot after a reconnect drops recordings that ended meanwhile', () => {
  let s = run([{ type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'gone', meeting: meeting('gone', '2025-01-01T00:00:00Z') }) }]);
  s = reduce(s, { type: 'snapshot', result: { agents: [], approvals: [], meetings_active: [], events: [] } });
  assert.deepEqual(Object.keys(s.live), []);
});

test('connection status and error', () => {
  const s = reduce(initialState, { type: 'connection', status: 'disconnected', error: 'the daemon is not reachable', retryAt: 5 });
  assert.deepEqual(s.connection, { status: 'disconnected', error: 'the daemon is not reachable', retryAt: 5 });
});

test('meeting.updated renames a listed meeting in place and leaves an unlisted one out', () => {
  let s = run([
    { type: 'meetingsLoaded', meetings: [meeting('a', '2025-05-12T15:00:00Z', 'stopped'), meeting('b', '2025-05-11T15:00:00Z', 'stopped')], total: 5, append: false },
  ]);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.updated', { meeting_id: 'b', meeting: meeting('b', '2025-05-11T15:00:00Z', 'stopped', { title: 'Renamed' }), change: 'renamed' }) });
  assert.deepEqual(s.meetings.map((m) => [m.id, m.title]), [['a', 'Meeting a'], ['b', 'Renamed']]);
  assert.equal(s.meetingsTotal, 5);
  const before = s;
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.updated', { meeting_id: 'old', meeting: meeting('old', '2020-01-01T00:00:00Z', 'stopped'), change: 'renamed' }) });
  assert.deepEqual(s.meetings, before.meetings);
  assert.equal(s.meetingsTotal, 5);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.updated', { meeting_id: 'a', meeting: meeting('a', '2025-05-12T15:00:00Z', 'stopped', { revision: 2, segment_count: 4 }), change: 'revision' }) });
  assert.equal(s.meetings[0].revision, 2);
  assert.equal(reduce(s, { type: 'hostEvent', event: ev('meeting.updated', { meeting_id: 'a' }) }), s, 'no metadata: nothing');
});

test('meeting.updated renames a recording meeting without losing its live figures, and the recovery notice', () => {
  let s = run([
    { type: 'hostEvent', event: ev('meeting.started', { meeting_id: 'm', meeting: meeting('m', '2025-05-12T15:00:00Z') }) },
    { type: 'hostEvent', event: ev('meeting.segment', { meeting_id: 'm', segment: { seq: 2, source: 'file', role: 'unknown', t0_ms: 0, t1_ms: 1, timestamp: 't', text: 'x' } }) },
    { type: 'hostEvent', event: ev('meeting.recovered', { meeting_id: 'r', meeting: meeting('r', '2025-05-10T15:00:00Z', 'interrupted'), broken_lines: 0 }) },
  ]);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.updated', { meeting_id: 'm', meeting: meeting('m', '2025-05-12T15:00:00Z', 'recording', { title: 'Live one', segment_count: 1 }), change: 'renamed' }) });
  assert.equal(s.live.m.meta.title, 'Live one');
  assert.equal(s.live.m.meta.segment_count, 3);
  assert.equal(s.meetings.find((m) => m.id === 'm')?.title, 'Live one');
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.updated', { meeting_id: 'r', meeting: meeting('r', '2025-05-10T15:00:00Z', 'interrupted', { title: 'Saved' }), change: 'renamed' }) });
  assert.equal(s.recovered[0].title, 'Saved');
});

test('meeting.deleted removes the meeting once, even after the window deleted it itself', () => {
  let s = run([
    { type: 'meetingsLoaded', meetings: [meeting('a', '2025-05-12T15:00:00Z', 'stopped'), meeting('b', '2025-05-11T15:00:00Z', 'stopped')], total: 2, append: false },
    { type: 'hostEvent', event: ev('meeting.recovered', { meeting_id: 'b', meeting: meeting('b', '2025-05-11T15:00:00Z', 'interrupted'), broken_lines: 0 }) },
  ]);
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.deleted', { meeting_id: 'b' }) });
  assert.deepEqual(s.meetings.map((m) => m.id), ['a']);
  assert.equal(s.meetingsTotal, 1);
  assert.deepEqual(s.recovered, []);
  s = reduce(s, { type: 'meetingDeleted', meetingId: 'a' });
  s = reduce(s, { type: 'hostEvent', event: ev('meeting.deleted', { meeting_id: 'a' }) });
  assert.deepEqual(s.meetings, []);
  assert.equal(s.meetingsTotal, 0);
  assert.equal(reduce(s, { type: 'hostEvent', event: ev('meeting.deleted', {}) }), s);
});
