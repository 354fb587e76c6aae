// Caffe net (prototxt + weights) -> ONNX model, before BN folding.
//
// The walk: the prototxt's TEST-phase layers (net.ts) are processed in prototxt order, each by the
// handler registered for its type (registry.ts, layers/*.ts), with shape inference (Caffe shapes,
// the prototxt batch size standing in for the dynamic batch dimension N). A handler first checks
// the layer and infers its tops; the walk then takes the weight blobs the handler expects from
// the caffemodel by layer name (layer-weights.ts) and lets it emit its nodes (graph.ts).
//
// In-place layers (top == bottom) are renamed SSA-style (ssa.ts): every layer output gets its own
// ONNX tensor. BatchNorm + Scale merging: a BatchNorm whose output only feeds a per-channel Scale
// defers to it, and the walk emits the one BatchNormalization where the Scale is
// (layers/normalization.ts).
//
// PriorBox and DetectionOutput are not graph nodes: their parameters become the model's SSD spec
// (metadata `ssd.spec`, ssd-spec.ts). The DetectionOutput's loc and conf inputs are reshaped to
// the outputs `mbox_loc` [N, P, 4] and `mbox_conf` [N, P, C]. Nets without DetectionOutput
// (classifiers) output every blob that no layer consumes. Nodes no output depends on are dropped
// (prune.ts).
import { SSD_SPEC_METADATA_KEY, type SsdSpec, serializeSsdSpec } from '@edge-ssd/ssd-core';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, type Dim, type ModelProto } from '@edge-ssd/onnx-io';
import { PRODUCER_NAME, PRODUCER_VERSION } from '../imported';
import { type CaffeWeights, readCaffemodel } from './caffemodel';
import { fmt, product } from './dims';
import { CaffeImportError } from './errors';
import { CaffeGraph } from './graph';
import { type BlobValue, type DetectionsValue, type LayerPlan, type LayerScope, type TensorValue, type TopValue, isDeferred, priorsRead } from './handler';
import { LayerWeights } from './layer-weights';
import { type Layer, type NetLayers, layerError, netInputs, netLayers } from './net';
import { pruneDeadNodes } from './prune';
import { parsePrototxt } from './prototxt';
import { SUPPORTED_CAFFE_LAYERS, handlerFor } from './registry';
import { type BlobVersions, blobVersions, topBase } from './ssa';
import { type CaffePreprocess, type ResolvedPreprocess, caffeSsdSpec } from './ssd-spec';
import type { NetParameterMsg } from './types';

export interface ImportCaffeOptions {
  /** Labels for the SSD spec (one per class); default VOC for 21 classes, else class_N. */
  labels?: readonly string[];
  /** File names used in messages. */
  prototxtName?: string;
  caffemodelName?: string;
  /** spec.name; default: the net's name, else 'caffe-ssd'. */
  modelName?: string;
  /** Written into the SSD spec; fields left out are chuanqi305 MobileNet-SSD's, and the summary says which. */
  preprocess?: Partial<CaffePreprocess>;
}

export interface CaffeImportSummary {
  netName: string;
  /** 'layer' (LayerParameter) or 'layers' (legacy V1) in the prototxt. */
  prototxtFormat: 'layer' | 'layers';
  weightsFormat: CaffeWeights['format'];
  /** Layers after TEST-phase filtering. */
  layers: number;
  /** Layer count per Caffe type, sorted by type. */
  layerTypes: Record<string, number>;
  batchNormScalePairs: number;
  batchNormAlone: number;
  scaleAlone: number;
  /** Layers other than Input that produce no node (Dropout, Split, identity Permute, PriorBox, DetectionOutput, a BatchNorm merged into its Scale). */
  noNode: number;
  /** Layers excluded by include/exclude phase rules. */
  filteredOut: string[];
  /** Layers whose nodes do not contribute to any output (removed). */
  deadLayers: string[];
  /** Caffemodel layers with blobs that no prototxt layer uses. */
  unusedWeights: string[];
  weightValues: number;
  inputs: { name: string; shape: Dim[] }[];
  outputs: { name: string; shape: Dim[] }[];
  /** The SSD spec's preprocessing (SSD nets only) and which of its fields were assumed. */
  preprocess?: ResolvedPreprocess;
}

export interface CaffeImportResult {
  /** The ONNX model with BatchNormalization nodes (not folded yet). */
  model: ModelProto;
  /** The SSD spec stored in the metadata, or null for a net without DetectionOutput. */
  spec: SsdSpec | null;
  summary: CaffeImportSummary;
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

class CaffeNetImport {
  private readonly file: string;
  private readonly caffemodelName: string;
  private readonly net: NetLayers;
  private readonly layers: readonly Layer[];
  private readonly graph: CaffeGraph;
  private readonly versions: BlobVersions;
  private readonly weights: LayerWeights;
  /** The value of every blob version defined so far. */
  private readonly values = new Map<number, TopValue>();
  /** Plans waiting for a later layer (by index): a BatchNorm for the Scale it merges into. */
  private readonly deferred = new Map<number, { owner: Layer; resume: () => LayerPlan }>();
  private ssd: DetectionsValue | undefined;
  private batchNormScalePairs = 0;
  private noNode = 0;

  constructor(
    private readonly netParam: NetParameterMsg,
    private readonly caffeWeights: CaffeWeights,
    private readonly options: ImportCaffeOptions,
  ) {
    this.file = options.prototxtName ?? 'prototxt';
    this.caffemodelName = options.caffemodelName ?? 'caffemodel';
    this.net = netLayers(netParam, this.file);
    this.layers = this.net.layers;
    const declared = netInputs(netParam, this.file);
    // Input names (NetParameter inputs and Input layer tops) are the graph input names, and the
    // SSD outputs are always mbox_loc and mbox_conf: no other tensor may take these names.
    const reserved = new Set(declared.map((i) => i.name));
    for (const l of this.layers) if (l.type === 'Input') for (const top of l.top) reserved.add(top);
    if (this.layers.some((l) => l.type === 'DetectionOutput')) {
      reserved.add('mbox_loc');
      reserved.add('mbox_conf');
    }
    this.graph = new CaffeGraph(netParam.name || 'caffe', reserved);
    this.versions = blobVersions(this.layers, declared.map((i) => i.name), (layer, message) => this.fail(layer, message));
    this.weights = new LayerWeights(caffeWeights, this.file, this.caffemodelName);
    declared.forEach((input, i) => this.values.set(this.versions.inputs[i], this.graph.input(input.name, input.shape)));
  }

  private fail(layer: Layer, message: string): never {
    throw layerError(this.file, layer, message);
  }

  run(): CaffeImportResult {
    for (const layer of this.layers) this.convert(layer);
    if (this.graph.inputs.length === 0) throw new CaffeImportError(`${this.file}: the net has no inputs (no input/input_shape and no Input layer)`);
    return this.finish();
  }

  private convert(layer: Layer): void {
    const before = this.graph.nodeCount;
    const merged = this.deferred.get(layer.index);
    if (merged) {
      this.batchNormScalePairs++;
      this.apply(layer, merged.owner, merged.resume());
    } else {
      const handler = handlerFor(layer.type);
      if (!handler) {
        throw new CaffeImportError(
          `${this.file}:${layer.line ?? '?'}: layer '${layer.name}' has type '${layer.type}', which the Caffe importer does not support (supported: ${SUPPORTED_CAFFE_LAYERS.join(', ')})`,
        );
      }
      const plan = handler.infer(this.scope(layer));
      if (isDeferred(plan)) this.deferred.set(plan.deferTo.index, { owner: layer, resume: plan.resume });
      else this.apply(layer, layer, plan);
    }
    // Input layers make graph inputs, never nodes.
    if (layer.type !== 'Input' && this.graph.nodeCount === before) this.noNode++;
  }

  /** Takes the plan's weights, emits it as `owner`'s nodes and gives its values to `layer`'s tops. */
  private apply(layer: Layer, owner: Layer, plan: LayerPlan): void {
    const blobs = (plan.weights ?? []).flatMap((w) => this.weights.take(w.layer, w.blobs));
    const g = this.graph.emitter(owner, (i) => topBase(this.versions, owner, i));
    plan.emit(g, blobs).forEach((value, i) => {
      this.values.set(this.versions.tops[layer.index][i], value);
      if (value.kind === 'detections') this.ssd = value;
    });
  }

  private scope(layer: Layer): LayerScope {
    const versions = this.versions;
    const input = (i: number): BlobValue => {
      const v = this.values.get(versions.bottoms[layer.index][i]);
      if (!v || v.kind === 'detections') this.fail(layer, `reads '${layer.bottom[i]}', the output of a DetectionOutput layer, which is not part of the converted graph`);
      return v;
    };
    return {
      layer,
      file: this.file,
      detectionOutput: this.ssd?.layer,
      fail: (message) => this.fail(layer, message),
      arity: (bottoms, tops) => {
        const [lo, hi] = typeof bottoms === 'number' ? [bottoms, bottoms] : bottoms;
        const n = layer.bottom.length;
        if (n < lo || n > hi) this.fail(layer, `has ${n} bottom blob${n === 1 ? '' : 's'}, expected ${lo === hi ? lo : `${lo} to ${hi === Infinity ? 'any number' : hi}`}`);
        if (layer.top.length !== tops) this.fail(layer, `has ${layer.top.length} top blobs, expected ${tops}`);
      },
      input,
      tensorInput: (i, rank): TensorValue => {
        const v = input(i);
        if (v.kind !== 'tensor') this.fail(layer, priorsRead(layer.bottom[i]));
        if (rank !== undefined && v.shape.length !== rank) this.fail(layer, `needs a ${rank}-D input, '${layer.bottom[i]}' has shape ${fmt(v.shape)}`);
        return v;
      },
      soleConsumer: (i) => {
        const users = versions.consumers.get(versions.tops[layer.index][i]) ?? [];
        return users.length === 1 ? this.layers[users[0]] : undefined;
      },
    };
  }

  private finish(): CaffeImportResult {
    const { graph, netParam: net } = this;
    const inputs = graph.inputs;
    const outputs: { name: string; shape: Dim[] }[] = [];
    let spec: SsdSpec | null = null;
    let preprocess: ResolvedPreprocess | undefined;
    if (this.ssd) {
      const { loc, conf, layer } = this.ssd;
      const ssd = caffeSsdSpec(this.ssd, inputs, { ...this.options, netName: net.name }, (l, message) => this.fail(l, message));
      spec = ssd.spec;
      preprocess = ssd.preprocess;
      const { numPriors, numClasses } = ssd;
      const perImage = (v: TensorValue) => product(v.shape.slice(1));
      if (perImage(loc) !== numPriors * 4) this.fail(layer, `loc input '${layer.bottom[0]}' has ${perImage(loc)} values per image, the ${numPriors} prior boxes need ${numPriors * 4}`);
      if (perImage(conf) !== numPriors * numClasses) {
        this.fail(layer, `conf input '${layer.bottom[1]}' has ${perImage(conf)} values per image, ${numPriors} priors x ${numClasses} classes need ${numPriors * numClasses}`);
      }
      const locOut = graph.reshape(layer, loc, [0, -1, 4], 'mbox_loc', 'mbox_loc/reshape', true);
      const confOut = graph.reshape(layer, conf, [0, -1, numClasses], 'mbox_conf', 'mbox_conf/reshape', true);
      outputs.push({ name: locOut, shape: ['N', numPriors, 4] }, { name: confOut, shape: ['N', numPriors, numClasses] });
    } else {
      if ((this.options.labels?.length ?? 0) > 0) throw new CaffeImportError(`${this.file}: labels were given, but the net has no DetectionOutput layer (labels apply to SSD models only)`);
      // Net outputs: blob versions that no layer consumes (Caffe's definition), in definition order.
      for (const layer of this.layers) {
        for (const v of this.versions.tops[layer.index]) {
          if ((this.versions.consumers.get(v) ?? []).length > 0) continue;
          const value = this.values.get(v);
          if (!value) continue;
          if (value.kind === 'priors') this.fail(layer, 'PriorBox outputs need a DetectionOutput layer');
          if (value.kind !== 'tensor') continue;
          if (inputs.some((i) => i.name === value.tensor) || outputs.some((o) => o.name === value.tensor)) continue;
          outputs.push({ name: value.tensor, shape: ['N', ...value.shape.slice(1)] });
        }
      }
      if (outputs.length === 0) throw new CaffeImportError(`${this.file}: the net has no outputs`);
    }
    for (const o of outputs) graph.output(o.name, o.shape);
    const model = graph.model({
      irVersion: DEFAULT_IR_VERSION,
      opsetVersion: DEFAULT_OPSET,
      producerName: PRODUCER_NAME,
      producerVersion: PRODUCER_VERSION,
      // Base names only: the model bytes must not depend on where the input files were.
      docString: `Imported from Caffe: ${baseName(this.file)} + ${baseName(this.caffemodelName)}${net.name ? ` (net '${net.name}')` : ''}`,
      metadata: spec ? { [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(spec) } : {},
    });
    const deadLayers = pruneDeadNodes(model, graph.nodeLayer);
    return { model, spec, summary: { ...this.summary(inputs, outputs, deadLayers), ...(preprocess ? { preprocess } : {}) } };
  }

  private summary(inputs: CaffeGraph['inputs'], outputs: CaffeImportSummary['outputs'], deadLayers: string[]): CaffeImportSummary {
    const layerTypes: Record<string, number> = {};
    for (const l of this.layers) layerTypes[l.type] = (layerTypes[l.type] ?? 0) + 1;
    // Every BatchNorm and Scale not merged into a pair stands alone (all deferrals resolve: the walk went through every layer).
    const pairs = this.batchNormScalePairs;
    return {
      netName: this.netParam.name ?? '',
      prototxtFormat: this.net.format,
      weightsFormat: this.caffeWeights.format,
      layers: this.layers.length,
      layerTypes: Object.fromEntries(Object.keys(layerTypes).sort().map((k) => [k, layerTypes[k]])),
      batchNormScalePairs: pairs,
      batchNormAlone: (layerTypes.BatchNorm ?? 0) - pairs,
      scaleAlone: (layerTypes.Scale ?? 0) - pairs,
      noNode: this.noNode,
      filteredOut: this.net.filteredOut,
      deadLayers,
      unusedWeights: this.weights.unused(),
      weightValues: this.caffeWeights.valueCount,
      inputs: inputs.map((i) => ({ name: i.name, shape: ['N', ...i.shape.slice(1)] })),
      outputs,
    };
  }
}

/**
 * Imports a Caffe net: the prototxt text and the caffemodel (bytes, or weights already read with
 * readCaffemodel). Throws CaffeImportError for anything it cannot map faithfully.
 */
export function importCaffe(prototxt: string, caffemodel: Uint8Array | CaffeWeights, options: ImportCaffeOptions = {}): CaffeImportResult {
  const net = parsePrototxt(prototxt, options.prototxtName ?? 'prototxt');
  const weights = caffemodel instanceof Uint8Array ? readCaffemodel(caffemodel, options.caffemodelName ?? 'caffemodel') : caffemodel;
  return new CaffeNetImport(net, weights, options).run();
}
