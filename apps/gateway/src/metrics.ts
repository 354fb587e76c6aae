// The gateway's Prometheus metrics: calls and images by status, retries, and the latency of
// every detector as the gateway sees it.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import * as grpc from '@grpc/grpc-js';
import { statusName, type ByteBudget } from '@edge-ssd/service-kit';
import type { GatewayMemoryPlan } from './memory-plan';
import type { DispatchObserver } from './service/dispatch';
import type { StreamObserver } from './service/detect-stream';

export class GatewayMetrics {
  private readonly requests: Counter<'code'>;
  private readonly images: Counter<'code'>;
  private readonly retries: Counter<'code'>;
  private readonly detectorSeconds: Histogram<'detector' | 'code'>;
  private readonly httpRequests: Counter<'route' | 'status'>;
  private readonly httpSeconds: Histogram<'route'>;
  readonly inFlight: Gauge;
  readonly healthyDetectors: Gauge;
  private readonly streamsActive: Gauge;
  private readonly streamFrames: Counter<'outcome' | 'reason'>;
  private readonly streamFrameSeconds: Histogram<'outcome'>;
  /** Status codes seen per detector, so its series can be removed when it leaves. */
  private readonly seen = new Map<string, Set<string>>();

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'gateway_requests_total', help: 'Detect calls by gRPC status', labelNames: ['code'], registers });
    this.images = new Counter({ name: 'gateway_images_total', help: 'Images by per-image status', labelNames: ['code'], registers });
    this.retries = new Counter({ name: 'gateway_retries_total', help: 'Chunk retries, by the code that caused them', labelNames: ['code'], registers });
    this.detectorSeconds = new Histogram({
      name: 'gateway_detector_call_seconds',
      help: 'Detector call latency by detector and status',
      labelNames: ['detector', 'code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.httpRequests = new Counter({ name: 'gateway_http_requests_total', help: 'HTTP API requests by route and HTTP status', labelNames: ['route', 'status'], registers });
    this.httpSeconds = new Histogram({
      name: 'gateway_http_request_seconds',
      help: 'HTTP API request latency by route, from the first byte to the answer',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.inFlight = new Gauge({ name: 'gateway_inflight_requests', help: 'Detect calls in progress', registers });
    this.healthyDetectors = new Gauge({ name: 'gateway_healthy_detectors', help: 'Detectors answering SERVING', registers });
    this.streamsActive = new Gauge({ name: 'gateway_streams_active', help: 'DetectStream calls open', registers });
    this.streamFrames = new Counter({
      name: 'gateway_stream_frames_total',
      help: 'DetectStream frames answered, by outcome (served, failed, dropped) and reason (status of a failed frame, superseded or stale for a dropped one)',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.streamFrameSeconds = new Histogram({
      name: 'gateway_stream_frame_seconds',
      help: "DetectStream frame latency, from the frame's arrival to its answer, by outcome",
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2.5, 5, 10],
      registers,
    });
  }

  observer(): DispatchObserver {
    return {
      attempt: (detector, code, seconds) => {
        const name = statusName(code);
        this.detectorSeconds.observe({ detector, code: name }, seconds);
        let codes = this.seen.get(detector);
        if (!codes) this.seen.set(detector, (codes = new Set()));
        codes.add(name);
      },
      retry: (code) => this.retries.inc({ code: statusName(code) }),
    };
  }

  streamObserver(): StreamObserver {
    return {
      opened: () => this.streamsActive.inc(),
      closed: () => this.streamsActive.dec(),
      frame: (outcome, reason, seconds) => {
        this.streamFrames.inc({ outcome, reason });
        this.streamFrameSeconds.observe({ outcome }, seconds);
      },
    };
  }

  /** A detector left the set: its series go, so gone pods do not pile up in every scrape. */
  forgetDetector(address: string): void {
    for (const code of this.seen.get(address) ?? []) this.detectorSeconds.remove({ detector: address, code });
    this.seen.delete(address);
  }

  watchMemory(plan: GatewayMemoryPlan, budgets: Record<'requests' | 'operational', ByteBudget>): void {
    const registers = [this.registry];
    const parts = new Gauge({ name: 'gateway_memory_plan_bytes', help: 'How the memory limit is divided (part: limit, baseline, headroom, operational, requests)', labelNames: ['part'], registers });
    parts.set({ part: 'limit' }, plan.limitBytes);
    parts.set({ part: 'baseline' }, plan.baselineBytes);
    parts.set({ part: 'headroom' }, plan.headroomBytes);
    parts.set({ part: 'operational' }, plan.operationalBytes);
    parts.set({ part: 'requests' }, plan.requestBytes);
    new Gauge({ name: 'gateway_memory_budget_in_use_bytes', help: 'Bytes of a budget reserved by calls', labelNames: ['budget'], registers, collect() {
      for (const [name, budget] of Object.entries(budgets)) this.set({ budget: name }, budget.inUse);
    } });
  }

  request(code: grpc.status, imageCodes: grpc.status[]): void {
    this.requests.inc({ code: statusName(code) });
    for (const c of imageCodes) this.images.inc({ code: statusName(c) });
  }

  /** An HTTP API request answered (route as registered, so the label set stays bounded). */
  httpRequest(route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, status: String(status) });
    this.httpSeconds.observe({ route }, seconds);
  }

  /** The status of an image that came over HTTP, counted with gRPC's in gateway_images_total. */
  httpImage(code: grpc.status): void {
    this.images.inc({ code: statusName(code) });
  }
}
