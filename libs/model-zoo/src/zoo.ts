// The built-in models: made from what ships in node_modules (nothing is downloaded) by the one
// conversion pipeline, byte-identical on every machine and architecture, so each is pinned by the
// sha256 of the file it makes.
import * as path from 'node:path';
import { convert, importedInput } from '@edge-ssd/convert';
import { defaultFaceApiManifestPath, importFaceApi, importSeededMobileNetSsd } from '@edge-ssd/importers';

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

export const BUILTIN_MODELS: readonly BuiltinModel[] = [
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

export function findBuiltinModel(name: string): BuiltinModel | undefined {
  return BUILTIN_MODELS.find((m) => m.name === name);
}
