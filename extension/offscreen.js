// Offscreen document (chrome.offscreen, reason USER_MEDIA): records the microphone as
// Opus in WebM, only while the participant turned audio on for the session. Each segment is
// a standalone file (the recorder restarts per segment) sent to the service worker, which
// queues it like any event; nothing is kept here.

const MIME = 'audio/webm;codecs=opus';
// Speech at 24 kbit/s Opus is clear and costs ~180 kB per minute.
const AUDIO_BITS_PER_SECOND = 24_000;

let stream = null;
let current = null; // {rec, finished}
let segmentTimer = null;
let index = 0;
let stopping = false;
const sending = new Set();

function base64(bytes) {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

async function send(blob, startedAt, durationMs) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const reply = await chrome.runtime.sendMessage({
    cmd: 'audio-segment', data: `data:audio/webm;base64,${base64(bytes)}`, durationMs, index: index++, startedAt,
  });
  if (!reply || !reply.ok) console.error('codesight: audio segment refused', reply && reply.error);
}

/** Record one segment; its `finished` resolves once it has been handed to the service worker. */
function recordSegment(segmentMs) {
  const parts = [];
  const startedAt = Date.now();
  const rec = new MediaRecorder(stream, { mimeType: MIME, audioBitsPerSecond: AUDIO_BITS_PER_SECOND });
  const finished = new Promise((resolve) => {
    rec.ondataavailable = (e) => { if (e.data.size) parts.push(e.data); };
    rec.onstop = () => {
      const blob = new Blob(parts, { type: 'audio/webm' });
      const delivery = (blob.size ? send(blob, startedAt, Date.now() - startedAt) : Promise.resolve())
        .catch((error) => console.error('codesight: audio segment lost', error));
      sending.add(delivery);
      delivery.finally(() => { sending.delete(delivery); resolve(); });
    };
  });
  current = { rec, finished };
  rec.start();
  segmentTimer = setTimeout(() => {
    if (stopping || current.rec !== rec) return;
    rec.stop();
    recordSegment(segmentMs);
  }, segmentMs);
}

async function start(segmentMs) {
  if (stream) return;
  stopping = false;
  stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  recordSegment(segmentMs);
}

async function stop() {
  if (!current) return;
  stopping = true;
  clearTimeout(segmentTimer);
  const { rec, finished } = current;
  if (rec.state !== 'inactive') rec.stop();
  await finished;
  await Promise.all([...sending]);
  for (const track of stream.getTracks()) track.stop();
  stream = null;
  current = null;
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (!message || message.target !== 'offscreen' || sender.id !== chrome.runtime.id) return false;
  const work = message.cmd === 'audio-start' ? start(message.segmentMs)
    : message.cmd === 'audio-stop' ? stop()
      : Promise.reject(new Error(`unknown command ${message.cmd}`));
  work.then(() => sendResponse({ ok: true }), (error) => sendResponse({ ok: false, error: String(error.message || error) }));
  return true;
});
