// BatchNorm folding on a real trained network: face-api's SSD-MobileNetV1, whose 13 depthwise
// layers carry unfolded BatchNorm with epsilon 1e-3 (4,960 channels, 93 of them with a variance of
// ~4e-36 so that epsilon alone sets their scale). onnxruntime runs with optimizations disabled, so
// its own Conv+BN fusion does not hide anything.
// - The folded model reproduces the unfolded one within 1e-4 on real photos and on noise.
// - Folding a graph that says epsilon 1e-5 (what a folder assuming the Caffe/ONNX default would
//   compute) visibly changes the detections, and the folder's output follows the node's epsilon:
//   so the fold provably reads it.
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { SsdSpec } from '@edge-ssd/ssd-core';
import { type FoldReport, foldBatchNorm } from '@edge-ssd/bn-fuse';
import { Prng } from '@edge-ssd/prng';
import { encodeModel } from '@edge-ssd/onnx-io';
import { FACEAPI_BN_EPSILON, type TfjsWeights, readTfjsWeights } from '../src';
import { maxAbsDiff } from '../src/testing';
import { buildFaceApiSsd } from '../src/tfjs/faceapi-ssd';
import {
  ASTRONAUT,
  FACEAPI_DIR,
  FACEAPI_MANIFEST,
  FACEAPI_SAMPLE,
  ImageBox,
  createSession,
  describeBoxes,
  detectorBlob,
  loadImage,
  matchDetections,
  photosAvailable,
  postprocess,
  runRaw,
  specOf,
} from './faceapi-helpers';

const PHOTOS = [ASTRONAUT, FACEAPI_SAMPLE, path.join(FACEAPI_DIR, 'demo', 'sample2.jpg')];
const FOLD_TOLERANCE = 1e-4;

const describeIf = photosAvailable() ? describe : describe.skip;

describeIf('BN folding on face-api SSD-MobileNetV1 (real weights, epsilon 1e-3)', () => {
  let weights: TfjsWeights;
  let spec: SsdSpec;
  let report: FoldReport;
  let wrongReport: FoldReport;
  const sessions: Record<'unfused' | 'folded' | 'wrongUnfused' | 'wrongFolded', ort.InferenceSession> = {} as never;
  const figures: string[] = [];

  beforeAll(async () => {
    weights = readTfjsWeights(FACEAPI_MANIFEST);
    const unfused = buildFaceApiSsd(weights.tensors);
    const folded = foldBatchNorm(unfused);
    report = folded.report;
    // The same network with its BN nodes claiming epsilon 1e-5.
    const wrong = buildFaceApiSsd(weights.tensors, { batchNormEpsilon: 1e-5 });
    const wrongFolded = foldBatchNorm(wrong);
    wrongReport = wrongFolded.report;
    const unfusedBytes = encodeModel(unfused);
    spec = specOf(unfusedBytes);
    sessions.unfused = await createSession(unfusedBytes);
    sessions.folded = await createSession(encodeModel(folded.model));
    sessions.wrongUnfused = await createSession(encodeModel(wrong));
    sessions.wrongFolded = await createSession(encodeModel(wrongFolded.model));
  }, 60000);
  afterAll(async () => {
    for (const s of Object.values(sessions)) await s.release();
    if (figures.length > 0) console.log(`face-api BN fold figures:\n${figures.join('\n')}`);
  });

  it('folds all 13 BatchNormalization nodes with the epsilon the graph carries', () => {
    expect(report.batchNormFound).toBe(13);
    expect(report.batchNormFolded).toBe(13);
    expect(report.left).toEqual([]);
    for (const f of report.folded) {
      expect(f.producerOp).toBe('Conv');
      expect(f.producer).toMatch(/^MobilenetV1\/Conv2d_\d+_depthwise$/);
      expect(f.epsilon).toBe(Math.fround(FACEAPI_BN_EPSILON));
      // Depthwise convs have no bias: the fold creates one.
      expect(f.bias.from).toBeNull();
    }
    expect(report.folded.reduce((n, f) => n + f.channels, 0)).toBe(4960);
    expect(wrongReport.folded.map((f) => f.epsilon)).toEqual(new Array(13).fill(Math.fround(1e-5)));
  });

  it(`folded and unfolded outputs agree within ${FOLD_TOLERANCE} on real photos and on noise`, async () => {
    const blobs: [string, Float32Array][] = [];
    for (const file of PHOTOS) blobs.push([path.basename(file), detectorBlob(await loadImage(file), spec.input)]);
    const rng = new Prng(20240610);
    blobs.push(['uniform noise', Float32Array.from({ length: 3 * 512 * 512 }, () => rng.uniform(-1, 1))]);
    for (const [name, blob] of blobs) {
      const a = await runRaw(sessions.unfused, spec, blob);
      const b = await runRaw(sessions.folded, spec, blob);
      const loc = maxAbsDiff(a.loc, b.loc);
      const conf = maxAbsDiff(a.conf, b.conf);
      figures.push(`  ${name}: folded vs unfolded max |d| mbox_loc ${loc.toExponential(2)}, mbox_conf ${conf.toExponential(2)}`);
      expect(loc).toBeLessThanOrEqual(FOLD_TOLERANCE);
      expect(conf).toBeLessThanOrEqual(FOLD_TOLERANCE);
    }
  });

  it('folding with epsilon 1e-5 instead of 1e-3 changes the detections; the fold follows the epsilon it reads', async () => {
    let failing = 0;
    for (const file of PHOTOS) {
      const image = await loadImage(file);
      const blob = detectorBlob(image, spec.input);
      const ref = postprocess(spec, await runRaw(sessions.unfused, spec, blob), image);
      const wrongRaw = await runRaw(sessions.wrongFolded, spec, blob);
      const wrong = postprocess(spec, wrongRaw, image);
      const right = postprocess(spec, await runRaw(sessions.folded, spec, blob), image);

      // The correct fold keeps every detection; the oracle's criteria hold with room to spare.
      const ok = matchDetections(ref, right);
      expect(ok.missed).toEqual([]);
      expect(ok.extra).toEqual([]);
      expect(ok.minIou).toBeGreaterThan(0.999);
      expect(ok.maxScoreDiff).toBeLessThan(1e-4);

      // The wrong-epsilon fold fails them (same faces, IoU >= 0.9, score within 0.02).
      const m = matchDetections(ref, wrong);
      const fails = m.missed.length > 0 || m.extra.length > 0 || m.minIou < 0.9 || m.maxScoreDiff > 0.02;
      if (fails) failing++;
      figures.push(
        `  ${path.basename(file)}: epsilon 1e-3 ${describeBoxes(ref)}\n` +
          `    folded with epsilon 1e-5: ${describeBoxes(wrong)} (missed ${m.missed.length}, extra ${m.extra.length}, min IoU ${m.minIou.toFixed(3)}, max |d score| ${m.maxScoreDiff.toFixed(3)})`,
      );

      // The folder follows the epsilon in the graph: folded(1e-5) is unfolded(1e-5) up to rounding
      // (a little more of it than at 1e-3: channels with ~zero variance now get a 10x larger scale),
      // and far from the correct network.
      const wrongUnfused = await runRaw(sessions.wrongUnfused, spec, blob);
      const refRaw = await runRaw(sessions.unfused, spec, blob);
      const faithful = Math.max(maxAbsDiff(wrongUnfused.loc, wrongRaw.loc), maxAbsDiff(wrongUnfused.conf, wrongRaw.conf));
      const off = Math.max(maxAbsDiff(refRaw.loc, wrongRaw.loc), maxAbsDiff(refRaw.conf, wrongRaw.conf));
      figures.push(`    raw: folded(1e-5) vs unfolded(1e-5) max |d| ${faithful.toExponential(2)}; vs the correct network ${off.toExponential(2)}`);
      expect(faithful).toBeLessThan(1e-3);
      expect(off).toBeGreaterThan(1000 * faithful);
    }
    // Measured: astronaut's face score 0.965 -> 0.854; sample1 IoU down to 0.87; sample2 loses a face.
    expect(failing).toBe(PHOTOS.length);
  });

  it('the folded model finds the faces: 1 on astronaut, 3 on sample1, 3 on sample2', async () => {
    const counts: number[] = [];
    for (const file of PHOTOS) {
      const image = await loadImage(file);
      const dets: ImageBox[] = postprocess(spec, await runRaw(sessions.folded, spec, detectorBlob(image, spec.input)), image);
      counts.push(dets.length);
    }
    expect(counts).toEqual([1, 3, 3]);
  });
});
