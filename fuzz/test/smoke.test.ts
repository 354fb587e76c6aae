// A short jsfuzz pass of every target (the built ones, dist/targets) on the committed corpus plus
// fresh mutations: what CI runs. No finding is allowed; runner.test.ts shows a finding would fail
// this. Two targets run at a time (each is one jsfuzz process and its worker).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUILT_TARGETS_DIR, DEFAULT_OPTIONS, FuzzResult, formatResult, fuzzTarget } from '../src/runner';
import { corpusFiles, targetNames } from '../src/targets';

/** Seconds of fuzzing per target, after its modules are loaded (a few seconds more). */
const SMOKE_SECONDS = 3;
const PARALLEL = 2;

const names = targetNames();
const results = new Map<string, FuzzResult>();
let dir: string;

beforeAll(async () => {
  if (!fs.existsSync(BUILT_TARGETS_DIR)) throw new Error(`${BUILT_TARGETS_DIR} is missing: run \`npx nx run fuzz:build\` first`);
  const built = fs.readdirSync(BUILT_TARGETS_DIR).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
  if (JSON.stringify(built) !== JSON.stringify(names)) throw new Error(`dist/targets (${built.join(', ')}) is stale: run \`npx nx run fuzz:build\``);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-smoke-'));
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const r = await fuzzTarget(name, { ...DEFAULT_OPTIONS, fuzzTimeS: SMOKE_SECONDS, workDir: path.join(dir, 'work'), findingsDir: path.join(dir, 'findings'), fresh: true });
      results.set(name, r);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  for (const name of names) console.log(formatResult(results.get(name) as FuzzResult));
}, 180000);
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it.each(names)('%s: no finding in a short run from the seed corpus, and mutations beyond the seeds ran', (name) => {
  const r = results.get(name) as FuzzResult;
  expect({ findings: r.findings, detail: r.detail, exitCode: r.exitCode }).toEqual({ findings: [], detail: '', exitCode: 0 });
  expect(r.runs).toBeGreaterThan(corpusFiles(name).length * 10);
});
