// Shared by the face-api import tests: the installed face-api weights, real photos referenced where
// Debian or npm installed them (never copied into the repository), our model run the way the
// detector runs it (letterbox + OpenCV-style bilinear resize from libs/ssd-pipeline, onnxruntime,
// ssd-core's SsdPostprocessor, boxes mapped back to the image), and detection matching.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Detection, InputSpec, SsdPostprocessor, SsdSpec, specFromMetadata } from '@edge-ssd/ssd-core';
import { inspectModel } from '@edge-ssd/onnx-io';
import { type PixelImage, inputToImageScale, preprocessInto } from '@edge-ssd/ssd-pipeline';

export const FACEAPI_DIR = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
export const FACEAPI_MANIFEST = path.join(FACEAPI_DIR, 'model', 'ssd_mobilenetv1_model-weights_manifest.json');
export const FACEAPI_BIN = path.join(FACEAPI_DIR, 'model', 'ssd_mobilenetv1_model.bin');

/** NASA, public domain (scikit-image's `astronaut()` docstring); Debian package python3-skimage. */
export const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
/** A group photo shipped in the face-api npm package (referenced, never copied: no photo licence). */
export const FACEAPI_SAMPLE = path.join(FACEAPI_DIR, 'demo', 'sample1.jpg');

/** Photos must exist unless SSD_SKIP_FACE_PHOTOS=1 (then the photo tests are skipped). */
export function photosAvailable(): boolean {
  if (fs.existsSync(ASTRONAUT)) return true;
  if (process.env.SSD_SKIP_FACE_PHOTOS === '1') return false;
  throw new Error(`${ASTRONAUT} not found: install python3-skimage (apt-get install -y python3-skimage) or set SSD_SKIP_FACE_PHOTOS=1`);
}

/** Drops tfjs' one-time "install tfjs-node to speed things up" console hint; other warnings pass. */
export function silenceTfjsNodeHint(): void {
  const warn = console.warn.bind(console);
  jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (args.some((a) => typeof a === 'string' && a.includes('tfjs-node'))) return;
    warn(...args);
  });
}

export async function loadImage(file: string): Promise<PixelImage> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: ${info.channels} channels`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, order: 'RGB' };
}

/** A detection with its box normalised to the *image* (not the padded square). */
export interface ImageBox {
  score: number;
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

function iou(a: ImageBox, b: ImageBox): number {
  const iw = Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin);
  const ih = Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.xmax - a.xmin) * (a.ymax - a.ymin) + (b.xmax - b.xmin) * (b.ymax - b.ymin) - inter);
}

export interface Match {
  /** Pairs (reference index, candidate index), best IoU first. */
  pairs: { ref: number; got: number; iou: number; scoreDiff: number }[];
  missed: number[];
  extra: number[];
  minIou: number;
  maxScoreDiff: number;
}

/** Greedy one-to-one matching by IoU (pairs need IoU > 0.5). */
export function matchDetections(ref: readonly ImageBox[], got: readonly ImageBox[]): Match {
  const all: { ref: number; got: number; iou: number }[] = [];
  ref.forEach((r, i) => got.forEach((g, j) => all.push({ ref: i, got: j, iou: iou(r, g) })));
  all.sort((a, b) => b.iou - a.iou);
  const usedRef = new Set<number>();
  const usedGot = new Set<number>();
  const pairs: Match['pairs'] = [];
  for (const c of all) {
    if (c.iou <= 0.5 || usedRef.has(c.ref) || usedGot.has(c.got)) continue;
    usedRef.add(c.ref);
    usedGot.add(c.got);
    pairs.push({ ...c, scoreDiff: Math.abs(ref[c.ref].score - got[c.got].score) });
  }
  return {
    pairs,
    missed: ref.map((_, i) => i).filter((i) => !usedRef.has(i)),
    extra: got.map((_, j) => j).filter((j) => !usedGot.has(j)),
    minIou: pairs.reduce((m, p) => Math.min(m, p.iou), 1),
    maxScoreDiff: pairs.reduce((m, p) => Math.max(m, p.scoreDiff), 0),
  };
}

export function specOf(bytes: Uint8Array): SsdSpec {
  return specFromMetadata(inspectModel(bytes).metadata);
}

/** An onnxruntime session with graph optimizations disabled (so ORT's own Conv+BN fusion is off). */
export function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', executionProviders: ['cpu'] });
}

/** The detector's preprocessing: letterbox to the input square, OpenCV INTER_LINEAR, (x - mean) * scale. */
export function detectorBlob(image: PixelImage, input: InputSpec): Float32Array {
  const out = new Float32Array(3 * input.width * input.height);
  preprocessInto(image, input, out, 0);
  return out;
}

export interface RawOutputs {
  loc: Float32Array;
  conf: Float32Array;
}

export async function runRaw(session: ort.InferenceSession, spec: SsdSpec, blob: Float32Array): Promise<RawOutputs> {
  const feeds = { [spec.input.name]: new ort.Tensor('float32', blob, [1, 3, spec.input.height, spec.input.width]) };
  const out = await session.run(feeds);
  return { loc: out[spec.outputs.loc].data as Float32Array, conf: out[spec.outputs.conf].data as Float32Array };
}

/** Post-processing as the detector does it: ssd-core, then the letterbox mapping to the image. */
export function postprocess(spec: SsdSpec, raw: RawOutputs, image: { width: number; height: number }, post = new SsdPostprocessor(spec)): ImageBox[] {
  const dets: Detection[] = post.detect(raw.loc, raw.conf, 1)[0];
  const k = inputToImageScale(image, spec.input);
  return dets.map((d) => ({ score: d.score, xmin: d.xmin * k.x, ymin: d.ymin * k.y, xmax: d.xmax * k.x, ymax: d.ymax * k.y }));
}

export async function detect(session: ort.InferenceSession, spec: SsdSpec, image: PixelImage): Promise<ImageBox[]> {
  return postprocess(spec, await runRaw(session, spec, detectorBlob(image, spec.input)), image);
}

export function describeBoxes(boxes: readonly ImageBox[]): string {
  return boxes.map((b) => `${b.score.toFixed(3)}@[${[b.xmin, b.ymin, b.xmax, b.ymax].map((v) => v.toFixed(3)).join(',')}]`).join(' ');
}
