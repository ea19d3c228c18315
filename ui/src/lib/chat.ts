/**
 * One conversation with an agent as the window shows it: the stored turns
 * (`agents.chat.history`) plus the agent's turn being streamed now (`agents.chat.event`s).
 * Mirrors how the daemon stores a turn (docs/API.md, Chat): joined `token` deltas, replaced by a
 * `done`'s `text` when it has one; tool calls; an error.
 */
import type { ChatEvent, ChatSession, ChatTurn } from './types.js';

export interface StreamingTurn {
  text: string;
  toolCalls: Record<string, unknown>[];
}

export interface Conversation {
  agentId: string;
  sessionId: string;
  turns: ChatTurn[];
  /** The agent's turn while it streams; null when no reply runs. */
  streaming: StreamingTurn | null;
  /** True from the prompt until the reply ends. */
  running: boolean;
}

export function newConversation(agentId: string, sessionId: string): Conversation {
  return { agentId, sessionId, turns: [], streaming: null, running: false };
}

export function fromHistory(session: ChatSession): Conversation {
  return {
    agentId: session.agent_id,
    sessionId: session.session_id,
    turns: [...session.turns],
    streaming: session.active ? { text: '', toolCalls: [] } : null,
    running: session.active,
  };
}

/** The person sent a prompt. */
export function promptSent(c: Conversation, prompt: string, at: string): Conversation {
  return {
    ...c,
    turns: [...c.turns, { role: 'user', text: prompt, at }],
    streaming: { text: '', toolCalls: [] },
    running: true,
  };
}

/** `agents.chat` failed: the agent refused, timed out or is gone. */
export function promptFailed(c: Conversation, error: string, at: string): Conversation {
  return {
    ...c,
    turns: [...c.turns, { role: 'agent', text: '', error, ended: 'refused', at }],
    streaming: null,
    running: false,
  };
}

/** One `agents.chat.event` (events of other sessions are ignored). */
export function applyChatEvent(c: Conversation, e: ChatEvent, at: string): Conversation {
  if (e.session_id !== c.sessionId) return c;
  const s = c.streaming ?? { text: '', toolCalls: [] };
  switch (e.kind) {
    case 'token':
      return { ...c, running: true, streaming: { ...s, text: s.text + (typeof e.delta === 'string' ? e.delta : '') } };
    case 'tool_call': {
      const call: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e)) if (k !== 'session_id' && k !== 'kind' && k !== 'agent_id') call[k] = v;
      return { ...c, running: true, streaming: { ...s, toolCalls: [...s.toolCalls, call] } };
    }
    case 'done': {
      const text = typeof e.text === 'string' ? e.text : s.text;
      return finish(c, { role: 'agent', text, ...(s.toolCalls.length ? { tool_calls: s.toolCalls } : {}), at });
    }
    case 'error': {
      const turn: ChatTurn = {
        role: 'agent',
        text: s.text,
        error: typeof e.error === 'string' ? e.error : 'the chat ended with an error',
        at,
      };
      if (s.toolCalls.length) turn.tool_calls = s.toolCalls;
      return finish(c, turn);
    }
    default:
      return c;
  }
}

/** The person cancelled: what streamed so far stays, marked as cancelled. */
export function cancelled(c: Conversation, at: string): Conversation {
  if (!c.running) return c;
  const s = c.streaming ?? { text: '', toolCalls: [] };
  return finish(c, { role: 'agent', text: s.text, ended: 'cancelled', at });
}

function finish(c: Conversation, turn: ChatTurn): Conversation {
  return { ...c, turns: [...c.turns, turn], streaming: null, running: false };
}

/** A session id of the window's choosing (1 to 128 of `[A-Za-z0-9_-]`), so events match from the start. */
export function mintSessionId(randomHex: string): string {
  const hex = randomHex.replace(/[^0-9a-f]/gi, '').slice(0, 32);
  return `chat-ui-${hex || '0'}`;
}
