// Asks for the microphone once, from a visible extension page (the offscreen recorder cannot
// show a permission prompt). The stream is closed at once; nothing is recorded here.
const status = document.getElementById('status');
navigator.mediaDevices.getUserMedia({ audio: true }).then((stream) => {
  for (const track of stream.getTracks()) track.stop();
  status.textContent = 'Thanks: the microphone is allowed. Close this tab and start recording from the toolbar button.';
}, (error) => {
  status.textContent = `The microphone was not allowed (${error.name}). Recording works without audio too.`;
});
