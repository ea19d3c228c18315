/**
 * Reconnect delays: 0.5 s, 1 s, 2 s, 4 s, 8 s, then 10 s each time, so a daemon that restarts is
 * found again within a second or two and a daemon that is gone costs one attempt per 10 s. A
 * jitter of up to 20% (from the `random` handed in) keeps several windows from retrying in step.
 */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 10_000;

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const n = Math.max(0, Math.floor(attempt));
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(n, 20));
  const jitter = 1 - 0.2 * Math.min(1, Math.max(0, random()));
  return Math.round(base * jitter);
}
