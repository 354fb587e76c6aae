// Command line of `npm run detect`.
import { parseArgs } from 'node:util';

export const USAGE = `Usage: npm run detect -- [options] <image files...>
       npm run detect -- --stream [stream options] <frame files...|directory>
       npm run detect -- --stream --video <file> [stream options]

Sends the images as one batch to the gateway and prints the response as JSON. With --stream,
sends them as the frames of one DetectStream, in order (a directory's images sorted by name),
and prints one JSON line per frame, then a summary line.

Options:
  --target <host:port>    gateway address (default: $GATEWAY_TARGET or localhost:50051)
  --annotate <dir>        also write copies of the images with boxes and labels drawn
  --score <0..1>          score threshold (default: the model's)
  --iou <0..1>            NMS IoU threshold (default: the model's)
  --classes <ids>         comma-separated class ids to keep (default: all)
  --deadline-ms <ms>      RPC deadline (default: 60000)
  -h, --help              show this help

Stream options:
  --stream                send the frames as one stream (DetectStream)
  --fps <n>               frames sent per second (default: 30)
  --policy <queue|latest> overload policy: queue answers every frame; latest drops frames that
                          wait, to keep latency bounded (default: queue)
  --max-latency-ms <ms>   latest: drop a frame that could not be answered within this (default: none)
  --max-in-flight <n>     frames detected at once (default: the gateway's)
  --video <file>          frames of a video, decoded at --fps by ffmpeg (optional: Debian's
                          ffmpeg package; without it, use a directory of extracted frames)

Exit status: 0 all images served (with --stream: every frame answered, dropped ones included),
1 some image or the call failed, 2 bad usage.`;

export interface StreamArgs {
  fps: number;
  policy: 'queue' | 'latest';
  maxLatencyMs: number;
  maxInFlight: number;
  video?: string;
}

export interface ClientArgs {
  files: string[];
  target: string;
  annotateDir?: string;
  scoreThreshold: number;
  iouThreshold: number;
  classIds: number[];
  deadlineMs: number;
  help: boolean;
  /** Set with --stream (or --video). */
  stream?: StreamArgs;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function fraction(name: string, text: string | undefined): number {
  if (text === undefined) return 0;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new UsageError(`--${name} must be a number in [0, 1], got "${text}"`);
  return value;
}

export function parseClientArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ClientArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string' },
        annotate: { type: 'string' },
        score: { type: 'string' },
        iou: { type: 'string' },
        classes: { type: 'string' },
        'deadline-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        stream: { type: 'boolean' },
        fps: { type: 'string' },
        policy: { type: 'string' },
        'max-latency-ms': { type: 'string' },
        'max-in-flight': { type: 'string' },
        video: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  const stream = values.stream === true || values.video !== undefined ? streamArgs(values) : undefined;
  if (stream?.video !== undefined && positionals.length > 0) throw new UsageError('--video takes the frames from the video: give no image files');
  if (!help && positionals.length === 0 && stream?.video === undefined) throw new UsageError(stream ? 'no frame files or directory given' : 'no image files given');
  const classIds = (values.classes ?? '')
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      if (!/^\d+$/.test(part.trim())) throw new UsageError(`--classes takes class ids such as 15,7; got "${part}"`);
      return Number(part);
    });
  const deadlineMs = integer('deadline-ms', values['deadline-ms'] ?? '60000', 1);
  return {
    files: positionals,
    target: values.target ?? env['GATEWAY_TARGET'] ?? 'localhost:50051',
    annotateDir: values.annotate,
    scoreThreshold: fraction('score', values.score),
    iouThreshold: fraction('iou', values.iou),
    classIds,
    deadlineMs,
    help,
    ...(stream ? { stream } : {}),
  };
}

function integer(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got "${text}"`);
  return value;
}

function streamArgs(values: Record<string, string | boolean | undefined>): StreamArgs {
  const text = (name: string): string | undefined => values[name] as string | undefined;
  const fpsText = text('fps') ?? '30';
  const fps = Number(fpsText);
  if (!Number.isFinite(fps) || fps <= 0 || fps > 1000) throw new UsageError(`--fps must be a number in (0, 1000], got "${fpsText}"`);
  const policy = text('policy') ?? 'queue';
  if (policy !== 'queue' && policy !== 'latest') throw new UsageError(`--policy is queue or latest, got "${policy}"`);
  return {
    fps,
    policy,
    maxLatencyMs: integer('max-latency-ms', text('max-latency-ms') ?? '0', 0),
    maxInFlight: integer('max-in-flight', text('max-in-flight') ?? '0', 0),
    video: text('video'),
  };
}
