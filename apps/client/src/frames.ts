// Where a stream's frames come from: image files (a directory's sorted by name), or a video that
// Debian's ffmpeg (optional, never a dependency) decodes to a stream of JPEGs.
import { spawn, spawnSync } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';

export interface FrameSource {
  /** File name for the output and the annotated copy. */
  name: string;
  bytes: Buffer;
}

const IMAGE = /\.(jpe?g|png|webp)$/i;

/** The files given, a directory standing for its images sorted by name. */
export async function frameFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    if (!(await stat(p)).isDirectory()) {
      files.push(p);
      continue;
    }
    const names = (await readdir(p)).filter((n) => IMAGE.test(n)).sort();
    if (names.length === 0) throw new Error(`${p} has no .jpg, .png or .webp images`);
    files.push(...names.map((n) => path.join(p, n)));
  }
  return files;
}

/** Reads each file when its frame is due, so a long sequence is never held whole. */
export async function* filesAsFrames(files: readonly string[]): AsyncGenerator<FrameSource> {
  for (const file of files) yield { name: file, bytes: await readFile(file) };
}

/** Why --video cannot run here, or undefined when ffmpeg is installed. */
export function ffmpegMissing(command = 'ffmpeg'): string | undefined {
  const probe = spawnSync(command, ['-version'], { stdio: 'ignore' });
  if (!probe.error && probe.status === 0) return undefined;
  return (
    `--video needs ffmpeg, which is not installed here (${command}: ${probe.error ? (probe.error as NodeJS.ErrnoException).code : `exit ${probe.status}`}). ` +
    `It is optional: install Debian's ffmpeg package (apt-get install ffmpeg), or extract the frames elsewhere ` +
    `(ffmpeg -i video.mp4 -vf fps=30 frames/%06d.jpg) and stream the directory: npm run detect -- --stream frames/`
  );
}

/**
 * Cuts a stream of concatenated JPEGs (ffmpeg's image2pipe of mjpeg) into images: each runs from
 * its start-of-image marker to its end-of-image marker. ffmpeg's JPEGs carry no embedded thumbnail,
 * and entropy-coded data never holds FF D9 (a data byte FF is always followed by 00), so the
 * first end marker after a start is that image's end.
 */
export class JpegSplitter {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const images: Buffer[] = [];
    for (;;) {
      const start = this.pending.indexOf(SOI);
      if (start < 0) {
        // Keep a trailing FF: it may begin the next start marker.
        this.pending = this.pending.subarray(this.pending.length - (this.pending[this.pending.length - 1] === 0xff ? 1 : 0));
        return images;
      }
      const end = this.pending.indexOf(EOI, start + 2);
      if (end < 0) {
        this.pending = this.pending.subarray(start);
        return images;
      }
      images.push(Buffer.from(this.pending.subarray(start, end + 2)));
      this.pending = this.pending.subarray(end + 2);
    }
  }
}

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

/** A video's frames at `fps`, as JPEGs decoded by ffmpeg (call ffmpegMissing first). */
export async function* videoFrames(file: string, fps: number, command = 'ffmpeg'): AsyncGenerator<FrameSource> {
  const ffmpeg = spawn(command, ['-v', 'error', '-i', file, '-vf', `fps=${fps}`, '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '3', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const errors: Buffer[] = [];
  ffmpeg.stderr.on('data', (b: Buffer) => errors.push(b));
  const exited = new Promise<number | null>((resolve) => ffmpeg.once('close', resolve));
  const splitter = new JpegSplitter();
  const base = path.basename(file, path.extname(file));
  let n = 0;
  try {
    for await (const chunk of ffmpeg.stdout) {
      for (const bytes of splitter.push(chunk as Buffer)) yield { name: `${base}-${String(++n).padStart(6, '0')}.jpg`, bytes };
    }
    const code = await exited;
    if (code !== 0) throw new Error(`ffmpeg failed on ${file} (exit ${code}): ${Buffer.concat(errors).toString().trim()}`);
  } finally {
    if (ffmpeg.exitCode === null) ffmpeg.kill();
  }
}
