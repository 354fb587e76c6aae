// The public contract as loaded at run time, plus TypeScript shapes of its messages as
// @grpc/proto-loader delivers them with LOADER_OPTIONS (camelCase fields, enums as strings,
// defaults filled in, oneof name in `source`).
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_ROOT = path.join(__dirname, '..');
export const SSD_PROTO_FILE = path.join(PROTO_ROOT, 'ssd', 'v1', 'ssd.proto');

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export interface SsdPackage {
  definition: protoLoader.PackageDefinition;
  Gateway: grpc.ServiceClientConstructor;
  Detector: grpc.ServiceClientConstructor;
}

let cached: SsdPackage | undefined;

export function loadSsdPackage(): SsdPackage {
  if (!cached) {
    const definition = protoLoader.loadSync(SSD_PROTO_FILE, LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      ssd: { v1: { Gateway: grpc.ServiceClientConstructor; Detector: grpc.ServiceClientConstructor } };
    };
    cached = { definition, Gateway: loaded.ssd.v1.Gateway, Detector: loaded.ssd.v1.Detector };
  }
  return cached;
}

export type PixelFormat = 'PIXEL_FORMAT_UNSPECIFIED' | 'RGB8' | 'BGR8';

export interface RawImage {
  width: number;
  height: number;
  format: PixelFormat;
  data: Buffer;
}

export interface Image {
  id: string;
  encoded?: Buffer;
  raw?: RawImage | null;
  source?: 'encoded' | 'raw';
}

export interface DetectOptions {
  scoreThreshold: number;
  iouThreshold: number;
  topK: number;
  keepTopK: number;
  classIds: number[];
}

export interface DetectRequest {
  images: Image[];
  options: DetectOptions | null;
}

export interface Box {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

export interface Detection {
  classId: number;
  label: string;
  score: number;
  box: Box;
  pixelBox: Box;
}

export interface ImageStatus {
  code: number;
  message: string;
}

export interface ImageResult {
  id: string;
  status: ImageStatus;
  detections: Detection[];
  width: number;
  height: number;
}

export interface DetectResponse {
  results: ImageResult[];
  model: string;
}

export type GetModelInfoRequest = Record<string, never>;

export interface ModelInfo {
  name: string;
  sha256: string;
  inputWidth: number;
  inputHeight: number;
  labels: string[];
  bnFused: boolean;
  numPriors: number;
}

/** What a client may send: everything optional, as protobuf allows. */
export interface DetectRequestInit {
  images: Array<{ id?: string; encoded?: Uint8Array; raw?: { width: number; height: number; format: PixelFormat | number; data: Uint8Array } }>;
  options?: Partial<DetectOptions>;
}

export * from './request-scan';
