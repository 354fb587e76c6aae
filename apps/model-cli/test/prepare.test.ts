// `model prepare`: what npm start and the Kubernetes init container run to make a built-in model.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { prepareBuiltinModel, ModelMismatchError } from '@edge-ssd/model-zoo';
import { BUILTIN_MODELS, findBuiltinModel, type BuiltinModel } from '@edge-ssd/model-zoo';

const CLI = path.join(__dirname, '..', 'dist', 'main.js');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [CLI, ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'model-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('model prepare', () => {
  it.each(BUILTIN_MODELS.map((m) => [m.name, m] as const))('makes %s in a fresh directory with exactly the pinned bytes', async (name, model) => {
    const r = await run(['prepare', name, '--dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^model prepare: ${name} -> .*${model.file} \\(written in [\\d.]+ s; sha256 ${model.sha256}\\)\\n$`));
    expect(sha256(path.join(dir, model.file))).toBe(model.sha256);
    const again = await run(['prepare', name, '--dir', dir]);
    expect(again.stdout).toContain(`(present; sha256 ${model.sha256})`);
  });

  it('makes a damaged or stale copy again', async () => {
    const model = findBuiltinModel('mobilenet-ssd-voc-300')!;
    await prepareBuiltinModel(model, dir);
    const file = path.join(dir, model.file);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
    expect(await prepareBuiltinModel(model, dir)).toEqual({ path: file, sha256: model.sha256, action: 'replaced' });
    expect(sha256(file)).toBe(model.sha256);
  });

  it('refuses, and leaves nothing to serve, when the bytes it makes are not the pinned ones', async () => {
    const model: BuiltinModel = { ...findBuiltinModel('mobilenet-ssd-voc-300')!, sha256: '0'.repeat(64) };
    await expect(prepareBuiltinModel(model, dir)).rejects.toThrow(ModelMismatchError);
    expect(() => readFileSync(path.join(dir, model.file))).toThrow(/ENOENT/);
  });

  it('answers bad usage with exit 2, one line and the usage', async () => {
    for (const args of [['prepare', 'yolo-v9'], ['prepare'], ['frobnicate'], [], ['prepare', 'mobilenet-ssd-voc-300', '--out', dir]]) {
      const r = await run(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toMatch(/^model: .+\nusage:/);
    }
    expect((await run(['prepare', 'yolo-v9'])).stderr).toMatch(/^model: unknown model 'yolo-v9'/);
  });

  it('lists every built-in model with its pin', async () => {
    const r = await run(['list']);
    for (const m of BUILTIN_MODELS) expect(r.stdout).toContain(`${m.name}\n  ${m.description}\n  sha256 ${m.sha256}`);
  });
});
