import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MOBILENET_SSD_VOC_300, type InputSpec } from '@edge-ssd/ssd-core';
import { inputToImageScale, preprocessInto, type PixelImage } from '../src/worker/preprocess';

// OpenCV is the reference the model was trained and demoed with: cv2.resize(img, (w, h))
// with the default INTER_LINEAR on a uint8 BGR image.
function cv2Resize(image: PixelImage, width: number, height: number, letterbox = false): Uint8Array {
  const dir = mkdtempSync(path.join(tmpdir(), 'cv2-resize-'));
  try {
    const src = path.join(dir, 'src.u8');
    const dst = path.join(dir, 'dst.u8');
    writeFileSync(src, image.data);
    const script = [
      'import sys, numpy as np, cv2',
      'src, dst, h, w, oh, ow = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])',
      'img = np.fromfile(src, dtype=np.uint8).reshape(h, w, 3)',
      ...(letterbox ? ['s = max(h, w)', 'img = cv2.copyMakeBorder(img, 0, s - h, 0, s - w, cv2.BORDER_CONSTANT, value=0)'] : []),
      'cv2.resize(img, (ow, oh)).tofile(dst)',
    ].join('\n');
    execFileSync('/usr/bin/python3', ['-c', script, src, dst, String(image.height), String(image.width), String(height), String(width)]);
    return new Uint8Array(readFileSync(dst));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function seededImage(width: number, height: number, seed: number): PixelImage {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const data = new Uint8Array(width * height * 3);
  // Smooth structure plus noise: interpolation errors show on both.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = (next() + y) & 255;
      data[i + 2] = ((x ^ y) * 7) & 255;
    }
  }
  return { data, width, height, order: 'BGR' };
}

const input: InputSpec = { ...MOBILENET_SSD_VOC_300.input };

describe('preprocessing matches OpenCV', () => {
  it.each([
    [640, 480],
    [300, 300],
    [1000, 750],
    [600, 600],
    [123, 77],
    [37, 300],
    [64, 48],
    [1, 1],
  ])('a %ix%i image resized to 300x300 equals cv2.resize within 1 grey level before normalisation', (w, h) => {
    const image = seededImage(w, h, w * 31 + h);
    const expected = cv2Resize(image, input.width, input.height);
    const out = new Float32Array(3 * input.width * input.height);
    preprocessInto(image, input, out, 0);
    const plane = input.width * input.height;
    let worst = 0;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const ours = out[c * plane + p]! / input.scale + input.mean[c]!;
        worst = Math.max(worst, Math.abs(ours - expected[p * 3 + c]!));
      }
    }
    expect(worst).toBeLessThanOrEqual(1 + 1e-3);
  });
});

describe('letterbox preprocessing matches OpenCV on the zero-padded square', () => {
  it.each([
    [640, 480],
    [300, 700],
    [512, 512],
    [97, 41],
  ])('a %ix%i image padded bottom/right and resized to 512x512 equals cv2 within 1 grey level', (w, h) => {
    const box: InputSpec = { ...input, width: 512, height: 512, resize: 'letterbox' };
    const image = seededImage(w, h, w + h * 7);
    const expected = cv2Resize(image, 512, 512, true);
    const out = new Float32Array(3 * 512 * 512);
    preprocessInto(image, box, out, 0);
    const plane = 512 * 512;
    let worst = 0;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(out[c * plane + p]! / box.scale + box.mean[c]! - expected[p * 3 + c]!));
    }
    expect(worst).toBeLessThanOrEqual(1 + 1e-3);
  });

  it('maps boxes from the padded square back to the image, and leaves warped boxes alone', () => {
    const letterbox: InputSpec = { ...input, resize: 'letterbox' };
    expect(inputToImageScale({ width: 640, height: 480 }, letterbox)).toEqual({ x: 1, y: 640 / 480 });
    expect(inputToImageScale({ width: 300, height: 600 }, letterbox)).toEqual({ x: 2, y: 1 });
    expect(inputToImageScale({ width: 640, height: 480 }, input)).toEqual({ x: 1, y: 1 });
  });
});

describe('preprocessing layout', () => {
  it('writes (x - mean) * scale in NCHW at the given batch offset and leaves the rest alone', () => {
    const image: PixelImage = { data: new Uint8Array([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]), width: 2, height: 2, order: 'BGR' };
    const tiny: InputSpec = { ...input, width: 2, height: 2 };
    const out = new Float32Array(2 * 12).fill(99);
    preprocessInto(image, tiny, out, 12);
    expect(Array.from(out.subarray(0, 12))).toEqual(new Array(12).fill(99));
    const expected = [10, 20, 30].flatMap((v) => new Array(4).fill(Math.fround((v - 127.5) * 0.007843)));
    expect(Array.from(out.subarray(12))).toEqual(expected.map((v) => expect.closeTo(v, 6)));
  });

  it('swaps channels when the image order differs from the model order', () => {
    const rgb: PixelImage = { data: new Uint8Array([200, 100, 0]), width: 1, height: 1, order: 'RGB' };
    const out = new Float32Array(3);
    preprocessInto(rgb, { ...input, width: 1, height: 1, mean: [0, 0, 0], scale: 1 }, out, 0);
    expect(Array.from(out)).toEqual([0, 100, 200]);
  });

  it('rejects pixel data whose length does not match the size', () => {
    const bad: PixelImage = { data: new Uint8Array(5), width: 2, height: 1, order: 'RGB' };
    expect(() => preprocessInto(bad, input, new Float32Array(3 * 300 * 300), 0)).toThrow(/expected 6/);
  });
});
