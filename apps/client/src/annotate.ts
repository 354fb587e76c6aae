// Draws detections onto a copy of the image: an SVG overlay composited by sharp, so no
// canvas dependency is needed.
import sharp from 'sharp';
import type { ImageResult } from '@edge-ssd/protos';

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990'];

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

export function overlaySvg(result: ImageResult): string {
  const { width, height } = result;
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
  const fontSize = Math.max(12, Math.round(Math.min(width, height) / 30));
  // A detection always carries its box; a message without one draws nothing.
  const shapes = result.detections.flatMap((d) => {
    if (!d.pixelBox) return [];
    const color = PALETTE[d.classId % PALETTE.length];
    const { xmin, ymin, xmax, ymax } = d.pixelBox;
    const x = Math.round(xmin);
    const y = Math.round(ymin);
    const w = Math.max(1, Math.round(xmax - xmin));
    const h = Math.max(1, Math.round(ymax - ymin));
    const label = escapeXml(`${d.label} ${d.score.toFixed(2)}`);
    const ty = Math.max(fontSize, y - stroke);
    return (
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${color}" stroke-width="${stroke}"/>` +
      `<text x="${Math.max(0, x)}" y="${ty}" font-family="sans-serif" font-size="${fontSize}" fill="${color}" stroke="black" stroke-width="0.5">${label}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
}

/** The image as the detector saw it (EXIF-oriented) with the boxes drawn, in its own format. */
export async function annotate(image: Uint8Array, result: ImageResult): Promise<Buffer> {
  const base = sharp(image).rotate();
  const { format } = await sharp(image).metadata();
  const drawn = base.composite([{ input: Buffer.from(overlaySvg(result)), top: 0, left: 0 }]);
  return format === 'png' ? drawn.png().toBuffer() : format === 'webp' ? drawn.webp().toBuffer() : drawn.jpeg({ quality: 92 }).toBuffer();
}
