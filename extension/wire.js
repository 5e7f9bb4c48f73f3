// Wire format v1 helpers (lab/capture/wire.py is the schema the server validates): URLs,
// batching and ack bookkeeping. Pure functions, no chrome.* calls, so node tests import them.

export const WIRE_VERSION = 1;
// Events per batch: one ack round trip each, small enough to retry cheaply.
export const MAX_BATCH_EVENTS = 50;
// Characters per batch; one screenshot is ~150 kB, the server accepts up to 8 MB per image.
export const MAX_BATCH_CHARS = 4_000_000;
// Reconnect backoff: first retry after ~0.5 s, doubling, never more than 30 s apart.
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
// The wire's own limits (EventBase.url, ElementSummary.text is free but kept short).
export const MAX_URL_CHARS = 8000;

function trimmed(server) {
  return String(server).replace(/\/+$/, '');
}

/** `POST` target of the REST API: `${server}${path}` without a doubled slash. */
export function apiUrl(server, path) {
  return `${trimmed(server)}${path}`;
}

/** The session's WebSocket: ws:// or wss:// after the http(s) server URL, token as a query parameter. */
export function wsUrl(server, sessionId, token) {
  const url = new URL(`${trimmed(server)}/ws/v1/sessions/${encodeURIComponent(sessionId)}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`server: expected an http:// or https:// URL, got ${JSON.stringify(server)}`);
  }
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  return url.toString();
}

// A UTF-16 surrogate without its partner: what `.slice(0, n)` leaves when it cuts an emoji in half.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormedText(text) {
  if (!LONE_SURROGATE.test(text)) return text;
  LONE_SURROGATE.lastIndex = 0;
  // A half character at either end is what truncation cut off: drop it; one inside is broken
  // text from the page and reads as U+FFFD, as the server would store it anyway.
  return text
    .replace(/^[\uDC00-\uDFFF]/, '')
    .replace(/[\uD800-\uDBFF]$/, '')
    .replace(LONE_SURROGATE, '\uFFFD');
}

/** `value` with every string in its arrays and plain objects well-formed UTF-16 (Postgres refuses
 * lone surrogates); anything else (a Blob, an ArrayBuffer) is returned as it is. */
export function wellFormed(value) {
  if (typeof value === 'string') return wellFormedText(value);
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormedText(k), wellFormed(v)]));
  }
  return value;
}

export function batchBody(events) {
  return { v: WIRE_VERSION, events };
}

/** The oldest events that fit one batch (always at least one, so a big screenshot still goes). */
export function takeBatch(queued, sizeOf, maxEvents = MAX_BATCH_EVENTS, maxChars = MAX_BATCH_CHARS) {
  const batch = [];
  let chars = 0;
  for (const event of queued) {
    const size = sizeOf(event);
    if (batch.length && (batch.length >= maxEvents || chars + size > maxChars)) break;
    batch.push(event);
    chars += size;
  }
  return batch;
}

/** Seqs an ack settles for good: stored now, stored before, or rejected (retrying cannot fix those). */
export function settledSeqs(ack) {
  const settled = new Set([...(ack.accepted || []), ...(ack.duplicates || [])]);
  for (const error of ack.errors || []) if (Number.isInteger(error.seq)) settled.add(error.seq);
  return settled;
}

export function isAck(message) {
  return !!message && message.type === 'ack' && Array.isArray(message.accepted);
}

/** Delay before reconnect attempt `attempt` (1-based), with jitter so many clients do not sync up. */
export function backoffDelayMs(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}
