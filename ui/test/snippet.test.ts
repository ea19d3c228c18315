import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, hitParts, parseSnippet, snippetText, snippetToHtml } from '../src/lib/snippet.js';

test('matches between brackets are marked', () => {
  assert.deepEqual(parseSnippet('The [budget] for Q3 is [approved].'), [
    { text: 'The ', match: false },
    { text: 'budget', match: true },
    { text: ' for Q3 is ', match: false },
    { text: 'approved', match: true },
    { text: '.', match: false },
  ]);
});

test('without the text, unmatched brackets are plain text', () => {
  assert.deepEqual(parseSnippet('a [b'), [{ text: 'a [b', match: false }]);
  assert.deepEqual(parseSnippet('a ] b'), [{ text: 'a ] b', match: false }]);
  assert.deepEqual(parseSnippet('x [] y'), [{ text: 'x [] y', match: false }]);
  assert.deepEqual(parseSnippet('[a [b] c'), [
    { text: '[a ', match: false },
    { text: 'b', match: true },
    { text: ' c', match: false },
  ]);
});

test("with the hit's text, the speaker's own brackets stay text", () => {
  const text = 'see [note] on the budget';
  const snippet = 'see [note] on the [budget]';
  assert.deepEqual(parseSnippet(snippet, text), [
    { text: 'see [note] on the ', match: false },
    { text: 'budget', match: true },
  ]);
  // Without the text the same snippet would be read as two matches.
  assert.equal(parseSnippet(snippet).filter((p) => p.match).length, 2);
});

test('a snippet cut with ellipses is aligned inside the text', () => {
  const text = 'one two three four [x] five six budget seven eight nine';
  const snippet = '…[x] five six [budget] seven…';
  const parts = parseSnippet(snippet, text);
  assert.deepEqual(parts, [
    { text: '…[x] five six ', match: false },
    { text: 'budget', match: true },
    { text: ' seven…', match: false },
  ]);
});

test('a snippet that is not the text with markers falls back to brackets', () => {
  assert.deepEqual(parseSnippet('[alpha] beta', 'something else'), [
    { text: 'alpha', match: true },
    { text: ' beta', match: false },
  ]);
});

test('text without markers and its plain form', () => {
  assert.equal(snippetText('The [budget] is [set]'), 'The budget is set');
  assert.deepEqual(parseSnippet(''), []);
});

test('HTML output escapes everything but the marks it adds', () => {
  assert.equal(
    snippetToHtml('<img src=x onerror=alert(1)> [<b>bold</b>] & "q"'),
    '&lt;img src=x onerror=alert(1)&gt; <mark>&lt;b&gt;bold&lt;/b&gt;</mark> &amp; &quot;q&quot;',
  );
  assert.equal(escapeHtml(`'`), '&#39;');
});

test("Hark's snippet_parts are taken as sent; without them (or malformed) the snippet is parsed", () => {
  // The one case alignment cannot settle: the speaker's `[budget]` around a matched `budget`.
  const hit = { text: '[budget] budget', snippet: '[[budget]] [budget]' };
  const sent = [
    { text: '[', match: false },
    { text: 'budget', match: true },
    { text: '] ', match: false },
    { text: 'budget', match: true },
  ];
  assert.deepEqual(hitParts({ ...hit, snippet_parts: sent }), sent);
  for (const bad of [null, 'x', [{ text: 1, match: true }], [{ text: 'a' }], [null]]) {
    assert.deepEqual(hitParts({ ...hit, snippet_parts: bad }), parseSnippet(hit.snippet, hit.text), JSON.stringify(bad));
  }
  assert.deepEqual(hitParts(hit), parseSnippet(hit.snippet, hit.text));
});
