// The recorder against doubles of chrome.storage.local, WebSocket, fetch and timers:
// seq numbering, the unacked queue, acks, reconnects, the REST fallback, stop.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Recorder } from '../../extension/recorder.js';
import { FakeWebSocket, ManualTimers, MemoryStorage, ackFor, fakeFetch, settle } from './doubles.mjs';

const SERVER = 'http://lab.test:8000';
const TOKEN = 'csp_secret';

function serverHandler(request) {
  const path = new URL(request.url).pathname;
  if (path === '/api/v1/sessions') return { status: 201, body: { id: 's-1', ws_url: '/ws/v1/sessions/s-1' } };
  if (path === '/api/v1/sessions/s-1/events') return { body: ackFor(request.body) };
  if (path === '/api/v1/sessions/s-1/complete') return { status: 202, body: { id: 's-1', status: 'processing' } };
  return { status: 404, body: { detail: 'no such route' } };
}

function setup({ handler = serverHandler, storage = new MemoryStorage() } = {}) {
  const timers = new ManualTimers();
  const server = fakeFetch(handler);
  const recorder = new Recorder({ storage, fetch: server.fetch, WebSocket: FakeWebSocket, timers, random: () => 1 });
  return { storage, timers, server, recorder };
}

const start = (recorder) => recorder.start({ server: SERVER, token: TOKEN, site: 'shop', siteVersion: 'v1', mode: 'automated' });

const click = (n) => ({
  type: 'click', t: 1_700_000_000_000 + n, url: 'http://shop.test/', x: 1, y: 2,
  target: { tag: 'button', text: 'Buy', role: 'button' },
  selectors: { candidates: [{ kind: 'text', selector: 'text="Buy"', score: 180 }], fingerprint: {} },
});

/** Make a socket answer every batch with a full ack, as the server does. */
function autoAck(socket) {
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    send(data);
    queueMicrotask(() => socket.reply(ackFor(JSON.parse(data))));
  };
}

beforeEach(() => FakeWebSocket.reset());

describe('Recorder', () => {
  it('opens a session over REST and streams to its WebSocket', async () => {
    const { recorder, server, storage } = setup();
    assert.deepEqual(await start(recorder), { id: 's-1', ws_url: '/ws/v1/sessions/s-1' });
    const [open] = server.calls;
    assert.equal(open.url, `${SERVER}/api/v1/sessions`);
    assert.equal(open.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(open.body, { v: 1, mode: 'automated', site: 'shop', site_version: 'v1' });
    assert.equal(FakeWebSocket.last.url, `ws://lab.test:8000/ws/v1/sessions/s-1?token=${TOKEN}`);
    assert.equal((await storage.get('recording')).recording, true);
    assert.equal(recorder.status().sessionId, 's-1');
  });

  it('numbers events from 0 and sends one batch at a time', async () => {
    const { recorder, storage } = setup();
    await start(recorder);
    const socket = FakeWebSocket.last;
    socket.open();
    assert.deepEqual(await Promise.all([0, 1, 2].map((n) => recorder.record(click(n)))), [0, 1, 2]);
    assert.equal(socket.sent.length, 1);
    assert.deepEqual(socket.sent[0], { v: 1, events: [{ ...click(0), seq: 0 }] });
    assert.deepEqual(storage.queuedSeqs(), [0, 1, 2]);
    socket.reply(ackFor(socket.sent[0]));
    await settle();
    assert.deepEqual(socket.sent[1].events.map((e) => e.seq), [1, 2]);
    socket.reply(ackFor(socket.sent[1]));
    await settle();
    assert.deepEqual(storage.queuedSeqs(), []);
    assert.deepEqual({ queued: recorder.status().queued, lastAck: recorder.status().lastAck }, { queued: 0, lastAck: 2 });
  });

  it('drops accepted, duplicate and rejected events and keeps the rest', async () => {
    const { recorder, storage } = setup();
    await start(recorder);
    for (const n of [0, 1, 2, 3]) await recorder.record(click(n));
    const socket = FakeWebSocket.last;
    socket.open();
    socket.reply({ type: 'ack', ack_seq: 0, accepted: [0], duplicates: [1], errors: [{ index: 2, seq: 2, field: 'events[2].url', message: 'too long' }] });
    await settle();
    assert.deepEqual(storage.queuedSeqs(), [3]);
    assert.equal(recorder.status().rejected, 1);
    assert.match(recorder.status().lastError, /events\[2\]\.url: too long/);
    assert.deepEqual(socket.sent.at(-1).events.map((e) => e.seq), [3]);
  });

  it('resends unacked events after reconnecting with backoff', async () => {
    const { recorder, timers } = setup();
    await start(recorder);
    const first = FakeWebSocket.last;
    first.open();
    await recorder.record(click(0));
    first.drop(1006);
    assert.equal(recorder.status().connected, false);
    await timers.advance(499);
    assert.equal(FakeWebSocket.instances.length, 1, 'reconnects only after the backoff delay');
    await timers.advance(1);
    const second = FakeWebSocket.last;
    assert.notEqual(second, first);
    second.open();
    assert.deepEqual(second.sent[0].events.map((e) => e.seq), [0]);
  });

  it('falls back to REST while the WebSocket keeps failing', async () => {
    const { recorder, server, timers, storage } = setup();
    await start(recorder);
    await recorder.record(click(0));
    FakeWebSocket.last.drop(1006);
    await timers.advance(500);
    FakeWebSocket.last.drop(1006);
    await settle();
    const post = server.calls.find((c) => c.url.endsWith('/events'));
    assert.ok(post, 'no REST batch after two failed connections');
    assert.equal(post.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(post.body.events.map((e) => e.seq), [0]);
    assert.deepEqual(storage.queuedSeqs(), []);
    assert.equal(recorder.status().transport, 'rest');
  });

  it('drops an event the database refused (a 422 ack over REST) instead of resending it, and still completes', async () => {
    const refusing = (request) => {
      if (!request.url.endsWith('/events')) return serverHandler(request);
      const [event] = request.body.events;
      const error = { index: 0, seq: event.seq, field: 'events[0]', message: 'could not be stored: value out of int32 range' };
      return { status: 422, body: { type: 'ack', ack_seq: null, accepted: [], duplicates: [], errors: [error] } };
    };
    const { recorder, server, timers, storage } = setup({ handler: refusing });
    await start(recorder);
    await recorder.record(click(0));
    FakeWebSocket.last.drop(1006);
    await timers.advance(500);
    FakeWebSocket.last.drop(1006);
    await settle();
    assert.deepEqual(storage.queuedSeqs(), [], 'the refused event left the queue');
    assert.equal(recorder.status().rejected, 1);
    assert.match(recorder.status().lastError, /events\[0\]: could not be stored/);
    await timers.advance(60_000);
    assert.equal(server.calls.filter((c) => c.url.endsWith('/events')).length, 1, 'never sent again');
    const stopped = await recorder.stop();
    assert.equal(stopped.status, 'processing');
    assert.equal(server.calls.at(-1).url, `${SERVER}/api/v1/sessions/s-1/complete`);
  });

  it('survives a service worker restart without reusing a seq', async () => {
    const storage = new MemoryStorage();
    const before = setup({ storage });
    await start(before.recorder);
    await before.recorder.record(click(0));
    await before.recorder.record(click(1));
    const after = setup({ storage });
    await after.recorder.restore();
    assert.deepEqual({ queued: after.recorder.status().queued, nextSeq: after.recorder.status().nextSeq }, { queued: 2, nextSeq: 2 });
    assert.equal(await after.recorder.record(click(2)), 2);
    const socket = FakeWebSocket.last;
    socket.open();
    assert.deepEqual(socket.sent[0].events.map((e) => e.seq), [0, 1, 2]);
  });

  it('stops by flushing everything, then completing the session', async () => {
    const { recorder, server, storage } = setup();
    await start(recorder);
    const socket = FakeWebSocket.last;
    autoAck(socket);
    await recorder.record(click(0));
    socket.open();
    const stopped = await recorder.stop();
    assert.deepEqual(stopped, { id: 's-1', status: 'processing', lastAck: 0, events: 1, counts: { click: 1 } });
    const complete = server.calls.at(-1);
    assert.equal(complete.url, `${SERVER}/api/v1/sessions/s-1/complete`);
    assert.equal(complete.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(socket.sent.length, 1);
    assert.deepEqual(await storage.get(['session', 'recording']), { recording: false });
    assert.equal(await recorder.record(click(1)), null, 'nothing records after stop');
  });

  it('refuses to complete a session whose events are not all acked', async () => {
    const { recorder, server, timers } = setup();
    await start(recorder);
    await recorder.record(click(0));
    const refused = assert.rejects(recorder.stop({ timeoutMs: 1000 }), /flush: 1 events still unacknowledged after 1000 ms/);
    await settle();
    await timers.advance(1000);
    await refused;
    assert.ok(!server.calls.some((c) => c.url.endsWith('/complete')));
    assert.equal(recorder.status().sessionId, 's-1');
  });

  it('gives up on a session the server refuses', async () => {
    const { recorder, timers } = setup();
    await start(recorder);
    await recorder.record(click(0));
    const socket = FakeWebSocket.last;
    socket.open();
    socket.reply({ type: 'error', field: 'session_id', message: 'session s-1 is already complete' });
    await settle();
    await assert.rejects(recorder.flush(), /cannot be sent: session_id: session s-1 is already complete/);
    await timers.advance(60_000);
    assert.equal(FakeWebSocket.instances.length, 1, 'no reconnect for a refused session');
  });

  it('resends a batch the server failed to store (web/api/stream.py error frame) after a backoff, on the same socket', async () => {
    const { recorder, timers, storage } = setup();
    await start(recorder);
    await recorder.record(click(0));
    const socket = FakeWebSocket.last;
    socket.open();
    await settle();
    socket.reply({ type: 'error', field: 'server', message: 'the batch could not be stored because of a server error' });
    await settle();
    assert.match(recorder.status().lastError, /^server: the batch could not be stored/);
    await timers.advance(499);
    assert.equal(socket.sent.length, 1, 'no resend at full speed');
    await timers.advance(1); // the first backoff step (wire.js: BACKOFF_BASE_MS)
    assert.equal(socket.sent.length, 2);
    assert.deepEqual(socket.sent[1], socket.sent[0]);
    socket.reply(ackFor(socket.sent[1]));
    await settle();
    assert.deepEqual(storage.queuedSeqs(), []);
    assert.equal(FakeWebSocket.instances.length, 1, 'the connection was kept');
  });

  it('names the missing field when a session cannot start', async () => {
    const { recorder } = setup();
    await assert.rejects(recorder.start({ server: SERVER, site: 'shop' }), /startSession: token is required/);
    await assert.rejects(recorder.start({ server: 'ftp://x', token: 't', site: 's' }), /server: expected an http/);
    await assert.rejects(recorder.start({ server: SERVER, token: 't', site: 's', mode: 'robot' }), /mode must be one of human, automated/);
    const refused = setup({ handler: () => ({ status: 401, body: { detail: 'a participant token is required' } }) });
    await assert.rejects(start(refused.recorder), /POST \/api\/v1\/sessions: HTTP 401 .*participant token/);
  });

  it('stores an event handed over twice (a sender retrying after a worker restart) once', async () => {
    const storage = new MemoryStorage();
    const before = setup({ storage });
    await start(before.recorder);
    assert.equal(await before.recorder.record(click(0), { key: 'page-a:1' }), 0);
    const after = setup({ storage }); // the worker restarted before its answer reached the page
    await after.recorder.restore();
    assert.equal(await after.recorder.record(click(0), { key: 'page-a:1' }), 0);
    assert.equal(await after.recorder.record(click(1), { key: 'page-a:2' }), 1);
    assert.deepEqual(storage.queuedSeqs(), [0, 1]);
    assert.deepEqual(after.recorder.status().counts, { click: 2 });
  });

  it('keeps the queue and the recording flag in separate stores', async () => {
    const queue = new MemoryStorage();
    const flags = new MemoryStorage();
    const timers = new ManualTimers();
    const recorder = new Recorder({ storage: queue, flags, fetch: fakeFetch(serverHandler).fetch, WebSocket: FakeWebSocket, timers, random: () => 1 });
    await start(recorder);
    await recorder.record(click(0));
    assert.deepEqual(await flags.get(null), { recording: true });
    assert.deepEqual(queue.queuedSeqs(), [0]);
    assert.equal((await queue.get('recording')).recording, undefined);
  });

  it('pauses without ending the session: nothing is recorded, queued events still go', async () => {
    const { recorder, storage } = setup();
    await start(recorder);
    const socket = FakeWebSocket.last;
    autoAck(socket);
    await recorder.record(click(0));
    assert.deepEqual(plainStatus(await recorder.pause()), { paused: true, recording: false });
    assert.equal((await storage.get('recording')).recording, false);
    assert.equal(await recorder.record(click(1)), null);
    socket.open();
    await settle();
    assert.equal(recorder.status().queued, 0);
    await recorder.resume();
    assert.equal(await recorder.record(click(2)), 1);
    assert.deepEqual(recorder.status().counts, { click: 2 });
  });

  it('restores a paused session paused, and counts survive a restart', async () => {
    const storage = new MemoryStorage();
    const before = setup({ storage });
    await start(before.recorder);
    await before.recorder.record(click(0));
    await before.recorder.pause();
    const after = setup({ storage });
    await after.recorder.restore();
    assert.deepEqual(plainStatus(after.recorder.status()), { paused: true, recording: false });
    assert.deepEqual(after.recorder.status().counts, { click: 1 });
    assert.equal((await storage.get('recording')).recording, false);
  });

  it('adopts a session and queue left in chrome.storage by an older version', async () => {
    const legacy = new MemoryStorage();
    await legacy.set({ session: { server: SERVER, token: TOKEN, sessionId: 's-1', seq: 2, site: 'shop' }, 'q:000000000001': { ...click(1), seq: 1 }, popupPrefs: { site: 'shop' } });
    const { recorder, storage } = setup();
    assert.equal(await recorder.adoptLegacy(legacy), 2);
    await recorder.restore();
    assert.deepEqual({ queued: recorder.status().queued, nextSeq: recorder.status().nextSeq }, { queued: 1, nextSeq: 2 });
    assert.deepEqual(Object.keys(await legacy.get(null)), ['popupPrefs']);
    assert.deepEqual(storage.queuedSeqs(), [1]);
  });

  it('backs off, and says why, when the server drops every batch it is sent', async () => {
    const broken = (request) => (request.url.endsWith('/events') ? { status: 503, body: { detail: 'down' } } : serverHandler(request));
    const { recorder, timers } = setup({ handler: broken });
    await start(recorder);
    await recorder.record(click(0));
    const delays = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const socket = FakeWebSocket.last;
      socket.open();
      await settle();
      socket.drop(1011);
      const before = timers.now;
      const count = FakeWebSocket.instances.length;
      while (FakeWebSocket.instances.length === count) await timers.advance(50);
      delays.push(timers.now - before);
    }
    assert.ok(delays[3] > delays[0] * 4, `reconnect delays did not grow: ${delays}`);
    assert.match(recorder.status().lastError, /websocket closed with 1011 before its batch was acked|HTTP 503/);
    assert.equal(recorder.status().offline, true);
  });
});

function plainStatus(status) {
  return { paused: status.paused, recording: status.recording };
}

