// MobileNet-SSD vs VGG16-SSD (issue 18): the anatomy report of MobileNet-SSD 300, VGG16-SSD 300
// and the face model (MobileNet-SSD at 512), next to each one's images/s through the service on
// this machine. VGG16-SSD is weiliu89's deploy net with seeded weights (importers' testing
// fixture), imported from its Caffe files by the `model import-caffe` pipeline into
// models/vgg16-ssd-voc-300.onnx (made once: the seed fixes its bytes).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type ModelAnatomy, comparisonMarkdown, modelAnatomy } from '@edge-ssd/anatomy';
import { convert, importedInput } from '@edge-ssd/convert';
import { importCaffeFiles } from '@edge-ssd/importers';
import { VGG16_SSD_PREPROCESS, vgg16SsdCaffe, writeCaffemodel } from '@edge-ssd/importers/testing';
import { findBuiltinModel, prepareBuiltinModel } from '@edge-ssd/model-zoo';
import { decodeModel } from '@edge-ssd/onnx-io';
import { type Services, benchThroughput, detectJpegs, makeClient, mergeThroughput, startServices, type ThroughputCase } from './service';

interface AnatomyCase {
  label: string;
  model: string;
  anatomy: ModelAnatomy;
  /** Detector alone, default pool layout, max batch 8; `clients` x `imagesPerRequest` 640x480 JPEGs. */
  throughput: ThroughputCase;
}

export interface AnatomyBench {
  cases: AnatomyCase[];
  /** The comparison table (the README's "MobileNet-SSD vs VGG16-SSD"). */
  markdown: string;
}

const VGG_NAME = 'vgg16-ssd-voc-300';

/** models/vgg16-ssd-voc-300.onnx from the seeded Caffe files, through the import pipeline. */
async function vgg16Model(modelDir: string): Promise<string> {
  const output = path.join(modelDir, `${VGG_NAME}.onnx`);
  if (existsSync(output)) return output;
  const work = mkdtempSync(path.join(tmpdir(), 'vgg16-ssd-'));
  try {
    const fixture = vgg16SsdCaffe();
    const files = { prototxt: path.join(work, 'deploy.prototxt'), caffemodel: path.join(work, 'VGG_VOC0712_SSD_300x300.caffemodel') };
    writeFileSync(files.prototxt, fixture.prototxt);
    writeFileSync(files.caffemodel, writeCaffemodel(fixture.layers));
    // No BatchNorm to fold: the verification would compare the model with itself.
    await convert(importedInput(importCaffeFiles(files, { preprocess: VGG16_SSD_PREPROCESS, modelName: VGG_NAME })), output, { verify: false });
    return output;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function benchAnatomy(options: { modelDir: string; jpegs: Buffer[]; clients: number; rounds: number; log: (message: string) => void }): Promise<AnatomyBench> {
  const { modelDir, jpegs, clients, rounds, log } = options;
  const models = [
    { label: 'MobileNet-SSD 300', model: (await prepareBuiltinModel(findBuiltinModel('mobilenet-ssd-voc-300')!, modelDir)).path, at: 512 },
    { label: 'VGG16-SSD 300', model: await vgg16Model(modelDir), at: 512 },
    { label: 'face model (MobileNet-SSD 512)', model: (await prepareBuiltinModel(findBuiltinModel('faceapi-ssd-mobilenetv1')!, modelDir)).path, at: undefined },
  ];
  const anatomies = models.map((m) => modelAnatomy(decodeModel(readFileSync(m.model)), { at: m.at }));
  // One detector per model, all up at once and driven in turn, round by round: the machine's load
  // drifts, and alternating makes the three see the same machine. An idle detector costs no CPU.
  // VGG16-SSD's sessions alone take 1.5 GB at batch 8: under the 2 GiB fallback budget its pixel
  // budget would hold one request, and the second client's would time out waiting for memory.
  // (Its requests take 10-20 s here: within DETECTOR_MAX_CONNECTION_AGE_GRACE_MS, so a connection
  // reaching its maximum age mid-request lets the call finish.)
  const env = { DETECTOR_MAX_BATCH: '8', DETECTOR_MEMORY_LIMIT: '4Gi' };
  const running: Services[] = [];
  const samples: ThroughputCase[][] = models.map(() => []);
  try {
    for (const m of models) running.push(await startServices({ MODEL_PATH: m.model, ...env }, false));
    const clientsOf = running.map((r) => makeClient('Detector', r.detector.port));
    try {
      for (const c of clientsOf) await detectJpegs(c, jpegs);
      for (let round = 0; round < rounds; round++) {
        log(`anatomy: round ${round + 1}/${rounds} (${clients} clients x ${jpegs.length} JPEGs per model)`);
        for (const [i, c] of clientsOf.entries()) samples[i].push(await benchThroughput(c, 'detector', jpegs, clients, 1));
      }
    } finally {
      for (const c of clientsOf) c.close();
    }
  } finally {
    for (const r of running) await r.stop();
  }
  const cases: AnatomyCase[] = models.map((m, i) => ({ label: m.label, model: path.basename(m.model), anatomy: anatomies[i], throughput: mergeThroughput(samples[i]) }));
  for (const c of cases) if (c.throughput.errors > 0) log(`anatomy: ${c.label}: ${c.throughput.errors} images failed`);
  const [mobile, vgg] = anatomies;
  const channels = (a: ModelAnatomy) => a.heads.map((h) => h.channels);
  const differ = channels(mobile).flatMap((c, i) => (c === channels(vgg)[i] ? [] : [`map ${i + 1}: ${c} vs ${channels(vgg)[i]}`]));
  const findings = [
    `Channels: ${differ.length === 0 ? 'equal on every map' : `equal but for ${differ.join(', ')}`} (MobileNet-SSD vs VGG16-SSD).`,
    `At 512x512 MobileNet-SSD's base network does x${mobile.at!.factor.base.macs.toFixed(3)} the multiply-adds (the shapes with their padding; (512/300)^2 = ${((512 / 300) ** 2).toFixed(3)} ignores it) with x${mobile.at!.factor.base.params.toFixed(3)} the parameters: they do not depend on the input size.`,
  ].join(' ');
  const note = [
    findings,
    `Made by \`npm run bench\` (bench/src/anatomy.ts) from each model's graph (\`model anatomy <model.onnx> --at 512\`) and measured through the detector on this machine`,
    `(default pool layout, max batch 8, memory limit 4 GiB, ${clients} clients x ${jpegs.length} 640x480 JPEGs per request; medians of ${rounds} rounds, the models in turn${cases.some((c) => c.throughput.errors > 0) ? `; failed images: ${cases.map((c) => c.throughput.errors).join(', ')}` : ''}).`,
    'VGG16-SSD and MobileNet-SSD carry seeded weights: the shapes, maths and speed of the real networks, not their detections.',
  ].join(' ');
  const markdown = comparisonMarkdown(
    cases.map((c) => ({ label: c.label, anatomy: c.anatomy, imagesPerSecond: c.throughput.imagesPerSecond.median })),
    note,
  );
  return { cases, markdown };
}

export function renderAnatomy(bench: AnatomyBench): string {
  return ['## MobileNet-SSD vs VGG16-SSD', '', bench.markdown].join('\n');
}
