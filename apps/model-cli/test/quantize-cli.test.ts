// `model quantize` as users run it (a separate process: jest's shared typed arrays would make the
// calibration loops some 70x slower in-process). On real weights: the pretrained face detector
// quantized with the committed calibration table's photos and evaluated on the table's other
// photos (face-api demo samples, python3-skimage photos, read in place): every fp32 face scored
// >= 0.5 is found by INT8 with IoU >= 0.85 and a score within 0.05, INT8 adds no face >= 0.5, and
// calibrating again reproduces the committed table and the built-in INT8 model byte for byte.
// Also: quantizing from a table, the refusal below the agreement threshold (exit 1, nothing
// written), bad usage and unusable input. Needs python3-skimage (SSD_SKIP_FACE_PHOTOS=1 skips the
// photo tests). The library itself: libs/quantize/test.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { faceApiDemoDir } from '@edge-ssd/importers/testing';
import { BUILTIN_MODELS } from '@edge-ssd/model-zoo';
import { inspectModel } from '@edge-ssd/onnx-io';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectRefused, expectUsageError, listDir, runCli } from './helpers';

const cli = (...args: string[]): CliRun => runCli(args, 240000);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const FACES = faceApiDemoDir();
const CALIBRATION = path.resolve(__dirname, '../../../libs/model-zoo/calibration');
const FACE_TABLE = path.join(CALIBRATION, 'faceapi-ssd-mobilenetv1.json');
const FACE_INT8 = BUILTIN_MODELS.find((m) => m.name === 'faceapi-ssd-mobilenetv1-int8')!;

function photosAvailable(): boolean {
  if (fs.existsSync(path.join(SKIMAGE, 'astronaut.png'))) return true;
  if (process.env.SSD_SKIP_FACE_PHOTOS === '1') return false;
  throw new Error(`${SKIMAGE} not found: install python3-skimage (apt-get install -y python3-skimage) or set SSD_SKIP_FACE_PHOTOS=1`);
}
const itPhotos = photosAvailable() ? it : it.skip;

interface Table {
  method: string;
  percentile?: number;
  note?: string;
  images: Array<{ file: string; sha256: string }>;
  evaluation?: Array<{ file: string; sha256: string }>;
}

interface Agreement {
  references: number;
  found: number;
  extras: number;
  minIou: number;
  maxScoreDelta: number;
  ratio: number;
  images: unknown[];
}

interface Report {
  agreements: Array<{ set: string; agreement: Agreement }>;
  minAgreement: number;
  sha256: string;
  speed?: { fp32Ms: number; int8Ms: number };
  summary: { convs: number; kept: string[] };
}

/** Where a photo of the table is (face-api's demo folder or skimage's), checked by its sha256. */
function locate(record: { file: string; sha256: string }): string {
  const file = [path.join(FACES, record.file), path.join(SKIMAGE, record.file)].find((f) => fs.existsSync(f));
  if (!file) throw new Error(`photo ${record.file} of the calibration table not found`);
  expect(sha256(fs.readFileSync(file))).toBe(record.sha256);
  return file;
}

let dir: string;
let fp32: string;
beforeAll(() => {
  dir = tempDir('quantize-cli');
  const r = cli('prepare', 'faceapi-ssd-mobilenetv1', '--dir', dir);
  expect(r.status).toBe(0);
  fp32 = path.join(dir, 'faceapi-ssd-mobilenetv1.onnx');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('model quantize', () => {
  itPhotos('INT8 finds every fp32 face >= 0.5 on photos it was not calibrated on and adds none; calibrating again gives the committed table and the built-in INT8 model', () => {
    const committed = fs.readFileSync(FACE_TABLE, 'utf8');
    const table = JSON.parse(committed) as Table;
    const calibration = table.images.map(locate);
    const evaluation = table.evaluation!.map(locate);
    expect(evaluation.filter((f) => calibration.includes(f))).toEqual([]);
    const out = path.join(dir, 'face-int8.onnx');
    const r = cli(
      'quantize', fp32,
      ...calibration.flatMap((f) => ['--calibration', f]),
      ...evaluation.flatMap((f) => ['--eval', f]),
      '--method', table.method, '--percentile', String(table.percentile), '--note', table.note!, '--keep-fp32', 'heads',
      '--table', path.join(dir, 'table.json'), '--report', path.join(dir, 'report.json'), '-o', out,
    );
    expect([r.status, r.stderr]).toEqual([0, '']);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as Report;
    const ev = report.agreements.find((a) => a.set === 'evaluation')!.agreement;
    console.log(
      `INT8 face model on ${ev.images.length} evaluation photos: ${ev.references} fp32 faces >= 0.5, ${ev.found} found by INT8, ` +
        `max |score delta| ${ev.maxScoreDelta.toFixed(3)}, min IoU ${ev.minIou.toFixed(3)}, ${ev.extras} extra; ` +
        `raw onnxruntime (1 thread) fp32 ${report.speed!.fp32Ms.toFixed(1)} ms vs INT8 ${report.speed!.int8Ms.toFixed(1)} ms per image`,
    );
    // 11 faces on three face-api samples, the astronaut, the cameraman and chelsea (a cat's face).
    expect(ev.references).toBeGreaterThanOrEqual(14);
    expect({ found: ev.found, extras: ev.extras }).toEqual({ found: ev.references, extras: 0 });
    expect(ev.minIou).toBeGreaterThanOrEqual(0.85);
    expect(ev.maxScoreDelta).toBeLessThanOrEqual(0.05);
    expect(report.agreements.map((a) => [a.set, a.agreement.ratio])).toEqual([['calibration', 1], ['evaluation', 1]]);
    expect(report.summary).toEqual(expect.objectContaining({ convs: 35, kept: expect.arrayContaining(['Prediction/BoxPredictor_0/mbox_conf']) }));
    expect(r.stdout).toMatch(/\n {2}evaluation images \(18\): agreement (\d+)\/\1 = 1\.000 \(threshold 1\): OK\n/);
    expect(r.stdout).toMatch(/\n {2}speed \(raw onnxruntime, 1 thread, batch 1, [^)]+\): fp32 [\d.]+ ms, INT8 [\d.]+ ms per image \([\d.]+x\)\n/);
    expect(fs.readFileSync(path.join(dir, 'table.json'), 'utf8')).toBe(committed);
    expect(sha256(fs.readFileSync(out))).toBe(FACE_INT8.sha256);
    const fp32Info = inspectModel(fs.readFileSync(fp32));
    const info = inspectModel(fs.readFileSync(out));
    expect(info.metadata['ssd.precision']).toBe('int8');
    expect(info.metadata['ssd.spec']).toBe(fp32Info.metadata['ssd.spec']);
  }, 240000);

  it('quantizes from a table alone (the same bytes as the built-in model) and says agreement was not measured', () => {
    const out = path.join(dir, 'from-table.onnx');
    const r = cli('quantize', fp32, '--from-table', FACE_TABLE, '--keep-fp32', 'heads', '-o', out);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('\n  agreement: not measured (no images given)\n');
    expect(r.stdout).toContain(`sha256 ${FACE_INT8.sha256}`);
    expect(sha256(fs.readFileSync(out))).toBe(FACE_INT8.sha256);
  });

  it('refuses to write a model below the agreement threshold: exit 1, the report with the threshold, one line, nothing written', () => {
    const sub = path.join(dir, 'refused');
    fs.mkdirSync(sub);
    // Entropy ranges from one photo clip this network's activations: faces move on another photo.
    const r = cli('quantize', fp32, '--calibration', path.join(FACES, 'sample1.jpg'), '--eval', path.join(FACES, 'sample2.jpg'), '--method', 'entropy', '--no-timing', '--table', path.join(sub, 't.json'), '-o', path.join(sub, 'int8.onnx'));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/\n {2}evaluation images \(1\): agreement \d+\/\d+ = 0\.\d+ \(threshold 1\): BELOW\n/);
    expect(r.stderr).toMatch(/^model: INT8 agrees with fp32 below the threshold 1 on the evaluation images \(0\.\d+\); nothing written\n$/);
    expect(listDir(sub)).toEqual([]);
  });

  it('answers bad usage with exit 2, the message and the usage', () => {
    const img = path.join(FACES, 'sample1.jpg');
    expectUsageError(cli('quantize', '-o', 'x.onnx'), 'quantize needs the fp32 model');
    expectUsageError(cli('quantize', fp32, '-o', 'x.onnx'), 'give either --calibration images or --from-table');
    expectUsageError(cli('quantize', fp32, '--calibration', img, '--from-table', FACE_TABLE, '-o', 'x.onnx'), 'give either --calibration images or --from-table');
    expectUsageError(cli('quantize', fp32, '--calibration', img, '--method', 'kl', '-o', 'x.onnx'), "--method must be one of minmax, percentile, entropy, got 'kl'");
    expectUsageError(cli('quantize', fp32, '--calibration', img, '--method', 'minmax', '--percentile', '99', '-o', 'x.onnx'), '--percentile applies to --method percentile');
    expectUsageError(cli('quantize', fp32, '--calibration', img, '--min-agreement', '2', '-o', 'x.onnx'), '--min-agreement must be between 0 and 1');
    expectUsageError(cli('quantize', fp32, '--from-table', FACE_TABLE, '--method', 'minmax', '-o', 'x.onnx'), '--table, --method, --percentile and --note apply to calibration, not to --from-table');
    expectUsageError(cli('quantize', fp32, '--calibration', img), '--output is required');
  });

  it('refuses unusable input with exit 2 and one line, writing nothing', () => {
    const out = path.join(dir, 'none.onnx');
    expectRefused(cli('quantize', path.join(dir, 'missing.onnx'), '--from-table', FACE_TABLE, '-o', out), /^model: cannot read input '.*missing\.onnx'/);
    expectRefused(cli('quantize', fp32, '--from-table', path.join(CALIBRATION, 'mobilenet-ssd-voc-300.json'), '-o', out), /^model: the calibration table was measured on the model with sha256 647d98f3[0-9a-f]+, not on this one \(c7d374c3[0-9a-f]+\)$/);
    expectRefused(cli('quantize', fp32, '--from-table', FACE_TABLE, '--keep-fp32', 'nope', '-o', out), /^model: --keep-fp32 'nope' matches no node$/);
    expectRefused(cli('quantize', fp32, '--calibration', path.join(dir, 'no-such-dir'), '-o', out), /^model: calibration images '.*no-such-dir': no such file or directory$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
