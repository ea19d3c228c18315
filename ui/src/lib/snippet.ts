/**
 * `meeting.search` snippets mark matches with `[` `]` (docs/API.md, meeting.search); Hark's daemon
 * also sends them as pieces (`hitParts`). This turns a snippet into plain-text pieces, each marked or not; the view renders them as text nodes inside
 * `<mark>` or not, so no daemon text is ever parsed as HTML.
 *
 * The snippet is the stored text with brackets added, so brackets the speaker's text already had
 * look like markers. With the hit's `text` (always in a hit) the two are told apart by aligning
 * the snippet with the text; without it, a `[` opens a match only when a `]` closes it later, and
 * an unmatched `[` or a stray `]` is plain text. Matches do not nest.
 */
export interface SnippetPart {
  text: string;
  match: boolean;
}

/**
 * A search hit's snippet as pieces: Hark's daemon sends them (`snippet_parts`, nothing to guess);
 * from another daemon, or a malformed list, the snippet is parsed as below.
 */
export function hitParts(hit: { snippet: string; text?: string; snippet_parts?: unknown }): SnippetPart[] {
  const given = hit.snippet_parts;
  if (
    Array.isArray(given) &&
    given.every((p) => p && typeof p === 'object' && typeof p.text === 'string' && typeof p.match === 'boolean')
  ) {
    return given.map((p: SnippetPart) => ({ text: p.text, match: p.match }));
  }
  return parseSnippet(hit.snippet, hit.text);
}

export function parseSnippet(snippet: string, text?: string): SnippetPart[] {
  if (typeof text === 'string') {
    const aligned = alignSnippet(snippet, text);
    if (aligned) return aligned;
  }
  return parseBrackets(snippet);
}

/** Merges adjacent pieces of the same kind; drops empty ones. */
function builder() {
  const parts: SnippetPart[] = [];
  const push = (piece: string, match: boolean) => {
    if (!piece) return;
    const last = parts[parts.length - 1];
    if (last && last.match === match) last.text += piece;
    else parts.push({ text: piece, match });
  };
  return { parts, push };
}

/**
 * With the hit's whole `text` at hand, the markers are exactly the `[` `]` of the snippet that
 * are not the text's own characters: walk the snippet against the text (after an optional
 * leading and trailing `…` cut mark), taking a character as the text's own whenever it can be.
 * Returns null when the snippet is not the text with markers added (then brackets are guessed).
 */
function alignSnippet(snippet: string, text: string): SnippetPart[] | null {
  let core = snippet;
  let lead = '';
  let trail = '';
  if (core.startsWith('…') && !text.startsWith('…')) {
    lead = '…';
    core = core.slice(1);
  }
  if (core.endsWith('…') && !text.endsWith('…')) {
    trail = '…';
    core = core.slice(0, -1);
  }
  // Not cut at the front: it starts where the text does.
  const lastStart = lead ? text.length : 0;
  for (let start = 0; start <= lastStart; start++) {
    const walked = walk(core, text, start);
    // Not cut at the end: it ends where the text does.
    if (!walked || (!trail && walked.end !== text.length)) continue;
    const kinds = walked.kinds;
    const { parts, push } = builder();
    push(lead, false);
    let inMatch = false;
    for (let i = 0; i < core.length; i++) {
      if (kinds[i] === 'marker') {
        inMatch = core[i] === '[' ? true : core[i] === ']' ? false : inMatch;
      } else {
        push(core[i], inMatch);
      }
    }
    push(trail, false);
    return parts;
  }
  return null;
}

function walk(core: string, text: string, start: number): { kinds: ('text' | 'marker')[]; end: number } | null {
  const kinds: ('text' | 'marker')[] = [];
  let j = start;
  let open = false;
  for (let i = 0; i < core.length; i++) {
    const c = core[i];
    if (j < text.length && text[j] === c) {
      kinds.push('text');
      j++;
    } else if ((c === '[' && !open) || (c === ']' && open)) {
      kinds.push('marker');
      open = c === '[';
    } else {
      return null;
    }
  }
  return open ? null : { kinds, end: j };
}

/** Without the text: a `[` opens a match only when a `]` closes it later. */
function parseBrackets(snippet: string): SnippetPart[] {
  const { parts, push } = builder();
  let i = 0;
  while (i < snippet.length) {
    const open = snippet.indexOf('[', i);
    if (open < 0) {
      push(snippet.slice(i), false);
      break;
    }
    const close = snippet.indexOf(']', open + 1);
    if (close < 0) {
      push(snippet.slice(i), false);
      break;
    }
    push(snippet.slice(i, open), false);
    const inner = snippet.slice(open + 1, close);
    if (inner.includes('[')) {
      // `[a [b]`: the first `[` is text; the match starts at the last `[` before the `]`.
      const lastOpen = open + 1 + inner.lastIndexOf('[');
      push(snippet.slice(open, lastOpen), false);
      push(snippet.slice(lastOpen + 1, close), true);
    } else if (inner.length === 0) {
      push('[]', false);
    } else {
      push(inner, true);
    }
    i = close + 1;
  }
  return parts;
}

/** The snippet's text without markers (for labels and tests). */
export function snippetText(snippet: string, text?: string): string {
  return parseSnippet(snippet, text)
    .map((p) => p.text)
    .join('');
}

/**
 * HTML for a snippet with `<mark>` around matches, every piece escaped. The window renders the
 * parts with Lit instead; this exists for places that need a string (e.g. a tooltip export).
 */
export function snippetToHtml(snippet: string, text?: string): string {
  return parseSnippet(snippet, text)
    .map((p) => (p.match ? `<mark>${escapeHtml(p.text)}</mark>` : escapeHtml(p.text)))
    .join('');
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
