// The benchmark's images: 640x480 JPEGs of real photos when Debian's python3-skimage is installed
// (its sample images: astronaut, coffee, chelsea, rocket, ...), synthetic scenes otherwise.
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut.png', 'coffee.png', 'chelsea.png', 'rocket.png', 'motorcycle_left.png', 'hubble_deep_field.jpg', 'immunohistochemistry.png', 'retina.jpg'];

export interface BenchImages {
  source: string;
  jpegs: Buffer[];
}

export async function benchImages(count: number, width = 640, height = 480): Promise<BenchImages> {
  const photos = existsSync(SKIMAGE_DATA) ? PHOTOS.filter((name) => readdirSync(SKIMAGE_DATA).includes(name)) : [];
  const jpegs: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const base =
      photos.length > 0
        ? sharp(path.join(SKIMAGE_DATA, photos[i % photos.length]!)).removeAlpha().toColourspace('srgb')
        : sharp({ create: { width, height, channels: 3, background: { r: (i * 53) % 256, g: (i * 97) % 256, b: (i * 31) % 256 } } });
    // Flip every other round so repeated photos are still different images.
    const variant = Math.floor(i / Math.max(1, photos.length)) % 2 === 1 ? base.flop() : base;
    jpegs.push(await variant.resize(width, height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  }
  return { source: photos.length > 0 ? `python3-skimage photos (${photos.join(', ')})` : 'synthetic scenes', jpegs };
}
