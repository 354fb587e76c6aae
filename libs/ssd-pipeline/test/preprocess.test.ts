import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Prng } from '@edge-ssd/prng';
import { MOBILENET_SSD_VOC_300, type InputSpec } from '@edge-ssd/ssd-core';
import { inputToImageScale, preprocessInto, type PixelImage } from '../src';

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
  const rng = new Prng(seed);
  const next = (): number => rng.nextUint32() >>> 24;
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

/** The image as the reference pipeline holds it: interleaved in the model's channel order. */
function inModelOrder(image: PixelImage, spec: InputSpec): PixelImage {
  if (image.order === spec.channelOrder) return image;
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = image.data[i + 2]!;
    data[i + 1] = image.data[i + 1]!;
    data[i + 2] = image.data[i]!;
  }
  return { ...image, data, order: spec.channelOrder };
}

/** Bytes (of the resized image, before normalisation) where ours and cv2.resize differ. */
function differingBytes(image: PixelImage, spec: InputSpec): { differing: number; total: number } {
  const expected = cv2Resize(inModelOrder(image, spec), spec.width, spec.height, spec.resize === 'letterbox');
  const out = new Float32Array(3 * spec.width * spec.height);
  preprocessInto(image, spec, out, 0);
  const plane = spec.width * spec.height;
  let differing = 0;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const ours = Math.round(out[c * plane + p]! / spec.scale + spec.mean[c]!);
      if (ours !== expected[p * 3 + c]) differing++;
    }
  }
  return { differing, total: 3 * plane };
}

describe('preprocessing equals cv2.resize (OpenCV 4.6, INTER_LINEAR, uint8) byte for byte', () => {
  it.each([
    [640, 480, 'down'],
    [1000, 750, 'down'],
    [3000, 2000, 'down, large'],
    [600, 600, 'exactly 2x: INTER_AREA'],
    [601, 600, 'almost 2x'],
    [123, 77, 'odd, up'],
    [299, 301, 'odd, near'],
    [150, 150, 'exactly 2x up'],
    [37, 300, 'tall'],
    [4000, 17, 'wide'],
    [64, 48, 'small'],
    [2, 3, 'tiny'],
    [1, 1, 'one pixel'],
    [300, 300, 'same size'],
  ])('%ix%i to 300x300 (%s)', (w, h) => {
    expect(differingBytes(seededImage(w, h, w * 31 + h), input)).toEqual({ differing: 0, total: 270000 });
  });

  it.each([
    [640, 480, 'down'],
    [1024, 768, 'exactly 2x on the padded square: INTER_AREA'],
    [300, 700, 'tall'],
    [512, 512, 'same size'],
    [512, 384, 'same side, padded'],
    [97, 41, 'up'],
  ])('%ix%i padded bottom/right and resized to 512x512 (%s)', (w, h) => {
    const box: InputSpec = { ...input, width: 512, height: 512, resize: 'letterbox' };
    expect(differingBytes(seededImage(w, h, w + h * 7), box)).toEqual({ differing: 0, total: 3 * 512 * 512 });
  });

  it('stays exact when the decoded image (RGB) is not in the model order (BGR), at odd output sizes too', () => {
    const rgb = { ...seededImage(333, 222, 5), order: 'RGB' as const };
    expect(differingBytes(rgb, input)).toEqual({ differing: 0, total: 270000 });
    expect(differingBytes(rgb, { ...input, width: 317, height: 250 })).toEqual({ differing: 0, total: 3 * 317 * 250 });
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
