// The public contract ssd.v1 as loaded at run time, with its TypeScript types generated from
// ssd.proto by proto-loader-gen-types (src/generated, `nx run protos:generate`; a test checks they
// are current). Loaded and generated with the same options: camelCase fields, enums as strings,
// defaults filled in, repeated fields always arrays, the set oneof's name in `source`.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/ssd';
import type { Box__Output } from './generated/ssd/v1/Box';
import type { DetectOptions as DetectOptionsInit, DetectOptions__Output } from './generated/ssd/v1/DetectOptions';
import type { DetectRequest as DetectRequestInit, DetectRequest__Output } from './generated/ssd/v1/DetectRequest';
import type { DetectResponse as DetectResponseInit, DetectResponse__Output } from './generated/ssd/v1/DetectResponse';
import type { Detection__Output } from './generated/ssd/v1/Detection';
import type { Image__Output } from './generated/ssd/v1/Image';
import type { ImageResult__Output } from './generated/ssd/v1/ImageResult';
import type { ImageStatus__Output } from './generated/ssd/v1/ImageStatus';
import type { GetModelInfoRequest__Output } from './generated/ssd/v1/GetModelInfoRequest';
import type { ModelInfo__Output } from './generated/ssd/v1/ModelInfo';
import type { PixelFormat__Output } from './generated/ssd/v1/PixelFormat';
import type { RawImage__Output } from './generated/ssd/v1/RawImage';
import type { DetectStreamRequest as DetectStreamRequestInit, DetectStreamRequest__Output } from './generated/ssd/v1/DetectStreamRequest';
import type { DetectStreamResponse as DetectStreamResponseInit, DetectStreamResponse__Output } from './generated/ssd/v1/DetectStreamResponse';
import type { DropReason__Output } from './generated/ssd/v1/DropReason';
import type { Frame__Output } from './generated/ssd/v1/Frame';
import type { OverloadPolicy__Output } from './generated/ssd/v1/OverloadPolicy';

export const PROTO_ROOT = path.join(__dirname, '..');
export const SSD_PROTO_FILE = path.join(PROTO_ROOT, 'ssd', 'v1', 'ssd.proto');

/** What proto-loader-gen-types is told too (project.json, target `generate`). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

type V1 = ProtoGrpcType['ssd']['v1'];

export interface SsdPackage {
  definition: protoLoader.PackageDefinition;
  Gateway: V1['Gateway'];
  Detector: V1['Detector'];
}

let cached: SsdPackage | undefined;

export function loadSsdPackage(): SsdPackage {
  if (!cached) {
    const definition = protoLoader.loadSync(SSD_PROTO_FILE, LOADER_OPTIONS);
    const { ssd } = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    cached = { definition, Gateway: ssd.v1.Gateway, Detector: ssd.v1.Detector };
  }
  return cached;
}

// Messages as they are received: every field present (defaults filled in).
export type PixelFormat = PixelFormat__Output;
export type RawImage = RawImage__Output;
export type Image = Image__Output;
export type DetectOptions = DetectOptions__Output;
export type DetectRequest = DetectRequest__Output;
export type Box = Box__Output;
export type Detection = Detection__Output;
export type ImageStatus = ImageStatus__Output;
export type ImageResult = ImageResult__Output;
export type DetectResponse = DetectResponse__Output;
export type ModelInfo = ModelInfo__Output;
export type GetModelInfoRequest = GetModelInfoRequest__Output;
export type Frame = Frame__Output;
export type OverloadPolicy = OverloadPolicy__Output;
export type DropReason = DropReason__Output;
export type DetectStreamRequest = DetectStreamRequest__Output;
export type DetectStreamResponse = DetectStreamResponse__Output;

// Messages as they are sent: every field optional, as protobuf allows.
export type { DetectOptionsInit, DetectRequestInit, DetectResponseInit, DetectStreamRequestInit, DetectStreamResponseInit };

export type { GatewayClient, GatewayHandlers } from './generated/ssd/v1/Gateway';
export type { DetectorClient, DetectorHandlers } from './generated/ssd/v1/Detector';

export * from './request-scan';
