// Command line of `npm run detect`.
import { parseArgs } from 'node:util';

export const USAGE = `Usage: npm run detect -- [options] <image files...>

Sends the images as one batch to the gateway and prints the response as JSON.

Options:
  --target <host:port>    gateway address (default: $GATEWAY_TARGET or localhost:50051)
  --annotate <dir>        also write copies of the images with boxes and labels drawn
  --score <0..1>          score threshold (default: the model's)
  --iou <0..1>            NMS IoU threshold (default: the model's)
  --classes <ids>         comma-separated class ids to keep (default: all)
  --deadline-ms <ms>      RPC deadline (default: 60000)
  -h, --help              show this help

Exit status: 0 all images served, 1 some image or the call failed, 2 bad usage.`;

export interface ClientArgs {
  files: string[];
  target: string;
  annotateDir?: string;
  scoreThreshold: number;
  iouThreshold: number;
  classIds: number[];
  deadlineMs: number;
  help: boolean;
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
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  if (!help && positionals.length === 0) throw new UsageError('no image files given');
  const classIds = (values.classes ?? '')
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      if (!/^\d+$/.test(part.trim())) throw new UsageError(`--classes takes class ids such as 15,7; got "${part}"`);
      return Number(part);
    });
  const deadlineText = values['deadline-ms'] ?? '60000';
  const deadlineMs = Number(deadlineText);
  if (!Number.isInteger(deadlineMs) || deadlineMs <= 0) throw new UsageError(`--deadline-ms must be a positive integer, got "${deadlineText}"`);
  return {
    files: positionals,
    target: values.target ?? env['GATEWAY_TARGET'] ?? 'localhost:50051',
    annotateDir: values.annotate,
    scoreThreshold: fraction('score', values.score),
    iouThreshold: fraction('iou', values.iou),
    classIds,
    deadlineMs,
    help,
  };
}
