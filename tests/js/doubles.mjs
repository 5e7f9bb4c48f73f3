// Test doubles of the interfaces the extension's modules get injected: chrome.storage.local,
// WebSocket, fetch and timers. They implement those interfaces, nothing of ours is patched.

/** chrome.storage.local: get(null | key | keys), set(items), remove(keys); values are copied. */
export class MemoryStorage {
  items = new Map();

  async get(keys) {
    const wanted = keys === null || keys === undefined ? [...this.items.keys()] : [].concat(keys);
    const out = {};
    for (const k of wanted) if (this.items.has(k)) out[k] = structuredClone(this.items.get(k));
    return out;
  }

  async set(items) {
    for (const [k, v] of Object.entries(items)) this.items.set(k, structuredClone(v));
  }

  async remove(keys) {
    for (const k of [].concat(keys)) this.items.delete(k);
  }

  queuedSeqs() {
    return [...this.items.keys()].filter((k) => k.startsWith('q:')).map((k) => this.items.get(k).seq).sort((a, b) => a - b);
  }
}

/** setTimeout / clearTimeout on a clock that only moves when the test says so. */
export class ManualTimers {
  now = 0;
  #next = 1;
  #pending = new Map();

  setTimeout = (fn, ms = 0) => {
    const id = this.#next++;
    this.#pending.set(id, { at: this.now + ms, fn });
    return id;
  };

  clearTimeout = (id) => {
    this.#pending.delete(id);
  };

  /** Move the clock forward, running every timer that falls due, in order. */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.#pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

/** Let pending promise callbacks run. */
export async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** The browser WebSocket's surface: onopen/onmessage/onclose/onerror, send, close. */
export class FakeWebSocket {
  static instances = [];
  sent = [];
  closed = null;

  constructor(url) {
    this.url = url;
    FakeWebSocket.instances.push(this);
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static get last() {
    return FakeWebSocket.instances.at(-1);
  }

  send(data) {
    if (this.closed) throw new Error('send on a closed socket');
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000, reason = '') {
    if (this.closed) return;
    this.closed = { code, reason };
    queueMicrotask(() => this.onclose && this.onclose({ code, reason }));
  }

  // What the server side does:
  open() {
    this.onopen && this.onopen({});
  }

  reply(message) {
    this.onmessage && this.onmessage({ data: JSON.stringify(message) });
  }

  drop(code = 1006, reason = '') {
    this.closed = { code, reason };
    this.onclose && this.onclose({ code, reason });
  }
}

/** A fetch that answers from a handler and remembers every request. */
export function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const request = { url, method: init.method || 'GET', headers: init.headers || {}, body: init.body ? JSON.parse(init.body) : null };
    calls.push(request);
    const { status = 200, body = {} } = await handler(request);
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  };
  return { fetch, calls };
}

/** The ack web/api/stream.py sends for a batch it stored completely. */
export function ackFor(batch) {
  const seqs = batch.events.map((e) => e.seq);
  return { type: 'ack', ack_seq: Math.max(...seqs), accepted: seqs, duplicates: [], errors: [] };
}
