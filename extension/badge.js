// What the toolbar badge says about the session (pure, so node tests check it).

// More queued events than this while connected means the server is falling behind: show the count.
export const BACKLOG_BADGE_THRESHOLD = 20;
const COLORS = { idle: '#6b7280', recording: '#b91c1c', paused: '#6b7280', offline: '#b45309', backlog: '#b45309' };

/** Badge text, color and tooltip for a recorder status: REC, paused, offline, or the queued count. */
export function badgeFor(status) {
  if (!status.sessionId) return { text: '', color: COLORS.idle, title: 'CodeSight recorder: not recording' };
  const queued = status.queued > 999 ? '999+' : String(status.queued);
  const parts = [status.paused ? 'paused' : 'recording', `${status.queued} queued`];
  if (status.offline) parts.push('offline');
  if (status.lastError) parts.push(String(status.lastError).slice(0, 120));
  const title = `CodeSight recorder: ${parts.join(' · ')}`;
  if (status.offline) return { text: status.queued ? queued : 'OFF', color: COLORS.offline, title };
  if (status.paused) return { text: '❚❚', color: COLORS.paused, title };
  if (status.queued > BACKLOG_BADGE_THRESHOLD) return { text: queued, color: COLORS.backlog, title };
  return { text: 'REC', color: COLORS.recording, title };
}
