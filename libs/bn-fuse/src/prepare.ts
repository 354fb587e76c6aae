// Makes sure a directory holds the default, BN-fused MobileNet-SSD. The unfused model is written by
// the generator and converted with exactly the CLI's pipeline (fold + verify + atomic write), so
// the result is byte-identical on every machine and every run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertFile } from './convert';
import { writeFileAtomic } from './fs-util';
import { writeMobileNetSsd } from './mobilenet-ssd';

export const DEFAULT_MODEL_FILE = 'mobilenet-ssd-voc-300.onnx';
export const DEFAULT_UNFUSED_MODEL_FILE = 'mobilenet-ssd-voc-300.unfused.onnx';

export interface PreparedModel {
  modelPath: string;
  /** False when the fused model was already there (it is then used as is). */
  created: boolean;
}

export async function prepareDefaultModel(dir: string): Promise<PreparedModel> {
  const modelPath = path.join(dir, DEFAULT_MODEL_FILE);
  if (fs.existsSync(modelPath)) return { modelPath, created: false };
  fs.mkdirSync(dir, { recursive: true });
  const unfusedPath = path.join(dir, DEFAULT_UNFUSED_MODEL_FILE);
  writeFileAtomic(unfusedPath, writeMobileNetSsd());
  await convertFile(unfusedPath, modelPath, { verify: true });
  return { modelPath, created: true };
}
