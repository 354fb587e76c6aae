// Original file: protos/ssd/v1/ssd.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DetectRequest as _ssd_v1_DetectRequest, DetectRequest__Output as _ssd_v1_DetectRequest__Output } from '../../ssd/v1/DetectRequest';
import type { DetectResponse as _ssd_v1_DetectResponse, DetectResponse__Output as _ssd_v1_DetectResponse__Output } from '../../ssd/v1/DetectResponse';
import type { DetectStreamRequest as _ssd_v1_DetectStreamRequest, DetectStreamRequest__Output as _ssd_v1_DetectStreamRequest__Output } from '../../ssd/v1/DetectStreamRequest';
import type { DetectStreamResponse as _ssd_v1_DetectStreamResponse, DetectStreamResponse__Output as _ssd_v1_DetectStreamResponse__Output } from '../../ssd/v1/DetectStreamResponse';
import type { GetModelInfoRequest as _ssd_v1_GetModelInfoRequest, GetModelInfoRequest__Output as _ssd_v1_GetModelInfoRequest__Output } from '../../ssd/v1/GetModelInfoRequest';
import type { ModelInfo as _ssd_v1_ModelInfo, ModelInfo__Output as _ssd_v1_ModelInfo__Output } from '../../ssd/v1/ModelInfo';

/**
 * The public face: clients send image batches here.
 */
export interface GatewayClient extends grpc.Client {
  /**
   * Detects objects in every image of the batch. Per-image failures (a corrupt image, say)
   * are reported in that image's ImageResult.status; the RPC itself fails only when the
   * request as a whole cannot be served.
   */
  Detect(argument: _ssd_v1_DetectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  Detect(argument: _ssd_v1_DetectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  Detect(argument: _ssd_v1_DetectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  Detect(argument: _ssd_v1_DetectRequest, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Detects objects in every image of the batch. Per-image failures (a corrupt image, say)
   * are reported in that image's ImageResult.status; the RPC itself fails only when the
   * request as a whole cannot be served.
   */
  detect(argument: _ssd_v1_DetectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  detect(argument: _ssd_v1_DetectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  detect(argument: _ssd_v1_DetectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  detect(argument: _ssd_v1_DetectRequest, callback: grpc.requestCallback<_ssd_v1_DetectResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Detects objects in a stream of frames (a camera's, say): one DetectStreamResponse per frame,
   * in sequence order, either the frame's detections or why it was dropped. The stream's
   * settings (options, policy, max_in_flight) come from its first message.
   */
  DetectStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_ssd_v1_DetectStreamRequest, _ssd_v1_DetectStreamResponse__Output>;
  DetectStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_ssd_v1_DetectStreamRequest, _ssd_v1_DetectStreamResponse__Output>;
  /**
   * Detects objects in a stream of frames (a camera's, say): one DetectStreamResponse per frame,
   * in sequence order, either the frame's detections or why it was dropped. The stream's
   * settings (options, policy, max_in_flight) come from its first message.
   */
  detectStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_ssd_v1_DetectStreamRequest, _ssd_v1_DetectStreamResponse__Output>;
  detectStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_ssd_v1_DetectStreamRequest, _ssd_v1_DetectStreamResponse__Output>;
  
  GetModelInfo(argument: _ssd_v1_GetModelInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  GetModelInfo(argument: _ssd_v1_GetModelInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  GetModelInfo(argument: _ssd_v1_GetModelInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  GetModelInfo(argument: _ssd_v1_GetModelInfoRequest, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _ssd_v1_GetModelInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _ssd_v1_GetModelInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _ssd_v1_GetModelInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _ssd_v1_GetModelInfoRequest, callback: grpc.requestCallback<_ssd_v1_ModelInfo__Output>): grpc.ClientUnaryCall;
  
}

/**
 * The public face: clients send image batches here.
 */
export interface GatewayHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Detects objects in every image of the batch. Per-image failures (a corrupt image, say)
   * are reported in that image's ImageResult.status; the RPC itself fails only when the
   * request as a whole cannot be served.
   */
  Detect: grpc.handleUnaryCall<_ssd_v1_DetectRequest__Output, _ssd_v1_DetectResponse>;
  
  /**
   * Detects objects in a stream of frames (a camera's, say): one DetectStreamResponse per frame,
   * in sequence order, either the frame's detections or why it was dropped. The stream's
   * settings (options, policy, max_in_flight) come from its first message.
   */
  DetectStream: grpc.handleBidiStreamingCall<_ssd_v1_DetectStreamRequest__Output, _ssd_v1_DetectStreamResponse>;
  
  GetModelInfo: grpc.handleUnaryCall<_ssd_v1_GetModelInfoRequest__Output, _ssd_v1_ModelInfo>;
  
}

export interface GatewayDefinition extends grpc.ServiceDefinition {
  Detect: MethodDefinition<_ssd_v1_DetectRequest, _ssd_v1_DetectResponse, _ssd_v1_DetectRequest__Output, _ssd_v1_DetectResponse__Output>
  DetectStream: MethodDefinition<_ssd_v1_DetectStreamRequest, _ssd_v1_DetectStreamResponse, _ssd_v1_DetectStreamRequest__Output, _ssd_v1_DetectStreamResponse__Output>
  GetModelInfo: MethodDefinition<_ssd_v1_GetModelInfoRequest, _ssd_v1_ModelInfo, _ssd_v1_GetModelInfoRequest__Output, _ssd_v1_ModelInfo__Output>
}
