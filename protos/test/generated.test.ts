// The TypeScript types in src/generated are what proto-loader-gen-types makes from ssd.proto now,
// with the command of the `generate` target (project.json): regenerate after editing the contract.
import { execSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const GENERATED = path.join(ROOT, 'protos', 'src', 'generated');

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p, base) : [path.relative(base, p)];
  });
}

describe('generated contract types', () => {
  it('are exactly what the generate target makes from ssd.proto', () => {
    const project = JSON.parse(readFileSync(path.join(ROOT, 'protos', 'project.json'), 'utf8')) as { targets: { generate: { options: { command: string } } } };
    const out = mkdtempSync(path.join(tmpdir(), 'protos-gen-'));
    try {
      const command = project.targets.generate.options.command.replace('-O protos/src/generated', `-O ${out}`);
      expect(command).toContain(`-O ${out}`);
      execSync(`${path.join(ROOT, 'node_modules', '.bin')}/${command}`, { cwd: ROOT, stdio: 'pipe' });
      const made = files(out).sort();
      expect(files(GENERATED).sort()).toEqual(made);
      for (const file of made) expect([file, readFileSync(path.join(GENERATED, file), 'utf8')]).toEqual([file, readFileSync(path.join(out, file), 'utf8')]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
