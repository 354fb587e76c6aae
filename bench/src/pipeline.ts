// Where the service's time goes besides the model: the detector's own decode (sharp) and
// preprocessing (resize + normalise) per image, single-threaded, on the benchmark's JPEGs.
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import { decodeImage, preprocessInto } from '@edge-ssd/ssd-pipeline';
import { elapsedMs, summarize, type Summary } from './stats';

export interface PipelineCost {
  decodeMs: Summary;
  preprocessMs: Summary;
}

export async function benchPipeline(jpegs: Buffer[], rounds: number): Promise<PipelineCost> {
  const limits = { maxPixels: 4096 * 4096, maxBytes: 32 << 20 };
  const input = MOBILENET_SSD_VOC_300.input;
  const out = new Float32Array(3 * input.width * input.height);
  const decode: number[] = [];
  const preprocess: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    for (const encoded of jpegs) {
      let t0 = process.hrtime.bigint();
      const pixels = await decodeImage({ kind: 'encoded', bytes: encoded }, limits);
      const decodeMs = elapsedMs(t0);
      t0 = process.hrtime.bigint();
      preprocessInto(pixels, input, out, 0);
      const preprocessMs = elapsedMs(t0);
      if (round > 0) {
        decode.push(decodeMs);
        preprocess.push(preprocessMs);
      }
    }
  }
  return { decodeMs: summarize(decode), preprocessMs: summarize(preprocess) };
}
