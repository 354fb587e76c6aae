// The built-in models: made from what ships in node_modules (nothing is downloaded), byte-identical
// on every machine and architecture, so each is pinned by the sha256 of the file it makes.
import { DEFAULT_MODEL_FILE, FACE_MODEL_FILE, prepareDefaultModel, prepareFaceModel } from '@edge-ssd/bn-fuse';

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
    file: FACE_MODEL_FILE,
    description: 'pretrained SSD-MobileNetV1 face detector of @vladmandic/face-api 1.7.15, imported from its tfjs weights, BatchNorms folded (512x512 letterbox)',
    sha256: 'c7d374c311abec32a66f8ffa7ea736d2b91ba316a00e548520d9bc4eca5e644d',
    make: (dir) => prepareFaceModel(dir),
  },
  {
    name: 'mobilenet-ssd-voc-300',
    file: DEFAULT_MODEL_FILE,
    description: "chuanqi305's MobileNet-SSD layout (21 VOC classes, 300x300) with seeded weights, BatchNorms folded: real shapes and cost, meaningless detections",
    sha256: '647d98f3466ef778cd1277b6688bfb12c621d79d27e42ec47e9c290a177e94d1',
    make: (dir) => prepareDefaultModel(dir),
  },
];

export function findBuiltinModel(name: string): BuiltinModel | undefined {
  return BUILTIN_MODELS.find((m) => m.name === name);
}
