// The whole path in one thread, for tools, benchmarks and tests: encoded or raw images in,
// detections out, decoded and preprocessed exactly as the detector does it (which spreads the same
// steps over its main thread and a worker pool).
import type { Detection, DetectOptions, SsdSpec } from '@edge-ssd/ssd-core';
import { decodeImage, type DecodeLimits } from './decode';
import type { ImageSource } from './image';
import { loadModel, type LoadedModel } from './model';
import { SsdSession, type SessionOptions } from './session';

type PipelineOptions = Partial<SessionOptions> & { limits?: DecodeLimits };

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxPixels: 4096 * 4096, maxBytes: 32 * 1024 * 1024 };

export class SsdPipeline {
  private constructor(
    readonly session: SsdSession,
    private readonly limits: DecodeLimits,
  ) {}

  /** A pipeline over a model file, driven by the spec the model carries (loadModel). */
  static async load(modelPath: string, options: PipelineOptions = {}): Promise<SsdPipeline & { model: LoadedModel }> {
    const model = await loadModel(modelPath);
    return Object.assign(await SsdPipeline.create(modelPath, model.spec, options), { model });
  }

  static async create(modelPath: string, spec: SsdSpec, options: PipelineOptions = {}): Promise<SsdPipeline> {
    const session = await SsdSession.create(modelPath, spec, { intraOpThreads: options.intraOpThreads ?? 1, spinning: options.spinning, maxBatch: options.maxBatch ?? 1 });
    return new SsdPipeline(session, options.limits ?? DEFAULT_DECODE_LIMITS);
  }

  /** Detections for each image, in one session run per maxBatch images. */
  async detect(images: readonly ImageSource[], options: DetectOptions = {}): Promise<Detection[][]> {
    const decoded = await Promise.all(images.map((image) => decodeImage(image, this.limits)));
    const results: Detection[][] = [];
    const { maxBatch } = this.session.options;
    for (let i = 0; i < decoded.length; i += maxBatch) {
      results.push(...(await this.session.run(decoded.slice(i, i + maxBatch).map((image) => ({ image, options })))));
    }
    return results;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
