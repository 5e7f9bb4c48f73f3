// The toolbar popup: server, token and site for a human session; start / stop; live status.
// It talks to the service worker by message, like content scripts do.

const PREFS_KEY = 'popupPrefs';
const STATUS_POLL_MS = 1000;
// Stopping waits for every event to be acked; a person waits this long at most.
const STOP_TIMEOUT_MS = 20_000;

const form = document.getElementById('settings');
const field = (id) => document.getElementById(id);

async function ask(cmd, options) {
  const reply = await chrome.runtime.sendMessage({ cmd, options });
  if (!reply || !reply.ok) throw new Error((reply && reply.error) || `no answer to ${cmd}`);
  return reply.result;
}

function showError(error) {
  field('error').textContent = error ? String(error.message || error) : '';
}

function render(status) {
  field('session').textContent = status.sessionId || '–';
  field('queued').textContent = String(status.queued);
  field('last-ack').textContent = status.lastAck === null ? '–' : String(status.lastAck);
  field('connection').textContent = status.connected ? 'WebSocket' : status.transport === 'rest' ? 'REST fallback' : status.sessionId ? 'reconnecting…' : '–';
  field('start').disabled = !!status.sessionId;
  field('stop').disabled = !status.sessionId;
  field('discard').disabled = !status.sessionId;
  if (status.lastError) showError(status.lastError);
}

async function refresh() {
  try {
    render(await ask('status'));
  } catch (error) {
    showError(error);
  }
}

async function loadPrefs() {
  const prefs = (await chrome.storage.local.get(PREFS_KEY))[PREFS_KEY] || {};
  for (const name of ['server', 'token', 'site', 'siteVersion']) {
    if (prefs[name]) form.elements[name].value = prefs[name];
  }
}

field('start').addEventListener('click', async () => {
  showError(null);
  if (!form.reportValidity()) return;
  const options = Object.fromEntries(new FormData(form));
  await chrome.storage.local.set({ [PREFS_KEY]: options });
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  try {
    await ask('start', { ...options, siteVersion: options.siteVersion || null, mode: 'human', startUrl: tab && tab.url });
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

loadPrefs().catch(showError);
refresh();
setInterval(refresh, STATUS_POLL_MS);
