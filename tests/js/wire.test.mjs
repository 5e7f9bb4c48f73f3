import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { apiUrl, backoffDelayMs, batchBody, settledSeqs, takeBatch, wellFormed, wsUrl } from '../../extension/wire.js';

describe('wire helpers', () => {
  it('derives ws:// and wss:// session URLs from the server URL', () => {
    assert.equal(wsUrl('http://127.0.0.1:8000/', 'abc', 'csp_x'), 'ws://127.0.0.1:8000/ws/v1/sessions/abc?token=csp_x');
    assert.equal(wsUrl('https://lab.example.com/codesight', 'abc', 't&1'), 'wss://lab.example.com/codesight/ws/v1/sessions/abc?token=t%261');
    assert.throws(() => wsUrl('ftp://x', 'abc', 't'), /server: expected an http/);
    assert.equal(apiUrl('http://h:1//', '/api/v1/sessions'), 'http://h:1/api/v1/sessions');
  });

  it('batches the oldest events within count and size limits, never empty', () => {
    const events = [{ seq: 0, n: 10 }, { seq: 1, n: 10 }, { seq: 2, n: 10 }, { seq: 3, n: 10 }];
    const size = (e) => e.n;
    assert.deepEqual(takeBatch(events, size, 3, 100).map((e) => e.seq), [0, 1, 2]);
    assert.deepEqual(takeBatch(events, size, 50, 25).map((e) => e.seq), [0, 1]);
    assert.deepEqual(takeBatch([{ seq: 9, n: 999 }], size, 50, 25).map((e) => e.seq), [9]);
    assert.deepEqual(batchBody([]), { v: 1, events: [] });
  });

  it('settles accepted, duplicate and rejected seqs', () => {
    const ack = { type: 'ack', ack_seq: 4, accepted: [3, 4], duplicates: [1], errors: [{ index: 0, seq: 2, field: 'events[0].url', message: 'x' }] };
    assert.deepEqual([...settledSeqs(ack)].sort(), [1, 2, 3, 4]);
  });

  it('backs off exponentially with jitter up to a ceiling', () => {
    assert.equal(backoffDelayMs(1, () => 1), 500);
    assert.equal(backoffDelayMs(3, () => 1), 2000);
    assert.equal(backoffDelayMs(3, () => 0), 1000);
    assert.equal(backoffDelayMs(30, () => 1), 30_000);
  });
});

test('wellFormed drops a half emoji that truncation left at either end and keeps whole ones', () => {
  const title = 'Deals 😀😀'.slice(0, 7); // cuts the first emoji in half
  assert.equal(title.length, 7);
  const fixed = wellFormed({ type: 'page', title, outline: ['ok 😀', '\uDE00tail'], n: 3, nested: { k: 'a\uD83Db' } });
  assert.deepEqual(fixed, { type: 'page', title: 'Deals ', outline: ['ok 😀', 'tail'], n: 3, nested: { k: 'a\uFFFDb' } });
  assert.equal(JSON.stringify(fixed).includes('\\ud83d'), false);
});

test('wellFormed leaves binary values and untouched strings as they are', () => {
  const buffer = new ArrayBuffer(4);
  const event = { type: 'audio', data: buffer, text: 'plain' };
  const fixed = wellFormed(event);
  assert.equal(fixed.data, buffer);
  assert.equal(fixed.text, 'plain');
});
