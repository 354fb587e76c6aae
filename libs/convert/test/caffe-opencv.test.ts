// Caffe import against OpenCV dnn as the oracle: the same prototxt + caffemodel files run in
// cv2.dnn.readNetFromCaffe (OpenCV's own Caffe parser, BatchNorm/Scale, PriorBox and
// DetectionOutput) and, converted by us, in onnxruntime. Outputs must agree to 1e-4 and the final
// detections (OpenCV's detection_out vs ssd-core's SsdPostprocessor on our outputs) must be equal
// as sets. The conversions go through the pipeline of `model import-caffe` (importCaffeFiles +
// importedInput + convert); the CLI itself is tested in apps/model-cli/test/caffe-cli.test.ts.
// Needs python3-opencv (a missing one fails the OpenCV tests with the install hint);
// SSD_SKIP_OPENCV=1 skips the OpenCV comparisons, reported as skipped (the conversions and their
// structural checks still run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { type Detection, MOBILENET_SSD_VOC_300, type SsdSpec, SsdPostprocessor, specFromMetadata } from '@edge-ssd/ssd-core';
import { importCaffeFiles } from '@edge-ssd/importers';
import { inspectModel } from '@edge-ssd/onnx-io';
import { type CaffeFixture, type OracleOutput, SKIP_OPENCV, maxAbsDiff, maxRelDiff, mobileNetSsdCaffe, requireOpenCv, runOpenCv, testImages, tinySsdNet, v1Net, writeCaffemodel, zooNet } from '@edge-ssd/importers/testing';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type ConvertOptions, type ConvertResult, convert, formatReport, importedInput, reportJson } from '../src';

// Chosen when the tests are defined, so that jest reports the OpenCV tests as skipped.
const describeOpenCv = SKIP_OPENCV ? describe.skip : describe;
const OUTPUT_TOLERANCE = 1e-4;
const DETECTION_TOLERANCE = 1e-4;

interface Files {
  prototxt: string;
  caffemodel: string;
}

/** Imports the pair and converts it into `output` as `model import-caffe` does. */
async function convertCaffe(files: Files, output: string, options?: ConvertOptions): Promise<{ result: ConvertResult; bytes: Uint8Array }> {
  const result = await convert(importedInput(importCaffeFiles(files)), output, options);
  return { result, bytes: fs.readFileSync(output) };
}

function writeFixture(dir: string, name: string, fixture: CaffeFixture, options: Parameters<typeof writeCaffemodel>[1] = {}): Files {
  const prototxt = path.join(dir, `${name}.prototxt`);
  const caffemodel = path.join(dir, `${name}.caffemodel`);
  fs.writeFileSync(prototxt, fixture.prototxt);
  fs.writeFileSync(caffemodel, writeCaffemodel(fixture.layers, options));
  return { prototxt, caffemodel };
}

async function runOrt(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  } finally {
    await session.release();
  }
}

/** Images of height x width (test images are square: crop a larger one). */
function images(n: number, channels: number, height: number, width: number, seed: number): Float32Array {
  const size = Math.max(height, width);
  const square = testImages(n, size, seed, channels);
  const out = new Float32Array(n * channels * height * width);
  for (let i = 0; i < n * channels; i++) {
    for (let y = 0; y < height; y++) out.set(square.subarray((i * size + y) * size, (i * size + y) * size + width), (i * height + y) * width);
  }
  return out;
}

type Row = [label: number, score: number, xmin: number, ymin: number, xmax: number, ymax: number];

interface DetectionComparison {
  count: number;
  perImage: number[];
  maxScoreDiff: number;
  maxBoxDiff: number;
}

/**
 * OpenCV's detection_out rows ([image, label, score, box], zero-padded) against ours, image by
 * image, as sets: every detection must pair with one of the same label whose score and box are
 * within DETECTION_TOLERANCE.
 */
function compareDetections(opencv: OracleOutput, ours: Detection[][]): DetectionComparison {
  const result: DetectionComparison = { count: 0, perImage: [], maxScoreDiff: 0, maxBoxDiff: 0 };
  const rows: number[][] = [];
  for (let i = 0; i < opencv.data.length; i += 7) if (opencv.data[i + 2] > 0) rows.push([...opencv.data.subarray(i, i + 7)]);
  ours.forEach((dets, image) => {
    const theirs = rows.filter((r) => r[0] === image).map((r) => r.slice(1) as Row);
    const mine = dets.map((d): Row => [d.classId, d.score, d.xmin, d.ymin, d.xmax, d.ymax]);
    const describe = (list: Row[]) => list.map((r) => `${r[0]}:${r[1].toFixed(6)}`).sort().join(' ');
    if (theirs.length !== mine.length) throw new Error(`image ${image}: OpenCV has ${theirs.length} detections, we have ${mine.length}\n  opencv: ${describe(theirs)}\n  ours:   ${describe(mine)}`);
    const used = new Set<number>();
    for (const m of mine) {
      let best = -1;
      let bestDiff = Infinity;
      theirs.forEach((t, k) => {
        if (used.has(k) || t[0] !== m[0]) return;
        const diff = Math.max(...m.slice(1).map((v, j) => Math.abs(v - t[j + 1])));
        if (diff < bestDiff) {
          bestDiff = diff;
          best = k;
        }
      });
      if (best < 0 || bestDiff > DETECTION_TOLERANCE) throw new Error(`image ${image}: no OpenCV detection matches ours ${JSON.stringify(m)} (closest differs by ${bestDiff})`);
      used.add(best);
      const t = theirs[best];
      result.maxScoreDiff = Math.max(result.maxScoreDiff, Math.abs(m[1] - t[1]));
      result.maxBoxDiff = Math.max(result.maxBoxDiff, ...m.slice(2).map((v, j) => Math.abs(v - t[j + 2])));
    }
    result.count += mine.length;
    result.perImage.push(mine.length);
  });
  return result;
}

function log(line: string): void {
  process.stdout.write(`caffe-opencv: ${line}\n`);
}

interface SsdCase {
  label: string;
  files: Files;
  bytes: Uint8Array;
  spec: SsdSpec;
}

/** Runs an SSD case in OpenCV and in onnxruntime + ssd-core; checks outputs and detections. */
async function compareSsd(c: SsdCase, input: Float32Array, dims: number[], dir: string): Promise<void> {
  const cv = runOpenCv({ ...c.files, shape: dims, data: input, outputs: ['mbox_loc', 'mbox_conf_flatten', 'detection_out'] }, dir);
  const out = await runOrt(c.bytes, input, dims);
  const N = dims[0];
  const loc = out.mbox_loc.data as Float32Array;
  const conf = out.mbox_conf.data as Float32Array;
  expect(out.mbox_loc.dims[0]).toBe(N);
  expect(cv.outputs.get('mbox_loc')?.shape).toEqual([N, loc.length / N]);
  expect(cv.outputs.get('mbox_conf_flatten')?.shape).toEqual([N, conf.length / N]);
  const locDiff = maxAbsDiff(loc, (cv.outputs.get('mbox_loc') as OracleOutput).data);
  const confDiff = maxAbsDiff(conf, (cv.outputs.get('mbox_conf_flatten') as OracleOutput).data);
  expect(locDiff).toBeLessThanOrEqual(OUTPUT_TOLERANCE);
  expect(confDiff).toBeLessThanOrEqual(OUTPUT_TOLERANCE);
  const ours = new SsdPostprocessor(c.spec).detect(loc, conf, N);
  const dets = compareDetections(cv.outputs.get('detection_out') as OracleOutput, ours);
  // A comparison of empty sets would prove nothing.
  expect(dets.count).toBeGreaterThan(N);
  log(
    `${c.label}: ${N} images; mbox_loc max abs diff ${locDiff.toExponential(2)}, mbox_conf ${confDiff.toExponential(2)}; ` +
      `${dets.count} detections (${dets.perImage.join('+')}) equal as sets (max score diff ${dets.maxScoreDiff.toExponential(2)}, max box diff ${dets.maxBoxDiff.toExponential(2)}); OpenCV ${cv.opencv} forward ${cv.ms.toFixed(0)} ms`,
  );
}

describe('chuanqi305 MobileNet-SSD (full size) from Caffe', () => {
  let dir: string;
  let bnFiles: Files;
  let mergedFiles: Files;
  let bnBytes: Uint8Array;
  let bnUnfused: Uint8Array;
  let bnResult: ConvertResult;
  let report: string;
  let output: string;
  let unfused: string;
  let merged: { result: ConvertResult; bytes: Uint8Array };

  beforeAll(async () => {
    dir = tempDir('caffe-opencv');
    bnFiles = writeFixture(dir, 'deploy', mobileNetSsdCaffe({ batchNorm: true }));
    mergedFiles = writeFixture(dir, 'MobileNetSSD_deploy', mobileNetSsdCaffe({ batchNorm: false }));
    // The train-style pair, with the unfused model written too (`--unfused-output`).
    output = path.join(dir, 'deploy.onnx');
    unfused = path.join(dir, 'deploy.unfused.onnx');
    ({ result: bnResult, bytes: bnBytes } = await convertCaffe(bnFiles, output, { unfusedOutput: unfused }));
    report = formatReport(bnResult);
    log(`report for the train-style model:\n${report}`);
    bnUnfused = fs.readFileSync(unfused);
    merged = await convertCaffe(mergedFiles, path.join(dir, 'MobileNetSSD_deploy.onnx'));
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('folds all 35 BatchNorm+Scale pairs, verifies the folded model against the unfused one, and reports what it read', () => {
    expect(report.split('\n')[0]).toBe(`convert: ${bnFiles.prototxt} + ${bnFiles.caffemodel} -> ${output}`);
    expect(report).toContain(
      "caffe: net 'MobileNet-SSD', 189 layers (layer form): Convolution 47, BatchNorm 35, ReLU 35, Scale 35, Flatten 13, Permute 12, PriorBox 6, Concat 3, DetectionOutput 1, Reshape 1, Softmax 1",
    );
    expect(report).toContain('weights: 5820572 values (layer form)');
    expect(report).toContain('BatchNorm+Scale pairs 35, BatchNorm alone 0, Scale alone 0');
    expect(report).toContain('inputs: data [N,3,300,300]; outputs: mbox_loc [N,1917,4], mbox_conf [N,1917,21]');
    expect(report).toContain('ssd.spec: 1917 priors from 6 PriorBox heads (19x19, 10x10, 5x5, 3x3, 2x2, 1x1), 21 classes (background, aeroplane, bicycle, bird, ... tvmonitor), background 0');
    expect(report).toContain('CENTER_SIZE, score > 0.25, NMS IoU 0.45 top_k 100 keep_top_k 100; input 300x300 BGR warp, mean 127.5/127.5/127.5, scale 0.007843');
    expect(report).toMatch(/BatchNormalization: 35 found, 35 folded \(epsilon [^)]*\), 0 left/);
    expect(report).toContain(`unfused model: ${unfused} (${bnUnfused.byteLength} bytes)`);
    expect(report).toMatch(/verify: OK: max abs error \d\.\d\de-\d+/);
    expect(bnResult.verification?.ok).toBe(true);
    // The JSON report carries what the Caffe front end read, and where the models went.
    const json = JSON.parse(reportJson(bnResult));
    expect(json.input.details).toMatchObject({ format: 'caffe', batchNormScalePairs: 35, weightValues: 5820572 });
    expect(json.input.files).toEqual([bnFiles.prototxt, bnFiles.caffemodel]);
    expect([json.outputPath, json.unfusedOutputPath]).toEqual([output, unfused]);
    const before = inspectModel(bnUnfused);
    const after = inspectModel(bnBytes);
    expect(before.batchNormCount).toBe(35);
    expect(after.batchNormCount).toBe(0);
    expect(after.opCounts).toEqual({ Concat: 2, Conv: 47, Flatten: 13, Relu: 35, Reshape: 3, Softmax: 1, Transpose: 12 });
    expect(after.inputs).toEqual([{ name: 'data', elemType: 1, shape: ['N', 3, 300, 300] }]);
    expect(after.outputs).toEqual([
      { name: 'mbox_loc', elemType: 1, shape: ['N', 1917, 4] },
      { name: 'mbox_conf', elemType: 1, shape: ['N', 1917, 21] },
    ]);
  });

  it('both forms carry the spec of chuanqi305 MobileNet-SSD (equal to ssd-core MOBILENET_SSD_VOC_300 but for the name)', () => {
    for (const bytes of [bnBytes, merged.bytes]) {
      const spec = specFromMetadata(inspectModel(bytes).metadata);
      expect(spec.name).toBe('MobileNet-SSD');
      expect({ ...spec, name: MOBILENET_SSD_VOC_300.name }).toEqual(MOBILENET_SSD_VOC_300);
    }
    expect(merged.result.spec).toEqual(specFromMetadata(inspectModel(merged.bytes).metadata));
    expect(merged.result.report.batchNormFound).toBe(0);
    expect(inspectModel(merged.bytes).opCounts).toEqual(inspectModel(bnBytes).opCounts);
  });

  describeOpenCv('against OpenCV dnn', () => {
    const N = 5;
    const input = testImages(N, 300, 20240601);

    beforeAll(() => requireOpenCv());

    it('train-style form (BatchNorm + Scale, factor ~1000, Scales without bias, BN eps in the prototxt): outputs within 1e-4, detections equal', async () => {
      const spec = specFromMetadata(inspectModel(bnBytes).metadata);
      await compareSsd({ label: 'MobileNet-SSD deploy.prototxt (BatchNorm+Scale)', files: bnFiles, bytes: bnBytes, spec }, input, [N, 3, 300, 300], dir);
    });

    it('merged form (MobileNetSSD_deploy: convolutions with bias): outputs within 1e-4, detections equal', async () => {
      const spec = merged.result.spec as SsdSpec;
      await compareSsd({ label: 'MobileNet-SSD MobileNetSSD_deploy.prototxt (merged)', files: mergedFiles, bytes: merged.bytes, spec }, input, [N, 3, 300, 300], dir);
    });
  });
});

describeOpenCv('small Caffe nets against OpenCV dnn', () => {
  let dir: string;

  beforeAll(() => {
    requireOpenCv();
    dir = tempDir('caffe-opencv-small');
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function compareOutputs(label: string, files: Files, dims: number[], outputs: string[]): Promise<void> {
    const { result, bytes } = await convertCaffe(files, files.prototxt.replace(/\.prototxt$/, '.onnx'));
    const input = images(dims[0], dims[1], dims[2], dims[3], 77);
    const cv = runOpenCv({ ...files, shape: dims, data: input, outputs }, dir);
    const out = await runOrt(bytes, input, dims);
    const diffs = outputs.map((name) => {
      const theirs = cv.outputs.get(name) as OracleOutput;
      expect([...out[name].dims]).toEqual(theirs.shape);
      const abs = maxAbsDiff(out[name].data as Float32Array, theirs.data);
      const rel = maxRelDiff(out[name].data as Float32Array, theirs.data);
      expect(rel).toBeLessThanOrEqual(OUTPUT_TOLERANCE);
      return `${name} ${abs.toExponential(2)} (rel ${rel.toExponential(2)})`;
    });
    log(`${label}: max abs diff ${diffs.join(', ')}; verify ${result.verification?.maxAbsError.toExponential(2)}`);
  }

  it('layer zoo (Deconvolution, pooling variants, Eltwise, LRN, InnerProduct, standalone Scale, BN factor 0, ...) matches OpenCV', async () => {
    await compareOutputs('layer zoo', writeFixture(dir, 'zoo', zooNet()), [3, 3, 20, 20], ['prob', 'ip1', 'ip2']);
  });

  it('legacy V1 classifier (layers/CONVOLUTION, input_dim; V1 caffemodel with unpacked floats and legacy shapes) matches OpenCV', async () => {
    const files = writeFixture(dir, 'v1', v1Net(), { v1: true, floats: 'unpacked', legacyShapes: true });
    await compareOutputs('V1 classifier', files, [4, 3, 16, 16], ['prob']);
  });

  it('small SSD (non-square input, 4 classes, CORNER code, two min sizes, step, clip): outputs and detections match OpenCV', async () => {
    const files = writeFixture(dir, 'tiny', tinySsdNet());
    const { result, bytes } = await convertCaffe(files, path.join(dir, 'tiny.onnx'));
    expect(result.report.batchNormFolded).toBe(3);
    const N = 4;
    await compareSsd({ label: 'small SSD', files, bytes, spec: result.spec as SsdSpec }, images(N, 3, 48, 64, 5), [N, 3, 48, 64], dir);
  });
});
