// The models a detector can serve without MODEL_PATH, written on first start into the model
// folder from what ships in node_modules (nothing is downloaded).
import { DEFAULT_MODEL_FILE, FACE_MODEL_FILE, prepareDefaultModel, prepareFaceModel } from '@edge-ssd/bn-fuse';

export const BUILTIN_MODELS = {
  /** The real, pretrained SSD-MobileNetV1 face detector of @vladmandic/face-api, imported and folded. */
  'faceapi-ssd-mobilenetv1': { file: FACE_MODEL_FILE, prepare: prepareFaceModel },
  /** chuanqi305's MobileNet-SSD layout (VOC, 300x300) with seeded weights, BatchNorms folded. */
  'mobilenet-ssd-voc-300': { file: DEFAULT_MODEL_FILE, prepare: prepareDefaultModel },
} as const;

export type BuiltinModel = keyof typeof BUILTIN_MODELS;
export const BUILTIN_MODEL_NAMES = Object.keys(BUILTIN_MODELS) as BuiltinModel[];
