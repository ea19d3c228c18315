import type { SurfaceOwner } from './owner.js';

/**
 * The daemon's wire shapes the window reads, as docs/API.md describes them. Only what the window
 * uses is typed; unknown fields are kept (they pass through untouched).
 */

export interface ConnectionInfo {
  /** `ws://127.0.0.1:<port>` (a trailing slash or not). */
  url: string;
  /** null when the daemon runs without authentication (`hark serve --no-auth`). */
  host_token: string | null;
}

export type AgentStatus =
  | 'idle'
  | 'running'
  | 'waiting_for_approval'
  | 'paused'
  | 'completed'
  | 'errored'
  | 'stopped';

export interface HostAgent {
  id: string;
  name: string;
  kind?: string;
  status: AgentStatus | string;
  message?: string;
  capabilities: string[];
  metadata: Record<string, unknown>;
  session_id: string;
  registered_at: string;
}

export interface HostApprovalRequest {
  id: string;
  agent_id?: string | null;
  client_id: string;
  action: string;
  details: unknown;
  options: string[];
  status: 'pending' | 'resolved';
  created_at: string;
  resolved_at?: string;
  resolution?: string;
}

export interface HostEvent {
  id: string;
  sequence: number;
  timestamp: string;
  kind: string;
  agent_id?: string | null;
  message: string;
  payload: unknown;
}

export interface MeetingSource {
  kind: string;
  name: string;
  role: string;
  [field: string]: unknown;
}

export interface MeetingRevision {
  revision: number;
  model: string | null;
  created_at: string;
  segment_count: number;
}

export type MeetingStatus = 'recording' | 'stopped' | 'interrupted';

export interface MeetingMetadata {
  id: string;
  title: string;
  status: MeetingStatus | string;
  started_at: string;
  ended_at?: string | null;
  duration_ms: number;
  sources: MeetingSource[];
  persist_audio: boolean;
  model?: string | null;
  language?: string | null;
  segment_count: number;
  started_by: string;
  revision: number;
  revisions: MeetingRevision[];
  /** Hark's own: set on a meeting recovered after a crash. */
  recovered?: { recovered_at: string; broken_lines: number; wavs_fixed: number; wavs_moved_aside: number } | null;
}

export interface Segment {
  seq: number;
  source: string;
  role: string;
  t0_ms: number;
  t1_ms: number;
  timestamp: string;
  text: string;
}

export interface SearchHit {
  meeting_id: string;
  /** Hark's own: the meeting's title. */
  title?: string;
  seq: number;
  t0_ms: number;
  text: string;
  snippet: string;
  /** Hark's own: the snippet as pieces, each a match or not (absent when the daemon cannot tell). */
  snippet_parts?: { text: string; match: boolean }[];
  score: number;
}

export interface SubscribeResult {
  agents: HostAgent[];
  approvals: HostApprovalRequest[];
  meetings_active: MeetingMetadata[];
  events: HostEvent[];
}

export type VoiceEvent =
  | { type: 'speech_start'; t_ms: number }
  | { type: 'speech_end'; t_ms: number }
  | { type: 'partial'; text: string; t0_ms: number; t1_ms: number; duration_ms: number }
  | { type: 'transcript'; text: string; t0_ms: number; t1_ms: number; duration_ms: number; role: string; seq: number }
  | { type: 'level'; rms: number; peak: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'done'; reason: string };

export interface ModelEntry {
  name: string;
  size_bytes: number;
  sha256: string;
  installed: boolean;
  path?: string;
  default: boolean;
  catalog: boolean;
  /** "fast", "balanced" or "accurate": what the model's family is for (absent for own imports). */
  hint?: string;
}

export interface Grant {
  agent_id: string;
  capability: string;
  granted_at: string;
}

export interface AudioInput {
  id: string;
  name: string;
  default: boolean;
  sample_rates: number[];
}

export interface DevicesResult {
  inputs: AudioInput[];
  system_capture: boolean;
}

/** A stored chat turn (`agents.chat.history`). */
export interface ChatTurn {
  role: 'user' | 'agent';
  text: string;
  tool_calls?: Record<string, unknown>[];
  error?: string;
  ended?: string;
  truncated?: boolean;
  at: string;
}

export interface ChatSession {
  session_id: string;
  agent_id: string;
  started_at: string;
  last_active_at: string;
  active: boolean;
  turns: ChatTurn[];
}

/** `agents.chat.event` params. */
export interface ChatEvent {
  agent_id: string;
  session_id: string;
  kind: 'token' | 'tool_call' | 'done' | 'error' | string;
  delta?: string;
  text?: string;
  error?: string;
  [field: string]: unknown;
}

/** The A2UI surface view the daemon keeps (Agent surfaces). */
export interface SurfaceView {
  surfaceId: string;
  catalogId: string;
  theme?: unknown;
  sendDataModel: boolean;
  components: Array<{ id: string; component?: string; [prop: string]: unknown }>;
  dataModel: Record<string, unknown>;
  pending: string[];
  complete: boolean;
  createdAt: number;
  updatedAt: number;
  revision: number;
  /**
   * Who put it there (the host's views, newer daemons): absent from an older daemon's views,
   * null when the daemon no longer knows.
   */
  owner?: SurfaceOwner | null;
}

/** An `a2ui.event` / `a2ui.apply` result: `{surfaceId, deleted, surface?}`; the host's carry `owner`. */
export interface SurfaceResult {
  surfaceId: string;
  deleted: boolean;
  surface?: SurfaceView;
  owner?: SurfaceOwner | null;
}

/** The daemon settings of `settings.get` / `settings.update` (docs/API.md, Settings). */
export interface DaemonSettings {
  input_device: string | null;
  language: string;
  keep_audio: boolean;
  system_audio: boolean;
  /** 0 to 1440, fractions allowed; 0: off. */
  auto_stop_minutes: number;
  /** 0 to 1440, fractions allowed. */
  model_keep_alive_minutes: number;
  /** The desktop app's port at its next start; null: the default (9470). */
  port: number | null;
  start_at_login: boolean;
  global_shortcut: string | null;
  notifications: boolean;
  [key: string]: unknown;
}
