// `npm test`: every project's lint and tests through Nx, the workspace-wide checks of `npm run
// lint` (copy/paste detector, unused files/exports/dependencies), then one closing line with the
// total over all jest runs ("N passed, N failed"). Any failure fails the run.
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

const dir = mkdtempSync(path.join(tmpdir(), 'edge-ssd-test-'));
const summary = path.join(dir, 'summary.jsonl');
const nx = path.join(__dirname, '..', 'node_modules', '.bin', 'nx');
const run = spawnSync(nx, ['run-many', '-t', 'lint', 'test', '--parallel=1', '--outputStyle=stream', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, JEST_SUMMARY_FILE: summary },
});
const totals = { passed: 0, failed: 0, skipped: 0, failedSuites: 0 };
if (existsSync(summary)) {
  for (const line of readFileSync(summary, 'utf8').split('\n').filter(Boolean)) {
    const counts = JSON.parse(line);
    for (const key of Object.keys(totals)) totals[key] += counts[key];
  }
}
rmSync(dir, { recursive: true, force: true });
const bin = (name) => path.join(__dirname, '..', 'node_modules', '.bin', name);
const checks = [spawnSync(bin('jscpd'), [], { stdio: 'inherit' }), spawnSync(bin('knip'), ['--no-progress'], { stdio: 'inherit' })];
const code = [run, ...checks].map((r) => r.status ?? 1).find((c) => c !== 0) ?? 0;
// A suite that fails to load counts no failed test; still report the run as failed.
const failed = totals.failed + (code !== 0 && totals.failed === 0 ? Math.max(1, totals.failedSuites) : 0);
console.log(`\n${totals.passed} passed, ${failed} failed, ${totals.skipped} skipped`);
process.exit(code);
