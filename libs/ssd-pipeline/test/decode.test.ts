import sharp from 'sharp';
import { decodeImage, decodeProbed, fastDecodeSize, ImageError, probeImage, sniffFormat } from '../src';

const limits = { maxPixels: 1000 * 1000, maxBytes: 1 << 20 };

async function solid(width: number, height: number): Promise<sharp.Sharp> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 100, b: 50 } } });
}

async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ImageError);
  return error as ImageError;
}

describe('image decoding', () => {
  it('decodes JPEG, PNG (with alpha) and WebP to 3-channel RGB at full size', async () => {
    for (const encoded of [await (await solid(40, 30)).jpeg().toBuffer(), await (await solid(40, 30)).ensureAlpha(0.3).png().toBuffer(), await (await solid(40, 30)).webp({ lossless: true }).toBuffer()]) {
      const image = await decodeImage({ kind: 'encoded', bytes: encoded }, limits);
      expect([image.width, image.height, image.order, image.data.length]).toEqual([40, 30, 'RGB', 40 * 30 * 3]);
    }
  });

  it('expands greyscale images to three channels', async () => {
    const grey = await (await solid(8, 8)).greyscale().png().toBuffer();
    const image = await decodeImage({ kind: 'encoded', bytes: grey }, limits);
    expect(image.data.length).toBe(8 * 8 * 3);
    expect(image.data[0]).toBe(image.data[1]);
  });

  it('applies EXIF orientation, so a rotated JPEG reports its displayed size', async () => {
    const jpeg = await (await solid(40, 20)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const image = await decodeImage({ kind: 'encoded', bytes: jpeg }, limits);
    expect([image.width, image.height]).toEqual([20, 40]);
  });

  it('probes the displayed size of an EXIF-rotated image, before decoding it', async () => {
    const jpeg = await (await solid(40, 20)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const probe = await probeImage({ kind: 'encoded', bytes: jpeg }, limits);
    expect([probe.width, probe.height]).toEqual([20, 40]);
  });

  it('fast path: resizes while decoding only an encoded image larger than the input on both axes', () => {
    const warp = { width: 300, height: 300, resize: 'warp' as const };
    const letterbox = { width: 512, height: 512, resize: 'letterbox' as const };
    const probe = (format: 'jpeg' | 'raw', width: number, height: number) => ({ format, width, height, pixelBytes: 0, decodeBytes: 0 });
    expect(fastDecodeSize(probe('jpeg', 640, 480), warp)).toEqual({ width: 300, height: 300 });
    expect(fastDecodeSize(probe('jpeg', 640, 300), warp)).toBeUndefined();
    expect(fastDecodeSize(probe('raw', 4000, 3000), warp)).toBeUndefined();
    // A letterbox keeps the aspect ratio: the longer side becomes the input's.
    expect(fastDecodeSize(probe('jpeg', 1280, 960), letterbox)).toEqual({ width: 512, height: 384 });
    expect(fastDecodeSize(probe('jpeg', 600, 200), letterbox)).toEqual({ width: 512, height: 171 });
    expect(fastDecodeSize(probe('jpeg', 512, 200), letterbox)).toBeUndefined();
  });

  it('fast path: decodes a large JPEG straight to the requested size, EXIF rotation applied first', async () => {
    const jpeg = await (await solid(1600, 1200)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const source = { kind: 'encoded' as const, bytes: jpeg };
    const probe = await probeImage(source, { maxPixels: 4000 * 4000, maxBytes: 1 << 22 });
    const size = fastDecodeSize(probe, { width: 512, height: 512, resize: 'letterbox' })!;
    expect(size).toEqual({ width: 384, height: 512 });
    const image = await decodeProbed(source, probe, { maxPixels: 4000 * 4000, maxBytes: 1 << 22 }, size);
    expect([image.width, image.height, image.data.length]).toEqual([384, 512, 384 * 512 * 3]);
    // A solid colour stays that colour (within JPEG's own error).
    expect(Math.abs(image.data[3 * (200 * 384 + 200)]! - 200)).toBeLessThanOrEqual(3);
  });

  it('only lets JPEG, PNG and WebP reach the decoder', async () => {
    expect(sniffFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    const gif = await (await solid(4, 4)).gif().toBuffer();
    expect(sniffFormat(gif)).toBeUndefined();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>');
    for (const encoded of [gif, svg, Buffer.alloc(0)]) {
      const error = await rejection(decodeImage({ kind: 'encoded', bytes: encoded }, limits));
      expect(error.problem).toBe('invalid');
    }
  });

  it('gives INVALID_ARGUMENT for truncated and corrupt files, naming the format', async () => {
    const png = await (await solid(64, 64)).png().toBuffer();
    const error = await rejection(decodeImage({ kind: 'encoded', bytes: png.subarray(0, 60) }, limits));
    expect(error.problem).toBe('invalid');
    expect(error.message).toMatch(/^cannot decode png image/);
  });

  it('gives RESOURCE_EXHAUSTED for images over the pixel limit, encoded or raw', async () => {
    const big = await (await solid(1001, 1000)).png().toBuffer();
    expect((await rejection(decodeImage({ kind: 'encoded', bytes: big }, limits))).problem).toBe('too-large');
    const raw = { kind: 'raw' as const, width: 2000, height: 1000, order: 'RGB' as const, data: Buffer.alloc(6) };
    expect((await rejection(decodeImage(raw, limits))).problem).toBe('too-large');
  });

  it('rejects a tiny PNG that declares a 30000x30000 image from its header, before decoding', async () => {
    const error = await rejection(decodeImage({ kind: 'encoded', bytes: pngDeclaring(30000, 30000) }, limits));
    expect(error.problem).toBe('too-large');
    expect(error.message).toMatch(/pixel limit/);
  });

  it('gives RESOURCE_EXHAUSTED for files over the byte limit', async () => {
    const encoded = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(limits.maxBytes)]);
    expect((await rejection(decodeImage({ kind: 'encoded', bytes: encoded }, limits))).problem).toBe('too-large');
  });

  it('validates raw images: size, pixel format and data length', async () => {
    const cases = [
      { kind: 'raw' as const, width: 0, height: 2, order: 'RGB' as const, data: Buffer.alloc(0) },
      { kind: 'raw' as const, width: 2, height: 2, order: undefined, data: Buffer.alloc(12) },
      { kind: 'raw' as const, width: 2, height: 2, order: 'BGR' as const, data: Buffer.alloc(11) },
    ];
    for (const raw of cases) {
      expect((await rejection(decodeImage(raw, limits))).problem).toBe('invalid');
    }
    const ok = await decodeImage({ kind: 'raw', width: 2, height: 2, order: 'BGR', data: Buffer.alloc(12, 7) }, limits);
    expect([ok.order, ok.data.length, ok.data.buffer.byteLength]).toEqual(['BGR', 12, 12]);
  });

  it('rejects an image with no data', async () => {
    expect((await rejection(decodeImage({ kind: 'encoded', bytes: new Uint8Array(0) }, limits))).problem).toBe('invalid');
  });
});

// A PNG whose IHDR declares width x height, with a token IDAT: a decompression bomb's header.
function pngDeclaring(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer): number => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
