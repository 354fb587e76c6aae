// The contract between the walk over the net (import.ts) and the per-layer handlers (layers/*.ts,
// registered in registry.ts), in the shape tf2onnx and onnx2torch use: a handler maps one Caffe
// layer type to ONNX. It first checks the layer against what its bottoms hold and infers what its
// tops will hold (LayerScope, no side effects); the walk then fetches the weight blobs the plan
// expects from the caffemodel, checked against the shapes the prototxt implies, and the plan emits
// nodes and initializers (LayerEmitter). Splitting the two keeps every refusal ahead of any change
// to the graph, and keeps the caffemodel in one place.
import type { PriorBoxHead } from '@edge-ssd/ssd-core';
import type { AttributeValue } from '@edge-ssd/onnx-io';
import type { CaffeBlob } from './caffemodel';
import type { Layer } from './net';

/** A blob that is an ONNX tensor. */
export interface TensorValue {
  kind: 'tensor';
  tensor: string;
  /** Caffe shape; index 0 is the batch (the prototxt's value). */
  shape: number[];
}

interface PriorHead {
  head: PriorBoxHead;
  /** The PriorBox layer, for messages. */
  layer: Layer;
  /** [height, width] of the PriorBox layer's image bottom. */
  image: [number, number];
}

/** PriorBox outputs (alone or concatenated): not graph tensors, they become the SSD spec's priors. */
export interface PriorsValue {
  kind: 'priors';
  heads: PriorHead[];
  shape: number[];
}

/** What a DetectionOutput layer's top stands for: the model's SSD outputs and spec. */
export interface DetectionsValue {
  kind: 'detections';
  layer: Layer;
  loc: TensorValue;
  conf: TensorValue;
  priors: PriorsValue;
}

/** What a layer may read. */
export type BlobValue = TensorValue | PriorsValue;
export type TopValue = BlobValue | DetectionsValue;

/** A weight blob the caffemodel must hold: its role (for messages) and the shape the prototxt implies. */
export interface BlobSpec {
  role: string;
  shape: number[];
}

/** The blobs of one layer, in the caffemodel's blob order. */
interface WeightRequest {
  layer: Layer;
  blobs: readonly BlobSpec[];
}

/** A handler's view of the layer being mapped, before anything is emitted. */
export interface LayerScope {
  readonly layer: Layer;
  /** The prototxt's name, for messages about the file rather than a layer. */
  readonly file: string;
  /** The DetectionOutput layer met earlier in the net, if any. */
  readonly detectionOutput: Layer | undefined;
  /** Throws CaffeImportError naming the layer and its prototxt line. */
  fail(message: string): never;
  /** Requires `bottoms` bottom blobs (a count or an inclusive range) and `tops` top blobs. */
  arity(bottoms: number | [number, number], tops: number): void;
  /** The value bottom `i` reads. */
  input(i: number): BlobValue;
  /** Bottom `i`, which must be a tensor (of rank `rank` when given). */
  tensorInput(i: number, rank?: number): TensorValue;
  /** The one layer that reads top `i`, if exactly one does. */
  soleConsumer(i: number): Layer | undefined;
}

/** Adds a layer's nodes and initializers; names are made unique, node names after the layer. */
export interface LayerEmitter {
  /** Base name for the tensor of top `i`: the blob name, or the layer name for an in-place rewrite. */
  topBase(i: number): string;
  /** A node named after the layer (or `nodeName`); returns its output tensor. */
  node(op: string, inputs: string[], outputBase: string, attrs?: Record<string, AttributeValue>, nodeName?: string): string;
  /** Reshape to `dims` (ONNX semantics: 0 copies, -1 infers); returns the output tensor. */
  reshape(x: TensorValue, dims: number[], outputBase: string): string;
  /** A float initializer holding a caffemodel blob's bytes as they are. */
  rawTensor(name: string, dims: readonly number[], blob: CaffeBlob): string;
  floatConst(name: string, dims: readonly number[], values: ArrayLike<number>): string;
  /** A graph input (Input layers); the batch dimension becomes the dynamic N. */
  graphInput(name: string, shape: number[]): TensorValue;
}

export interface LayerPlan {
  /** The weight blobs to fetch from the caffemodel before `emit`; none when absent. */
  readonly weights?: readonly WeightRequest[];
  /** Emits the layer; `blobs` are the requested blobs, checked, in request order. One value per top. */
  emit(g: LayerEmitter, blobs: readonly CaffeBlob[]): readonly TopValue[];
}

/**
 * A layer that is emitted together with a later one, at that one's place and instead of its
 * handler (a BatchNorm merged with the Scale that carries its gamma/beta). `resume` may still fail.
 */
export interface DeferredPlan {
  readonly deferTo: Layer;
  resume(): LayerPlan;
}

export interface LayerHandler {
  /** The Caffe types it maps (LayerParameter.type; V1 layers are mapped to these names). */
  readonly types: readonly string[];
  /** Checks the layer's parameters against its bottoms and infers its tops (Caffe's Reshape). */
  infer(s: LayerScope): LayerPlan | DeferredPlan;
}

export function isDeferred(plan: LayerPlan | DeferredPlan): plan is DeferredPlan {
  return 'deferTo' in plan;
}

/** Why a layer other than Concat and DetectionOutput may not read bottom `blob`. */
export function priorsRead(blob: string): string {
  return `reads '${blob}', a PriorBox output; only Concat (axis 2) and DetectionOutput may read prior boxes`;
}

export function tensorValue(tensor: string, shape: number[]): TensorValue {
  return { kind: 'tensor', tensor, shape };
}
