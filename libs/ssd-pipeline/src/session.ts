// One onnxruntime session of an SSD model and what goes in and out of it: images preprocessed
// straight into a reused batch tensor, one run, ssd-core post-processing per image with that
// image's options, boxes mapped back to the image. Create one per thread and keep it: re-creating
// sessions leaks native memory.
import * as ort from 'onnxruntime-node';
import { SsdPostprocessor, type Detection, type DetectOptions, type SsdSpec } from '@edge-ssd/ssd-core';
import type { PixelImage } from './image';
import { inputToImageScale, preprocessInto } from './preprocess';

export interface SessionOptions {
  /** onnxruntime intra-op threads. */
  intraOpThreads: number;
  /** Let idle onnxruntime threads spin (a little lower latency, a busy-looking CPU when idle). */
  spinning?: boolean;
  /** Most images one run takes; the batch tensor and the arena are sized for it. */
  maxBatch: number;
}

/** Wraps the onnxruntime run alone (not preprocessing or post-processing), e.g. to limit runs at once. */
type RunWrapper = <T>(run: () => Promise<T>) => Promise<T>;

/** One image of a run, with the options of the request it came from. */
export interface SessionItem {
  image: PixelImage;
  options: DetectOptions;
}

export class SsdSession {
  private readonly imageSize: number;
  private readonly batchInput: Float32Array;
  private readonly postprocessor: SsdPostprocessor;
  private staged: Array<{ options: DetectOptions; scale: { x: number; y: number } }> = [];

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: SsdSpec,
    readonly options: SessionOptions,
  ) {
    this.imageSize = 3 * spec.input.width * spec.input.height;
    this.batchInput = new Float32Array(options.maxBatch * this.imageSize);
    this.postprocessor = new SsdPostprocessor(spec);
  }

  /**
   * Loads the model and warms it up at the largest batch: onnxruntime's arena grows to the largest
   * shape it has seen, so paying for it here makes the first request fast and the memory after
   * creation the steady state (what a memory limit must cover).
   */
  static async create(modelPath: string, spec: SsdSpec, options: SessionOptions): Promise<SsdSession> {
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: options.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // A memory pattern is planned and kept per input shape, so every batch size from 1 to maxBatch
      // would grow the arena again after warm-up (measured here: +120 MB per session for sizes 1-8).
      // Without it the arena warmed up at the largest batch serves every size, equally fast.
      enableMemPattern: false,
      extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
    });
    const ssd = new SsdSession(session, spec, options);
    const { width, height, channelOrder } = spec.input;
    const grey = new Uint8Array(width * height * 3).fill(127);
    await ssd.run(Array.from({ length: options.maxBatch }, () => ({ image: { data: grey, width, height, order: channelOrder }, options: {} })));
    return ssd;
  }

  /**
   * Preprocesses the images of the next run into the batch tensor. Their pixels are no longer
   * needed afterwards (a caller holding large images may free them before infer()).
   */
  stage(items: readonly SessionItem[]): void {
    if (items.length > this.options.maxBatch) throw new RangeError(`run has ${items.length} images, more than maxBatch ${this.options.maxBatch}`);
    this.staged = items.map(({ image, options }, i) => {
      preprocessInto(image, this.spec.input, this.batchInput, i * this.imageSize);
      return { options, scale: inputToImageScale(image, this.spec.input) };
    });
  }

  /** Runs the staged images: detections per image, boxes normalised to that image. */
  async infer(around: RunWrapper = (run) => run()): Promise<Detection[][]> {
    const staged = this.staged;
    this.staged = [];
    const n = staged.length;
    if (n === 0) return [];
    const { spec } = this;
    const input = new ort.Tensor('float32', this.batchInput.subarray(0, n * this.imageSize), [n, 3, spec.input.height, spec.input.width]);
    const outputs = await around(() => this.session.run({ [spec.input.name]: input }));
    const loc = outputs[spec.outputs.loc]?.data;
    const conf = outputs[spec.outputs.conf]?.data;
    if (!(loc instanceof Float32Array) || !(conf instanceof Float32Array)) {
      throw new Error(`model did not return float32 ${spec.outputs.loc} and ${spec.outputs.conf}`);
    }
    const locSize = this.postprocessor.numPriors * 4;
    const confSize = this.postprocessor.numPriors * this.postprocessor.numClasses;
    // Images of one run may come from different requests, each with its own options.
    return staged.map(({ options, scale }, i) => {
      const detections = this.postprocessor.detect(loc.subarray(i * locSize, (i + 1) * locSize), conf.subarray(i * confSize, (i + 1) * confSize), 1, options)[0]!;
      if (scale.x !== 1 || scale.y !== 1) {
        for (const d of detections) {
          d.xmin *= scale.x;
          d.xmax *= scale.x;
          d.ymin *= scale.y;
          d.ymax *= scale.y;
        }
      }
      return detections;
    });
  }

  /** stage() then infer(). */
  run(items: readonly SessionItem[]): Promise<Detection[][]> {
    this.stage(items);
    return this.infer();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
