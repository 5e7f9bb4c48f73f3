// The recording session: numbers events (seq), keeps every one in durable storage until the
// server acks it, and ships batches over the session's WebSocket (REST while the socket is
// down). Its I/O is injected so node tests drive it with in-memory doubles of the same
// interfaces: `storage` holds the session and its unacked events (IndexedDB in the
// extension, idb_store.js), `flags` the `recording` flag content scripts watch
// (chrome.storage.local), plus fetch, WebSocket and timers.

import { apiUrl, backoffDelayMs, batchBody, isAck, settledSeqs, takeBatch, wellFormed, wsUrl } from './wire.js';

const SESSION_KEY = 'session';
// The flag content scripts watch to know whether to capture at all (they never see the token).
export const RECORDING_KEY = 'recording';
// One storage key per unacked event, zero-padded so keys sort in seq order.
const QUEUE_PREFIX = 'q:';
// A batch unacked this long means a dead connection: drop it and resend on the next one.
export const ACK_TIMEOUT_MS = 20_000;
// After this many failed WebSocket attempts in a row, batches go over REST meanwhile.
export const REST_FALLBACK_AFTER_FAILURES = 2;
export const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;
// Close codes web/api/stream.py uses when the session is not found (4404) or not ours (4403).
const FATAL_CLOSE_CODES = new Set([4403, 4404]);
// HTTP statuses after which resending the same session's events cannot succeed.
const FATAL_HTTP_STATUSES = new Set([401, 403, 404, 409]);
const MODES = ['human', 'automated'];
// Idempotency keys remembered (with the session, so across restarts) to spot a resent event.
const RECENT_KEYS = 500;

const queueKey = (seq) => `${QUEUE_PREFIX}${String(seq).padStart(12, '0')}`;

export class Recorder {
  #storage; #flags; #fetch; #WebSocket; #timers; #random; #onChange;
  #session = null;
  #queue = new Map();
  #sizes = new Map();
  #lastAck = null;
  #ws = null;
  #connected = false;
  #inflight = null;
  #failures = 0;
  #reconnectTimer = null;
  #sendFailures = 0;
  #pauseTimer = null;
  #fatal = null;
  #closing = false;
  #waiters = [];
  #lock = Promise.resolve();
  #lastError = null;
  #rejected = 0;

  constructor({ storage, flags = storage, fetch, WebSocket, timers = globalThis, random = Math.random, onChange = () => {} }) {
    this.#storage = storage;
    this.#flags = flags;
    this.#fetch = fetch;
    this.#WebSocket = WebSocket;
    this.#timers = timers;
    this.#random = random;
    this.#onChange = onChange;
  }

  /** Reload the session and its unacked events after the service worker restarted. */
  async restore() {
    const stored = await this.#storage.get(null);
    this.#session = stored[SESSION_KEY] || null;
    for (const key of Object.keys(stored).filter((k) => k.startsWith(QUEUE_PREFIX)).sort()) this.#enqueue(stored[key]);
    // After a browser restart the flag may be stale either way; the stored session decides.
    await this.#flags.set({ [RECORDING_KEY]: !!this.#session && !this.#session.paused });
    if (this.#session) this.#connect();
    this.#changed();
  }

  /**
   * Move a session and queue left in `legacy` (chrome.storage.local, before the queue moved to
   * IndexedDB) into this recorder's storage; call before restore().
   */
  async adoptLegacy(legacy) {
    const old = await legacy.get(null);
    const keys = Object.keys(old).filter((k) => k === SESSION_KEY || k.startsWith(QUEUE_PREFIX));
    if (!keys.length) return 0;
    const current = await this.#storage.get(SESSION_KEY);
    if (!current[SESSION_KEY]) await this.#storage.set(Object.fromEntries(keys.map((k) => [k, old[k]])));
    await legacy.remove(keys);
    return keys.length;
  }

  /** Open a session on the server and start streaming to it; resolves to `{id, ws_url}`. */
  async start({ server, token, site, siteVersion = null, mode = 'human', startUrl = null, userAgent = null } = {}) {
    if (this.#session) throw new Error(`startSession: session ${this.#session.sessionId} is still recording; stop it first`);
    for (const [field, value] of Object.entries({ server, token, site })) {
      if (typeof value !== 'string' || !value.trim()) throw new Error(`startSession: ${field} is required`);
    }
    if (!MODES.includes(mode)) throw new Error(`startSession: mode must be one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    wsUrl(server, 'check', token); // fails early, naming the field, on a non-http(s) server URL
    const body = { v: 1, mode, site, site_version: siteVersion || null };
    if (startUrl) body.start_url = startUrl;
    if (userAgent) body.user_agent = userAgent;
    const opened = await this.#postJson(server, token, '/api/v1/sessions', body);
    if (!opened || typeof opened.id !== 'string') throw new Error(`startSession: the server answered without a session id: ${JSON.stringify(opened)}`);
    await this.#dropQueue();
    this.#session = {
      server: server.replace(/\/+$/, ''), token, sessionId: opened.id, seq: 0, site, siteVersion: siteVersion || null, mode,
      paused: false, counts: {}, startedAt: Date.now(),
    };
    this.#lastAck = null;
    this.#failures = 0;
    this.#sendFailures = 0;
    this.#fatal = null;
    this.#closing = false;
    this.#lastError = null;
    this.#rejected = 0;
    await this.#storage.set({ [SESSION_KEY]: this.#session });
    await this.#flags.set({ [RECORDING_KEY]: true });
    this.#connect();
    this.#changed();
    return { id: opened.id, ws_url: opened.ws_url };
  }

  /**
   * Number and store one event; resolves to its seq, or null when nothing is recording. With
   * `key`, an event handed over again (a sender retrying after a worker restart) gets the seq
   * it was stored under the first time instead of a second one.
   */
  record(event, { key = null } = {}) {
    return this.#locked(async () => {
      if (!this.#session || this.#closing || this.#session.paused) return null;
      const keys = this.#session.recentKeys || (this.#session.recentKeys = []);
      const known = key ? keys.find(([k]) => k === key) : null;
      if (known) return known[1];
      const seq = this.#session.seq;
      this.#session.seq = seq + 1;
      if (key) {
        keys.push([key, seq]);
        if (keys.length > RECENT_KEYS) keys.splice(0, keys.length - RECENT_KEYS);
      }
      const counts = this.#session.counts || (this.#session.counts = {});
      counts[event.type] = (counts[event.type] || 0) + 1;
      const stamped = { ...wellFormed(event), seq };
      // seq and event are persisted together: a restarted worker never reuses a seq.
      await this.#storage.set({ [SESSION_KEY]: this.#session, [queueKey(seq)]: stamped });
      this.#enqueue(stamped);
      this.#changed();
      this.#pump();
      return seq;
    });
  }

  /** Resolves once every queued event is acked; rejects naming what is left after timeoutMs. */
  flush({ timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS } = {}) {
    if (this.#queue.size === 0) return Promise.resolve({ lastAck: this.#lastAck });
    if (this.#fatal) return Promise.reject(new Error(`flush: ${this.#queue.size} events cannot be sent: ${this.#fatal}`));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      waiter.timer = this.#timers.setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`flush: ${this.#queue.size} events still unacknowledged after ${timeoutMs} ms (last error: ${this.#lastError || 'none'})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /** Stop capturing without ending the session; events already queued keep being sent. */
  pause() {
    return this.#setPaused(true);
  }

  resume() {
    return this.#setPaused(false);
  }

  #setPaused(paused) {
    return this.#locked(async () => {
      if (!this.#session) throw new Error(`${paused ? 'pause' : 'resume'}: no session is recording`);
      this.#session.paused = paused;
      await this.#storage.set({ [SESSION_KEY]: this.#session });
      await this.#flags.set({ [RECORDING_KEY]: !paused });
      this.#changed();
      return this.status();
    });
  }

  /** Try to reach the server now instead of waiting out the backoff (an alarm, the network came back). */
  kick() {
    if (!this.#session || this.#fatal) return;
    if (!this.#ws) {
      if (this.#reconnectTimer) this.#timers.clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
      this.#connect();
    }
    if (this.#pauseTimer && !this.#inflight) {
      this.#timers.clearTimeout(this.#pauseTimer);
      this.#pauseTimer = null;
    }
    this.#pump();
  }

  /**
   * Stop capturing, send everything, then complete the session on the server. `beforeFlush`
   * lets the caller finish work that still records events (screenshots being encoded).
   * Resolves to the server's status of the session and what it holds: `events` sent, `counts` by type.
   */
  async stop({ timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS, beforeFlush = async () => {} } = {}) {
    const session = this.#session;
    if (!session) throw new Error('stopSession: no session is recording');
    await this.#flags.set({ [RECORDING_KEY]: false });
    await beforeFlush();
    await this.#lock; // events already handed to record() are numbered and queued
    await this.flush({ timeoutMs });
    this.#closing = true;
    const completed = await this.#postJson(session.server, session.token, `/api/v1/sessions/${session.sessionId}/complete`, {});
    await this.#forget();
    return {
      id: session.sessionId, status: completed && completed.status, lastAck: this.#lastAck, events: session.seq, counts: { ...(session.counts || {}) },
    };
  }

  /** Forget the local session and its unsent events without completing it on the server. */
  async discard() {
    const id = this.#session && this.#session.sessionId;
    const dropped = this.#queue.size;
    await this.#forget();
    return { id, dropped };
  }

  status() {
    const s = this.#session;
    return {
      sessionId: s ? s.sessionId : null,
      recording: !!s && !this.#closing && !s.paused,
      paused: !!s && !!s.paused,
      offline: !!s && !this.#connected && (this.#failures > 0 || !!this.#fatal),
      counts: s ? { ...(s.counts || {}) } : {},
      site: s ? s.site : null,
      mode: s ? s.mode : null,
      nextSeq: s ? s.seq : null,
      queued: this.#queue.size,
      lastAck: this.#lastAck,
      connected: this.#connected,
      transport: this.#connected ? 'websocket' : s && this.#failures >= REST_FALLBACK_AFTER_FAILURES ? 'rest' : null,
      rejected: this.#rejected,
      lastError: this.#fatal || this.#lastError,
    };
  }

  // ---- internals ----------------------------------------------------------------------

  #locked(fn) {
    const run = this.#lock.then(fn);
    // The chain only orders callers; each caller still gets its own error through `run`.
    this.#lock = run.then(() => undefined, () => undefined);
    return run;
  }

  #changed() {
    this.#onChange(this.status());
  }

  #enqueue(event) {
    this.#queue.set(event.seq, event);
    this.#sizes.set(event.seq, JSON.stringify(event).length);
  }

  async #dropQueue() {
    const keys = [...this.#queue.keys()].map(queueKey);
    this.#queue.clear();
    this.#sizes.clear();
    if (keys.length) await this.#storage.remove(keys);
  }

  async #forget() {
    this.#closing = true;
    for (const timer of [this.#reconnectTimer, this.#pauseTimer]) if (timer) this.#timers.clearTimeout(timer);
    this.#reconnectTimer = null;
    this.#pauseTimer = null;
    this.#clearInflight();
    const socket = this.#ws;
    this.#ws = null;
    this.#connected = false;
    if (socket) socket.close(1000, 'session stopped');
    await this.#dropQueue();
    for (const w of this.#waiters.splice(0)) {
      this.#timers.clearTimeout(w.timer);
      w.reject(new Error('flush: the session was discarded'));
    }
    this.#session = null;
    await this.#storage.remove([SESSION_KEY]);
    await this.#flags.set({ [RECORDING_KEY]: false });
    this.#changed();
  }

  async #postJson(server, token, path, body) {
    let response;
    try {
      response = await this.#fetch(apiUrl(server, path), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new Error(`POST ${path}: cannot reach the server at ${server} (${error.message})`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : {};
  }

  #connect() {
    if (!this.#session || this.#ws || this.#fatal) return;
    const socket = new this.#WebSocket(wsUrl(this.#session.server, this.#session.sessionId, this.#session.token));
    this.#ws = socket;
    socket.onopen = () => {
      if (this.#ws !== socket) return;
      this.#connected = true;
      // The backoff resets on the first ack, not on open: a server that accepts the socket and
      // drops it on every batch must not be retried at full speed forever.
      this.#changed();
      this.#pump();
    };
    socket.onmessage = (message) => {
      if (this.#ws === socket) this.#onReply(message.data);
    };
    socket.onerror = () => {
      if (this.#ws === socket) this.#lastError = 'websocket error';
    };
    socket.onclose = (close) => {
      if (this.#ws !== socket) return;
      this.#ws = null;
      this.#connected = false;
      if (this.#inflight && this.#inflight.transport === 'websocket') {
        this.#clearInflight();
        this.#lastError = `websocket closed with ${close.code} before its batch was acked${close.reason ? ` (${close.reason})` : ''}`;
      }
      if (FATAL_CLOSE_CODES.has(close.code)) {
        this.#fail(`websocket closed with ${close.code}: ${close.reason || this.#lastError || 'session refused'}`);
        return;
      }
      this.#failures += 1;
      this.#scheduleReconnect();
      this.#changed();
      this.#pump();
    };
  }

  #scheduleReconnect() {
    if (!this.#session || this.#fatal || this.#reconnectTimer) return;
    this.#reconnectTimer = this.#timers.setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, backoffDelayMs(this.#failures, this.#random));
  }

  /** A send failed (or settled nothing): wait before the next one instead of spinning. */
  #pauseSending(reason) {
    this.#lastError = reason;
    this.#sendFailures += 1;
    if (!this.#pauseTimer) {
      this.#pauseTimer = this.#timers.setTimeout(() => {
        this.#pauseTimer = null;
        this.#pump();
      }, backoffDelayMs(this.#sendFailures, this.#random));
    }
    this.#changed();
  }

  #fail(reason) {
    this.#fatal = reason;
    this.#clearInflight();
    console.error('codesight: session refused by the server', { sessionId: this.#session && this.#session.sessionId, reason });
    for (const w of this.#waiters.splice(0)) {
      this.#timers.clearTimeout(w.timer);
      w.reject(new Error(`flush: ${this.#queue.size} events cannot be sent: ${reason}`));
    }
    this.#changed();
  }

  #clearInflight() {
    if (this.#inflight && this.#inflight.timer) this.#timers.clearTimeout(this.#inflight.timer);
    this.#inflight = null;
  }

  #pump() {
    if (!this.#session || this.#inflight || this.#queue.size === 0 || this.#fatal || this.#pauseTimer) return;
    if (this.#connected) this.#sendOverWebSocket();
    else if (this.#failures >= REST_FALLBACK_AFTER_FAILURES) this.#sendOverRest();
  }

  #nextBatch() {
    return takeBatch(this.#queue.values(), (event) => this.#sizes.get(event.seq));
  }

  #sendOverWebSocket() {
    const socket = this.#ws;
    const batch = this.#nextBatch();
    const timer = this.#timers.setTimeout(() => {
      this.#lastError = `no ack within ${ACK_TIMEOUT_MS} ms`;
      socket.close(4000, 'ack timeout');
    }, ACK_TIMEOUT_MS);
    this.#inflight = { transport: 'websocket', timer };
    socket.send(JSON.stringify(batchBody(batch)));
  }

  #sendOverRest() {
    const { server, token, sessionId } = this.#session;
    const batch = this.#nextBatch();
    const inflight = { transport: 'rest', timer: null };
    this.#inflight = inflight;
    const path = `/api/v1/sessions/${sessionId}/events`;
    this.#fetch(apiUrl(server, path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(batchBody(batch)),
    }).then(async (response) => {
      const text = await response.text();
      if (this.#inflight !== inflight) return;
      const reply = parseJson(text);
      if (isAck(reply)) this.#applyAck(reply);
      else this.#restFailed(`POST ${path}: HTTP ${response.status} ${text.slice(0, 300)}`, response.status);
    }, (error) => {
      if (this.#inflight === inflight) this.#restFailed(`POST ${path}: ${error.message}`, 0);
    });
  }

  #restFailed(reason, status) {
    this.#clearInflight();
    if (FATAL_HTTP_STATUSES.has(status)) { this.#fail(reason); return; }
    this.#pauseSending(reason);
  }

  #onReply(data) {
    const reply = parseJson(data);
    if (isAck(reply)) { this.#applyAck(reply); return; }
    if (reply && reply.type === 'error') {
      // The batch was not stored: an error names the field (web/api/stream.py).
      this.#clearInflight();
      const reason = `${reply.field}: ${reply.message}`;
      if (reply.field === 'session_id') { this.#fail(reason); return; }
      this.#pauseSending(reason);
      return;
    }
    this.#lastError = `unexpected reply: ${String(data).slice(0, 200)}`;
    console.warn('codesight: unexpected reply from the server', { data: String(data).slice(0, 200) });
  }

  #applyAck(ack) {
    if (this.#inflight && this.#inflight.transport === 'websocket') this.#failures = 0;
    this.#clearInflight();
    const keys = [];
    for (const seq of settledSeqs(ack)) {
      if (this.#queue.delete(seq)) {
        this.#sizes.delete(seq);
        keys.push(queueKey(seq));
      }
    }
    if (ack.errors && ack.errors.length) {
      this.#rejected += ack.errors.length;
      this.#lastError = ack.errors.map((e) => `${e.field}: ${e.message}`).join('; ').slice(0, 500);
      console.warn('codesight: the server rejected events', { sessionId: this.#session && this.#session.sessionId, errors: ack.errors });
    }
    if (Number.isInteger(ack.ack_seq)) this.#lastAck = Math.max(this.#lastAck === null ? -1 : this.#lastAck, ack.ack_seq);
    if (keys.length) {
      this.#storage.remove(keys).catch((error) => {
        this.#lastError = `storage: ${error.message}`;
        console.error('codesight: could not drop acked events from storage', error);
      });
    }
    if (this.#queue.size === 0) {
      for (const w of this.#waiters.splice(0)) {
        this.#timers.clearTimeout(w.timer);
        w.resolve({ lastAck: this.#lastAck });
      }
    }
    if (keys.length) {
      this.#sendFailures = 0;
      this.#changed();
      this.#pump();
    } else {
      this.#pauseSending(`an ack settled none of the batch: ${JSON.stringify(ack).slice(0, 200)}`);
    }
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null; // callers treat a non-JSON body as "not an ack" and report the raw text
  }
}
