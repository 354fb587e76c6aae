// `npm run detect -- <images...>`: one Detect call to the gateway, the response printed as JSON.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectRequestInit, type DetectResponse, type GatewayClient } from '@edge-ssd/protos';
import { MiB, unary } from '@edge-ssd/service-kit';
import { parseClientArgs, USAGE, UsageError, type ClientArgs, type StreamArgs } from './args';
import { annotate } from './annotate';
import { ffmpegMissing, filesAsFrames, frameFiles, videoFrames } from './frames';
import { runStream } from './stream';

function gatewayClient(target: string): GatewayClient {
  const { Gateway } = loadSsdPackage();
  return new Gateway(target, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * MiB,
    'grpc.max_send_message_length': 256 * MiB,
  });
}

async function stream(args: ClientArgs & { stream: StreamArgs }): Promise<number> {
  const { video, fps } = args.stream;
  if (video !== undefined) {
    const missing = ffmpegMissing();
    if (missing) {
      process.stderr.write(`detect: ${missing}\n`);
      return 2;
    }
  }
  const frames = video !== undefined ? videoFrames(video, fps) : filesAsFrames(await frameFiles(args.files));
  const client = gatewayClient(args.target);
  try {
    return await runStream(args, client, frames);
  } finally {
    client.close();
  }
}

async function run(args: ClientArgs): Promise<number> {
  if (args.stream) return stream({ ...args, stream: args.stream });
  const images = await Promise.all(args.files.map(async (file) => ({ file, bytes: await readFile(file) })));
  const client = gatewayClient(args.target);
  const request: DetectRequestInit = {
    images: images.map(({ file, bytes }) => ({ id: file, encoded: bytes })),
    options: { scoreThreshold: args.scoreThreshold, iouThreshold: args.iouThreshold, classIds: args.classIds },
  };
  try {
    const response = await unary<DetectResponse>((done) => client.Detect(request, new grpc.Metadata(), { deadline: Date.now() + args.deadlineMs }, done));
    process.stdout.write(JSON.stringify(response, null, 2) + '\n');
    if (args.annotateDir) {
      await mkdir(args.annotateDir, { recursive: true });
      await Promise.all(
        response.results.map(async (result, i) => {
          if (result.status?.code !== grpc.status.OK) return;
          const out = path.join(args.annotateDir!, path.basename(images[i]!.file));
          await writeFile(out, await annotate(images[i]!.bytes, result));
          process.stderr.write(`wrote ${out}\n`);
        }),
      );
    }
    return response.results.every((r) => r.status?.code === grpc.status.OK) ? 0 : 1;
  } finally {
    client.close();
  }
}

async function main(): Promise<void> {
  let args: ClientArgs;
  try {
    args = parseClientArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`detect: ${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  process.exitCode = await run(args);
}

main().catch((error: unknown) => {
  const e = error as Partial<grpc.ServiceError> & Error;
  process.stderr.write(`detect: ${e.code !== undefined ? `${grpc.status[e.code]}: ${e.details}` : e.message}\n`);
  process.exit(1);
});
