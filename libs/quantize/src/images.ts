// Image sets for calibration and evaluation: files and directories (their JPEG, PNG and WebP files,
// not recursively), in a fixed order, each decoded and preprocessed as the detector does it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '@edge-ssd/importers';
import type { InputSpec } from '@edge-ssd/ssd-core';
import { type DecodeLimits, type PixelImage, decodeImage, preprocessInto } from '@edge-ssd/ssd-pipeline';

export interface NamedImage {
  /** The path as found (a directory's entries joined to it). */
  path: string;
  file: string;
  sha256: string;
  bytes: Uint8Array;
}

const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;
const LIMITS: DecodeLimits = { maxPixels: 4096 * 4096, maxBytes: 32 * 1024 * 1024 };

/** Reads the images of `sources` (files, or directories), ordered by file name then path. */
export function readImages(sources: readonly string[], what: string): NamedImage[] {
  const files: string[] = [];
  for (const source of sources) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(source);
    } catch {
      throw new InputError(`${what} '${source}': no such file or directory`);
    }
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(source).sort()) if (IMAGE_FILE.test(entry) && fs.statSync(path.join(source, entry)).isFile()) files.push(path.join(source, entry));
    } else files.push(source);
  }
  const images = files.map((file) => {
    const bytes = fs.readFileSync(file);
    return { path: file, file: path.basename(file), sha256: createHash('sha256').update(bytes).digest('hex'), bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  });
  if (images.length === 0) throw new InputError(`${what}: no JPEG, PNG or WebP image in ${sources.join(', ')}`);
  return images.sort((a, b) => a.file.localeCompare(b.file) || a.path.localeCompare(b.path));
}

/** Decodes an image exactly as the detector does (no shrink-on-load). */
async function decodeNamed(image: NamedImage): Promise<PixelImage> {
  try {
    return await decodeImage({ kind: 'encoded', bytes: image.bytes }, LIMITS);
  } catch (err) {
    throw new InputError(`image '${image.path}': ${(err as Error).message}`);
  }
}

/** The network input for one image: the detector's preprocessing into a [1, 3, h, w] tensor. */
export async function preprocessNamed(image: NamedImage, input: InputSpec): Promise<Float32Array> {
  const out = new Float32Array(3 * input.width * input.height);
  preprocessInto(await decodeNamed(image), input, out, 0);
  return out;
}
