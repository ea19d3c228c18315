// The window's routes, read from the URL's hash: what the tray's "Settings…" and recent-meeting
// items ask for (the shell sets `#/settings`, `#/meetings/<id>`), and what the person sees in the
// address when the page is opened in a browser. Pure: the app applies the result.

export const ROUTE_VIEWS = ['meetings', 'live', 'agents', 'surfaces', 'approvals', 'settings'] as const;
export type RouteView = (typeof ROUTE_VIEWS)[number];

export interface Route {
  view: RouteView;
  /** A meeting page (Meetings view only). */
  meetingId: string | null;
}

/** The meeting id rule (docs/API.md, Meetings): anything else is not a route. */
const MEETING_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/** `#/settings`, `#/meetings`, `#/meetings/<id>`, ...; `null` for an empty or unknown hash. */
export function parseRoute(hash: string): Route | null {
  const path = hash.replace(/^#\/?/, '');
  if (path === '') return null;
  const [view, id, ...rest] = path.split('/');
  if (!(ROUTE_VIEWS as readonly string[]).includes(view) || rest.length > 0) return null;
  if (id === undefined || id === '') return { view: view as RouteView, meetingId: null };
  if (view !== 'meetings') return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(id);
  } catch {
    return null;
  }
  return MEETING_ID.test(decoded) && decoded !== '.' && decoded !== '..' ? { view: 'meetings', meetingId: decoded } : null;
}
