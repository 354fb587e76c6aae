import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Box as _ssd_v1_Box, Box__Output as _ssd_v1_Box__Output } from './ssd/v1/Box';
import type { DetectOptions as _ssd_v1_DetectOptions, DetectOptions__Output as _ssd_v1_DetectOptions__Output } from './ssd/v1/DetectOptions';
import type { DetectRequest as _ssd_v1_DetectRequest, DetectRequest__Output as _ssd_v1_DetectRequest__Output } from './ssd/v1/DetectRequest';
import type { DetectResponse as _ssd_v1_DetectResponse, DetectResponse__Output as _ssd_v1_DetectResponse__Output } from './ssd/v1/DetectResponse';
import type { DetectStreamRequest as _ssd_v1_DetectStreamRequest, DetectStreamRequest__Output as _ssd_v1_DetectStreamRequest__Output } from './ssd/v1/DetectStreamRequest';
import type { DetectStreamResponse as _ssd_v1_DetectStreamResponse, DetectStreamResponse__Output as _ssd_v1_DetectStreamResponse__Output } from './ssd/v1/DetectStreamResponse';
import type { Detection as _ssd_v1_Detection, Detection__Output as _ssd_v1_Detection__Output } from './ssd/v1/Detection';
import type { DetectorClient as _ssd_v1_DetectorClient, DetectorDefinition as _ssd_v1_DetectorDefinition } from './ssd/v1/Detector';
import type { Frame as _ssd_v1_Frame, Frame__Output as _ssd_v1_Frame__Output } from './ssd/v1/Frame';
import type { GatewayClient as _ssd_v1_GatewayClient, GatewayDefinition as _ssd_v1_GatewayDefinition } from './ssd/v1/Gateway';
import type { GetModelInfoRequest as _ssd_v1_GetModelInfoRequest, GetModelInfoRequest__Output as _ssd_v1_GetModelInfoRequest__Output } from './ssd/v1/GetModelInfoRequest';
import type { Image as _ssd_v1_Image, Image__Output as _ssd_v1_Image__Output } from './ssd/v1/Image';
import type { ImageResult as _ssd_v1_ImageResult, ImageResult__Output as _ssd_v1_ImageResult__Output } from './ssd/v1/ImageResult';
import type { ImageStatus as _ssd_v1_ImageStatus, ImageStatus__Output as _ssd_v1_ImageStatus__Output } from './ssd/v1/ImageStatus';
import type { ModelInfo as _ssd_v1_ModelInfo, ModelInfo__Output as _ssd_v1_ModelInfo__Output } from './ssd/v1/ModelInfo';
import type { RawImage as _ssd_v1_RawImage, RawImage__Output as _ssd_v1_RawImage__Output } from './ssd/v1/RawImage';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  ssd: {
    v1: {
      Box: MessageTypeDefinition<_ssd_v1_Box, _ssd_v1_Box__Output>
      DetectOptions: MessageTypeDefinition<_ssd_v1_DetectOptions, _ssd_v1_DetectOptions__Output>
      DetectRequest: MessageTypeDefinition<_ssd_v1_DetectRequest, _ssd_v1_DetectRequest__Output>
      DetectResponse: MessageTypeDefinition<_ssd_v1_DetectResponse, _ssd_v1_DetectResponse__Output>
      DetectStreamRequest: MessageTypeDefinition<_ssd_v1_DetectStreamRequest, _ssd_v1_DetectStreamRequest__Output>
      DetectStreamResponse: MessageTypeDefinition<_ssd_v1_DetectStreamResponse, _ssd_v1_DetectStreamResponse__Output>
      Detection: MessageTypeDefinition<_ssd_v1_Detection, _ssd_v1_Detection__Output>
      /**
       * Internal: gateway -> detector. Same semantics as Gateway.
       */
      Detector: SubtypeConstructor<typeof grpc.Client, _ssd_v1_DetectorClient> & { service: _ssd_v1_DetectorDefinition }
      DropReason: EnumTypeDefinition
      Frame: MessageTypeDefinition<_ssd_v1_Frame, _ssd_v1_Frame__Output>
      /**
       * The public face: clients send image batches here.
       */
      Gateway: SubtypeConstructor<typeof grpc.Client, _ssd_v1_GatewayClient> & { service: _ssd_v1_GatewayDefinition }
      GetModelInfoRequest: MessageTypeDefinition<_ssd_v1_GetModelInfoRequest, _ssd_v1_GetModelInfoRequest__Output>
      Image: MessageTypeDefinition<_ssd_v1_Image, _ssd_v1_Image__Output>
      ImageResult: MessageTypeDefinition<_ssd_v1_ImageResult, _ssd_v1_ImageResult__Output>
      ImageStatus: MessageTypeDefinition<_ssd_v1_ImageStatus, _ssd_v1_ImageStatus__Output>
      ModelInfo: MessageTypeDefinition<_ssd_v1_ModelInfo, _ssd_v1_ModelInfo__Output>
      OverloadPolicy: EnumTypeDefinition
      PixelFormat: EnumTypeDefinition
      RawImage: MessageTypeDefinition<_ssd_v1_RawImage, _ssd_v1_RawImage__Output>
    }
  }
}

