// The detector's Prometheus metrics, after Triton's: requests and images by status, time queued
// vs time in the session, batch sizes, and how busy the pool is.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { statusName, type ByteBudget } from '@edge-ssd/service-kit';
import type { ModelInfo } from '@edge-ssd/protos';
import type { MemoryPlan } from './memory-plan';
import type { BatcherObserver } from './batching/dynamic-batcher';

export class DetectorMetrics {
  private readonly requests: Counter<'code'>;
  private readonly images: Counter<'code'>;
  private readonly queueSeconds: Histogram;
  private readonly inferenceSeconds: Histogram;
  private readonly batchSize: Histogram;
  private readonly dropped: Counter<'reason'>;
  private readonly enqueued: Counter;
  private readonly reruns: Counter<'mode'>;

  /** The served model as an info metric (value 1): its name, precision and sha256 as labels. */
  model(info: ModelInfo): void {
    new Gauge({ name: 'detector_model_info', help: 'The served model (value 1)', labelNames: ['model', 'precision', 'sha256'], registers: [this.registry] })
      .labels(info.name, info.precision, info.sha256)
      .set(1);
  }

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'detector_requests_total', help: 'Detect calls by gRPC status', labelNames: ['code'], registers });
    this.images = new Counter({ name: 'detector_images_total', help: 'Images by per-image status', labelNames: ['code'], registers });
    this.queueSeconds = new Histogram({
      name: 'detector_queue_seconds',
      help: 'Time an image waited for a worker',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.inferenceSeconds = new Histogram({
      name: 'detector_inference_seconds',
      help: 'Time of one batch in a worker: preprocessing, session run, post-processing',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.batchSize = new Histogram({ name: 'detector_batch_size', help: 'Images per session run', buckets: [1, 2, 4, 8, 16, 32, 64], registers });
    this.enqueued = new Counter({ name: 'detector_enqueued_images_total', help: 'Images accepted into the queue', registers });
    this.dropped = new Counter({ name: 'detector_dropped_images_total', help: 'Queued images dropped before running', labelNames: ['reason'], registers });
    this.reruns = new Counter({
      name: 'detector_batch_reruns_total',
      help: 'Failed session runs run again: whole (first failure) or one image at a time (second failure)',
      labelNames: ['mode'],
      registers,
    });
  }

  observer(): BatcherObserver {
    return {
      enqueued: (count) => this.enqueued.inc(count),
      batchStarted: (size, waitedMs) => {
        this.batchSize.observe(size);
        for (const ms of waitedMs) this.queueSeconds.observe(ms / 1000);
      },
      batchFinished: (_size, runMs) => this.inferenceSeconds.observe(runMs / 1000),
      dropped: (reason) => this.dropped.inc({ reason }),
      rerun: (mode, size) => this.reruns.inc({ mode }, mode === 'single' ? size : 1),
    };
  }

  /** Gauges read when scraped. */
  watch(read: { queuedImages(): number; utilization(): number }): void {
    new Gauge({ name: 'detector_queued_images', help: 'Images waiting for a worker', registers: [this.registry], collect() {
      this.set(read.queuedImages());
    } });
    new Gauge({ name: 'detector_pool_utilization', help: 'Fraction of worker capacity in use', registers: [this.registry], collect() {
      this.set(read.utilization());
    } });
  }

  /** The memory plan and how much of each budget is held and awaited, read when scraped. */
  watchMemory(plan: MemoryPlan, budgets: Record<'messages' | 'pixels', ByteBudget>): void {
    const registers = [this.registry];
    const limit = new Gauge({ name: 'detector_memory_plan_bytes', help: 'How the memory limit is divided (part: limit, baseline, headroom, messages, pixels)', labelNames: ['part'], registers });
    limit.set({ part: 'limit' }, plan.limitBytes);
    limit.set({ part: 'baseline' }, plan.baselineBytes);
    limit.set({ part: 'headroom' }, plan.headroomBytes);
    limit.set({ part: 'messages' }, plan.messageBytes);
    limit.set({ part: 'pixels' }, plan.pixelBytes);
    new Gauge({ name: 'detector_memory_budget_in_use_bytes', help: 'Bytes of a budget reserved by requests', labelNames: ['budget'], registers, collect() {
      for (const [name, budget] of Object.entries(budgets)) this.set({ budget: name }, budget.inUse);
    } });
    new Gauge({ name: 'detector_memory_budget_waiting', help: 'Requests waiting for a budget', labelNames: ['budget'], registers, collect() {
      for (const [name, budget] of Object.entries(budgets)) this.set({ budget: name }, budget.waiting);
    } });
  }

  request(code: number, imageCodes: number[]): void {
    this.requests.inc({ code: statusName(code) });
    for (const c of imageCodes) this.images.inc({ code: statusName(c) });
  }
}
