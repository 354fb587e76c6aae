// `npm start`: makes the model once, then starts DETECTORS detectors (default 1) and one gateway in
// front of them, in this terminal. `npm run start:detector` runs this with `detector`: the model
// step and one detector, no gateway. Ctrl-C (or SIGTERM) stops everything; if one process dies,
// the others are stopped too. Everything is built before this script runs (once, by npm start),
// so several detectors never race to build or to write the model.
//
// With DETECTORS=N (N > 1) detector k listens on DETECTOR_PORT + k (default 50052 + k; 0 = any
// free port) and serves metrics on DETECTOR_METRICS_PORT + k (default: any free port, logged), and
// each runs on its share of the CPUs (DETECTOR_INTRA_OP_THREADS = the share, one run at a time)
// unless those are set.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { availableCpus } = require('../libs/service-kit/dist');

const root = path.join(__dirname, '..');
const env = process.env;
const mode = process.argv[2] ?? 'all';
const children = [];
let stopping = false;

function fail(message) {
  console.error(`start: ${message}`);
  process.exit(2);
}

function log(msg, fields) {
  console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), service: 'start', ...fields, msg }));
}

function integer(name, fallback, min, max) {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) fail(`${name} must be an integer in [${min}, ${max}], got '${text}'`);
  return value;
}

if (!['all', 'detector'].includes(mode)) fail(`unknown mode '${mode}' (all or detector)`);
const count = mode === 'detector' ? 1 : integer('DETECTORS', 1, 1, 64);

// The model: MODEL_PATH as given, or the built-in MODEL_NAME made (or checked) in ./models.
let modelPath = env.MODEL_PATH;
if (!modelPath) {
  // MODEL_PRECISION=int8 serves the built-in model's INT8 variant, `<name>-int8`.
  const base = env.MODEL_NAME || 'faceapi-ssd-mobilenetv1';
  const name = env.MODEL_PRECISION === 'int8' && !base.endsWith('-int8') ? `${base}-int8` : base;
  const made = spawnSync(process.execPath, [path.join(root, 'apps/model-cli/dist/main.js'), 'prepare', name, '--dir', path.join(root, 'models')], { stdio: 'inherit' });
  if (made.status !== 0) process.exit(made.status ?? 1);
  modelPath = path.join(root, 'models', `${name}.onnx`);
}

function start(name, script, childEnv, onLine) {
  // Detached (a process group of its own): a Ctrl-C reaches only this script, which then sends each
  // child one SIGTERM, so they drain instead of taking the terminal's SIGINT and ours as two signals.
  // MALLOC_ARENA_MAX as in the container images (docker/Dockerfile): fewer arenas keep less freed memory.
  const child = spawn(process.execPath, [path.join(root, script)], { env: { MALLOC_ARENA_MAX: '2', ...env, ...childEnv }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  children.push(child);
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    process.stdout.write(line + '\n');
    if (onLine) onLine(line);
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`start: ${name} exited (${signal || code}); stopping`);
      stop(code || 1);
    }
  });
  return child;
}

function stop(code) {
  stopping = true;
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(() => process.exit(code));
}

function readyFields(line, name) {
  if (!line.includes(`"${name} ready"`)) return undefined;
  return JSON.parse(line);
}

const detectorPort = (k) => {
  const base = integer('DETECTOR_PORT', 50052, 0, 65535);
  return base === 0 ? 0 : base + k;
};
const metricsPort = (k) => {
  if (count === 1) return integer('DETECTOR_METRICS_PORT', 9464, 0, 65535);
  const base = integer('DETECTOR_METRICS_PORT', 0, 0, 65535);
  return base === 0 ? 0 : base + k;
};
// N detectors on one host share its CPUs: each gets its share unless told otherwise.
const shared = count > 1 ? { DETECTOR_INTRA_OP_THREADS: String(Math.max(1, Math.floor(availableCpus() / count))), DETECTOR_CONCURRENT_RUNS: '1' } : {};
const dialHost = !env.DETECTOR_HOST || env.DETECTOR_HOST === '0.0.0.0' || env.DETECTOR_HOST === '::' ? '127.0.0.1' : env.DETECTOR_HOST;

const detectors = [];
for (let k = 0; k < count; k++) {
  const childEnv = { MODEL_PATH: modelPath, DETECTOR_PORT: String(detectorPort(k)), DETECTOR_METRICS_PORT: String(metricsPort(k)) };
  for (const [name, value] of Object.entries(shared)) if (!env[name]) childEnv[name] = value;
  start(count === 1 ? 'detector' : `detector ${k}`, 'apps/detector/dist/main.js', childEnv, (line) => {
    const ready = readyFields(line, 'detector');
    if (!ready) return;
    detectors[k] = { target: `${dialHost}:${ready.port}`, metricsPort: ready.metricsPort };
    if (detectors.filter(Boolean).length === count) onDetectorsReady();
  });
}

function onDetectorsReady() {
  if (mode === 'detector') return;
  const target = env.DETECTOR_TARGET || detectors.map((d) => d.target).join(',');
  // The HTTP API and demo page are on for `npm start` (http://localhost:8080/); GATEWAY_HTTP_PORT=off closes them.
  // (An empty GATEWAY_HTTP_PORT is unset for the gateway.)
  const httpPort = env.GATEWAY_HTTP_PORT === 'off' ? '' : env.GATEWAY_HTTP_PORT || '8080';
  start('gateway', 'apps/gateway/dist/main.js', { DETECTOR_TARGET: target, GATEWAY_HTTP_PORT: httpPort }, (line) => {
    const ready = readyFields(line, 'gateway');
    if (ready) log('edge-ssd ready', { gatewayPort: ready.port, gatewayMetricsPort: ready.metricsPort, httpPort: ready.httpPort, detectors, modelPath });
  });
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
// Last resort if this script dies some other way: no detector is left holding its port.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
