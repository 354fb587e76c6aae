// The streaming CLI's parts that need no gateway: its arguments, where frames come from, and
// the summary's quantiles. The stream itself is proved end to end (e2e/test/stream.e2e.test.ts).
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { parseClientArgs, UsageError } from '../src/args';
import { ffmpegMissing, frameFiles, JpegSplitter } from '../src/frames';
import { quantile } from '../src/stream';

describe('--stream arguments', () => {
  it('default to 30 fps, the queue policy and the gateway\'s window; --video implies --stream', () => {
    expect(parseClientArgs(['--stream', 'frames/'], {}).stream).toEqual({ fps: 30, policy: 'queue', maxLatencyMs: 0, maxInFlight: 0, video: undefined });
    expect(parseClientArgs(['--stream', '--fps', '12.5', '--policy', 'latest', '--max-latency-ms', '200', '--max-in-flight', '2', 'a.jpg'], {}).stream).toEqual({
      fps: 12.5,
      policy: 'latest',
      maxLatencyMs: 200,
      maxInFlight: 2,
      video: undefined,
    });
    expect(parseClientArgs(['--video', 'clip.mp4'], {}).stream?.video).toBe('clip.mp4');
    expect(parseClientArgs(['a.jpg'], {}).stream).toBeUndefined();
  });

  it('refuse what cannot be streamed', () => {
    expect(() => parseClientArgs(['--stream'], {})).toThrow(new UsageError('no frame files or directory given'));
    expect(() => parseClientArgs(['--stream', '--policy', 'newest', 'a.jpg'], {})).toThrow('--policy is queue or latest, got "newest"');
    expect(() => parseClientArgs(['--stream', '--fps', '0', 'a.jpg'], {})).toThrow('--fps must be a number in (0, 1000]');
    expect(() => parseClientArgs(['--stream', '--max-latency-ms=-5', 'a.jpg'], {})).toThrow('--max-latency-ms must be an integer of at least 0');
    expect(() => parseClientArgs(['--video', 'clip.mp4', 'a.jpg'], {})).toThrow('--video takes the frames from the video');
  });
});

describe('frame sources', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'detect-frames-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('take a directory as its images sorted by name, files as given', async () => {
    const frames = path.join(dir, 'frames');
    mkdirSync(frames);
    for (const name of ['b.jpg', 'a.png', 'c.webp', 'notes.txt', 'a.JPEG']) writeFileSync(path.join(frames, name), '');
    writeFileSync(path.join(dir, 'z.jpg'), '');
    expect(await frameFiles([path.join(dir, 'z.jpg'), frames])).toEqual([path.join(dir, 'z.jpg'), ...['a.JPEG', 'a.png', 'b.jpg', 'c.webp'].map((n) => path.join(frames, n))]);
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    await expect(frameFiles([empty])).rejects.toThrow(`${empty} has no .jpg, .png or .webp images`);
  });

  it('cut a stream of concatenated JPEGs into the images, however the bytes are chunked', async () => {
    const images = await Promise.all([10, 20, 30].map((w) => sharp({ create: { width: w, height: 8, channels: 3, background: { r: w, g: 80, b: 160 } } }).jpeg().toBuffer()));
    const stream = Buffer.concat(images);
    for (const size of [1, 7, 4096]) {
      const splitter = new JpegSplitter();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...splitter.push(stream.subarray(i, i + size)));
      expect(out.map((b) => b.equals(images[out.indexOf(b)]!))).toEqual([true, true, true]);
      expect(await Promise.all(out.map(async (b) => (await sharp(b).metadata()).width))).toEqual([10, 20, 30]);
    }
  });

  it('say how to do without ffmpeg where it is not installed', () => {
    const missing = ffmpegMissing('/nonexistent/ffmpeg');
    expect(missing).toContain('--video needs ffmpeg, which is not installed here (/nonexistent/ffmpeg: ENOENT)');
    expect(missing).toContain('apt-get install ffmpeg');
    // Any command that answers -version with exit 0 counts as installed.
    expect(ffmpegMissing('/bin/true')).toBeUndefined();
  });
});

describe('summary', () => {
  it('takes quantiles by nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([quantile(sorted, 0.5), quantile(sorted, 0.99), quantile([7], 0.99)]).toEqual([50, 99, 7]);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
