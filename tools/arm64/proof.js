#!/usr/bin/env node
// The detector's inference path on whatever Node runs this file: x64 natively, or arm64 Node under
// qemu-aarch64 (-cpu cortex-a72). It creates the SsdSession the detector's workers run
// (libs/ssd-pipeline/dist: onnxruntime-node session with the detector's options, warm-up,
// preprocessing straight into the batch tensor, ssd-core postprocessing) in a worker thread, as the
// detector's pool does, and runs it on raw pixel images (decoded on the host beforehand, so no
// image codec is needed here): each image alone ("single") or all of them in one session run
// ("batch"), with the detect options of each planned run.
//
//   node tools/arm64/proof.js JOB.json OUT.json
//
// JOB.json: { settings: { modelPath, spec, intraOpThreads, maxBatch },
//             images: [{ name, file, width, height, order }], optionSets: [DetectOptions, ...],
//             runs: [{ optionSet: index, mode: "single" | "batch" }, ...] }
// OUT.json: { arch, platform, node, onnxruntime, timings: { startMs, readyMs, runs: [...] },
//             results: [{ optionSet, mode: "single" | "batch", detections: Detection[][] }] }
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Worker, isMainThread, parentPort } = require('node:worker_threads');

const REPO = path.resolve(__dirname, '..', '..');
const PIPELINE = path.join(REPO, 'libs', 'ssd-pipeline', 'dist');
const SESSION_READY = 'edge-ssd:session-ready';

const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;

function imageItem(image, options) {
  const data = new Uint8Array(fs.readFileSync(image.file));
  return { image: { data, width: image.width, height: image.height, order: image.order }, options };
}

function workerMain() {
  const { SsdSession } = require(PIPELINE);
  const { modelPath, spec, intraOpThreads, maxBatch } = require('node:worker_threads').workerData;
  const ready = SsdSession.create(modelPath, spec, { intraOpThreads, maxBatch }).then((session) => {
    parentPort.postMessage({ [SESSION_READY]: true });
    return (task) => session.run(task.items);
  });
  parentPort.on('message', async (job) => {
    try {
      const handler = await ready;
      const results = [];
      const runs = [];
      for (const { optionSet, mode } of job.runs) {
        const options = job.optionSets[optionSet];
        if (mode === 'single') {
          const detections = [];
          for (const image of job.images) {
            const t0 = now();
            const [found] = await handler({ items: [imageItem(image, options)] });
            runs.push({ optionSet, mode, image: image.name, ms: now() - t0 });
            detections.push(found);
          }
          results.push({ optionSet, mode, detections });
        } else if (mode === 'batch') {
          const t0 = now();
          const detections = await handler({ items: job.images.map((image) => imageItem(image, options)) });
          runs.push({ optionSet, mode, images: job.images.length, ms: now() - t0 });
          results.push({ optionSet, mode, detections });
        } else {
          throw new Error(`unknown run mode '${mode}'`);
        }
      }
      parentPort.postMessage({ done: { results, runs } });
    } catch (error) {
      parentPort.postMessage({ error: error && error.stack ? error.stack : String(error) });
    }
  });
}

async function main(argv) {
  if (argv.length !== 2) {
    console.error('usage: node tools/arm64/proof.js JOB.json OUT.json');
    return 2;
  }
  const [jobFile, outFile] = argv;
  const started = now();
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));
  const worker = new Worker(module.filename, { workerData: job.settings });
  const outcome = await new Promise((resolve, reject) => {
    let readyMs;
    worker.on('message', (message) => {
      if (message && message[SESSION_READY] !== undefined) {
        readyMs = now() - started;
        worker.postMessage(job);
      } else if (message && message.done) {
        resolve({ readyMs, ...message.done });
      } else if (message && message.error) {
        reject(new Error(message.error));
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`inference worker exited with code ${code} before finishing`)));
  });
  await worker.terminate();
  const report = {
    arch: process.arch,
    platform: process.platform,
    node: process.version,
    onnxruntime: require(require.resolve('onnxruntime-node/package.json', { paths: [PIPELINE] })).version,
    timings: { totalMs: now() - started, readyMs: outcome.readyMs, runs: outcome.runs },
    results: outcome.results,
  };
  fs.writeFileSync(outFile, JSON.stringify(report));
  return 0;
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      console.error(`arm64 proof: ${error && error.stack ? error.stack : String(error)}`);
      process.exit(1);
    },
  );
} else {
  workerMain();
}
