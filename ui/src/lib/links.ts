/**
 * Which links may leave the window. Only `https:` URLs are handed to the system browser (the
 * shell's `open_external` opens nothing else either); everything else (`http:`, `javascript:`,
 * `file:`, `data:`, relative links that would navigate the app's own page) does nothing.
 */
export function externalUrl(href: string | null | undefined): string | null {
  if (typeof href !== 'string') return null;
  const trimmed = href.trim();
  // Absolute URLs only: a relative href would resolve against the app's own origin.
  if (!/^https:\/\//i.test(trimmed)) return null;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' || !url.hostname) return null;
  if (url.username || url.password) return null;
  return url.href;
}
