// onnxruntime-node alone: the model's own speed, the yardstick for everything around it.
import * as ort from 'onnxruntime-node';
import { Prng } from '@edge-ssd/prng';
import { elapsedMs, summarize, type Summary } from './stats';

export interface RawOrtCase {
  model: string;
  batch: number;
  threads: number;
  optimization: 'disabled' | 'all';
  /** Per-run latency, ms. */
  latencyMs: Summary;
  /** Images/s of each run. */
  imagesPerSecond: Summary;
  samplesMs: number[];
}

/** Runs of the same case measured at different times, as one case. */
export function mergeRawOrt(cases: RawOrtCase[]): RawOrtCase {
  const samplesMs = cases.flatMap((c) => c.samplesMs);
  const batch = cases[0]!.batch;
  return { ...cases[0]!, samplesMs, latencyMs: summarize(samplesMs), imagesPerSecond: summarize(samplesMs.map((ms) => (batch * 1000) / ms)) };
}

export async function benchRawOrt(
  modelPath: string,
  label: string,
  batch: number,
  threads: number,
  runs: number,
  optimization: 'disabled' | 'all' = 'all',
  inputSize = 300,
): Promise<RawOrtCase> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: optimization,
  });
  try {
    const input = session.inputNames[0]!;
    const data = new Float32Array(batch * 3 * inputSize * inputSize);
    const rng = new Prng(7);
    for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-1, 1);
    const feeds = { [input]: new ort.Tensor('float32', data, [batch, 3, inputSize, inputSize]) };
    for (let i = 0; i < 2; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = process.hrtime.bigint();
      await session.run(feeds);
      times.push(elapsedMs(started));
    }
    return {
      model: label,
      batch,
      threads,
      optimization,
      latencyMs: summarize(times),
      imagesPerSecond: summarize(times.map((ms) => (batch * 1000) / ms)),
      samplesMs: times,
    };
  } finally {
    await session.release();
  }
}
