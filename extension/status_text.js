// What the popup says about what a session captured (pure, so node tests check it).

// Event types the popup names, in this order (one, several); the rest count in the total only.
export const COUNT_LABELS = [
  ['click', 'click', 'clicks'], ['input', 'field', 'fields'], ['page', 'page', 'pages'], ['screenshot', 'screenshot', 'screenshots'],
  ['modal', 'modal', 'modals'], ['submit', 'form sent', 'forms sent'], ['audio', 'audio clip', 'audio clips'],
];

const counted = (n, one, several) => `${n} ${n === 1 ? one : several}`;

/** "14 events: 2 clicks, 2 pages, 4 screenshots", or "–" when nothing was captured yet. */
export function capturedText(counts = {}) {
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  if (!total) return '–';
  const named = COUNT_LABELS.filter(([type]) => counts[type]).map(([type, one, several]) => counted(counts[type], one, several));
  const events = counted(total, 'event', 'events');
  return named.length ? `${events}: ${named.join(', ')}` : events;
}

/** The line about the session stopped last (background.js keeps it): when, what it sent, the server's status. */
export function lastSessionText(last) {
  if (!last || !last.id) return '';
  const when = new Date(last.endedAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return `Last session (stopped ${when}) sent ${capturedText(last.counts)}. Server status: ${last.status || 'unknown'}.`;
}
