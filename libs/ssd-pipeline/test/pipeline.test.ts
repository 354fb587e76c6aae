// The one-thread pipeline: encoded or raw images in, the detector's detections out.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { ImageError, SsdPipeline, SsdSession, decodeImage } from '../src';
import { DEFAULT_DECODE_LIMITS } from '../src/pipeline';
import { TINY_SPEC, writeTinySsdModel } from '../src/testing';

let dir: string;
let model: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ssd-pipeline-'));
  model = writeTinySsdModel(dir, 'tiny.onnx');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const png = (rgb: [number, number, number]) => sharp({ create: { width: 12, height: 9, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();

describe('SsdPipeline', () => {
  it('loads the spec the model carries and answers like the session on the same decoded pixels', async () => {
    const pipeline = await SsdPipeline.load(model, { maxBatch: 2 });
    const session = await SsdSession.create(model, TINY_SPEC, { intraOpThreads: 1, maxBatch: 2 });
    try {
      expect(pipeline.model.spec).toEqual(TINY_SPEC);
      const images = [{ kind: 'encoded' as const, bytes: await png([0, 0, 0]) }, { kind: 'encoded' as const, bytes: await png([255, 0, 0]) }];
      const got = await pipeline.detect(images);
      const decoded = await Promise.all(images.map((i) => decodeImage(i, DEFAULT_DECODE_LIMITS)));
      expect(got).toEqual(await session.run(decoded.map((image) => ({ image, options: {} }))));
      // Black is mostly cat, red mostly dog: the answers belong to their images.
      expect(got.map((d) => d[0]!.label)).toEqual(['cat', 'dog']);
    } finally {
      await pipeline.release();
      await session.release();
    }
  });

  it('runs more images than maxBatch in several session runs, in order', async () => {
    const pipeline = await SsdPipeline.load(model, { maxBatch: 2 });
    try {
      const colours: [number, number, number][] = [[0, 0, 0], [255, 0, 0], [0, 0, 0], [255, 0, 0], [0, 0, 0]];
      const got = await pipeline.detect(await Promise.all(colours.map(async (c) => ({ kind: 'encoded' as const, bytes: await png(c) }))));
      expect(got.map((d) => d[0]!.label)).toEqual(['cat', 'dog', 'cat', 'dog', 'cat']);
    } finally {
      await pipeline.release();
    }
  });

  it('refuses an image it cannot decode with the decoder\'s ImageError, before running anything', async () => {
    const pipeline = await SsdPipeline.load(model);
    try {
      await expect(pipeline.detect([{ kind: 'encoded', bytes: new TextEncoder().encode('not an image') }])).rejects.toBeInstanceOf(ImageError);
    } finally {
      await pipeline.release();
    }
  });
});
