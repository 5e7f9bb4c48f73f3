// status_text.js: what the popup says about what a session captured.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capturedText, lastSessionText } from '../../extension/status_text.js';

describe('capturedText', () => {
  it('gives the total, then the kinds a person recognises', () => {
    assert.equal(capturedText({ click: 2, page: 2, screenshot: 4, snapshot: 2, navigation: 2, modal: 3 }), '15 events: 2 clicks, 2 pages, 4 screenshots, 3 modals');
  });

  it('says nothing was captured yet, and counts kinds it does not name', () => {
    assert.equal(capturedText({}), '–');
    assert.equal(capturedText(undefined), '–');
    assert.equal(capturedText({ scroll: 1 }), '1 event');
  });
});

describe('lastSessionText', () => {
  it('is empty before any session was stopped', () => {
    assert.equal(lastSessionText(null), '');
  });

  it('says what the stopped session sent and what the server does with it', () => {
    const text = lastSessionText({ id: 's-1', status: 'processing', counts: { click: 1, screenshot: 1 }, events: 2, endedAt: Date.UTC(2026, 0, 1, 12, 0) });
    assert.match(text, /^Last session \(stopped .+\) sent 2 events: 1 click, 1 screenshot\. Server status: processing\.$/);
  });
});
