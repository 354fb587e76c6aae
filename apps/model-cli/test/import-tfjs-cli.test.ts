// `model import-tfjs` (and `model convert --tfjs-manifest`) as users run it, on the face-api
// SSD-MobileNetV1 weights installed with @vladmandic/face-api: the conversion and its report,
// verification failures (exit 1, nothing written), bad usage and unusable input (exit 2, one line).
// The importer itself: libs/importers/test/faceapi-import.test.ts.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultFaceApiManifestPath, importFaceApi } from '@edge-ssd/importers';
import { BUILTIN_MODELS } from '@edge-ssd/model-zoo';
import { encodeModel, inspectModel } from '@edge-ssd/onnx-io';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectOneLineError, expectRefused, expectUsageError, listDir, runCli } from './helpers';

const cli = (...args: string[]): CliRun => runCli(args, 120000);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const MANIFEST = defaultFaceApiManifestPath();
const FACE_MODEL = BUILTIN_MODELS.find((m) => m.name === 'faceapi-ssd-mobilenetv1');

let dir: string;
beforeEach(() => {
  dir = tempDir('import-tfjs-cli');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

interface JsonReport {
  input: { source: string; details: { format: string; pinned: boolean } };
  outputPath: string;
  unfusedOutputPath?: string;
  report: { batchNormFound: number; batchNormFolded: number; folded: { epsilon: number }[] };
  verification: { ok: boolean; rtol: number; atol: number } | null;
}

function readReport(file: string): JsonReport {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as JsonReport;
}

describe('model import-tfjs', () => {
  it("writes the folded model (the built-in face model's bytes), the importer's unfused model and the JSON report, and prints the report", () => {
    const out = path.join(dir, 'face.onnx');
    const unfused = path.join(dir, 'face.unfused.onnx');
    const report = path.join(dir, 'report.json');
    const r = cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', out, '--unfused-output', unfused, '--report', report);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`convert: ${MANIFEST} -> ${out}`);
    expect(lines).toContain('  tfjs: 151 tensors (150 uint8, 1 float32), 5616957 bytes in 1 shard(s); sha256 = @vladmandic/face-api@1.7.15');
    expect(lines).toContain("  graph: faceapi-ssd-mobilenetv1-512, BatchNormalization epsilon float32(1e-3) as face-api's");
    expect(r.stdout).toMatch(/\n {2}BatchNormalization: 13 found, 13 folded \(epsilon [^)]+\), 0 left\n/);
    expect(r.stdout).toMatch(/\n {2}verify: OK: .*\(rtol 1e-4, atol 1e-4;/);
    expect(listDir(dir)).toEqual(['face.onnx', 'face.unfused.onnx', 'report.json']);

    expect(sha256(fs.readFileSync(out))).toBe(FACE_MODEL?.sha256);
    expect(Buffer.from(fs.readFileSync(unfused)).equals(Buffer.from(encodeModel(importFaceApi(MANIFEST).model)))).toBe(true);
    expect([inspectModel(fs.readFileSync(out)).batchNormCount, inspectModel(fs.readFileSync(unfused)).batchNormCount]).toEqual([0, 13]);

    const json = readReport(report);
    expect(json).toMatchObject({ input: { source: MANIFEST, details: { format: 'tfjs', pinned: true } }, outputPath: out, unfusedOutputPath: unfused });
    expect([json.report.batchNormFound, json.report.batchNormFolded, json.verification?.ok]).toEqual([13, 13, true]);
    // Folded with face-api's epsilon as the graph carries it, not the Caffe/ONNX default 1e-5.
    expect(new Set(json.report.folded.map((f) => f.epsilon))).toEqual(new Set([Math.fround(1e-3)]));
  }, 120000);

  it('is the same conversion as `model convert --tfjs-manifest`, and takes --manifest and --verify=false', () => {
    const a = path.join(dir, 'a.onnx');
    const b = path.join(dir, 'b.onnx');
    const c = path.join(dir, 'c.onnx');
    const viaConvert = cli('convert', `--tfjs-manifest=${MANIFEST}`, '--output', a);
    const viaImport = cli('import-tfjs', '--manifest', MANIFEST, '--output', b, '--verify=false');
    const unverified = cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', c, '--no-verify');
    for (const r of [viaConvert, viaImport, unverified]) expect([r.status, r.stderr]).toEqual([0, '']);
    expect(viaConvert.stdout).toMatch(/\n {2}verify: OK: /);
    for (const r of [viaImport, unverified]) expect(r.stdout).toContain('\n  verify: skipped (--no-verify)\n');
    // The same lines apart from the output path, verification and timing.
    const facts = (r: CliRun) => r.stdout.split('\n').filter((l) => !/^(convert:|\s+verify:|\s+mbox_\w+ \[|\s+time:)/.test(l));
    expect(facts(viaImport)).toEqual(facts(viaConvert));
    const bytes = fs.readFileSync(a);
    expect(fs.readFileSync(b).equals(bytes) && fs.readFileSync(c).equals(bytes)).toBe(true);
  }, 120000);

  it('exits 1 when the folded model is outside the tolerance (--rtol 0 --atol 0), reports why, and writes no model', () => {
    const out = path.join(dir, 'strict.onnx');
    const unfused = path.join(dir, 'strict.unfused.onnx');
    const report = path.join(dir, 'report.json');
    const r = cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', out, '--unfused-output', unfused, '--report', report, '--rtol', '0', '--atol', '0');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/\n {2}verify: FAILED: /);
    expectOneLineError(r, /^model: verification failed: max abs error \S+ exceeds atol 0 \+ rtol 0 \* \|ref\|; nothing written$/);
    expect(listDir(dir)).toEqual(['report.json']);
    expect(readReport(report).verification).toMatchObject({ ok: false, rtol: 0, atol: 0 });
  }, 120000);

  it('answers bad usage with exit 2, the message and the usage, and writes nothing', () => {
    const out = path.join(dir, 'x.onnx');
    expectUsageError(cli('import-tfjs', '--tfjs-manifest', MANIFEST), '--output is required');
    expectUsageError(cli('import-tfjs', '--output', out), '--tfjs-manifest is required');
    expectUsageError(cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', out, '--input', 'a.onnx'), /^model: Unknown option '--input'/);
    expectUsageError(cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', out, '--prototxt', 'a.prototxt'), /^model: Unknown option '--prototxt'/);
    expectUsageError(cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', out, '--rtol', 'abc'), "--rtol must be a non-negative number, got 'abc'");
    expectUsageError(cli('convert', '--tfjs-manifest', MANIFEST, '--input', 'a.onnx', '--output', out), /^model: give exactly one input: /);
    expect(listDir(dir)).toEqual([]);
  });

  it('refuses unusable input with exit 2 and one line naming the problem, and writes nothing', () => {
    const out = path.join(dir, 'x.onnx');
    const write = (name: string, value: unknown) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
      return file;
    };
    const run = (manifest: string, ...extra: string[]) => cli('import-tfjs', '--tfjs-manifest', manifest, '--output', out, ...extra);
    const missing = path.join(dir, 'nope.json');
    expectRefused(run(missing), new RegExp(`^model: cannot read tfjs weights manifest '${literal(missing)}': no such file$`));
    expectRefused(run(write('garbage.json', '{not json')), /^model: .*garbage\.json.* is not JSON/);
    expectRefused(run(write('noshard.json', [{ paths: ['missing.bin'], weights: [{ name: 'w', shape: [1], dtype: 'float32' }] }])), /^model: cannot read weights shard .*missing\.bin': no such file/);
    // A valid tfjs manifest of some other model.
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(4));
    expectRefused(run(write('other.json', [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [1], dtype: 'float32' }] }])), /^model: weight '.*' is missing: not the face-api SSD-MobileNetV1 manifest\?$/);
    expectRefused(run(MANIFEST, '--unfused-output', out), /^model: --unfused-output must differ from --output$/);
    expect(fs.existsSync(out)).toBe(false);
    expectRefused(cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', MANIFEST), /^model: output '.*' is the input file '.*'; refusing to overwrite it$/);
  }, 120000);

  it('exits 1 with one line when the output cannot be written', () => {
    for (const [output, reason] of [
      [path.join(dir, 'missing', 'x.onnx'), 'no such file or directory'],
      [dir, 'is a directory'],
    ]) {
      const r = cli('import-tfjs', '--tfjs-manifest', MANIFEST, '--output', output);
      expect(r.status).toBe(1);
      expectOneLineError(r, new RegExp(`^model: cannot write output '${literal(output)}': ${reason}$`));
    }
    expect(listDir(dir)).toEqual([]);
  }, 120000);
});
