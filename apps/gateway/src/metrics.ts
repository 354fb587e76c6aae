// The gateway's Prometheus metrics: calls and images by status, retries, and the latency of
// every detector as the gateway sees it.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import * as grpc from '@grpc/grpc-js';
import { statusName } from '@edge-ssd/service-kit';
import type { DispatchObserver } from './service/dispatch';

export class GatewayMetrics {
  private readonly requests: Counter<'code'>;
  private readonly images: Counter<'code'>;
  private readonly retries: Counter<'code'>;
  private readonly detectorSeconds: Histogram<'detector' | 'code'>;
  readonly inFlight: Gauge;
  readonly healthyDetectors: Gauge;

  constructor(registry: Registry) {
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
    this.inFlight = new Gauge({ name: 'gateway_inflight_requests', help: 'Detect calls in progress', registers });
    this.healthyDetectors = new Gauge({ name: 'gateway_healthy_detectors', help: 'Detectors answering SERVING', registers });
  }

  observer(): DispatchObserver {
    return {
      attempt: (detector, code, seconds) => this.detectorSeconds.observe({ detector, code: statusName(code) }, seconds),
      retry: (code) => this.retries.inc({ code: statusName(code) }),
    };
  }

  request(code: grpc.status, imageCodes: grpc.status[]): void {
    this.requests.inc({ code: statusName(code) });
    for (const c of imageCodes) this.images.inc({ code: statusName(c) });
  }
}
