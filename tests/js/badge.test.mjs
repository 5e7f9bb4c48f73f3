// badge.js: what the toolbar badge says (recording, paused, offline, queued count).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { badgeFor } from '../../extension/badge.js';

const status = (over) => ({ sessionId: 's-1', queued: 0, paused: false, offline: false, lastError: null, ...over });

describe('badgeFor', () => {
  it('is empty without a session', () => {
    assert.equal(badgeFor({ sessionId: null, queued: 0 }).text, '');
  });

  it('shows REC, paused, offline with the queued count, and a backlog', () => {
    assert.deepEqual([status({}), status({ paused: true }), status({ offline: true, queued: 42 }), status({ offline: true }), status({ queued: 120 })]
      .map((s) => badgeFor(s).text), ['REC', '❚❚', '42', 'OFF', '120']);
    assert.equal(badgeFor(status({ queued: 5000, offline: true })).text, '999+');
  });

  it('says everything in the tooltip', () => {
    assert.equal(badgeFor(status({ offline: true, queued: 3, lastError: 'websocket error' })).title,
      'CodeSight recorder: recording · 3 queued · offline · websocket error');
  });
});
