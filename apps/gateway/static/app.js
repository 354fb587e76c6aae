// The demo page: sends the chosen (or dropped) image to POST /v1/detect, draws every detection at
// or above the threshold over it, and shows the timing. Detections are fetched once at the lowest
// threshold the slider offers, so moving it only redraws. Loads nothing but the gateway's own files.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { detections: [], width: 0, height: 0, objectUrl: '' };

function headers(type) {
  const h = { 'content-type': type || 'application/octet-stream' };
  const key = $('key').value.trim();
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').classList.toggle('error', Boolean(isError));
}

function colour(label) {
  let hash = 0;
  for (const c of label) hash = (hash * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${hash}, 75%, 45%)`;
}

function clip(v) {
  return Math.min(1, Math.max(0, v));
}

function draw() {
  const threshold = Number($('threshold').value);
  $('threshold-value').textContent = threshold.toFixed(2);
  const boxes = $('boxes');
  boxes.replaceChildren();
  const shown = state.detections.filter((d) => d.score >= threshold);
  for (const d of shown) {
    // Normalised boxes, clipped: percentages follow the image however it is scaled.
    const x0 = clip(d.box.xmin), y0 = clip(d.box.ymin), x1 = clip(d.box.xmax), y1 = clip(d.box.ymax);
    const el = document.createElement('div');
    el.className = 'box';
    el.dataset.label = d.label;
    el.dataset.score = String(d.score);
    el.style.left = `${x0 * 100}%`;
    el.style.top = `${y0 * 100}%`;
    el.style.width = `${(x1 - x0) * 100}%`;
    el.style.height = `${(y1 - y0) * 100}%`;
    el.style.setProperty('--colour', colour(d.label));
    const tag = document.createElement('span');
    tag.textContent = `${d.label} ${d.score.toFixed(2)}`;
    el.append(tag);
    boxes.append(el);
  }
  return shown.length;
}

async function detect(file) {
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  $('photo').src = state.objectUrl;
  $('frame').hidden = false;
  $('hint').hidden = true;
  state.detections = [];
  draw();
  setStatus('detecting…');
  const started = performance.now();
  let response;
  try {
    response = await fetch('/v1/detect?score_threshold=0.05', { method: 'POST', headers: headers(file.type), body: file });
  } catch (error) {
    setStatus(`cannot reach the gateway: ${error.message}`, true);
    return;
  }
  const roundTrip = performance.now() - started;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    setStatus(`${response.status}: ${body.error ? body.error.message : response.statusText}`, true);
    return;
  }
  Object.assign(state, { detections: body.detections, width: body.width, height: body.height });
  const shown = draw();
  setStatus(`${shown} of ${body.detections.length} detections shown · ${body.width}×${body.height} px · gateway ${body.timing.totalMs.toFixed(1)} ms · round trip ${roundTrip.toFixed(1)} ms · ${body.model}`);
  document.body.dataset.state = 'done';
}

async function describeModel() {
  try {
    const response = await fetch('/v1/model', { headers: headers() });
    const info = await response.json();
    const classes = info.labels ? info.labels.length - 1 : 0;
    $('model').textContent = response.ok ? `${info.name}: ${classes} ${classes === 1 ? 'class' : 'classes'} (${info.labels.slice(1, 6).join(', ')}${info.labels.length > 6 ? ', …' : ''}), ${info.inputWidth}×${info.inputHeight} input` : `model unknown (${info.error ? info.error.message : response.status})`;
  } catch (error) {
    $('model').textContent = `cannot reach the gateway: ${error.message}`;
  }
}

function pick(files) {
  const file = files && files[0];
  if (file) void detect(file);
}

$('file').addEventListener('change', (e) => pick(e.target.files));
$('threshold').addEventListener('input', draw);
$('key').addEventListener('change', describeModel);
const stage = $('stage');
stage.addEventListener('dragover', (e) => {
  e.preventDefault();
  stage.classList.add('over');
});
stage.addEventListener('dragleave', () => stage.classList.remove('over'));
stage.addEventListener('drop', (e) => {
  e.preventDefault();
  stage.classList.remove('over');
  pick(e.dataTransfer.files);
});
void describeModel();
