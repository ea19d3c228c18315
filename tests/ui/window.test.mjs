// Browser tests of ui/ (the app's window) in Chromium against a real `hark serve` with the fake
// transcriber. One daemon, one static server and one browser page for the whole file: the tests
// run in order and follow one person's session (record a file, find it, rename, export,
// transcribe again, play its audio, delete; meetings renamed, transcribed again and deleted by
// another connection; an agent's surface, approval, chat; models (from a catalog file of the
// test's own); settings; a crash).
// Each test asserts one outcome. Waits are on state (locators, events), never on time.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ARTIFACTS,
  HARK_BIN,
  JFK_WAV,
  ROOT,
  RpcPeer,
  WAIT_MS,
  launchBrowser,
  maybeUpdateDocsScreenshot,
  removeDir,
  screenshotPath,
  startDaemon,
  startModelServer,
  startStatic,
  tempDir,
  wavData,
  writeWav,
} from './support.mjs';

const CATALOG = 'https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json';
// The daemon's catalog is the test's own file (HARK_MODEL_CATALOG), which replaces the built-in
// one. tiny.en keeps its real size and SHA-256 (crates/core/src/models/catalog.rs): the test
// server sends that many zero bytes, so the download runs to the end and fails its SHA-256 check.
// test-small is a file the test makes up: served as it is, it matches and is installed.
const TINY_EN_SIZE = 77_704_715;
const TINY_EN_SHA256 = '921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f';
const SMALL_BYTES = Buffer.from(Uint8Array.from({ length: 512 << 10 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 24) & 0xff));
const SMALL_SHA256 = createHash('sha256').update(SMALL_BYTES).digest('hex');

let web;
let models;
let daemon;
let dataDir;
let runtimeDir;
/** The catalog file and the made-up WAV live here. */
let filesDir;
let catalogFile;
let browser;
let page;
/** A host connection of the test's own, to check what the daemon stored. */
let checker;
const dialogs = [];
const pageErrors = [];
const navigations = [];
/** The hash changes the routes test makes itself. */
const routeChanges = new Set();

async function daemonUp(logName) {
  daemon = await startDaemon({
    dataDir,
    runtimeDir,
    origin: web.origin,
    env: { HARK_MODEL_BASE_URL: models.baseUrl, HARK_MODEL_CATALOG: catalogFile },
    logName,
  });
  checker = await RpcPeer.connect(daemon.url, { host_token: daemon.hostToken });
}

const nav = (name) => page.locator(`nav.views button[data-view="${name}"]`);
async function go(name) {
  await nav(name).click();
  await page.locator(`main[data-view="${name}"]`).waitFor();
}
const flash = (text) => page.locator('.flashes .flash', { hasText: text });
/** A screenshot of the window as it is, without the passing messages, its view scrolled to the top. */
async function shot(view) {
  await page.evaluate(() => document.querySelector('main')?.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(view), style: '.flashes { display: none !important; }' });
}

describe('the Hark window', () => {
  before(async () => {
    dataDir = tempDir('hark-ui-data-');
    runtimeDir = tempDir('hark-ui-run-');
    filesDir = tempDir('hark-ui-files-');
    catalogFile = join(filesDir, 'catalog.json');
    writeFileSync(
      catalogFile,
      JSON.stringify([
        { name: 'tiny.en', size_bytes: TINY_EN_SIZE, sha256: TINY_EN_SHA256 },
        { name: 'test-small', size_bytes: SMALL_BYTES.length, sha256: SMALL_SHA256 },
      ]),
    );
    web = await startStatic();
    models = await startModelServer({
      'tiny.en': { size: TINY_EN_SIZE, holdAt: 16 << 20 },
      // 32 KiB every 120 ms up to the half, then held: the daemon reports progress meanwhile.
      'test-small': { bytes: SMALL_BYTES, holdAt: SMALL_BYTES.length / 2, step: 32 << 10, paceMs: 120 },
    });
    await daemonUp('daemon');
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(WAIT_MS);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations.push(f.url());
    });
    await page.addInitScript(() => {
      // Where external links would go: recorded, not opened.
      window.__opened = [];
      window.open = (url) => {
        window.__opened.push(String(url));
        return null;
      };
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    // The one call that hands over the connection (in Tauri: invoke('daemon_connection')).
    await page.exposeFunction('harkConnection', () => ({ url: daemon.url, host_token: daemon.hostToken }));
    await page.goto(`${web.origin}/index.html`);
  });

  after(async () => {
    await browser?.close();
    await checker?.close().catch(() => {});
    await daemon?.stop();
    await models?.close();
    await web?.close();
    removeDir(dataDir);
    removeDir(runtimeDir);
    removeDir(filesDir);
  });

  test('connects to the daemon as the host', async () => {
    await page.locator('.conn[data-status="connected"]').waitFor();
    const sessions = await checker.call('server.info');
    assert.ok(sessions.sessions >= 2, 'the window and the checker are both authenticated');
  });

  // ---- a meeting from a file, live ----

  let meetingId;
  const TITLE = 'JFK file test';

  test('a meeting started from a file shows partial text, visibly different, before its finals', async () => {
    await go('live');
    await page.getByLabel('Title (optional)').fill(TITLE);
    await page.getByLabel('Transcribe a file (a WAV on this computer)').fill(JFK_WAV);
    await page.getByRole('button', { name: 'Transcribe file' }).click();
    const live = page.locator('.live-meeting.is-recording');
    const partial = live.locator('.seg.partial .seg-text').first();
    await partial.waitFor();
    const partialStyle = await partial.evaluate((el) => ({ font: getComputedStyle(el).fontStyle, color: getComputedStyle(el).color }));
    await live.locator('.seg.final').first().waitFor();
    const finalStyle = await live
      .locator('.seg.final .seg-text')
      .first()
      .evaluate((el) => ({ font: getComputedStyle(el).fontStyle, color: getComputedStyle(el).color }));
    meetingId = await live.getAttribute('data-meeting-id');
    assert.equal(partialStyle.font, 'italic');
    assert.notEqual(partialStyle.color, finalStyle.color, 'partial text is grey');
    assert.equal(finalStyle.font, 'normal');
  });

  test('the final text is what the fake transcriber said for that segment', async () => {
    const text = await page.locator('.live-meeting.is-recording .seg.final .seg-text').first().textContent();
    const stored = await checker.call('meeting.get', { meeting_id: meetingId });
    assert.match(text, /^speech 1 \(\d+\.\d s\)$/);
    assert.equal(text, stored.segments[0].text);
  });

  test('a recording badge with the elapsed time shows in the window while it records', async () => {
    const badge = page.locator(`.recording-badge[data-meeting-id="${meetingId}"]`);
    await badge.waitFor();
    assert.match(await badge.locator('.rec-time').textContent(), /^\d+:\d\d$/);
  });

  test('the level meter of the source moves', async () => {
    await page.waitForFunction(
      (id) => Number(document.querySelector(`.live-meeting[data-meeting-id="${id}"] [role="meter"]`)?.getAttribute('aria-valuenow')) > 0,
      meetingId,
    );
  });

  test('Stop ends the meeting', async () => {
    await shot('live');
    await page.locator(`.live-meeting[data-meeting-id="${meetingId}"] button.stop`).click();
    await page.locator(`.live-meeting[data-meeting-id="${meetingId}"] .badge.status-stopped`).waitFor();
    const stored = await checker.call('meeting.get', { meeting_id: meetingId });
    assert.equal(stored.metadata.status, 'stopped');
    assert.equal(await page.locator('.recording-badge').count(), 0);
  });

  test('the meeting is in the list, newest first', async () => {
    await go('meetings');
    const first = page.locator('.meeting-list .meeting-row').first();
    await first.waitFor();
    assert.equal(await first.getAttribute('data-meeting-id'), meetingId);
    assert.equal(await first.locator('.meeting-title').textContent(), TITLE);
  });

  test('search finds it, with the match highlighted', async () => {
    await page.getByLabel('Search transcripts').fill('speech');
    const mark = page.locator(`.search-group[data-meeting-id="${meetingId}"] .snippet mark`).first();
    await mark.waitFor();
    assert.equal((await mark.textContent()).toLowerCase(), 'speech');
    await page.getByLabel('Search transcripts').fill('');
    await page.locator('.meeting-list').waitFor();
  });

  const RENAMED = 'Ich bin ein Berliner <b>not bold</b>';

  test('rename stores the new title', async () => {
    await page.locator(`.meeting-row[data-meeting-id="${meetingId}"]`).click();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('Title', { exact: true }).fill(RENAMED);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('h2.meeting-heading', { hasText: RENAMED }).waitFor();
    const stored = await checker.call('meeting.get', { meeting_id: meetingId });
    assert.equal(stored.metadata.title, RENAMED);
    assert.equal(await page.locator('h2.meeting-heading b').count(), 0, 'the title is text, not HTML');
    await shot('meeting');
  });

  test("the tray's routes open Settings and a meeting page (#/settings, #/meetings/<id>)", async () => {
    // These two hash changes are this test's own: the check that nothing navigated the page
    // (below) is about what surfaces and links do, so it leaves them out.
    const base = page.url().split('#')[0];
    routeChanges.add(`${base}#/settings`).add(`${base}#/meetings/${meetingId}`);
    await page.evaluate(() => { window.location.hash = '#/settings'; });
    await page.locator('main[data-view="settings"]').waitFor();
    await page.evaluate((id) => { window.location.hash = `#/meetings/${id}`; }, meetingId);
    await page.locator('h2.meeting-heading', { hasText: RENAMED }).waitFor();
    assert.equal(await page.locator('main').getAttribute('data-view'), 'meetings');
  });

  test('export saves each format as a file with what the daemon renders', async () => {
    for (const format of ['md', 'txt', 'srt', 'vtt', 'json']) {
      await page.getByLabel('Format', { exact: true }).selectOption(format);
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export', exact: true }).click()]);
      const saved = readFileSync(await download.path(), 'utf8');
      const expected = await checker.call('meeting.export', { meeting_id: meetingId, format });
      assert.equal(download.suggestedFilename(), `Ich bin ein Berliner _b_not bold__b_.${format}`);
      assert.equal(saved, expected.content, format);
    }
  });

  test('transcribe again makes a second revision, and the page shows it', async () => {
    await page.getByRole('button', { name: 'Transcribe again' }).click();
    await page.locator('#revision-select option', { hasText: 'Revision 2' }).waitFor({ state: 'attached' });
    const stored = await checker.call('meeting.get', { meeting_id: meetingId });
    assert.equal(stored.revision, 2);
    assert.equal(await page.locator('#revision-select').inputValue(), '2');
  });

  /** What an `<audio>` element says once its metadata loaded (or failed to). */
  const mediaState = (audio) =>
    audio.evaluate(
      (el) =>
        new Promise((resolve) => {
          const done = () =>
            resolve({
              duration: el.duration,
              src: el.src,
              error: el.error ? `${el.error.code} ${el.error.message}` : null,
              label: document.getElementById(el.getAttribute('aria-labelledby') ?? '')?.textContent ?? null,
            });
          if (el.readyState >= 1 || el.error) done();
          else {
            el.addEventListener('loadedmetadata', done, { once: true });
            el.addEventListener('error', done, { once: true });
          }
        }),
    );
  /** Whether a Blob URL still plays in the page (`revoked` once URL.revokeObjectURL ran). */
  const blobState = (url) =>
    page.evaluate(
      (u) =>
        new Promise((resolve) => {
          const a = new Audio();
          a.onloadedmetadata = () => resolve('alive');
          a.onerror = () => resolve('revoked');
          a.src = u;
        }),
      url,
    );

  let playerUrl;

  test('the kept audio loads into a player labelled with its source, as long as the meeting', async () => {
    const stored = await checker.call('meeting.get', { meeting_id: meetingId });
    assert.equal(stored.metadata.persist_audio, true);
    assert.deepEqual(stored.metadata.sources.map((s) => s.name), ['file']);
    assert.equal(await page.getByText('not available yet').count(), 0);
    const row = page.locator('.audio-source[data-source="file"]');
    await row.getByRole('button', { name: 'Load audio of file' }).click();
    const audio = row.locator('audio.audio-player[controls]');
    await audio.waitFor();
    const media = await mediaState(audio);
    assert.equal(media.error, null);
    assert.match(media.src, /^blob:/);
    assert.equal(media.label, 'file');
    assert.ok(Math.abs(media.duration * 1000 - stored.metadata.duration_ms) < 250, `${media.duration} s for ${stored.metadata.duration_ms} ms`);
    assert.equal(await row.getByRole('button', { name: 'Load audio of file' }).count(), 0);
    playerUrl = media.src;
  });

  test('delete asks first; keeping it changes nothing', async () => {
    await page.getByRole('button', { name: 'Delete…' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Keep it' }).click();
    const stored = await checker.call('meeting.get', { meeting_id: meetingId });
    assert.equal(stored.metadata.id, meetingId);
  });

  test('delete for good removes the meeting', async () => {
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete for good' }).click();
    await page.locator('main[data-view="meetings"] h2', { hasText: 'Meetings' }).waitFor();
    await page.locator(`.meeting-row[data-meeting-id="${meetingId}"]`).waitFor({ state: 'detached' });
    await assert.rejects(checker.call('meeting.get', { meeting_id: meetingId }), (e) => e.code === -32010);
  });

  test("leaving the page revoked its player's Blob URL", async () => {
    assert.equal(await blobState(playerUrl), 'revoked');
  });

  // ---- meetings changed by another connection ----

  let longId;
  const LONG_TITLE = 'Four times JFK';

  test('audio longer than one chunk loads in pieces, showing bytes of total, and plays', async () => {
    await checker.call('host.subscribe');
    // 4 x 11 s of 16 kHz s16: 1.34 MB, so two meeting.audio chunks of at most 1 MiB.
    const wav = join(filesDir, 'four-times.wav');
    const jfk = wavData(JFK_WAV);
    writeWav(wav, Buffer.concat([jfk, jfk, jfk, jfk]));
    const started = await checker.call('meeting.start', {
      title: LONG_TITLE,
      persist_audio: true,
      sources: [{ kind: 'file', name: 'call', role: 'them', path: wav, realtime: false }],
    });
    longId = started.id;
    await checker.waitFor('host.event', (p) => p.kind === 'meeting.stopped' && p.payload.meeting_id === longId, 60_000);
    await page.locator(`.meeting-row[data-meeting-id="${longId}"]`).click();
    await page.locator('h2.meeting-heading', { hasText: LONG_TITLE }).waitFor();
    await page.evaluate(() => {
      // Every progress text the page shows while the audio loads.
      window.__audioFigures = [];
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('.audio-figures')) {
          const t = el.textContent.trim();
          if (window.__audioFigures.at(-1) !== t) window.__audioFigures.push(t);
        }
      }).observe(document.querySelector('main'), { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('button', { name: 'Load audio of call (them)' }).click();
    const media = await mediaState(page.locator('.audio-source[data-source="call"] audio'));
    const { total_bytes: total } = await checker.call('meeting.audio', { meeting_id: longId, source: 'call', length: 1 });
    const stored = await checker.call('meeting.get', { meeting_id: longId });
    const figures = await page.evaluate(() => window.__audioFigures);
    assert.equal(media.error, null);
    assert.equal(media.label, 'call (them)');
    assert.equal(total, 44 + jfk.length * 4);
    assert.ok(Math.abs(media.duration * 1000 - stored.metadata.duration_ms) < 250, `${media.duration} s for ${stored.metadata.duration_ms} ms`);
    assert.ok(figures.includes('1.0 MB of 1.3 MB'), JSON.stringify(figures));
  });

  test('a second pass made elsewhere shows on the open page', async () => {
    const r = await checker.call('meeting.retranscribe', { meeting_id: longId });
    assert.equal(r.revision, 2);
    await page.waitForFunction(() => document.querySelector('#revision-select')?.value === '2');
    const stored = await checker.call('meeting.get', { meeting_id: longId });
    assert.equal(await page.locator('main .transcript .seg.final').count(), stored.segments.length);
    assert.equal(await page.locator('.audio-source[data-source="call"] audio').count(), 1, 'the player stays');
  });

  test('a rename elsewhere shows on the open page and in the list', async () => {
    await checker.call('meeting.update', { meeting_id: longId, title: 'Renamed elsewhere' });
    await page.locator('h2.meeting-heading', { hasText: 'Renamed elsewhere' }).waitFor();
    await page.getByRole('button', { name: '← All meetings' }).click();
    const title = page.locator(`.meeting-row[data-meeting-id="${longId}"] .meeting-title`);
    assert.equal(await title.textContent(), 'Renamed elsewhere');
    await checker.call('meeting.update', { meeting_id: longId, title: 'Renamed again' });
    await page.locator(`.meeting-row[data-meeting-id="${longId}"] .meeting-title`, { hasText: 'Renamed again' }).waitFor();
    assert.equal(await page.locator(`.meeting-row[data-meeting-id="${longId}"]`).count(), 1);
  });

  test('a meeting deleted elsewhere says so on its open page, and its player goes', async () => {
    await page.locator(`.meeting-row[data-meeting-id="${longId}"]`).click();
    await page.getByRole('button', { name: 'Load audio of call (them)' }).click();
    const src = await page.locator('.audio-source[data-source="call"] audio').getAttribute('src');
    await checker.call('meeting.delete', { meeting_id: longId });
    const gone = page.locator('.meeting-gone');
    await gone.waitFor();
    assert.match(await gone.textContent(), /“Renamed again” was deleted elsewhere/);
    assert.equal(await page.locator('main audio, main .transcript, main .actions, main .meeting-heading').count(), 0);
    assert.equal(await blobState(src), 'revoked');
    await page.getByRole('button', { name: '← All meetings' }).click();
    await page.locator('main[data-view="meetings"] h2', { hasText: 'Meetings' }).waitFor();
    assert.equal(await page.locator(`.meeting-row[data-meeting-id="${longId}"]`).count(), 0);
  });

  let quietId;

  test('a meeting that did not keep its audio shows no player', async () => {
    const started = await checker.call('meeting.start', {
      title: 'No audio kept',
      persist_audio: false,
      sources: [{ kind: 'file', path: JFK_WAV, realtime: false }],
    });
    quietId = started.id;
    await checker.waitFor('host.event', (p) => p.kind === 'meeting.stopped' && p.payload.meeting_id === quietId, 60_000);
    await page.locator(`.meeting-row[data-meeting-id="${quietId}"]`).click();
    await page.locator('h2.meeting-heading', { hasText: 'No audio kept' }).waitFor();
    await page.locator('.audio-note', { hasText: 'This meeting did not keep its audio.' }).waitFor();
    assert.equal(await page.locator('main audio, main .audio-source').count(), 0);
    assert.equal(await page.getByRole('button', { name: /Load audio/ }).count(), 0);
    await assert.rejects(checker.call('meeting.audio', { meeting_id: quietId, source: 'file' }), (e) => e.code === -32012);
  });

  test('a meeting deleted elsewhere leaves the open list', async () => {
    await page.getByRole('button', { name: '← All meetings' }).click();
    const row = page.locator(`.meeting-row[data-meeting-id="${quietId}"]`);
    await row.waitFor();
    await checker.call('meeting.delete', { meeting_id: quietId });
    await row.waitFor({ state: 'detached' });
  });

  // ---- an agent: a surface, an approval, a chat ----

  let planner;

  test("an agent's surface appears, labelled with the agent", async () => {
    planner = await RpcPeer.connect(daemon.url, { token: daemon.token, agent_id: 'planner' });
    await planner.call('host.register_agent', { name: 'Planner', capabilities: ['chat'] });
    await planner.call('a2ui.apply', { version: 'v0.9', createSurface: { surfaceId: 'budget', catalogId: CATALOG } });
    await planner.call('a2ui.apply', {
      version: 'v0.9',
      updateComponents: {
        surfaceId: 'budget',
        components: [
          { id: 'root', component: 'Column', children: ['title', 'body', 'approve', 'open', 'open-http'] },
          { id: 'title', component: 'Text', text: 'Budget review', variant: 'h3' },
          {
            id: 'body',
            component: 'Text',
            text:
              'Read [the docs](https://example.com/docs) or [the plain page](http://example.com/plain). ' +
              '[click me](javascript:window.__harkPwned=1;alert(1)) <img src="x" onerror="window.__harkPwned=2;alert(2)">',
          },
          { id: 'approve-label', component: 'Text', text: 'Approve' },
          { id: 'approve', component: 'Button', child: 'approve-label', action: { event: { name: 'approve', context: { amount: { path: '/amount' } } } } },
          { id: 'open-label', component: 'Text', text: 'Open the plan' },
          { id: 'open', component: 'Button', child: 'open-label', action: { functionCall: { call: 'openUrl', args: { url: 'https://example.com/plan' }, returnType: 'void' } } },
          { id: 'open-http-label', component: 'Text', text: 'Open the http page' },
          { id: 'open-http', component: 'Button', child: 'open-http-label', action: { functionCall: { call: 'openUrl', args: { url: 'http://example.com/insecure' }, returnType: 'void' } } },
        ],
      },
    });
    await planner.call('a2ui.apply', { version: 'v0.9', updateDataModel: { surfaceId: 'budget', path: '/', value: { amount: 1200 } } });
    await go('surfaces');
    const surface = page.locator('.surface[data-surface-id="budget"]');
    await surface.getByText('Budget review').waitFor();
    assert.equal(await surface.locator('.surface-owner').textContent(), 'Planner (planner)');
    await shot('surfaces');
  });

  test('a click on its button reaches the agent as an a2ui action', async () => {
    await page.locator('.surface[data-surface-id="budget"] button', { hasText: 'Approve' }).click();
    const n = await planner.waitFor('a2ui.action', (p) => p.surfaceId === 'budget');
    assert.deepEqual(
      { name: n.action.name, source: n.action.sourceComponentId, context: n.action.context },
      { name: 'approve', source: 'approve', context: { amount: 1200 } },
    );
  });

  test('a javascript: link and an <img onerror> in markdown do nothing', async () => {
    const body = page.locator('.surface[data-surface-id="budget"] .surface-body');
    await body.getByRole('link', { name: 'the docs' }).waitFor(); // the markdown is rendered
    await body.getByText('click me', { exact: false }).first().click();
    const state = await page.evaluate(() => ({
      pwned: window.__harkPwned ?? null,
      jsLinks: document.querySelectorAll('.surface-body a[href^="javascript" i]').length,
      handlers: document.querySelectorAll('.surface-body [onerror], .surface-body [onclick]').length,
      imgs: document.querySelectorAll('.surface-body img').length,
      csp: window.__csp.filter((v) => v.startsWith('script-src')),
    }));
    assert.deepEqual(state, { pwned: null, jsLinks: 0, handlers: 0, imgs: 0, csp: [] });
    assert.deepEqual(dialogs, []);
  });

  test('https links and openUrl go to the external opener; http ones do nothing; the page stays', async () => {
    const before = page.url();
    const body = page.locator('.surface[data-surface-id="budget"] .surface-body');
    await body.getByRole('link', { name: 'the docs' }).click();
    await body.getByRole('link', { name: 'the plain page' }).click();
    await page.locator('.surface[data-surface-id="budget"] button', { hasText: 'Open the http page' }).click();
    await page.locator('.surface[data-surface-id="budget"] button', { hasText: 'Open the plan' }).click();
    // The last click's URL arriving means the ones before it were handled (in click order).
    await page.waitForFunction(() => window.__opened.includes('https://example.com/plan'));
    const opened = await page.evaluate(() => window.__opened);
    assert.deepEqual(opened, ['https://example.com/docs', 'https://example.com/plan']);
    assert.equal(page.url(), before);
  });

  test('every example surface of the basic catalog renders', async () => {
    const dir = join(ROOT, 'crates', 'a2ui', 'tests', 'fixtures', 'examples');
    const gallery = await RpcPeer.connect(daemon.url, { token: daemon.token, agent_id: 'gallery' });
    const ids = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const example = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      for (const message of example.messages) await gallery.call('a2ui.apply', message);
      ids.push(example.messages[0].createSurface.surfaceId);
    }
    await go('surfaces');
    const report = [];
    for (const id of ids) {
      const surface = page.locator(`.surface[data-surface-id="${id}"]`);
      await surface.locator('a2ui-surface > *').first().waitFor({ state: 'attached' });
      const state = await surface.evaluate((el) => ({
        error: el.querySelector('.surface-body > .error')?.textContent ?? null,
        loading: (el.querySelector('a2ui-surface')?.textContent ?? '').includes('Loading surface'),
        owner: el.querySelector('.surface-owner')?.textContent,
      }));
      if (state.error || state.loading || state.owner !== 'gallery') report.push({ id, ...state });
    }
    await gallery.close();
    assert.deepEqual(report, []);
    assert.equal(ids.length, 18);
  });

  test('surfaces are labelled from the owner the daemon names: an A2A owner with its way in, a client', async () => {
    await planner.call('a2ui.ingest', {
      owner: 'remote-planner',
      payload: [
        { version: 'v0.9', createSurface: { surfaceId: 'remote-plan', catalogId: CATALOG } },
        { version: 'v0.9', updateComponents: { surfaceId: 'remote-plan', components: [{ id: 'root', component: 'Text', text: 'Remote plan' }] } },
      ],
    });
    const client = await RpcPeer.connect(daemon.url, { token: daemon.token });
    await client.call('session.init', { client_id: 'notes-app' });
    await client.call('a2ui.apply', { version: 'v0.9', createSurface: { surfaceId: 'client-note', catalogId: CATALOG } });
    await client.call('a2ui.apply', {
      version: 'v0.9',
      updateComponents: { surfaceId: 'client-note', components: [{ id: 'root', component: 'Text', text: 'A note' }] },
    });
    await go('surfaces');
    const remote = page.locator('.surface[data-surface-id="remote-plan"]');
    const note = page.locator('.surface[data-surface-id="client-note"]');
    await remote.getByText('Remote plan').waitFor();
    await note.getByText('A note').waitFor();
    assert.equal(await remote.locator('.surface-owner').textContent(), 'remote-planner (via Planner (planner))');
    assert.equal(await note.locator('.surface-owner').textContent(), 'notes-app');
    // The owner stays with a surface after its connection closed.
    await client.close();
    const { surfaces } = await checker.call('a2ui.surfaces');
    assert.deepEqual(surfaces.find((v) => v.surfaceId === 'client-note').owner, { agent_id: null, client_id: 'notes-app', a2a_owner: null });
    assert.equal(await note.locator('.surface-owner').textContent(), 'notes-app');
  });

  let scribe;
  let permission;

  test('an approval request shows as the window\'s own prompt', async () => {
    scribe = await RpcPeer.connect(daemon.url, { token: daemon.token, agent_id: 'scribe' });
    permission = scribe.call('permissions.request', { capability: 'transcripts' });
    const prompt = page.locator('.approval-prompt');
    await prompt.waitFor();
    assert.equal(await prompt.locator('.approval-question').textContent(), 'scribe wants to read your transcripts');
    // The Approvals view lists it too (and hides the prompt meanwhile).
    await go('approvals');
    await page.locator('.approval-list .approval .approval-question', { hasText: 'scribe wants to read your transcripts' }).waitFor();
    await shot('approvals');
    await go('surfaces');
    await prompt.waitFor();
  });

  test('"Always allow" lets the agent in', async () => {
    await page.locator('.approval-prompt').getByRole('button', { name: 'Always allow' }).click();
    const r = await permission;
    assert.deepEqual({ granted: r.granted, grant: r.grant }, { granted: true, grant: 'always' });
    await page.locator('.approval-prompt').waitFor({ state: 'detached' });
  });

  test('"Deny" refuses the agent', async () => {
    // The refusal is taken as a value at once: it may come while the click is still awaited.
    const asked = scribe.call('permissions.request', { capability: 'microphone' }).then(
      () => null,
      (e) => ({ code: e.code, reason: e.data?.reason }),
    );
    await page.locator('.approval-prompt', { hasText: 'scribe wants to use the microphone' }).getByRole('button', { name: 'Deny' }).click();
    assert.deepEqual(await asked, { code: -32003, reason: 'deny' });
  });

  test('the standing grant shows in Settings', async () => {
    await go('settings');
    const grant = page.locator('.grant[data-agent-id="scribe"][data-capability="transcripts"]');
    await grant.waitFor();
    assert.match(await grant.textContent(), /scribe: Transcripts/);
  });

  test('Revoke removes the grant', async () => {
    await page.getByRole('button', { name: 'Revoke Transcripts for scribe' }).click();
    await page.locator('.grant[data-agent-id="scribe"]').waitFor({ state: 'detached' });
    const { grants } = await checker.call('permissions.list');
    assert.deepEqual(grants, []);
  });

  test('the agents list shows the connected agents and their status', async () => {
    await planner.call('host.set_status', { agent_id: 'planner', status: 'running', message: 'drafting the budget' });
    await go('agents');
    const card = page.locator('.agent[data-agent-id="planner"]');
    await card.locator('.agent-status', { hasText: 'Working' }).waitFor();
    assert.equal(await card.locator('.agent-message').textContent(), 'drafting the budget');
  });

  test('a chat with an agent shows its streamed reply', async () => {
    planner.handle('agent.chat', (params, reply) => {
      reply({ ok: true });
      for (const delta of ['Hello ', 'from ', 'the planner.']) {
        planner.notify('agent.chat.event', { session_id: params.session_id, kind: 'token', delta });
      }
      planner.notify('agent.chat.event', { session_id: params.session_id, kind: 'done' });
    });
    await page.getByRole('button', { name: 'Chat with Planner' }).click();
    await page.getByLabel('Message to Planner').fill('What is the plan?');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const reply = page.locator('.chat-log .turn.agent').last();
    await reply.locator('.turn-text', { hasText: 'Hello from the planner.' }).waitFor();
    const asked = await planner.waitFor('agent.chat');
    assert.equal(asked.prompt, 'What is the plan?');
    await shot('agents');
  });

  test('cancel stops a reply that is still running', async () => {
    planner.handle('agent.chat', (params, reply) => {
      reply({ ok: true });
      planner.notify('agent.chat.event', { session_id: params.session_id, kind: 'token', delta: 'Thinking' });
    });
    await page.getByLabel('Message to Planner').fill('And the budget?');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.locator('.chat-log .turn.streaming', { hasText: 'Thinking' }).waitFor();
    await page.getByRole('button', { name: 'Cancel reply' }).click();
    const cancel = await planner.waitFor('agent.chat.cancel');
    assert.equal(cancel.reason, 'cancelled');
  });

  test('a new conversation keeps the earlier one in the history, from the daemon', async () => {
    await page.getByRole('button', { name: 'New conversation' }).click();
    const earlier = page.locator('.chat-history');
    await earlier.locator('summary', { hasText: 'Earlier conversations (1)' }).waitFor();
    await earlier.locator('summary').click();
    assert.match(await earlier.locator('li').first().textContent(), /What is the plan\?/);
  });

  // ---- models and settings ----

  test('a model download shows its progress', async () => {
    await go('settings');
    await page.getByRole('button', { name: 'Download tiny.en' }).click();
    await page.waitForFunction(() => {
      const p = document.querySelector('tr[data-model="tiny.en"] progress');
      return p !== null && p.value > 0 && p.value < 100;
    });
    const figures = await page.locator('tr[data-model="tiny.en"] .pull-figures').textContent();
    assert.match(figures, /^\d+% · [\d.]+ MB of 74\.1 MB$/);
  });

  test('a download that does not match the catalog checksum says so and installs nothing', async () => {
    models.release('tiny.en');
    const error = page.locator('tr[data-model="tiny.en"] .pull-error');
    await error.waitFor();
    assert.match(await error.textContent(), /does not match the catalog \(sha256 [0-9a-f]{64}, expected 921e4cf8/);
    const { models: list } = await checker.call('models.list');
    assert.equal(list.find((m) => m.name === 'tiny.en').installed, false);
  });

  test("a model of the catalog file downloads, its progress shows, and it is then installed", async () => {
    await page.getByRole('button', { name: 'Download test-small' }).click();
    await page.waitForFunction(() => {
      const p = document.querySelector('tr[data-model="test-small"] progress');
      return p !== null && p.value > 0 && p.value < 100;
    });
    const figures = await page.locator('tr[data-model="test-small"] .pull-figures').textContent();
    assert.match(figures, /^\d+% · [\d.]+ KB of 512\.0 KB$/);
    models.release('test-small');
    await page.locator('tr[data-model="test-small"] .model-state', { hasText: 'Installed' }).waitFor();
    await flash('Downloaded test-small.').waitFor();
    const { models: list } = await checker.call('models.list');
    // The daemon checks a download against the catalog's SHA-256 only (not that it is a whisper
    // file, as models.import does): these bytes are installed like a real model.
    assert.deepEqual(list.find((m) => m.name === 'test-small'), {
      name: 'test-small',
      size_bytes: SMALL_BYTES.length,
      sha256: SMALL_SHA256,
      installed: true,
      path: join(dataDir, 'models', 'ggml-test-small.bin'),
      default: false,
      catalog: true,
    });
    assert.deepEqual(readFileSync(join(dataDir, 'models', 'ggml-test-small.bin')), SMALL_BYTES);
    const row = page.locator('tr[data-model="test-small"]');
    assert.equal(await row.locator('td').nth(0).textContent(), '512.0 KB');
    assert.equal(await row.locator('.model-state').textContent(), 'Installed');
    assert.equal(await row.getByRole('button', { name: 'Make test-small the default' }).count(), 1);
    assert.equal(await row.getByRole('button', { name: 'Remove test-small' }).count(), 1);
    // The catalog is the file's: the built-in models other than tiny.en are not offered.
    assert.deepEqual(list.filter((m) => m.catalog).map((m) => m.name).sort(), ['test-small', 'tiny.en']);
  });

  test('a catalog file that is not valid stops hark serve, naming the file', () => {
    const bad = join(filesDir, 'bad-catalog.json');
    writeFileSync(bad, JSON.stringify([{ name: 'x', size_bytes: 1, sha256: 'not hex' }]));
    const dir = tempDir('hark-ui-badcat-');
    const r = spawnSync(HARK_BIN, ['serve', '--transcriber', 'fake', '--port', '0', '--no-socket', '--data-dir', dir], {
      env: { ...process.env, HARK_RUNTIME_DIR: dir, HARK_MODEL_CATALOG: bad },
      encoding: 'utf8',
      timeout: WAIT_MS,
    });
    removeDir(dir);
    assert.notEqual(r.status, 0, `exit ${r.status} ${r.signal ?? ''}`);
    assert.equal(r.signal, null, 'it exited by itself');
    assert.ok(r.stderr.includes(bad), r.stderr);
  });

  test('importing a file that is not a model names the problem', async () => {
    await page.getByLabel('Path of a whisper model (ggml-*.bin)').fill(JFK_WAV);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const error = page.locator('#import-error');
    await error.waitFor();
    assert.match(await error.textContent(), /path/);
  });

  const realModel = process.env.HARK_TEST_MODEL && existsSync(process.env.HARK_TEST_MODEL) ? process.env.HARK_TEST_MODEL : null;
  const importedName = realModel ? realModel.split('/').pop().replace(/^ggml-/, '').replace(/\.bin$/, '') : null;
  const skipModel = realModel ? false : 'HARK_TEST_MODEL (a real whisper ggml file) is not set';

  test('a real model file is imported', { skip: skipModel }, async () => {
    await page.getByLabel('Path of a whisper model (ggml-*.bin)').fill(realModel);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const row = page.locator(`tr[data-model="${importedName}"] .model-state`, { hasText: 'Installed' });
    await row.waitFor({ timeout: 60_000 });
    const { models: list } = await checker.call('models.list');
    assert.equal(list.find((m) => m.name === importedName)?.installed, true);
  });

  test('an installed model is made the default', { skip: skipModel }, async () => {
    await page.getByRole('button', { name: `Make ${importedName} the default` }).click();
    await page.locator(`tr[data-model="${importedName}"] .model-state`, { hasText: 'Installed, default' }).waitFor();
    const { models: list } = await checker.call('models.list');
    assert.equal(list.find((m) => m.name === importedName)?.default, true);
  });

  test('an installed model is removed after a confirmation', { skip: skipModel }, async () => {
    await page.getByRole('button', { name: `Remove ${importedName}` }).click();
    await page.getByRole('group', { name: `Confirm removing ${importedName}` }).getByRole('button', { name: 'Remove', exact: true }).click();
    await page.locator(`tr[data-model="${importedName}"] .model-state`, { hasText: 'Not downloaded' }).waitFor();
    const { models: list } = await checker.call('models.list');
    assert.equal(list.find((m) => m.name === importedName)?.installed ?? false, false);
  });

  test('daemon settings load, and a change is saved to the daemon', async () => {
    const keep = page.locator('#set-keep_audio');
    await keep.waitFor();
    const before = await keep.isChecked();
    await keep.setChecked(!before);
    await page.getByRole('button', { name: 'Save settings' }).click();
    await flash('Settings saved.').waitFor();
    const { settings } = await checker.call('settings.get');
    assert.equal(settings.keep_audio, !before);
    await shot('settings');
  });

  test('a bad settings value is named next to its field and not sent', async () => {
    await page.getByLabel('Port for agents (empty: the default; takes effect at the next start)').fill('70000');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('#err-port').waitFor();
    const { settings } = await checker.call('settings.get');
    assert.notEqual(settings.port, 70000);
    await page.getByRole('button', { name: 'Undo changes' }).click();
  });

  // ---- the window itself ----

  test('every view works at 480 px wide: reachable, no sideways scrolling, every control labelled', async () => {
    await page.setViewportSize({ width: 480, height: 760 });
    const problems = [];
    for (const view of ['meetings', 'live', 'agents', 'surfaces', 'approvals', 'settings']) {
      await go(view);
      const report = await page.evaluate(() => {
        const out = [];
        if (document.scrollingElement.scrollWidth > window.innerWidth + 1) out.push(`scrolls sideways (${document.scrollingElement.scrollWidth}px)`);
        const main = document.querySelector('main');
        if (main.scrollWidth > main.clientWidth + 1) out.push(`the view scrolls sideways (${main.scrollWidth}px in ${main.clientWidth}px)`);
        const top = document.querySelector('.topbar').getBoundingClientRect();
        if (top.top < 0 || top.bottom > window.innerHeight / 2) out.push('the top bar is not in sight');
        for (const el of document.querySelectorAll('input, select, textarea')) {
          const named = el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
          if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
        }
        for (const b of document.querySelectorAll('button')) {
          if (!(b.getAttribute('aria-label') || b.textContent.trim())) out.push(`nameless button ${b.outerHTML.slice(0, 60)}`);
        }
        return out;
      });
      problems.push(...report.map((p) => `${view}: ${p}`));
    }
    await go('live');
    await shot('narrow');
    await page.setViewportSize({ width: 800, height: 600 });
    assert.deepEqual(problems, []);
  });

  test('the views are reachable with the keyboard', async () => {
    await go('meetings');
    await page.evaluate(() => document.activeElement?.blur());
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.getAttribute('data-view') === 'settings');
    }
    assert.ok(reached, 'Tab reaches the Settings view button');
    await page.keyboard.press('Enter');
    await page.locator('main[data-view="settings"]').waitFor();
  });

  test('nothing navigated the page, no script error, no script blocked by the CSP', async () => {
    // (Example surfaces show remote images: the CSP blocks those (img-src), as the shell's should.)
    const csp = await page.evaluate(() => window.__csp.filter((v) => !v.startsWith('img-src')));
    const others = navigations.slice(1).filter((u) => !routeChanges.has(u));
    assert.deepEqual({ navigations: others, pageErrors, csp }, { navigations: [], pageErrors: [], csp: [] });
  });

  // ---- a crash while recording ----

  let crashedId;

  test('"Not connected" shows when the daemon dies', async () => {
    await go('live');
    await page.getByLabel('Title (optional)').fill('Crash test');
    await page.getByLabel('Transcribe a file (a WAV on this computer)').fill(JFK_WAV);
    await page.getByRole('button', { name: 'Transcribe file' }).click();
    const live = page.locator('.live-meeting.is-recording');
    await live.locator('.seg.final').first().waitFor();
    crashedId = await live.getAttribute('data-meeting-id');
    await planner?.close().catch(() => {});
    await scribe?.close().catch(() => {});
    await checker.close().catch(() => {});
    await daemon.stop('SIGKILL');
    await page.locator('.conn[data-status="disconnected"]', { hasText: 'Not connected' }).waitFor();
  });

  test('the window reconnects to the restarted daemon and shows the meeting it recovered', async () => {
    await daemonUp('daemon-restarted');
    // Skip the backoff's wait if the window is waiting (it may already be connecting).
    const retry = page.getByRole('button', { name: 'Retry now' });
    if (await retry.isVisible()) await retry.click();
    await page.locator('.conn[data-status="connected"]').waitFor();
    await go('meetings');
    const banner = page.locator(`.recovered li[data-meeting-id="${crashedId}"]`);
    await banner.waitFor();
    assert.match(await banner.textContent(), /Crash test/);
    const stored = await checker.call('meeting.get', { meeting_id: crashedId });
    assert.equal(stored.metadata.status, 'interrupted');
    await shot('meetings');
    maybeUpdateDocsScreenshot();
    // The meeting's own page says so too, from its metadata (`recovered`), not from the event.
    await banner.getByRole('button', { name: 'Crash test', exact: true }).click();
    const recovery = page.locator('.facts .recovery dd');
    await recovery.waitFor();
    assert.match(await recovery.textContent(), /^After a crash, on \d{4}-\d\d-\d\d \d\d:\d\d: /);
    assert.ok(stored.metadata.recovered, 'the daemon keeps the recovery with the meeting');
  });
});

process.on('exit', () => {
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join('\n')} (artifacts in ${join(ARTIFACTS)})`);
});
