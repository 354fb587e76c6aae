// The built-in models: made from what ships in node_modules (nothing is downloaded) by the one
// conversion pipeline (and, for the INT8 variants, the quantizer from a committed calibration
// table), byte-identical on every machine and architecture, so each is pinned by the sha256 of the
// file it makes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convert, importedInput } from '@edge-ssd/convert';
import { defaultFaceApiManifestPath, importFaceApi, importSeededMobileNetSsd } from '@edge-ssd/importers';
import { writeFileAtomic } from '@edge-ssd/onnx-io';
import { parseTable, quantizeFromTable } from '@edge-ssd/quantize';

export interface BuiltinModel {
  name: string;
  /** File name inside the model directory: always `<name>.onnx`, which is how the detector finds it. */
  file: string;
  description: string;
  /** sha256 of the file `make` writes. */
  sha256: string;
  /** Writes `file` into `dir` (which may not hold it yet). */
  make(dir: string): Promise<unknown>;
}

/** Committed calibration tables (libs/model-zoo/calibration, made as its README says). */
const CALIBRATION_DIR = path.join(__dirname, '..', 'calibration');
/** The SSD heads stay fp32: their outputs are the logits and offsets the scores come from. */
const KEEP_FP32 = ['heads'];

/** The fp32 model's bytes: its pinned copy when `dir` holds one, else made in a scratch directory. */
async function fp32Bytes(fp32: BuiltinModel, dir: string): Promise<Uint8Array> {
  const present = path.join(dir, fp32.file);
  if (fs.existsSync(present)) {
    const bytes = fs.readFileSync(present);
    if (createHash('sha256').update(bytes).digest('hex') === fp32.sha256) return bytes;
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-zoo-'));
  try {
    await fp32.make(scratch);
    return fs.readFileSync(path.join(scratch, fp32.file));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The INT8 variant of a built-in fp32 model: the fp32 model quantized from its committed
 * calibration table (a pure function: no images needed here).
 */
function int8Of(fp32: BuiltinModel, sha256: string): BuiltinModel {
  const name = `${fp32.name}-int8`;
  return {
    name,
    file: `${name}.onnx`,
    description: `${fp32.name} quantized to static INT8 (QDQ: int8 per-channel weights, uint8 activations, SSD heads fp32) from the committed calibration table calibration/${fp32.name}.json`,
    sha256,
    make: async (dir) => {
      const table = parseTable(fs.readFileSync(path.join(CALIBRATION_DIR, `${fp32.name}.json`), 'utf8'));
      const { bytes } = quantizeFromTable(await fp32Bytes(fp32, dir), table, KEEP_FP32);
      writeFileAtomic(path.join(dir, `${name}.onnx`), bytes);
    },
  };
}

const FP32_MODELS: readonly BuiltinModel[] = [
  {
    name: 'faceapi-ssd-mobilenetv1',
    file: 'faceapi-ssd-mobilenetv1.onnx',
    description: 'pretrained SSD-MobileNetV1 face detector of @vladmandic/face-api 1.7.15, imported from its tfjs weights, BatchNorms folded (512x512 letterbox)',
    sha256: 'c7d374c311abec32a66f8ffa7ea736d2b91ba316a00e548520d9bc4eca5e644d',
    make: (dir) => convert(importedInput(importFaceApi(defaultFaceApiManifestPath(), { requirePinned: true })), path.join(dir, 'faceapi-ssd-mobilenetv1.onnx')),
  },
  {
    name: 'mobilenet-ssd-voc-300',
    file: 'mobilenet-ssd-voc-300.onnx',
    description: "chuanqi305's MobileNet-SSD layout (21 VOC classes, 300x300) with seeded weights, BatchNorms folded: real shapes and cost, meaningless detections",
    sha256: '647d98f3466ef778cd1277b6688bfb12c621d79d27e42ec47e9c290a177e94d1',
    make: (dir) => convert(importedInput(importSeededMobileNetSsd()), path.join(dir, 'mobilenet-ssd-voc-300.onnx')),
  },
];

export const BUILTIN_MODELS: readonly BuiltinModel[] = [
  ...FP32_MODELS,
  int8Of(FP32_MODELS[0], 'db3ef2f74532565074ab5a142d7e3b611ade927ae89dee14f82057666d97d213'),
  int8Of(FP32_MODELS[1], '9b7f891c0d7f24a3e6093207a7110b7f6c78e900634f3fbf9e00e3e0a1eb5c1e'),
];

export function findBuiltinModel(name: string): BuiltinModel | undefined {
  return BUILTIN_MODELS.find((m) => m.name === name);
}
