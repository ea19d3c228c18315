/**
 * What only the host page can do: find the daemon, open sockets, open links outside.
 *
 * Inside the Tauri shell the connection details come from the shell command
 * `daemon_connection`; in a plain browser (the browser tests) from `window.harkConnection()`,
 * which the test installs. Never from the page's URL or from storage: the host token is the
 * person's key to every transcript.
 */
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { SocketLike } from '../lib/connector.js';
import { externalUrl } from '../lib/links.js';
import type { ConnectionInfo } from '../lib/types.js';

declare global {
  interface Window {
    harkConnection?: () => Promise<ConnectionInfo>;
  }
}

/** This window's `client_id` (docs/API.md, session.init): meetings it starts are `started_by` it. */
export const WINDOW_CLIENT_ID = 'hark-desktop';

export function inTauri(): boolean {
  return '__TAURI_INTERNALS__' in window;
}

export async function connectionInfo(): Promise<ConnectionInfo> {
  if (inTauri()) return await invoke<ConnectionInfo>('daemon_connection');
  if (typeof window.harkConnection === 'function') return await window.harkConnection();
  throw new Error('this page has no way to reach the daemon: open it from the Hark app');
}

/**
 * Calls `onChange` when the shell says the daemon changed (event `daemon-changed`: the daemon the
 * window used is gone and the app linked to another one, with another token). Outside Tauri
 * nothing announces that: the reconnect loop finds the new one.
 */
export async function onDaemonChanged(onChange: () => void): Promise<() => void> {
  if (!inTauri()) return () => {};
  return await listen('daemon-changed', () => onChange());
}

/** Quits the app (the shell stops a running recording cleanly first). Only inside Tauri. */
export async function quitApp(): Promise<void> {
  await invoke('quit_app');
}

export function openSocket(url: string): SocketLike {
  return new WebSocket(url) as unknown as SocketLike;
}

/**
 * Opens an `https:` URL in the system browser (inside Tauri) or a new tab (a plain browser).
 * Anything else is refused. Never navigates this page. Returns whether it opened something.
 */
export async function openExternal(href: string | null | undefined): Promise<boolean> {
  const url = externalUrl(href);
  if (!url) return false;
  if (inTauri()) {
    await invoke('open_external', { url });
  } else {
    window.open(url, '_blank', 'noopener');
  }
  return true;
}

/** Saves text as a file through the browser's download (a Blob URL, revoked after the click). */
export function downloadText(fileName: string, mime: string, content: string): void {
  const blob = new Blob([content], { type: mime });
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = fileName;
  a.rel = 'noopener';
  // Not attached to the document: the page's link guard never sees it, and nothing navigates.
  a.click();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** Random hex from the platform's CSPRNG. */
export function randomHex(bytes = 16): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}
