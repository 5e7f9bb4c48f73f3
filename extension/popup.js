// The toolbar popup: consent on first use, the sites the participant allows, server / token /
// site for a human session; start, pause, resume, stop; live status and what was captured.
// It talks to the service worker by message, like content scripts do.

import { capturedText, lastSessionText } from './status_text.js';

const PREFS_KEY = 'popupPrefs';
const ALLOWLIST_KEY = 'allowlist';
const CONSENT_KEY = 'consent'; // background.js
const LAST_SESSION_KEY = 'lastSession'; // background.js
const STATUS_POLL_MS = 1000;
// Stopping waits for every event to be acked; a person waits this long at most.
const STOP_TIMEOUT_MS = 20_000;

const form = document.getElementById('settings');
const field = (id) => document.getElementById(id);
let paused = false;

async function ask(cmd, options) {
  const reply = await chrome.runtime.sendMessage({ cmd, options });
  if (!reply || !reply.ok) throw new Error((reply && reply.error) || `no answer to ${cmd}`);
  return reply.result;
}

function showError(error) {
  field('error').textContent = error ? String(error.message || error) : '';
}

async function currentHost() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  try {
    const url = new URL(tab && tab.url);
    return /^https?:$/.test(url.protocol) ? { host: url.hostname, url: tab.url } : { host: null, url: null };
  } catch {
    return { host: null, url: null };
  }
}

async function allowlist() {
  return (await chrome.storage.local.get(ALLOWLIST_KEY))[ALLOWLIST_KEY] || [];
}

async function renderAllowlist() {
  const hosts = await allowlist();
  const list = field('allowlist');
  list.replaceChildren(...hosts.map((host) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = host;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.title = `Stop allowing ${host}`;
    remove.addEventListener('click', async () => {
      await chrome.storage.local.set({ [ALLOWLIST_KEY]: (await allowlist()).filter((h) => h !== host) });
      await renderAllowlist();
    });
    item.append(name, remove);
    return item;
  }));
  field('no-sites').hidden = hosts.length > 0;
  const { host } = await currentHost();
  field('allow').hidden = !host || hosts.includes(host);
  field('allow').textContent = host ? `Allow ${host}` : 'Allow this site';
}

function render(status) {
  paused = !!status.paused;
  const state = !status.sessionId ? 'idle' : status.offline ? 'offline' : status.paused ? 'paused' : 'recording';
  field('state').textContent = state;
  field('state').className = `pill ${state === 'recording' ? 'rec' : state}`;
  field('session').textContent = status.sessionId || '–';
  field('queued').textContent = String(status.queued);
  field('last-ack').textContent = status.lastAck === null ? '–' : String(status.lastAck);
  field('connection').textContent = status.connected ? 'WebSocket' : status.transport === 'rest' ? 'REST fallback' : status.sessionId ? 'reconnecting…' : '–';
  field('captured').textContent = capturedText(status.counts);
  field('start').disabled = !!status.sessionId;
  field('pause').disabled = !status.sessionId;
  field('pause').textContent = status.paused ? 'Resume' : 'Pause';
  field('stop').disabled = !status.sessionId;
  field('discard').disabled = !status.sessionId;
  if (status.lastError) showError(status.lastError);
}

async function refresh() {
  try {
    const [status, stored] = await Promise.all([ask('status'), chrome.storage.local.get(LAST_SESSION_KEY)]);
    render(status);
    const last = status.sessionId ? '' : lastSessionText(stored[LAST_SESSION_KEY]);
    field('last-session').textContent = last;
    field('last-session').hidden = !last;
  } catch (error) {
    showError(error);
  }
}

async function loadPrefs() {
  const prefs = (await chrome.storage.local.get(PREFS_KEY))[PREFS_KEY] || {};
  for (const name of ['server', 'token', 'site', 'siteVersion']) {
    if (prefs[name]) form.elements[name].value = prefs[name];
  }
  field('audio').checked = false; // off by default, every session
}

async function showScreen() {
  const consent = (await chrome.storage.local.get(CONSENT_KEY))[CONSENT_KEY];
  field('consent').hidden = !!consent;
  field('main').hidden = !consent;
}

/** The microphone permission is asked for in a tab of our own: the offscreen recorder cannot ask. */
async function microphoneReady() {
  const state = await navigator.permissions.query({ name: 'microphone' }).then((p) => p.state, () => 'prompt');
  if (state === 'granted') return true;
  await chrome.tabs.create({ url: chrome.runtime.getURL('audio_permission.html') });
  return false;
}

field('agree').addEventListener('click', async () => {
  try {
    await ask('consent', { version: 1 });
    await showScreen();
    await renderAllowlist();
  } catch (error) {
    showError(error);
  }
});

field('allow').addEventListener('click', async () => {
  const { host } = await currentHost();
  if (!host) return;
  const hosts = await allowlist();
  if (!hosts.includes(host)) await chrome.storage.local.set({ [ALLOWLIST_KEY]: [...hosts, host] });
  await renderAllowlist();
});

field('start').addEventListener('click', async () => {
  showError(null);
  if (!form.reportValidity()) return;
  const { audio, ...options } = Object.fromEntries(new FormData(form));
  const hosts = await allowlist();
  const { host, url } = await currentHost();
  if (!hosts.length) { showError('Allow at least one site first.'); return; }
  if (audio && !(await microphoneReady())) { showError('Allow the microphone in the tab that opened, then start again.'); return; }
  await chrome.storage.local.set({ [PREFS_KEY]: options });
  try {
    await ask('start', {
      ...options, siteVersion: options.siteVersion || null, mode: 'human', allowedHosts: hosts, audio: !!audio,
      startUrl: host && hosts.includes(host) ? url : null,
    });
  } catch (error) {
    showError(error);
  }
  await refresh();
});

field('pause').addEventListener('click', async () => {
  showError(null);
  try {
    await ask(paused ? 'resume' : 'pause');
  } catch (error) {
    showError(error);
  }
  await refresh();
});

field('stop').addEventListener('click', async () => {
  showError(null);
  field('stop').disabled = true;
  try {
    await ask('stop', { timeoutMs: STOP_TIMEOUT_MS });
  } catch (error) {
    showError(error);
  }
  await refresh();
});

field('discard').addEventListener('click', async () => {
  showError(null);
  if (!confirm('Discard this session? Events not yet sent are lost.')) return;
  try {
    await ask('discard');
  } catch (error) {
    showError(error);
  }
  await refresh();
});

Promise.all([showScreen(), loadPrefs(), renderAllowlist()]).catch(showError);
refresh();
setInterval(refresh, STATUS_POLL_MS);
