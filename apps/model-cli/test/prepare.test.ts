// `model prepare` and `model list`: what npm start and the Kubernetes init container run to make a
// built-in model, as a command line (its line of output, exit codes). prepareBuiltinModel itself
// (pins, present / replaced, refusing unpinned bytes): libs/model-zoo/test/prepare.test.ts.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILTIN_MODELS } from '@edge-ssd/model-zoo';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectUsageError, listDir, runCli } from './helpers';

const cli = (...args: string[]): CliRun => runCli(args, 120000);
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

let dir: string;
beforeEach(() => {
  dir = tempDir('model-cli-prepare');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('model prepare', () => {
  it.each(BUILTIN_MODELS.map((m) => [m.name, m] as const))('makes %s into --dir (created), says so in one line, and leaves it alone the second time', (name, model) => {
    const target = path.join(dir, 'models');
    const r = cli('prepare', name, '--dir', target);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const file = path.join(target, model.file);
    expect(r.stdout).toMatch(new RegExp(`^model prepare: ${name} -> ${file.replace(/[.]/g, '\\.')} \\(written in \\d+\\.\\d s; sha256 ${model.sha256}\\)\\n$`));
    expect(sha256(file)).toBe(model.sha256);
    expect(listDir(target)).toEqual([model.file]);
    const again = cli('prepare', name, '--dir', target);
    expect([again.status, again.stdout]).toEqual([0, `model prepare: ${name} -> ${file} (present; sha256 ${model.sha256})\n`]);
  });

  it('makes a damaged copy again and says replaced', () => {
    const model = BUILTIN_MODELS[0];
    const file = path.join(dir, model.file);
    fs.writeFileSync(file, 'a partial copy');
    const r = cli('prepare', model.name, `--dir=${dir}`);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^model prepare: ${model.name} -> .*${model.file} \\(replaced in [\\d.]+ s; sha256 ${model.sha256}\\)\\n$`));
    expect(sha256(file)).toBe(model.sha256);
  });

  it('makes into ./models by default (relative to the working directory)', () => {
    const model = BUILTIN_MODELS[1];
    const r = runCli(['prepare', model.name], 120000, dir);
    expect(r.status).toBe(0);
    expect(sha256(path.join(dir, 'models', model.file))).toBe(model.sha256);
  });

  it('answers bad usage with exit 2, the message and the usage', () => {
    expectUsageError(cli('prepare', 'yolo-v9'), "unknown model 'yolo-v9'");
    expectUsageError(cli('prepare'), 'prepare needs a model name');
    expectUsageError(cli('prepare', 'mobilenet-ssd-voc-300', 'faceapi-ssd-mobilenetv1'), "unexpected argument 'faceapi-ssd-mobilenetv1'");
    expectUsageError(cli('prepare', 'mobilenet-ssd-voc-300', '--out', dir), /^model: Unknown option '--out'/);
    expect(listDir(dir)).toEqual([]);
  });

  it('exits 1 with one line when the directory cannot be made', () => {
    const blocker = path.join(dir, 'file');
    fs.writeFileSync(blocker, '');
    const r = cli('prepare', 'mobilenet-ssd-voc-300', '--dir', path.join(blocker, 'models'));
    expect([r.status, r.stdout]).toEqual([1, '']);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^model: .*(ENOTDIR|EEXIST)/)]);
  });
});

describe('model list', () => {
  it('lists every built-in model with its description and pin', () => {
    const r = cli('list');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(BUILTIN_MODELS.map((m) => `${m.name}\n  ${m.description}\n  sha256 ${m.sha256}\n`).join(''));
    expect(BUILTIN_MODELS.map((m) => m.name)).toEqual(['faceapi-ssd-mobilenetv1', 'mobilenet-ssd-voc-300', 'faceapi-ssd-mobilenetv1-int8', 'mobilenet-ssd-voc-300-int8']);
  });
});

