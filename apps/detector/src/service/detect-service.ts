// The Detector gRPC service: validates a batch, then walks its images in order: each image's
// decoded size is read from its header, its pixels are admitted into the memory budget, and only
// then is it decoded (a bounded number at once) and queued for the dynamic batcher; its pixels are
// given back once its run is done. So a request of any number of large images holds at most the
// budget, and the images of one request stream through instead of all decoding at once. A bad
// image fails alone; one answer per image, in request order.
import * as grpc from '@grpc/grpc-js';
import type { DetectorHandlers, DetectRequest, DetectResponse, Detection as WireDetection, Image, ImageResult, ModelInfo } from '@edge-ssd/protos';
import type { Detection, DetectOptions } from '@edge-ssd/ssd-core';
import { BudgetError, callDeadline, COLLECT_AFTER_BYTES, collectYoung, grpcError, reply, type ByteBudget, type Limiter, type Logger, type Reservation } from '@edge-ssd/service-kit';
import { JobDroppedError, QueueFullError, type DynamicBatcher, type JobContext, type QueueSlots } from '../batching/dynamic-batcher';
import type { InferenceItem } from '../worker/protocol';
import { decodeProbed, ImageError, probeImage, type DecodeLimits, type ImageProbe, type ImageSource } from '@edge-ssd/ssd-pipeline';
import { OptionsError, toDetectOptions, type OptionLimits } from './detect-options';

export interface DetectServiceDeps {
  batcher: DynamicBatcher<InferenceItem, Detection[]>;
  modelInfo: ModelInfo;
  limits: DecodeLimits & OptionLimits & { maxImagesPerRequest: number };
  /** Decoded pixels in flight, from admission until the image's run is done. */
  pixels: ByteBudget;
  /** How long an image may wait for pixel budget (the call's deadline may end it sooner). */
  memoryWaitMs: number;
  decoder: Limiter;
  /** The fast image path: the size libvips resizes an image to while decoding it, if any. */
  decodeSize?: (probe: ImageProbe) => { width: number; height: number } | undefined;
  log: Logger;
  /** Told the outcome of every Detect call: its status and each image's. */
  record?(code: grpc.status, imageCodes: grpc.status[]): void;
}

const EMPTY = new Uint8Array(0);

/** A request image as the pipeline takes it. */
function sourceOf(image: Image): ImageSource {
  if (image.source === 'raw' && image.raw) {
    const { width, height, format, data } = image.raw;
    return { kind: 'raw', width, height, order: format === 'RGB8' ? 'RGB' : format === 'BGR8' ? 'BGR' : undefined, data };
  }
  return { kind: 'encoded', bytes: image.encoded ?? EMPTY };
}

/** The status an image problem is answered with. */
function imageFailure(error: ImageError): { ok: false; code: grpc.status; message: string } {
  return { ok: false, code: error.problem === 'too-large' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.INVALID_ARGUMENT, message: error.message };
}

/** What happened to one image: its detections or why it has none. */
type Outcome = { ok: true; detections: Detection[]; width: number; height: number } | { ok: false; code: grpc.status; message: string };

/** Why a whole request stops: the first request-level error, which every later step sees. */
class RequestState {
  failure: grpc.ServiceError | undefined;
  readonly abort = new AbortController();

  constructor(
    private readonly context: JobContext,
    cancelled: AbortSignal,
  ) {
    cancelled.addEventListener('abort', () => this.fail(grpcError(grpc.status.CANCELLED, 'cancelled by the client')), { once: true });
  }

  fail(error: grpc.ServiceError): void {
    this.failure ??= error;
    this.abort.abort();
  }

  /** For the batcher: queued images of a failed or abandoned request are dropped, not run. */
  get job(): JobContext {
    return { deadline: this.context.deadline, isCancelled: () => this.failure !== undefined || this.context.isCancelled() };
  }
}

export function createDetectService(deps: DetectServiceDeps): DetectorHandlers {
  const { batcher, modelInfo, limits, pixels, decoder, log } = deps;
  const record = deps.record ?? (() => undefined);

  function parseOptions(request: DetectRequest): DetectOptions {
    if (request.images.length > limits.maxImagesPerRequest) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `request has ${request.images.length} images; the limit is ${limits.maxImagesPerRequest}`);
    }
    try {
      return toDetectOptions(request.options, modelInfo.labels.length, limits);
    } catch (error) {
      if (error instanceof OptionsError) throw grpcError(grpc.status.INVALID_ARGUMENT, error.message);
      throw error;
    }
  }

  /** Decodes an admitted image, runs it, and gives its pixels back however that ends. */
  async function serveImage(
    request: DetectRequest,
    i: number,
    probe: ImageProbe,
    admitted: Reservation,
    options: DetectOptions,
    slots: QueueSlots<InferenceItem, Detection[]>,
    state: RequestState,
  ): Promise<Outcome> {
    try {
      const image = await decoder.run(() => decodeProbed(sourceOf(request.images[i]!), probe, limits, deps.decodeSize?.(probe)));
      // libvips' own copy of the pixels is garbage now: free it before the budget says it is.
      if (probe.format !== 'raw' && image.data.byteLength >= COLLECT_AFTER_BYTES) collectYoung();
      // The decoder's working set is gone; only the decoded pixels stay until the run is done.
      admitted.shrinkTo(image.data.byteLength);
      if (state.failure) return { ok: false, code: state.failure.code, message: state.failure.details };
      // Boxes come back normalised; pixel boxes are in the image as sent, whatever size it was decoded at.
      const { width, height } = probe;
      const detections = await slots.submit({ image, options });
      // The run is done: this thread's reference to the shared pixels goes now, not at its next collection.
      if (image.data.byteLength >= COLLECT_AFTER_BYTES) {
        image.data = EMPTY;
        collectYoung();
      }
      return { ok: true, detections, width, height };
    } catch (error) {
      if (error instanceof ImageError) return imageFailure(error);
      if (error instanceof JobDroppedError) {
        state.fail(
          state.failure ??
            grpcError(error.reason === 'deadline' ? grpc.status.DEADLINE_EXCEEDED : error.reason === 'cancelled' ? grpc.status.CANCELLED : grpc.status.UNAVAILABLE, error.message),
        );
      } else {
        // The batcher already ran it again, alone: this image fails by itself.
        log.error('inference failed', { err: error });
        return { ok: false, code: grpc.status.INTERNAL, message: 'inference failed' };
      }
      return { ok: false, code: state.failure!.code, message: state.failure!.details };
    } finally {
      admitted.release();
    }
  }

  async function detect(request: DetectRequest, context: JobContext, cancelled: AbortSignal): Promise<DetectResponse> {
    const options = parseOptions(request);
    const state = new RequestState(context, cancelled);
    let slots: QueueSlots<InferenceItem, Detection[]>;
    try {
      slots = batcher.reserve(request.images.length, state.job);
    } catch (error) {
      if (error instanceof QueueFullError) throw grpcError(grpc.status.RESOURCE_EXHAUSTED, error.message);
      if (error instanceof JobDroppedError) throw grpcError(grpc.status.UNAVAILABLE, error.message);
      throw error;
    }
    try {
      return await serveAll(request, options, context, slots, state);
    } finally {
      slots.release();
    }
  }

  async function serveAll(request: DetectRequest, options: DetectOptions, context: JobContext, slots: QueueSlots<InferenceItem, Detection[]>, state: RequestState): Promise<DetectResponse> {
    const outcomes: Array<Outcome | Promise<Outcome>> = [];
    for (let i = 0; i < request.images.length && !state.failure; i++) {
      let probe: ImageProbe;
      try {
        probe = await probeImage(sourceOf(request.images[i]!), limits);
      } catch (error) {
        if (!(error instanceof ImageError)) throw error;
        outcomes.push(imageFailure(error));
        continue;
      }
      let admitted: Reservation;
      try {
        admitted = await pixels.acquire(probe.decodeBytes, { deadline: context.deadline, maxWaitMs: deps.memoryWaitMs, signal: state.abort.signal });
      } catch (error) {
        if (!(error instanceof BudgetError)) throw error;
        // An image that could never fit fails alone; a full budget stops the request (the gateway
        // can try another detector).
        if (error.reason === 'too-large') outcomes.push({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED, message: `image ${probe.width}x${probe.height} ${error.message}` });
        else state.fail(grpcError(error.reason === 'deadline' ? grpc.status.DEADLINE_EXCEEDED : grpc.status.RESOURCE_EXHAUSTED, error.message));
        continue;
      }
      outcomes.push(serveImage(request, i, probe, admitted, options, slots, state));
    }
    const settled = await Promise.all(outcomes);
    if (state.failure) throw state.failure;
    if (context.isCancelled()) throw grpcError(grpc.status.CANCELLED, 'cancelled by the client');
    return { results: request.images.map((image, i) => toResult(image.id, settled[i]!)), model: modelInfo.name };
  }

  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      const context: JobContext = { deadline: callDeadline(call), isCancelled: () => call.cancelled };
      const cancelled = new AbortController();
      call.once('cancelled', () => cancelled.abort());
      reply(detect(call.request, context, cancelled.signal), callback, log, (code, response) => record(code, response?.results.map((r) => r.status?.code ?? grpc.status.UNKNOWN) ?? []));
    },
    GetModelInfo(_call, callback: grpc.sendUnaryData<ModelInfo>) {
      callback(null, modelInfo);
    },
  };
}

function toResult(id: string, outcome: Outcome): ImageResult {
  if (!outcome.ok) return { id, status: { code: outcome.code, message: outcome.message }, detections: [], width: 0, height: 0 };
  const { width, height } = outcome;
  const detections = outcome.detections.map(
    (d): WireDetection => ({
      classId: d.classId,
      label: d.label,
      score: d.score,
      box: { xmin: d.xmin, ymin: d.ymin, xmax: d.xmax, ymax: d.ymax },
      pixelBox: { xmin: d.xmin * width, ymin: d.ymin * height, xmax: d.xmax * width, ymax: d.ymax * height },
    }),
  );
  return { id, status: { code: grpc.status.OK, message: '' }, detections, width, height };
}
