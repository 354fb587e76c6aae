// `npm start`: one detector, then one gateway pointed at it, in this terminal. Ctrl-C (or
// SIGTERM) stops both; if either dies, the other is stopped too.
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const root = path.join(__dirname, '..');
const detectorPort = process.env.DETECTOR_PORT || '50052';
const children = [];
let stopping = false;

function start(name, script, env, onLine) {
  const child = spawn(process.execPath, [path.join(root, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    process.stdout.write(line + '\n');
    if (onLine) onLine(line);
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal || code}); stopping`);
      stop(code || 1);
    }
  });
  return child;
}

function stop(code) {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(() => process.exit(code));
}

let gatewayStarted = false;
start('detector', 'apps/detector/dist/main.js', { DETECTOR_PORT: detectorPort }, (line) => {
  if (gatewayStarted || !line.includes('"detector ready"')) return;
  gatewayStarted = true;
  const detectorTarget = process.env.DETECTOR_TARGET || `127.0.0.1:${JSON.parse(line).port}`;
  start('gateway', 'apps/gateway/dist/main.js', { DETECTOR_TARGET: detectorTarget });
});
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
