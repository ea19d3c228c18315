/**
 * Settings: the daemon's settings (`settings.get` / `settings.update`: input device, language,
 * keep audio, system audio, auto-stop, model keep-alive, port, start at login, shortcut,
 * notifications), the models (list, download with progress, import, default, remove), and the
 * standing permissions agents were given ("Always allow"), which can be revoked.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { live } from 'lit/directives/live.js';
import { formatBytes, formatDateTime, percent } from '../../lib/format.js';
import { ErrorCode, RpcError, describeError } from '../../lib/rpc.js';
import {
  LANGUAGES,
  changedSettings,
  minutesValue,
  optionalText,
  portValue,
  validateSettings,
  type FieldErrors,
  type SettingKey,
} from '../../lib/settings.js';
import type { DaemonSettings, DevicesResult, Grant, ModelEntry } from '../../lib/types.js';
import type { HarkApp } from '../hark-app.js';
import { capabilityName } from './common.js';

interface Pull {
  bytes: number;
  total: number;
  error: string | null;
  running: boolean;
}

export class SettingsView {
  private unsupported = false;
  private settingsError: string | null = null;
  private draft: DaemonSettings | null = null;
  /** The settings the draft was started from. */
  private draftBase: DaemonSettings | null = null;
  private fieldErrors: FieldErrors = {};
  /** What the person typed in number fields (shown as typed, even when not a number yet). */
  private texts: Partial<Record<SettingKey, string>> = {};
  private saving = false;
  private devices: DevicesResult | null = null;
  private models: ModelEntry[] | null = null;
  private modelsError: string | null = null;
  private pulls = new Map<string, Pull>();
  private importPath = '';
  private importName = '';
  private importing = false;
  private importError: string | null = null;
  private confirmRemove: string | null = null;
  private grants: Grant[] | null = null;
  private grantsError: string | null = null;
  private server: { server_version?: string; model?: { name?: string; loaded?: boolean } } | null = null;

  constructor(private readonly app: HarkApp) {}

  async onConnected(): Promise<void> {
    await Promise.all([this.loadSettings(), this.loadDevices(), this.reloadModels(), this.reloadGrants(), this.loadServer()]);
  }

  private async loadSettings(): Promise<void> {
    try {
      const r = await this.app.call<{ settings: DaemonSettings }>('settings.get');
      this.unsupported = false;
      this.settingsError = null;
      this.app.dispatch({ type: 'settings', settings: r.settings });
    } catch (e) {
      if (e instanceof RpcError && e.code === ErrorCode.MethodNotFound) this.unsupported = true;
      else this.settingsError = describeError(e);
      this.app.requestUpdate();
    }
  }

  private async loadDevices(): Promise<void> {
    try {
      this.devices = await this.app.call<DevicesResult>('voice.devices.list');
    } catch {
      this.devices = null;
    }
    this.app.requestUpdate();
  }

  private async loadServer(): Promise<void> {
    try {
      this.server = await this.app.call('server.info');
    } catch {
      this.server = null;
    }
    this.app.requestUpdate();
  }

  async reloadModels(): Promise<void> {
    try {
      const r = await this.app.call<{ models: ModelEntry[] }>('models.list');
      this.models = r.models;
      this.modelsError = null;
      // A failed download's message goes once the model is there after all (imported, pulled).
      for (const m of r.models) if (m.installed && !this.pulls.get(m.name)?.running) this.pulls.delete(m.name);
    } catch (e) {
      this.modelsError = describeError(e);
    }
    this.app.requestUpdate();
  }

  async reloadGrants(): Promise<void> {
    try {
      const r = await this.app.call<{ grants: Grant[] }>('permissions.list');
      this.grants = r.grants;
      this.grantsError = null;
    } catch (e) {
      this.grantsError = describeError(e);
    }
    this.app.requestUpdate();
  }

  onPullProgress(p: Record<string, unknown>): void {
    if (typeof p.name !== 'string') return;
    const pull = this.pulls.get(p.name) ?? { bytes: 0, total: 0, error: null, running: true };
    this.pulls.set(p.name, { ...pull, bytes: Number(p.bytes) || 0, total: Number(p.total) || 0 });
    this.app.requestUpdate();
  }

  // ---- daemon settings ----

  /** The draft shown: follows the daemon's settings until the person edits something. */
  private currentDraft(): DaemonSettings | null {
    const settings = this.app.state.settings;
    if (!settings) return null;
    const untouched = !this.draft || !this.draftBase || Object.keys(changedSettings(this.draftBase, this.draft)).length === 0;
    if (untouched && this.draftBase !== settings) {
      this.draft = { ...settings };
      this.draftBase = settings;
      this.texts = {};
    }
    return this.draft;
  }

  private edit<K extends SettingKey>(key: K, value: DaemonSettings[K]): void {
    const draft = this.currentDraft();
    if (!draft) return;
    this.draft = { ...draft, [key]: value };
    delete this.fieldErrors[key];
    this.app.requestUpdate();
  }

  private editNumber(key: 'auto_stop_minutes' | 'model_keep_alive_minutes' | 'port', text: string): void {
    this.texts = { ...this.texts, [key]: text };
    if (key === 'port') this.edit('port', portValue(text));
    else this.edit(key, minutesValue(text));
  }

  private async save(): Promise<void> {
    const current = this.app.state.settings;
    const draft = this.currentDraft();
    if (!current || !draft) return;
    this.fieldErrors = validateSettings(draft);
    if (Object.keys(this.fieldErrors).length > 0) {
      this.app.requestUpdate();
      return;
    }
    const changes = changedSettings(current, draft);
    if (Object.keys(changes).length === 0) {
      this.app.flash('Nothing to save.');
      return;
    }
    this.saving = true;
    this.app.requestUpdate();
    try {
      const r = await this.app.call<{ settings: DaemonSettings }>('settings.update', { settings: changes });
      this.app.dispatch({ type: 'settings', settings: r.settings });
      this.draft = { ...r.settings };
      this.draftBase = r.settings;
      this.texts = {};
      this.app.flash('Settings saved.');
    } catch (e) {
      const field = e instanceof RpcError ? e.field : undefined;
      const key = field?.replace(/^settings\./, '') as SettingKey | undefined;
      if (key && key in draft) this.fieldErrors = { ...this.fieldErrors, [key]: e instanceof RpcError ? e.reason : String(e) };
      else this.app.flash(`Could not save the settings: ${describeError(e)}`, 'error');
    } finally {
      this.saving = false;
      this.app.requestUpdate();
    }
  }

  private revert(): void {
    const s = this.app.state.settings;
    this.draft = s ? { ...s } : null;
    this.draftBase = s;
    this.fieldErrors = {};
    this.texts = {};
    this.app.requestUpdate();
  }

  // ---- models ----

  private async pull(name: string): Promise<void> {
    this.pulls.set(name, { bytes: 0, total: this.models?.find((m) => m.name === name)?.size_bytes ?? 0, error: null, running: true });
    this.app.requestUpdate();
    try {
      await this.app.call('models.pull', { name });
      this.pulls.delete(name);
      this.app.flash(`Downloaded ${name}.`);
      await this.reloadModels();
    } catch (e) {
      const pull = this.pulls.get(name) ?? { bytes: 0, total: 0, error: null, running: false };
      this.pulls.set(name, { ...pull, running: false, error: describeError(e) });
      this.app.requestUpdate();
    }
  }

  private async setDefault(name: string): Promise<void> {
    const r = await this.app.attempt(`Could not make ${name} the default`, () => this.app.call('models.set_default', { name }));
    if (r) {
      this.app.flash(`${name} is the default model from the next start.`);
      await this.reloadModels();
    }
  }

  private async remove(name: string): Promise<void> {
    this.confirmRemove = null;
    const r = await this.app.attempt(`Could not remove ${name}`, () => this.app.call('models.remove', { name }));
    if (r) {
      this.app.flash(`Removed ${name}.`);
      await this.reloadModels();
    } else {
      this.app.requestUpdate();
    }
  }

  private async importModel(): Promise<void> {
    const path = this.importPath.trim();
    if (!path) {
      this.importError = 'Type the path of a whisper model file (ggml-*.bin) on this computer.';
      this.app.requestUpdate();
      return;
    }
    this.importing = true;
    this.importError = null;
    this.app.requestUpdate();
    const params: Record<string, unknown> = { path };
    if (this.importName.trim()) params.name = this.importName.trim();
    try {
      const r = await this.app.call<{ name: string }>('models.import', params);
      this.importPath = '';
      this.importName = '';
      this.app.flash(`Imported ${r.name}.`);
      await this.reloadModels();
    } catch (e) {
      this.importError = describeError(e);
    } finally {
      this.importing = false;
      this.app.requestUpdate();
    }
  }

  // ---- permissions ----

  private async revoke(g: Grant): Promise<void> {
    const r = await this.app.attempt('Could not revoke the permission', () =>
      this.app.call<{ revoked: boolean }>('permissions.revoke', { agent_id: g.agent_id, capability: g.capability }),
    );
    if (r) this.app.flash(`${g.agent_id} must ask again to ${g.capability === 'microphone' ? 'use the microphone' : 'read transcripts'}.`);
    await this.reloadGrants();
  }

  // ---- rendering ----

  render(): TemplateResult {
    return html`
      <h2 tabindex="-1">Settings</h2>
      ${this.renderDaemonSettings()}
      ${this.renderModels()}
      ${this.renderGrants()}
      ${this.renderAbout()}
    `;
  }

  private fieldError(key: SettingKey): TemplateResult | typeof nothing {
    const e = this.fieldErrors[key];
    return e ? html`<span class="field-error error" id="err-${key}" role="alert">${e}</span>` : nothing;
  }

  private renderDaemonSettings(): TemplateResult {
    if (this.unsupported) {
      return html`<section aria-labelledby="rec-title"><h3 id="rec-title">Recording</h3>
        <p class="muted" role="status">This daemon does not offer its settings to the window yet (no <code>settings.get</code>). Recordings use the daemon's defaults: the default microphone, English, audio kept.</p></section>`;
    }
    if (this.settingsError) {
      return html`<section aria-labelledby="rec-title"><h3 id="rec-title">Recording</h3>
        <p class="error" role="alert">Could not load the settings: ${this.settingsError}
          <button type="button" class="small" @click=${() => void this.loadSettings()}>Try again</button></p></section>`;
    }
    const d = this.currentDraft();
    if (!d) return html`<section aria-labelledby="rec-title"><h3 id="rec-title">Recording</h3><p class="muted">Loading…</p></section>`;
    const inputs = this.devices?.inputs ?? [];
    const deviceKnown = d.input_device === null || inputs.some((i) => i.id === d.input_device);
    const languageKnown = LANGUAGES.some((l) => l.code === d.language);
    const dirty = this.app.state.settings ? Object.keys(changedSettings(this.app.state.settings, d)).length > 0 : false;
    const err = (k: SettingKey) => (this.fieldErrors[k] ? `err-${k}` : '');
    return html`<form class="settings-form" aria-labelledby="rec-title" novalidate @submit=${(e: Event) => {
      e.preventDefault();
      void this.save();
    }}>
      <h3 id="rec-title">Recording</h3>
      <div class="field">
        <label for="set-input_device">Microphone</label>
        <select id="set-input_device" aria-describedby=${err('input_device')}
          @change=${(e: Event) => {
            const v = (e.target as HTMLSelectElement).value;
            this.edit('input_device', v === '' ? null : v);
          }}>
          <option value="" ?selected=${d.input_device === null}>System default</option>
          ${inputs.map((i) => html`<option value=${i.id} ?selected=${d.input_device === i.id}>${i.name}${i.default ? ' (default)' : ''}</option>`)}
          ${deviceKnown ? nothing : html`<option value=${d.input_device ?? ''} selected>${d.input_device} (not connected)</option>`}
        </select>
        ${this.devices && inputs.length === 0 ? html`<span class="muted">No microphone found on this computer.</span>` : nothing}
        ${this.fieldError('input_device')}
      </div>
      <div class="field">
        <label for="set-language">Language spoken</label>
        <select id="set-language" aria-describedby=${err('language')} @change=${(e: Event) => this.edit('language', (e.target as HTMLSelectElement).value)}>
          ${LANGUAGES.map((l) => html`<option value=${l.code} ?selected=${d.language === l.code}>${l.name}</option>`)}
          ${languageKnown ? nothing : html`<option value=${d.language} selected>${d.language}</option>`}
        </select>
        ${this.fieldError('language')}
      </div>
      <label class="check"><input id="set-keep_audio" type="checkbox" .checked=${d.keep_audio}
        @change=${(e: Event) => this.edit('keep_audio', (e.target as HTMLInputElement).checked)} /> Keep the audio of meetings (needed to transcribe again)</label>
      ${this.fieldError('keep_audio')}
      <label class="check"><input id="set-system_audio" type="checkbox" .checked=${d.system_audio}
        @change=${(e: Event) => this.edit('system_audio', (e.target as HTMLInputElement).checked)} /> Also record the computer's sound (the other side of a call)</label>
      ${this.devices && !this.devices.system_capture ? html`<span class="muted">The computer's sound cannot be captured right now.</span>` : nothing}
      ${this.fieldError('system_audio')}
      <div class="field">
        <label for="set-auto_stop_minutes">Stop a recording after this many minutes without speech (0: never)</label>
        <input id="set-auto_stop_minutes" type="number" min="0" max="1440" step="any" inputmode="decimal" aria-describedby=${err('auto_stop_minutes')}
          .value=${live(this.texts.auto_stop_minutes ?? String(d.auto_stop_minutes))} @input=${(e: Event) => this.editNumber('auto_stop_minutes', (e.target as HTMLInputElement).value)} />
        ${this.fieldError('auto_stop_minutes')}
      </div>
      <div class="field">
        <label for="set-model_keep_alive_minutes">Keep the model loaded for this many idle minutes</label>
        <input id="set-model_keep_alive_minutes" type="number" min="0" max="1440" step="any" inputmode="decimal" aria-describedby=${err('model_keep_alive_minutes')}
          .value=${live(this.texts.model_keep_alive_minutes ?? String(d.model_keep_alive_minutes))} @input=${(e: Event) => this.editNumber('model_keep_alive_minutes', (e.target as HTMLInputElement).value)} />
        ${this.fieldError('model_keep_alive_minutes')}
      </div>
      <h3>App</h3>
      <div class="field">
        <label for="set-port">Port for agents (empty: the default; takes effect at the next start)</label>
        <input id="set-port" type="number" min="1" max="65535" step="1" inputmode="numeric" placeholder="9470" aria-describedby=${err('port')}
          .value=${live(this.texts.port ?? (d.port === null ? '' : String(d.port)))} @input=${(e: Event) => this.editNumber('port', (e.target as HTMLInputElement).value)} />
        ${this.fieldError('port')}
      </div>
      <label class="check"><input id="set-start_at_login" type="checkbox" .checked=${d.start_at_login}
        @change=${(e: Event) => this.edit('start_at_login', (e.target as HTMLInputElement).checked)} /> Start Hark when I log in</label>
      ${this.fieldError('start_at_login')}
      <div class="field">
        <label for="set-global_shortcut">Shortcut to start and stop recording (empty: none)</label>
        <input id="set-global_shortcut" type="text" spellcheck="false" placeholder="CommandOrControl+Shift+R" aria-describedby=${err('global_shortcut')}
          .value=${live(this.texts.global_shortcut ?? d.global_shortcut ?? '')} @input=${(e: Event) => {
            const text = (e.target as HTMLInputElement).value;
            this.texts = { ...this.texts, global_shortcut: text };
            this.edit('global_shortcut', optionalText(text));
          }} />
        ${this.fieldError('global_shortcut')}
      </div>
      <label class="check"><input id="set-notifications" type="checkbox" .checked=${d.notifications}
        @change=${(e: Event) => this.edit('notifications', (e.target as HTMLInputElement).checked)} /> Show notifications</label>
      ${this.fieldError('notifications')}
      <div class="form-buttons">
        <button type="submit" class="primary" ?disabled=${this.saving || !dirty}>${this.saving ? 'Saving…' : 'Save settings'}</button>
        <button type="button" ?disabled=${!dirty} @click=${() => this.revert()}>Undo changes</button>
      </div>
    </form>`;
  }

  private renderModels(): TemplateResult {
    const models = this.models;
    return html`<section aria-labelledby="models-title">
      <h3 id="models-title">Models</h3>
      <p class="muted">Speech-to-text models on this computer. The default is used from the next start.</p>
      ${this.modelsError ? html`<p class="error" role="alert">Could not list the models: ${this.modelsError}</p>` : nothing}
      ${models === null && !this.modelsError ? html`<p class="muted">Loading…</p>` : nothing}
      ${models
        ? html`<table class="models">
            <caption class="visually-hidden">Models</caption>
            <thead><tr><th scope="col">Model</th><th scope="col">Size</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              ${models.map((m) => this.renderModel(m))}
            </tbody>
          </table>`
        : nothing}
      <form class="import" @submit=${(e: Event) => {
        e.preventDefault();
        void this.importModel();
      }}>
        <h4>Import a model file</h4>
        <div class="field grow">
          <label for="import-path">Path of a whisper model (ggml-*.bin)</label>
          <input id="import-path" type="text" spellcheck="false" placeholder="/home/me/Downloads/ggml-large-v3-turbo.bin" .value=${live(this.importPath)}
            aria-describedby=${this.importError ? 'import-error' : ''}
            @input=${(e: Event) => (this.importPath = (e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="import-name">Name (optional)</label>
          <input id="import-name" type="text" spellcheck="false" .value=${live(this.importName)}
            @input=${(e: Event) => (this.importName = (e.target as HTMLInputElement).value)} />
        </div>
        <button type="submit" ?disabled=${this.importing}>${this.importing ? 'Importing…' : 'Import'}</button>
        ${this.importError ? html`<p class="error" id="import-error" role="alert">${this.importError}</p>` : nothing}
      </form>
    </section>`;
  }

  private renderModel(m: ModelEntry): TemplateResult {
    const pull = this.pulls.get(m.name);
    const state = m.installed ? (m.default ? 'Installed, default' : 'Installed') : 'Not downloaded';
    return html`<tr data-model=${m.name} class=${pull?.error ? 'has-error' : ''}>
      <th scope="row">${m.name}${m.hint ? html` <span class="muted">· ${m.hint}</span>` : nothing}</th>
      <td>${formatBytes(m.size_bytes)}</td>
      <td class="model-state">${state}</td>
      <td class="model-actions">
        ${!m.installed && m.catalog && !pull?.running
          ? html`<button type="button" class="small" @click=${() => void this.pull(m.name)} aria-label="Download ${m.name}">${pull?.error ? 'Retry download' : 'Download'}</button>`
          : nothing}
        ${pull?.running
          ? html`<span class="progress-row">
              <progress class="pull-progress" max="100" .value=${live(percent(pull.bytes, pull.total))} aria-label="Downloading ${m.name}"></progress>
              <span class="pull-figures">${percent(pull.bytes, pull.total)}% · ${formatBytes(pull.bytes)} of ${formatBytes(pull.total)}</span>
            </span>`
          : nothing}
        ${m.installed && !m.default
          ? html`<button type="button" class="small" @click=${() => void this.setDefault(m.name)} aria-label="Make ${m.name} the default">Make default</button>`
          : nothing}
        ${m.installed
          ? this.confirmRemove === m.name
            ? html`<span class="confirm-inline" role="group" aria-label="Confirm removing ${m.name}">
                Remove ${m.name}?
                <button type="button" class="small danger" @click=${() => void this.remove(m.name)}>Remove</button>
                <button type="button" class="small" @click=${() => {
                  this.confirmRemove = null;
                  this.app.requestUpdate();
                }}>Keep</button>
              </span>`
            : html`<button type="button" class="small" @click=${() => {
                this.confirmRemove = m.name;
                this.app.requestUpdate();
              }} aria-label="Remove ${m.name}">Remove…</button>`
          : nothing}
      </td>
    </tr>
    ${pull?.error
      ? html`<tr class="model-error" data-model=${m.name}><td colspan="4"><span class="error pull-error" role="alert">${pull.error}</span></td></tr>`
      : nothing}`;
  }

  private renderGrants(): TemplateResult {
    const grants = this.grants;
    return html`<section aria-labelledby="grants-title">
      <h3 id="grants-title">Permissions</h3>
      <p class="muted">Agents you answered “Always allow”. Revoke one and that agent has to ask again.</p>
      ${this.grantsError ? html`<p class="error" role="alert">Could not list the permissions: ${this.grantsError}</p>` : nothing}
      ${grants && grants.length === 0 ? html`<p class="empty">No agent has a standing permission.</p>` : nothing}
      ${grants && grants.length
        ? html`<ul class="grants">
            ${grants.map(
              (g) => html`<li class="grant" data-agent-id=${g.agent_id} data-capability=${g.capability}>
                <span><strong>${g.agent_id}</strong>: ${capabilityName(g.capability)}</span>
                <span class="muted">since <time datetime=${g.granted_at}>${formatDateTime(g.granted_at)}</time></span>
                <button type="button" class="small danger" @click=${() => void this.revoke(g)}
                  aria-label="Revoke ${capabilityName(g.capability)} for ${g.agent_id}">Revoke</button>
              </li>`,
            )}
          </ul>`
        : nothing}
    </section>`;
  }

  private renderAbout(): TemplateResult | typeof nothing {
    if (!this.server) return nothing;
    return html`<section aria-labelledby="about-title">
      <h3 id="about-title">About</h3>
      <p class="muted">Hark daemon ${this.server.server_version ?? ''}; transcriber: ${this.server.model?.name ?? 'unknown'}
        ${this.server.model?.loaded ? '(loaded)' : ''}</p>
    </section>`;
  }
}
