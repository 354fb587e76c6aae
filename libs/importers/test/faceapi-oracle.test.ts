// The oracle: face-api itself (@vladmandic/face-api's node build on pure-JS @tensorflow/tfjs, CPU
// backend), loaded with the same npm weights, against our imported and BN-folded ONNX model run
// through onnxruntime + ssd-core the way the detector runs it. Independent of our graph code, so it
// catches import bugs (pads, epsilon, (y, x) order, anchor order, sigmoid vs softmax, BGR, scale).
//
// Per photo, one face-api forward pass (~10-20 s on tfjs CPU) gives its detections, its raw boxes
// and scores, and the 512x512 tensor it fed the network (captured around forwardInput). We check:
// - raw outputs on face-api's own tensor: our decoded boxes and face scores vs face-api's, per anchor;
// - detections on face-api's own tensor (exact path): same faces, IoU >= 0.9, score within 0.02;
// - detections through the detector's own preprocessing (letterbox + OpenCV INTER_LINEAR, which is
//   not TF's legacy resizeBilinear): same faces, IoU >= 0.9, score within 0.02.
// Photos: astronaut (NASA, public domain, from Debian's python3-skimage) and face-api's
// demo/sample1.jpg, both read where they are installed, never copied into the repository.
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { type SsdSpec, buildPriors, decodeBoxes } from '@edge-ssd/ssd-core';
import { foldBatchNorm } from '@edge-ssd/bn-fuse';
import { encodeModel } from '@edge-ssd/onnx-io';
import { importFaceApi } from '../src';
import { FACEAPI_SSD_PRIOR_COUNT } from '../src/tfjs/faceapi-ssd';
import {
  ASTRONAUT,
  FACEAPI_BIN,
  FACEAPI_MANIFEST,
  FACEAPI_SAMPLE,
  ImageBox,
  createSession,
  describeBoxes,
  detect,
  loadImage,
  matchDetections,
  photosAvailable,
  postprocess,
  runRaw,
  silenceTfjsNodeHint,
  specOf,
} from './faceapi-helpers';

// face-api's node-wasm build requires @tensorflow/tfjs-backend-wasm only to register that backend;
// the oracle runs on tfjs' pure-JS CPU backend, so the wasm package is not installed.
jest.mock('@tensorflow/tfjs-backend-wasm', () => ({}), { virtual: true });

interface TfTensor {
  readonly shape: number[];
  dataSync(): Float32Array | Int32Array;
  dispose(): void;
}
interface NetInput {
  toBatchTensor(inputSize: number, isCenterInputs: boolean): TfTensor;
}
interface FaceDetection {
  score: number;
  relativeBox: { x: number; y: number; width: number; height: number };
}
interface SsdMobilenetv1 {
  loadFromWeightMap(weightMap: Record<string, TfTensor>): void;
  forwardInput(input: NetInput): { boxes: TfTensor[]; scores: TfTensor[] };
  locateFaces(input: TfTensor, options: { minConfidence: number; maxResults: number }): Promise<FaceDetection[]>;
}
interface FaceApi {
  tf: {
    setBackend(name: string): Promise<boolean>;
    ready(): Promise<void>;
    getBackend(): string;
    tensor3d(values: Int32Array, shape: [number, number, number], dtype: 'int32'): TfTensor;
    io: { decodeWeights(data: ArrayBuffer, specs: unknown[]): Record<string, TfTensor> };
  };
  nets: { ssdMobilenetv1: SsdMobilenetv1 };
}

interface OracleRun {
  detections: ImageBox[];
  /** face-api's network input: [512, 512, 3] RGB in [0, 255] (after its pad + legacy resize). */
  batch: Float32Array;
  /** [5118, 4] (ymin, xmin, ymax, xmax) in the padded square, unclipped. */
  boxes: Float32Array;
  /** [5118] sigmoid face scores. */
  scores: Float32Array;
}

const PHOTOS = [
  { name: 'astronaut', file: ASTRONAUT, faces: 1 },
  { name: 'face-api demo/sample1.jpg', file: FACEAPI_SAMPLE, faces: 3 },
];

/** Per-anchor agreement of face scores and decoded box coordinates on the same input tensor. */
const RAW_TOLERANCE = 1e-4;
const IOU_MIN = 0.9;
const SCORE_TOLERANCE = 0.02;

const describeIf = photosAvailable() ? describe : describe.skip;

describeIf('face-api oracle (tfjs CPU) vs the imported, BN-folded ONNX model', () => {
  let faceapi: FaceApi;
  let session: ort.InferenceSession;
  let spec: SsdSpec;
  const figures: string[] = [];

  beforeAll(async () => {
    silenceTfjsNodeHint();
    faceapi = jest.requireActual<FaceApi>('@vladmandic/face-api/dist/face-api.node-wasm.js');
    await faceapi.tf.setBackend('cpu');
    await faceapi.tf.ready();
    const bin = fs.readFileSync(FACEAPI_BIN);
    const manifest = JSON.parse(fs.readFileSync(FACEAPI_MANIFEST, 'utf8')) as { weights: unknown[] }[];
    const weightMap = faceapi.tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest[0].weights);
    faceapi.nets.ssdMobilenetv1.loadFromWeightMap(weightMap);

    const folded = encodeModel(foldBatchNorm(importFaceApi(FACEAPI_MANIFEST, { requirePinned: true }).model).model);
    spec = specOf(folded);
    session = await createSession(folded);
  }, 60000);
  afterAll(async () => {
    if (session) await session.release();
    if (figures.length > 0) console.log(`face-api oracle figures:\n${figures.join('\n')}`);
  });

  /** face-api's own detections, plus what its network saw and produced, from one forward pass. */
  async function oracle(file: string): Promise<OracleRun> {
    const image = await loadImage(file);
    const net = faceapi.nets.ssdMobilenetv1;
    const forwardInput = net.forwardInput;
    let captured: Omit<OracleRun, 'detections'> | undefined;
    net.forwardInput = (input: NetInput) => {
      const batch = input.toBatchTensor(512, false);
      const batchData = Float32Array.from(batch.dataSync());
      batch.dispose();
      const out = forwardInput.call(net, input);
      captured = { batch: batchData, boxes: Float32Array.from(out.boxes[0].dataSync()), scores: Float32Array.from(out.scores[0].dataSync()) };
      return out;
    };
    const tensor = faceapi.tf.tensor3d(Int32Array.from(image.data), [image.height, image.width, 3], 'int32');
    try {
      const found = await net.locateFaces(tensor, { minConfidence: 0.5, maxResults: 100 });
      if (!captured) throw new Error('forwardInput was not called');
      const detections = found.map((d) => ({ score: d.score, xmin: d.relativeBox.x, ymin: d.relativeBox.y, xmax: d.relativeBox.x + d.relativeBox.width, ymax: d.relativeBox.y + d.relativeBox.height }));
      return { detections, ...captured };
    } finally {
      net.forwardInput = forwardInput;
      tensor.dispose();
    }
  }

  /** face-api's RGB [0, 255] HWC tensor as our blob: BGR planes, (x - mean) * scale. */
  function blobFrom(batch: Float32Array): Float32Array {
    const { width, height, mean, scale } = spec.input;
    const plane = width * height;
    const out = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) out[c * plane + i] = (batch[i * 3 + (2 - c)] - mean[c]) * scale;
    }
    return out;
  }

  it.each(PHOTOS)('$name: same faces as face-api, raw outputs agree per anchor', async ({ file, faces }) => {
    const image = await loadImage(file);
    const ref = await oracle(file);
    expect(ref.detections).toHaveLength(faces);
    expect(faceapi.tf.getBackend()).toBe('cpu');

    // 1. Raw outputs on face-api's own input tensor.
    const raw = await runRaw(session, spec, blobFrom(ref.batch));
    let scoreDiff = 0;
    for (let p = 0; p < FACEAPI_SSD_PRIOR_COUNT; p++) scoreDiff = Math.max(scoreDiff, Math.abs(raw.conf[p * 2 + 1] - ref.scores[p]));
    const priors = buildPriors(spec);
    const decoded = new Float32Array(FACEAPI_SSD_PRIOR_COUNT * 4);
    decodeBoxes(raw.loc, 0, priors, spec.codeType, spec.varianceEncodedInTarget, decoded);
    let boxDiff = 0;
    let faceBoxDiff = 0;
    for (let p = 0; p < FACEAPI_SSD_PRIOR_COUNT; p++) {
      // Ours (xmin, ymin, xmax, ymax) vs face-api's (ymin, xmin, ymax, xmax).
      const d = Math.max(
        Math.abs(decoded[p * 4] - ref.boxes[p * 4 + 1]),
        Math.abs(decoded[p * 4 + 1] - ref.boxes[p * 4]),
        Math.abs(decoded[p * 4 + 2] - ref.boxes[p * 4 + 3]),
        Math.abs(decoded[p * 4 + 3] - ref.boxes[p * 4 + 2]),
      );
      boxDiff = Math.max(boxDiff, d);
      if (ref.scores[p] > 0.5) faceBoxDiff = Math.max(faceBoxDiff, d);
    }
    expect(scoreDiff).toBeLessThan(RAW_TOLERANCE);
    expect(boxDiff).toBeLessThan(RAW_TOLERANCE);

    // 2. Detections from the same tensor through ssd-core and the letterbox mapping.
    const exact = postprocess(spec, raw, image);
    const exactMatch = matchDetections(ref.detections, exact);
    expect(exactMatch.missed).toEqual([]);
    expect(exactMatch.extra).toEqual([]);
    expect(exactMatch.minIou).toBeGreaterThanOrEqual(IOU_MIN);
    expect(exactMatch.maxScoreDiff).toBeLessThanOrEqual(SCORE_TOLERANCE);

    // 3. The detector's path: its own letterbox + OpenCV-style resize.
    const ours = await detect(session, spec, image);
    const match = matchDetections(ref.detections, ours);
    figures.push(
      `  ${file} (${image.width}x${image.height}): face-api ${ref.detections.length} face(s) ${describeBoxes(ref.detections)}\n` +
        `    raw, same tensor: max |d score| ${scoreDiff.toExponential(2)}, max |d box| ${faceBoxDiff.toExponential(2)} on face anchors, ${boxDiff.toExponential(2)} on all 5118\n` +
        `    detections, same tensor: ${exact.length} face(s), min IoU ${exactMatch.minIou.toFixed(4)}, max |d score| ${exactMatch.maxScoreDiff.toExponential(2)}\n` +
        `    detections, detector preprocessing: ${ours.length} face(s) ${describeBoxes(ours)}, min IoU ${match.minIou.toFixed(4)}, max |d score| ${match.maxScoreDiff.toExponential(2)}`,
    );
    expect(match.missed).toEqual([]);
    expect(match.extra).toEqual([]);
    expect(match.minIou).toBeGreaterThanOrEqual(IOU_MIN);
    expect(match.maxScoreDiff).toBeLessThanOrEqual(SCORE_TOLERANCE);
  }, 120000);
});
