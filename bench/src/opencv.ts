// The peer users would otherwise pick: OpenCV DNN running the demo pipeline (bench/opencv_peer.py)
// on the same model file and the same JPEGs, in Debian's python3-opencv.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { countPriors, MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import { REPO_ROOT } from '@edge-ssd/e2e';
import { summarize, type Summary } from './stats';

export type PeerResult = { ok: true; version: string; threads: number; imagesPerSecond: Summary; detections: number } | { ok: false; error: string };

export function benchOpenCv(modelPath: string, jpegs: Buffer[], rounds: number, threads: number): PeerResult {
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-ssd-peer-'));
  try {
    jpegs.forEach((jpeg, i) => writeFileSync(path.join(dir, `${String(i).padStart(3, '0')}.jpg`), jpeg));
    const job = { model: modelPath, spec: MOBILENET_SSD_VOC_300, numPriors: countPriors(MOBILENET_SSD_VOC_300), imagesDir: dir, rounds, threads };
    writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job));
    const out = execFileSync('/usr/bin/python3', [path.join(REPO_ROOT, 'bench', 'opencv_peer.py'), path.join(dir, 'job.json')], { encoding: 'utf8', timeout: 600_000 });
    const parsed = JSON.parse(out) as { opencv: string; threads: number; imagesPerSecond: number[]; detections: number };
    return { ok: true, version: parsed.opencv, threads: parsed.threads, imagesPerSecond: summarize(parsed.imagesPerSecond), detections: parsed.detections };
  } catch (error) {
    return { ok: false, error: `${(error as Error).message.split('\n')[0]} (needs Debian's python3-opencv)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
