// weiliu89's VGG16-SSD 300 through the Caffe importer: Normalize (conv4_3_norm), dilated fc6,
// pool5 3x3/1/1, PriorBox with explicit step and offset, 8732 priors, and the preprocessing given
// as options. Checked structurally, then against OpenCV dnn running the same prototxt and
// caffemodel on real photos (python3-skimage's): OpenCV reads and blobs the images itself
// (cv2.imread + blobFromImages, mean 104/117/123, scale 1, BGR); we decode, preprocess, run and
// post-process them as the detector does (ssd-pipeline's SsdPipeline, driven by the spec alone).
// The weights are seeded (testing/vgg16-ssd.ts): ~105 MB, generated once for the file.
// Needs python3-opencv (SSD_SKIP_OPENCV=1 skips the OpenCV comparisons, reported as skipped) and
// python3-skimage's photos (SSD_SKIP_FACE_PHOTOS=1, the switch of the photo tests, skips them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { type Detection, type SsdSpec, buildPriors, specFromMetadata } from '@edge-ssd/ssd-core';
import { type NodeProto, encodeModel, inspectModel } from '@edge-ssd/onnx-io';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { SsdPipeline, decodeImage, preprocessInto } from '@edge-ssd/ssd-pipeline';
import { CaffeImportError, importCaffe, importCaffeFiles } from '../src';
import { Prng } from '@edge-ssd/prng';
import { type OracleOutput, SKIP_OPENCV, VGG16_SSD_PREPROCESS, inputHeader, layerText, maxAbsDiff, maxRelDiff, requireOpenCv, runOpenCv, testImages, vgg16SsdCaffe, writeCaffemodel } from '../src/testing';

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut.png', 'coffee.png', 'chelsea.png'].map((f) => path.join(SKIMAGE, f));
const SKIP_PHOTOS = process.env.SSD_SKIP_FACE_PHOTOS === '1';
const describeOracle = SKIP_OPENCV || SKIP_PHOTOS ? describe.skip : describe;
const TOLERANCE = 1e-4;

function log(line: string): void {
  process.stdout.write(`vgg16-ssd: ${line}\n`);
}

function node(nodes: readonly NodeProto[], name: string): NodeProto {
  const n = nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
}

function ints(n: NodeProto, attr: string): number[] {
  return (n.attribute ?? []).find((a) => a.name === attr)?.ints?.map(Number) ?? [];
}

/** DetectionOutput rows of image `image` as [label, score, xmin, ymin, xmax, ymax] (zero-padding dropped). */
function opencvRows(out: OracleOutput, image: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < out.data.length; i += 7) if (out.data[i] === image && out.data[i + 2] > 0) rows.push([...out.data.subarray(i + 1, i + 7)]);
  return rows;
}

/**
 * Pairs every detection of ours with an unused OpenCV row of the same class within TOLERANCE on
 * score and box; returns the largest difference seen. Throws naming the first detection left over.
 */
function matchAsSets(ours: readonly Detection[], theirs: number[][], image: number): number {
  if (ours.length !== theirs.length) throw new Error(`image ${image}: ${ours.length} detections, OpenCV has ${theirs.length}`);
  const free = new Set(theirs.keys());
  let worst = 0;
  for (const d of ours) {
    const mine = [d.score, d.xmin, d.ymin, d.xmax, d.ymax];
    const candidates = [...free].filter((k) => theirs[k][0] === d.classId).map((k) => ({ k, diff: Math.max(...mine.map((v, j) => Math.abs(v - theirs[k][j + 1]))) }));
    const best = candidates.sort((a, b) => a.diff - b.diff)[0];
    if (!best || best.diff > TOLERANCE) throw new Error(`image ${image}: OpenCV has no match for ${d.label} ${d.score} (closest differs by ${best?.diff})`);
    free.delete(best.k);
    worst = Math.max(worst, best.diff);
  }
  return worst;
}

describe('VGG16-SSD 300 (weiliu89 deploy.prototxt) from Caffe', () => {
  let dir: string;
  let files: { prototxt: string; caffemodel: string };
  let modelPath: string;
  let spec: SsdSpec;
  let lines: string[];
  let nodes: NodeProto[];
  let bytes: Uint8Array;

  beforeAll(() => {
    dir = tempDir('vgg16-ssd');
    const fixture = vgg16SsdCaffe();
    files = { prototxt: path.join(dir, 'deploy.prototxt'), caffemodel: path.join(dir, 'VGG_VOC0712_SSD_300x300.caffemodel') };
    fs.writeFileSync(files.prototxt, fixture.prototxt);
    fs.writeFileSync(files.caffemodel, writeCaffemodel(fixture.layers));
    const imported = importCaffeFiles(files, { preprocess: VGG16_SSD_PREPROCESS });
    lines = imported.provenance.lines;
    nodes = imported.model.graph?.node ?? [];
    bytes = encodeModel(imported.model);
    modelPath = path.join(dir, 'vgg16-ssd.onnx');
    fs.writeFileSync(modelPath, bytes);
    spec = specFromMetadata(inspectModel(bytes).metadata);
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('imports every layer of the deploy net, Normalize included, to outputs of 8732 priors', () => {
    expect(lines[0]).toBe(
      "caffe: net 'VGG_VOC0712_SSD_300x300_deploy', 101 layers (layer form): Convolution 35, ReLU 23, Flatten 13, Permute 12, PriorBox 6, Pooling 5, Concat 3, DetectionOutput 1, Normalize 1, Reshape 1, Softmax 1",
    );
    expect(lines).toContain('  inputs: data [N,3,300,300]; outputs: mbox_loc [N,8732,4], mbox_conf [N,8732,21]');
    const info = inspectModel(bytes);
    expect(info.opCounts).toEqual({ Add: 1, Concat: 2, Conv: 35, Div: 1, Flatten: 13, MaxPool: 5, Mul: 1, ReduceSumSquare: 1, Relu: 23, Reshape: 3, Softmax: 1, Sqrt: 1, Transpose: 12 });
    // conv4_3_norm: per position across channels, eps under the root, a scale per channel.
    expect(ints(node(nodes, 'conv4_3_norm/sumsq'), 'axes')).toEqual([1]);
    expect(node(nodes, 'conv4_3_norm').input?.[0]).toBe(node(nodes, 'conv4_3_norm/div').output?.[0]);
  });

  it('maps fc6 as a dilated convolution and pool5 as a 3x3 stride-1 pad-1 max pooling', () => {
    const fc6 = node(nodes, 'fc6');
    expect([ints(fc6, 'kernel_shape'), ints(fc6, 'dilations'), ints(fc6, 'pads'), ints(fc6, 'strides')]).toEqual([[3, 3], [6, 6], [6, 6, 6, 6], [1, 1]]);
    const pool5 = node(nodes, 'pool5');
    expect([pool5.op_type, ints(pool5, 'kernel_shape'), ints(pool5, 'strides'), ints(pool5, 'pads')]).toEqual(['MaxPool', [3, 3], [1, 1], [1, 1, 1, 1]]);
    // pool3 rounds up as Caffe does: 75 -> 38.
    expect(ints(node(nodes, 'pool3'), 'pads')).toEqual([0, 0, 1, 1]);
  });

  it('carries the PriorBox heads with their explicit steps and offset, and the preprocessing it was given', () => {
    expect(spec.priors.kind).toBe('priorbox');
    const heads = spec.priors.kind === 'priorbox' ? spec.priors.heads : [];
    expect(heads.map((h) => [h.featureMap[0], h.step, h.offset, h.minSizes[0], h.maxSizes?.[0], h.aspectRatios])).toEqual([
      [38, 8, 0.5, 30, 60, [2]],
      [19, 16, 0.5, 60, 111, [2, 3]],
      [10, 32, 0.5, 111, 162, [2, 3]],
      [5, 64, 0.5, 162, 213, [2, 3]],
      [3, 100, 0.5, 213, 264, [2]],
      [1, 300, 0.5, 264, 315, [2]],
    ]);
    expect(buildPriors(spec).count).toBe(8732);
    expect(spec.input).toEqual({ name: 'data', width: 300, height: 300, channelOrder: 'BGR', mean: [104, 117, 123], scale: 1, resize: 'warp' });
    expect(spec.nms).toEqual({ scoreThreshold: expect.closeTo(0.01, 9), iouThreshold: expect.closeTo(0.45, 7), topK: 400, keepTopK: 200, eta: 1 });
    expect(lines).toContain('  preprocessing: BGR, mean 104/117/123, scale 1, as given');
  });

  it('says which preprocessing it assumed when none or part of it is given', () => {
    const prototxt = fs.readFileSync(files.prototxt, 'utf8');
    const weights = fs.readFileSync(files.caffemodel);
    const none = importCaffe(prototxt, weights);
    expect(none.summary.preprocess).toEqual({ mean: [127.5, 127.5, 127.5], scale: 0.007843, channelOrder: 'BGR', assumed: ['mean', 'scale', 'channelOrder'] });
    expect(none.spec?.input.mean).toEqual([127.5, 127.5, 127.5]);
    const part = importCaffe(prototxt, weights, { preprocess: { mean: [104, 117, 123], scale: 1 } });
    expect(part.summary.preprocess?.assumed).toEqual(['channelOrder']);
    expect(importCaffeFiles(files).provenance.lines).toContain(
      "  preprocessing: BGR, mean 127.5/127.5/127.5, scale 0.007843, assumed (not given: mean, scale, channelOrder): chuanqi305 MobileNet-SSD's; a deploy prototxt does not carry it",
    );
  });

  it('still refuses an unsupported layer with its name and prototxt line', () => {
    const text = fs.readFileSync(files.prototxt, 'utf8');
    const line = text.split('\n').findIndex((l) => l.includes('name: "conv4_3_norm"'));
    const changed = text.replace('type: "Normalize"', 'type: "L2Normalization"');
    expect(() => importCaffe(changed, fs.readFileSync(files.caffemodel), { prototxtName: 'deploy.prototxt' })).toThrow(CaffeImportError);
    // The layer's line: the `layer {` just above its name.
    expect(() => importCaffe(changed, fs.readFileSync(files.caffemodel), { prototxtName: 'deploy.prototxt' })).toThrow(
      new RegExp(`^deploy\\.prototxt:${line}: layer 'conv4_3_norm' has type 'L2Normalization', which the Caffe importer does not support`),
    );
  });

  describeOracle('against OpenCV dnn on real photos', () => {
    let cv: ReturnType<typeof runOpenCv>;

    beforeAll(() => {
      requireOpenCv();
      for (const p of PHOTOS) if (!fs.existsSync(p)) throw new Error(`${p} is missing: install python3-skimage, or set SSD_SKIP_FACE_PHOTOS=1`);
      cv = runOpenCv(
        {
          ...files,
          shape: [PHOTOS.length, 3, 300, 300],
          images: PHOTOS,
          blob: { mean: VGG16_SSD_PREPROCESS.mean, scale: VGG16_SSD_PREPROCESS.scale, swapRB: false },
          outputs: ['mbox_loc', 'mbox_conf_flatten', 'detection_out'],
          perImage: true,
          detectionOutput: 'detection_out',
        },
        dir,
      );
    });

    it('preprocesses the photos as OpenCV does (imread + blobFromImages), value for value', async () => {
      const ours = new Float32Array(PHOTOS.length * 3 * 300 * 300);
      for (const [i, p] of PHOTOS.entries()) {
        const image = await decodeImage({ kind: 'encoded', bytes: fs.readFileSync(p) }, { maxPixels: 1 << 24, maxBytes: 1 << 26 });
        preprocessInto(image, spec.input, ours, i * 3 * 300 * 300);
      }
      expect(maxAbsDiff(ours, (cv.outputs.get('blob') as OracleOutput).data)).toBe(0);
    });

    it('mbox_loc and mbox_conf equal OpenCV to 1e-4 on the same blob', async () => {
      const blob = cv.outputs.get('blob') as OracleOutput;
      const session = await ort.InferenceSession.create(modelPath);
      try {
        const out = await session.run({ data: new ort.Tensor('float32', blob.data, blob.shape) });
        const loc = maxAbsDiff(out.mbox_loc.data as Float32Array, (cv.outputs.get('mbox_loc') as OracleOutput).data);
        const conf = maxAbsDiff(out.mbox_conf.data as Float32Array, (cv.outputs.get('mbox_conf_flatten') as OracleOutput).data);
        expect(loc).toBeLessThanOrEqual(TOLERANCE);
        expect(conf).toBeLessThanOrEqual(TOLERANCE);
        log(`mbox_loc max abs diff ${loc.toExponential(2)}, mbox_conf ${conf.toExponential(2)}; OpenCV ${cv.opencv} forward ${cv.ms.toFixed(0)} ms for ${PHOTOS.length} photos`);
      } finally {
        await session.release();
      }
    });

    it('served as the detector serves it (spec alone), its detections equal OpenCV DetectionOutput as sets, scores and boxes within 1e-4', async () => {
      const pipeline = await SsdPipeline.load(modelPath);
      try {
        const ours = await pipeline.detect(PHOTOS.map((p) => ({ kind: 'encoded' as const, bytes: fs.readFileSync(p) })));
        const detections = cv.outputs.get('detection_out') as OracleOutput;
        const worst = ours.map((dets, i) => matchAsSets(dets, opencvRows(detections, i), i));
        // Every photo has detections, so the sets compared are not empty.
        expect(ours.every((d) => d.length > 0)).toBe(true);
        log(`detections per photo ${ours.map((d) => d.length).join(', ')}, equal as sets; max score/box diff ${Math.max(...worst).toExponential(2)}`);
      } finally {
        await pipeline.release();
      }
    });
  });
});

describe.each([
  ['across_spatial true, channel_shared true, eps 0.5', 'across_spatial: true\n  channel_shared: true\n  eps: 0.5', [1]],
  ['across_spatial false, channel_shared true, default eps', 'across_spatial: false', [1]],
  ['across_spatial false, channel_shared false, eps 0.001', 'across_spatial: false\n  channel_shared: false\n  eps: 0.001', [4]],
] as const)('Normalize (%s)', (_label, params, scaleShape) => {
  const describeCv = SKIP_OPENCV ? describe.skip : describe;
  describeCv('against OpenCV dnn', () => {
    it('equals OpenCV NormalizeBBox to 1e-4 relative', async () => {
      requireOpenCv();
      const rng = new Prng(17);
      const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
      // A convolution in front gives the Normalize input values of both signs and sizes.
      const prototxt = [
        inputHeader('data', [1, 3, 7, 7]),
        layerText({ name: 'conv', type: 'Convolution', bottom: ['data'], top: ['conv'], params: 'convolution_param {\n  num_output: 4\n  pad: 1\n  kernel_size: 3\n}' }),
        layerText({ name: 'norm', type: 'Normalize', bottom: ['conv'], top: ['norm'], params: `norm_param {\n  ${params}\n}` }),
      ].join('\n');
      const weights = writeCaffemodel([
        { name: 'conv', type: 'Convolution', blobs: [{ shape: [4, 3, 3, 3], data: uniform(108, -0.5, 0.5) }, { shape: [4], data: uniform(4, -0.2, 0.2) }] },
        { name: 'norm', type: 'Normalize', blobs: [{ shape: [...scaleShape], data: uniform(scaleShape[0], 0.5, 3) }] },
      ]);
      const dir = tempDir('normalize');
      try {
        const files = { prototxt: path.join(dir, 'n.prototxt'), caffemodel: path.join(dir, 'n.caffemodel') };
        fs.writeFileSync(files.prototxt, `${prototxt}\n`);
        fs.writeFileSync(files.caffemodel, weights);
        const input = testImages(2, 7, 23);
        const cv = runOpenCv({ ...files, shape: [2, 3, 7, 7], data: input, outputs: ['norm'] }, dir);
        const session = await ort.InferenceSession.create(encodeModel(importCaffe(prototxt, weights).model));
        try {
          const out = await session.run({ data: new ort.Tensor('float32', input, [2, 3, 7, 7]) });
          const theirs = cv.outputs.get('norm') as OracleOutput;
          expect([...out.norm.dims]).toEqual(theirs.shape);
          expect(maxRelDiff(out.norm.data as Float32Array, theirs.data)).toBeLessThanOrEqual(TOLERANCE);
        } finally {
          await session.release();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
