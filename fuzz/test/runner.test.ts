// The runner against a target with planted bugs (fixtures/planted-bug.js): a crash found by
// mutation, a hang, and an input over the time budget must each come back as a finding with its
// input written, and an expected error must not. This is what makes the smoke test able to fail.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_OPTIONS, FuzzOptions, clean, fuzzTarget } from '../src/runner';

const FIXTURE = path.join(__dirname, 'fixtures', 'planted-bug.js');
const HARNESS = path.join(__dirname, '..', 'dist', 'harness.js');

let dir: string;
beforeAll(() => {
  if (!fs.existsSync(HARNESS)) throw new Error(`${HARNESS} is missing: run \`npx nx run fuzz:build\` first`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-runner-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Fuzzes the fixture from one seed input. */
function run(name: string, seed: string, options: Partial<FuzzOptions> = {}) {
  const seeds = path.join(dir, `${name}-seeds`);
  fs.mkdirSync(seeds);
  fs.writeFileSync(path.join(seeds, 'seed'), seed);
  return fuzzTarget(name, {
    ...DEFAULT_OPTIONS,
    workDir: path.join(dir, 'work'),
    findingsDir: path.join(dir, 'findings'),
    fresh: true,
    targetFileOverride: FIXTURE,
    seedDirOverride: seeds,
    ...options,
  });
}

it('reports a crash the fuzzer reaches by mutation, with the crashing input written', async () => {
  const r = await run('crash', 'BUF1', { fuzzTimeS: 30 });
  expect(clean(r)).toBe(false);
  expect(r.findings).toHaveLength(1);
  expect(fs.readFileSync(r.findings[0]).toString('latin1', 0, 4)).toBe('BUG1');
  expect(r.detail).toMatch(/^TypeError: planted bug/);
  expect(r.exitCode).toBe(1);
  expect(r.runs).toBeGreaterThan(1);
}, 90000);

it('reports an input that never returns as a hang', async () => {
  const r = await run('hang', 'HANG', { fuzzTimeS: 30, hangTimeoutS: 1 });
  expect(r.findings).toHaveLength(1);
  expect(fs.readFileSync(r.findings[0]).toString('latin1')).toBe('HANG');
  expect(r.detail).toMatch(/timeout reached/);
}, 90000);

it('reports an input over the per-input time budget', async () => {
  const r = await run('slow', 'SLOW', { fuzzTimeS: 30, inputBudgetMs: 100 });
  expect(r.findings).toHaveLength(1);
  expect(r.detail).toMatch(/^LimitExceeded: one input took \d+ ms, more than the 100 ms budget/);
}, 90000);

it('runs for the time asked and counts the runs when the target only throws expected errors', async () => {
  const r = await run('expected', '!ok', { fuzzTimeS: 2 });
  expect({ findings: r.findings, detail: r.detail, exitCode: r.exitCode }).toEqual({ findings: [], detail: '', exitCode: 0 });
  expect(r.runs).toBeGreaterThan(100);
}, 90000);
