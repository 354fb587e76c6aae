// `npm run detect -- --stream ...`: frames sent as one DetectStream at a steady rate, one JSON
// line per answer (ndjson, in sequence order, as the gateway sends them) and a summary line.
// Under the queue policy a full window makes the gateway stop reading, and then this client
// waits for the stream to drain before sending on: the rate it reports is what was served.
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { DetectStreamRequestInit, DetectStreamResponse, GatewayClient } from '@edge-ssd/protos';
import type { ClientArgs, StreamArgs } from './args';
import { annotate } from './annotate';
import type { FrameSource } from './frames';

interface StreamSummary {
  frames: number;
  served: number;
  failed: number;
  dropped: { superseded: number; stale: number };
  /** Answered frames per second, first frame sent to last answer. */
  fps: number;
  /** Client-measured, frame sent to its answer, served frames only. */
  latencyMs: { p50: number; p99: number; max: number };
}

/** The q-quantile of sorted samples (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const POLICY = { queue: 'OVERLOAD_POLICY_QUEUE', latest: 'OVERLOAD_POLICY_LATEST' } as const;

interface StreamRun {
  summary: StreamSummary;
  /** The stream's final status (OK, or why it ended early). */
  status: grpc.StatusObject;
}

/**
 * Sends `frames` on one stream at `settings.fps` and reports each answer to `onAnswer` (with the
 * frame it answers and the client-measured latency) in order.
 */
async function streamFrames(
  client: GatewayClient,
  frames: AsyncIterable<FrameSource>,
  settings: StreamArgs & Pick<ClientArgs, 'scoreThreshold' | 'iouThreshold' | 'classIds'>,
  onAnswer: (answer: DetectStreamResponse, frame: FrameSource, latencyMs: number) => Promise<void> | void,
  metadata = new grpc.Metadata(),
  callOptions: grpc.CallOptions = {},
): Promise<StreamRun> {
  const call = client.DetectStream(metadata, callOptions);
  const sent = new Map<string, { frame: FrameSource; at: number }>();
  const latencies: number[] = [];
  const counts = { frames: 0, served: 0, failed: 0, superseded: 0, stale: 0 };
  let firstSent = 0;
  let lastAnswer = 0;
  let answering = Promise.resolve();
  call.on('data', (answer: DetectStreamResponse) => {
    const entry = sent.get(answer.sequence);
    sent.delete(answer.sequence);
    lastAnswer = performance.now();
    if (!entry) return;
    const latencyMs = lastAnswer - entry.at;
    if (answer.dropReason === 'DROP_REASON_SUPERSEDED') counts.superseded++;
    else if (answer.dropReason === 'DROP_REASON_STALE') counts.stale++;
    else if (answer.result?.status?.code === grpc.status.OK) {
      counts.served++;
      latencies.push(latencyMs);
    } else counts.failed++;
    answering = answering.then(() => onAnswer(answer, entry.frame, latencyMs));
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  // The status says why; the error event alone would end the process.
  call.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => call.on('end', resolve));
  let stopped = false;
  void status.then(() => (stopped = true));

  const interval = 1000 / settings.fps;
  const options = { scoreThreshold: settings.scoreThreshold, iouThreshold: settings.iouThreshold, classIds: settings.classIds };
  const first: DetectStreamRequestInit = { options, policy: POLICY[settings.policy], maxInFlight: settings.maxInFlight };
  let sequence = 0;
  for await (const frame of frames) {
    if (stopped) break;
    sequence++;
    if (sequence === 1) firstSent = performance.now();
    const due = firstSent + (sequence - 1) * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const message: DetectStreamRequestInit = {
      ...(sequence === 1 ? first : {}),
      frame: { sequence, image: { id: path.basename(frame.name), encoded: frame.bytes }, maxLatencyMs: settings.maxLatencyMs },
    };
    sent.set(String(sequence), { frame, at: performance.now() });
    counts.frames++;
    // Flow control: the gateway is not reading (queue policy, window full); wait until it does.
    if (!call.write(message)) await Promise.race([new Promise((r) => call.once('drain', r)), status]);
  }
  call.end();
  const final = await status;
  await Promise.race([ended, new Promise((r) => setTimeout(r, 1000))]);
  await answering;
  const sorted = [...latencies].sort((a, b) => a - b);
  const seconds = (lastAnswer - firstSent) / 1000;
  return {
    status: final,
    summary: {
      frames: counts.frames,
      served: counts.served,
      failed: counts.failed,
      dropped: { superseded: counts.superseded, stale: counts.stale },
      fps: seconds > 0 ? (counts.served + counts.failed + counts.superseded + counts.stale) / seconds : 0,
      latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN },
    },
  };
}

/** The CLI: ndjson on stdout, annotated copies of served frames when asked; the exit status. */
export async function runStream(args: ClientArgs & { stream: StreamArgs }, client: GatewayClient, frames: AsyncIterable<FrameSource>): Promise<number> {
  const { annotateDir } = args;
  if (annotateDir) await mkdir(annotateDir, { recursive: true });
  const round = (v: number): number => Math.round(v * 10) / 10;
  const { summary, status } = await streamFrames(
    client,
    frames,
    { ...args.stream, scoreThreshold: args.scoreThreshold, iouThreshold: args.iouThreshold, classIds: args.classIds },
    async (answer, frame, latencyMs) => {
      const { result } = answer;
      const dropped = answer.dropReason !== 'DROP_REASON_UNSPECIFIED';
      const ok = !dropped && result?.status?.code === grpc.status.OK;
      const line = {
        sequence: Number(answer.sequence),
        file: frame.name,
        outcome: dropped ? 'dropped' : ok ? 'served' : 'failed',
        ...(dropped ? { dropReason: answer.dropReason === 'DROP_REASON_STALE' ? 'stale' : 'superseded' } : {}),
        ...(ok || dropped ? {} : { status: result?.status }),
        latencyMs: round(latencyMs),
        gatewayLatencyMs: answer.latencyMs,
        ...(ok ? { width: result!.width, height: result!.height, detections: result!.detections } : {}),
      };
      process.stdout.write(JSON.stringify(line) + '\n');
      if (ok && annotateDir) await writeFile(path.join(annotateDir, path.basename(frame.name)), await annotate(frame.bytes, result!));
    },
  );
  process.stdout.write(JSON.stringify({ summary: { ...summary, fps: round(summary.fps), latencyMs: { p50: round(summary.latencyMs.p50), p99: round(summary.latencyMs.p99), max: round(summary.latencyMs.max) } } }) + '\n');
  const dropped = summary.dropped.superseded + summary.dropped.stale;
  process.stderr.write(
    `${summary.frames} frames: ${summary.served} served, ${dropped} dropped (${summary.dropped.superseded} superseded, ${summary.dropped.stale} stale), ${summary.failed} failed; ` +
      `${round(summary.fps)} frames answered/s; latency p50 ${round(summary.latencyMs.p50)} ms, p99 ${round(summary.latencyMs.p99)} ms\n`,
  );
  if (status.code !== grpc.status.OK) {
    process.stderr.write(`detect: stream ended: ${grpc.status[status.code]}: ${status.details}\n`);
    return 1;
  }
  return summary.failed === 0 && summary.served + dropped === summary.frames ? 0 : 1;
}
