/**
 * Who put a surface on screen, in words. The daemon names the owner in the host's surface views
 * (`owner: {agent_id, client_id, a2a_owner}`); an older daemon does not, and then the window
 * falls back on what the host events said (the `agent_id` of `a2ui.surface_updated`).
 */

export interface SurfaceOwner {
  /** The owning connection's `agent_id` (null: it gave none). */
  agent_id: string | null;
  /** The owning connection's `client_id` (null: it gave none). */
  client_id: string | null;
  /** The A2A owner a surface was ingested for (`a2ui.ingest`'s `owner`), else null. */
  a2a_owner: string | null;
}

export interface RosterName {
  id: string;
  name: string;
}

/** What the host events told (the fallback): absent when they said nothing of this surface. */
export type InferredOwner = { agentId: string | null } | undefined;

/** `Name (id)` for a roster agent whose name is not its id, else the id. */
export function agentLabel(agentId: string, agents: RosterName[]): string {
  const agent = agents.find((a) => a.id === agentId);
  return agent && agent.name && agent.name !== agentId ? `${agent.name} (${agentId})` : agentId;
}

/**
 * The label after "From":
 * - an A2A surface: `<a2a owner> (via <the connection that ingested it>)`, since the A2A owner's
 *   name is only what that connection claims;
 * - else the agent (`agent_id`, with its roster name), else the client (`client_id`);
 * - `owner` null (the daemon no longer knows) or nothing inferred: "an unknown agent";
 * - a connection that gave no name at all: "an agent without a name".
 * `owner` undefined means an older daemon that sends no owner: then `inferred` decides.
 */
export function surfaceOwnerLabel(owner: SurfaceOwner | null | undefined, inferred: InferredOwner, agents: RosterName[]): string {
  if (owner === undefined) {
    if (!inferred) return 'an unknown agent';
    return inferred.agentId ? agentLabel(inferred.agentId, agents) : 'an agent without a name';
  }
  if (owner === null || typeof owner !== 'object') return 'an unknown agent';
  const agentId = nonEmpty(owner.agent_id);
  const clientId = nonEmpty(owner.client_id);
  const a2a = nonEmpty(owner.a2a_owner);
  const connection = agentId ? agentLabel(agentId, agents) : clientId;
  if (a2a) return `${a2a} (via ${connection ?? 'a connection without a name'})`;
  return connection ?? 'an agent without a name';
}

function nonEmpty(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}
