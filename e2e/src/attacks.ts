// Hostile and heavy traffic, written from the contract alone: what the hostile tests and the
// benchmarks send to a detector or a gateway. Payloads are made once per size and reused.
import sharp from 'sharp';
import type { DetectRequestInit } from '@edge-ssd/protos';

/** A solid-colour image that compresses to almost nothing but decodes to width x height x 3 bytes. */
export async function solidImage(format: 'png' | 'jpeg' | 'pjpeg' | 'webp', width: number, height: number, colour = { r: 200, g: 40, b: 90 }): Promise<Buffer> {
  const image = sharp({ create: { width, height, channels: 3, background: colour } });
  switch (format) {
    case 'png':
      return image.png().toBuffer();
    case 'jpeg':
      return image.jpeg().toBuffer();
    case 'pjpeg':
      return image.jpeg({ progressive: true }).toBuffer();
    case 'webp':
      return image.webp().toBuffer();
  }
}

/** `count` copies of one encoded image in a request. */
export function manyOf(encoded: Buffer, count: number, options: DetectRequestInit['options'] = {}): DetectRequestInit {
  return { images: Array.from({ length: count }, (_, i) => ({ id: `img-${i}`, encoded })), options };
}

/** Options asking for every candidate: the most post-processing a request can ask for. */
export const EVERY_CANDIDATE = { scoreThreshold: 1e-30, iouThreshold: 1, topK: 2 ** 32 - 1, keepTopK: 2 ** 32 - 1 };

/** One-pixel raw images: no decoding cost, so post-processing is all a request costs. */
export function onePixelRaw(count: number, options: DetectRequestInit['options'] = {}): DetectRequestInit {
  return { images: Array.from({ length: count }, (_, i) => ({ id: `px-${i}`, raw: { width: 1, height: 1, format: 'RGB8' as const, data: new Uint8Array([i * 7, 128, 255 - i]) } })), options };
}

/**
 * A DetectRequest's bytes with `count` class ids, encoded by hand: no client library would build
 * one this large, and a server must refuse it before decoding it.
 */
export function classIdsFlood(count: number): Buffer {
  // Packed field 5 of DetectOptions: one varint byte per id (id 1).
  const ids = Buffer.alloc(count, 1);
  const packed = Buffer.concat([Buffer.from([(5 << 3) | 2]), varint(ids.length), ids]);
  return Buffer.concat([Buffer.from([(2 << 3) | 2]), varint(packed.length), packed]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}
