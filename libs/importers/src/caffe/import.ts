// Caffe net (prototxt + weights) -> ONNX model, before BN folding.
//
// Layers are processed in prototxt order with shape inference (Caffe shapes, the prototxt batch
// size standing in for the dynamic batch dimension N). Weights are matched to layers by name, as
// Caffe's CopyTrainedLayersFrom and OpenCV's importer do; each blob's shape is checked against the
// shape the prototxt implies.
//
// In-place layers (top == bottom) are renamed SSA-style: every layer output gets its own ONNX
// tensor. A BatchNorm whose output only feeds a Scale becomes one ONNX BatchNormalization with the
// Scale's gamma/beta (beta 0 when the Scale has no bias); a BatchNorm alone gets gamma 1, beta 0;
// a per-channel Scale alone becomes a BatchNormalization with mean 0, var 1, eps 0 (so it still
// folds into a preceding convolution); other Scales become Mul (+ Add). The BatchNorm statistics
// are divided by the scale-factor blob exactly as Caffe does it in float32 (factor 0 -> zero
// statistics). Folding is left to foldBatchNorm (the converter pipeline).
//
// PriorBox and DetectionOutput are not graph nodes: their parameters become the model's SSD spec
// (metadata `ssd.spec`), with each PriorBox head's feature-map size taken from shape inference.
// The DetectionOutput's loc and conf inputs are reshaped to the outputs `mbox_loc` [N, P, 4] and
// `mbox_conf` [N, P, C]. Nets without DetectionOutput (classifiers) output every blob that no
// layer consumes.
import {
  MOBILENET_SSD_VOC_300,
  SSD_SPEC_METADATA_KEY,
  type CodeType,
  type PriorBoxHead,
  type SsdSpec,
  SsdSpecError,
  VOC_LABELS,
  parseSsdSpec,
  priorBoxHeadCount,
  serializeSsdSpec,
} from '@edge-ssd/ssd-core';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, Dim, GraphBuilder } from '@edge-ssd/onnx-io';
import { PRODUCER_NAME, PRODUCER_VERSION } from '../imported';
import { DataType, ModelProto } from '@edge-ssd/onnx-io';
import { makeFloatTensor, makeInt64Tensor } from '@edge-ssd/onnx-io';
import { CaffeBlob, CaffeWeights, readCaffemodel } from './caffemodel';
import { CaffeImportError } from './errors';
import { lineOf, parsePrototxt } from './prototxt';
import { V1_LAYER_TYPES } from './schema';
import { BlobShapeMsg, LayerParamsMsg, NetParameterMsg, NetStateMsg, NetStateRuleMsg } from './types';

/** Layer types the importer maps (Input and the SSD layers included). */
export const SUPPORTED_CAFFE_LAYERS: readonly string[] = Object.freeze([
  'Input',
  'Convolution',
  'Deconvolution',
  'BatchNorm',
  'Scale',
  'ReLU',
  'Sigmoid',
  'TanH',
  'Pooling',
  'LRN',
  'InnerProduct',
  'Eltwise',
  'Concat',
  'Permute',
  'Flatten',
  'Reshape',
  'Softmax',
  'Dropout',
  'Split',
  'PriorBox',
  'DetectionOutput',
]);

/** Preprocessing written into the SSD spec (chuanqi305 MobileNet-SSD: BGR, (x - 127.5) * 0.007843). */
export interface CaffePreprocess {
  mean: [number, number, number];
  scale: number;
  channelOrder: 'BGR' | 'RGB';
}

export const CAFFE_SSD_PREPROCESS: CaffePreprocess = Object.freeze({
  mean: [...MOBILENET_SSD_VOC_300.input.mean] as [number, number, number],
  scale: MOBILENET_SSD_VOC_300.input.scale,
  channelOrder: MOBILENET_SSD_VOC_300.input.channelOrder,
});

export interface ImportCaffeOptions {
  /** Labels for the SSD spec (one per class); default VOC for 21 classes, else class_N. */
  labels?: readonly string[];
  /** File names used in messages. */
  prototxtName?: string;
  caffemodelName?: string;
  /** spec.name; default: the net's name, else 'caffe-ssd'. */
  modelName?: string;
  preprocess?: CaffePreprocess;
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
  /** Layers that produce no node (Dropout, Split, identity Permute, PriorBox, DetectionOutput). */
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
}

export interface CaffeImportResult {
  /** The ONNX model with BatchNormalization nodes (not folded yet). */
  model: ModelProto;
  /** The SSD spec stored in the metadata, or null for a net without DetectionOutput. */
  spec: SsdSpec | null;
  summary: CaffeImportSummary;
}

interface Layer {
  index: number;
  name: string;
  type: string;
  bottom: string[];
  top: string[];
  params: LayerParamsMsg;
  line: number | undefined;
}

interface TensorValue {
  kind: 'tensor';
  tensor: string;
  /** Caffe shape; index 0 is the batch (the prototxt's value). */
  shape: number[];
}

interface PriorHead {
  head: PriorBoxHead;
  layer: Layer;
  /** [height, width] of the PriorBox layer's image bottom. */
  image: [number, number];
}

interface PriorsValue {
  kind: 'priors';
  heads: PriorHead[];
  shape: number[];
}

type Value = TensorValue | PriorsValue;

const FLT_MAX = 3.4028234663852886e38;
const CODE_TYPES: Record<string, CodeType> = { CORNER: 'CORNER', CENTER_SIZE: 'CENTER_SIZE', CORNER_SIZE: 'CORNER_SIZE' };

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function fmt(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/** Caffe's include/exclude rules (NetStateRule) against the net state. */
function meetsRule(state: Required<NetStateMsg>, rule: NetStateRuleMsg): boolean {
  if (rule.phase !== undefined && rule.phase !== state.phase) return false;
  if (rule.min_level !== undefined && state.level < rule.min_level) return false;
  if (rule.max_level !== undefined && state.level > rule.max_level) return false;
  for (const s of rule.stage ?? []) if (!state.stage.includes(s)) return false;
  for (const s of rule.not_stage ?? []) if (state.stage.includes(s)) return false;
  return true;
}

class Importer {
  private readonly b: GraphBuilder;
  /** Tensor names in use, and names kept for the net inputs and the SSD outputs. */
  private readonly names = new Set<string>();
  private readonly reserved = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly layers: Layer[] = [];
  private readonly filteredOut: string[] = [];
  private readonly usedWeights = new Set<string>();
  private readonly values = new Map<number, Value>();
  /** Current version of each blob name. */
  private readonly versionOf = new Map<string, number>();
  private bottomVersions: number[][] = [];
  private topVersions: number[][] = [];
  private readonly consumers = new Map<number, number[]>();
  private readonly pendingBn = new Map<number, { bn: Layer; input: TensorValue }>();
  private readonly nodeLayer = new Map<string, string>();
  private inputs: { name: string; shape: number[] }[] = [];
  private netInputVersions: number[] = [];
  private ssd: { loc: TensorValue; conf: TensorValue; priors: PriorsValue; layer: Layer } | undefined;
  private readonly counts = { batchNormScalePairs: 0, batchNormAlone: 0, scaleAlone: 0, noNode: 0 };
  private readonly prototxtName: string;
  private readonly caffemodelName: string;
  private readonly prototxtFormat: 'layer' | 'layers';

  constructor(
    private readonly net: NetParameterMsg,
    private readonly weights: CaffeWeights,
    private readonly options: ImportCaffeOptions,
  ) {
    this.prototxtName = options.prototxtName ?? 'prototxt';
    this.caffemodelName = options.caffemodelName ?? 'caffemodel';
    this.b = new GraphBuilder(net.name || 'caffe');
    this.prototxtFormat = (net.layers?.length ?? 0) > 0 ? 'layers' : 'layer';
    this.normaliseLayers();
  }

  // ---- errors ---------------------------------------------------------------------------------

  private where(layer: Layer): string {
    return `${this.prototxtName}:${layer.line ?? '?'}: layer '${layer.name}' (${layer.type})`;
  }

  private fail(layer: Layer, message: string): never {
    throw new CaffeImportError(`${this.where(layer)}: ${message}`);
  }

  // ---- prototxt normalisation -------------------------------------------------------------------

  private normaliseLayers(): void {
    const net = this.net;
    const v2 = net.layer ?? [];
    const v1 = net.layers ?? [];
    if (v2.length > 0 && v1.length > 0) {
      throw new CaffeImportError(`${this.prototxtName}: the net mixes 'layer' and legacy 'layers' entries; use one form`);
    }
    const state: Required<NetStateMsg> = { phase: 'TEST', level: net.state?.level ?? 0, stage: net.state?.stage ?? [] };
    const raw = v2.length > 0 ? v2 : v1;
    const seen = new Map<string, number | undefined>();
    raw.forEach((l, i) => {
      const line = lineOf(l);
      let type: string;
      if (v1.length > 0) {
        const v1l = l as (typeof v1)[number];
        if (v1l.layer) throw new CaffeImportError(`${this.prototxtName}:${line ?? '?'}: layer uses the V0 format (layers { layer { ... } }), which is not supported`);
        type = V1_LAYER_TYPES[v1l.type ?? 'NONE'] ?? v1l.type ?? '';
      } else {
        type = (l as (typeof v2)[number]).type ?? '';
      }
      const name = l.name ?? '';
      const layer: Layer = { index: -1, name: name || `layer#${i}`, type, bottom: [...(l.bottom ?? [])], top: [...(l.top ?? [])], params: l, line };
      if (!type) throw new CaffeImportError(`${this.where(layer)}: the layer has no type`);
      const include = l.include ?? [];
      const exclude = l.exclude ?? [];
      if (include.length > 0 && exclude.length > 0) this.fail(layer, 'specifies both include and exclude rules');
      const phase = (l as { phase?: string }).phase;
      let keep = include.length > 0 ? include.some((r) => meetsRule(state, r)) : !exclude.some((r) => meetsRule(state, r));
      if (phase !== undefined && phase !== state.phase) keep = false;
      if (!keep) {
        this.filteredOut.push(layer.name);
        return;
      }
      if (seen.has(layer.name)) this.fail(layer, `duplicate layer name (first defined at line ${seen.get(layer.name) ?? '?'})`);
      seen.set(layer.name, line);
      layer.index = this.layers.length;
      this.layers.push(layer);
    });
  }

  // ---- naming ----------------------------------------------------------------------------------

  /** A tensor name: `base`, or `base_1`, `base_2`... if taken or reserved. */
  private fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name) || this.reserved.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Takes a reserved name (net inputs, mbox_loc, mbox_conf). */
  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`tensor name '${name}' claimed twice`);
    this.names.add(name);
    return name;
  }

  // ---- weights ---------------------------------------------------------------------------------

  /** The layer's blobs, checked against `expected` (role + shape implied by the prototxt). */
  private blobs(layer: Layer, expected: { role: string; shape: number[] }[]): CaffeBlob[] {
    const w = this.weights.layers.get(layer.name);
    if (!w || w.blobs.length === 0) {
      throw new CaffeImportError(`${this.where(layer)}: the caffemodel '${this.caffemodelName}' has no weights for this layer`);
    }
    this.usedWeights.add(layer.name);
    if (w.blobs.length !== expected.length) {
      this.fail(layer, `the caffemodel has ${w.blobs.length} weight blob${w.blobs.length === 1 ? '' : 's'} for it, the prototxt implies ${expected.length} (${expected.map((e) => e.role).join(', ')})`);
    }
    w.blobs.forEach((blob, i) => {
      const want = expected[i].shape;
      let ok: boolean;
      let got: number[];
      if (blob.legacyShape) {
        // Caffe's Blob::ShapeEquals for legacy blobs: compare as 4-D, padded with leading 1s.
        got = blob.shape;
        ok = want.length <= 4 && [...Array(4 - want.length).fill(1), ...want].every((d, k) => d === blob.shape[k]);
      } else {
        got = blob.shape;
        ok = want.length === got.length && want.every((d, k) => d === got[k]);
      }
      if (!ok) {
        this.fail(layer, `weight blob ${i} (${expected[i].role}) in the caffemodel has shape ${fmt(got)}${blob.legacyShape ? ' (legacy num/channels/height/width)' : ''}, but the prototxt implies ${fmt(want)}`);
      }
    });
    return w.blobs;
  }

  private rawTensor(name: string, dims: readonly number[], blob: CaffeBlob): string {
    const tensorName = this.fresh(name);
    this.b.initializer({
      dims: [...dims],
      data_type: DataType.FLOAT,
      float_data: [],
      int32_data: [],
      string_data: [],
      int64_data: [],
      name: tensorName,
      raw_data: blob.bytes(),
      external_data: [],
      double_data: [],
      uint64_data: [],
    });
    return tensorName;
  }

  private floatConst(name: string, dims: readonly number[], values: ArrayLike<number>): string {
    const tensorName = this.fresh(name);
    this.b.initializer(makeFloatTensor(tensorName, dims, values));
    return tensorName;
  }

  private int64Const(name: string, values: readonly number[]): string {
    const tensorName = this.fresh(name);
    this.b.initializer(makeInt64Tensor(tensorName, [values.length], values));
    return tensorName;
  }

  // ---- graph helpers ---------------------------------------------------------------------------

  private node(layer: Layer, op: string, inputs: string[], outputBase: string, attrs: Parameters<GraphBuilder['node']>[3] = {}, nodeName?: string, exactOutput = false): string {
    const out = exactOutput ? this.claim(outputBase) : this.fresh(outputBase);
    let name = nodeName ?? layer.name;
    for (let i = 1; this.nodeNames.has(name); i++) name = `${nodeName ?? layer.name}_${i}`;
    this.nodeNames.add(name);
    this.b.node(op, inputs, [out], attrs, name);
    this.nodeLayer.set(name, layer.name);
    return out;
  }

  /** Base name for the tensor of `layer`'s top `i`: the blob name, or the layer name when in place. */
  private topBase(layer: Layer, i: number): string {
    const blob = layer.top[i];
    return this.firstVersion.get(blob) === this.topVersions[layer.index][i] ? blob : layer.name;
  }

  private readonly firstVersion = new Map<string, number>();

  // ---- SSA pre-pass ----------------------------------------------------------------------------

  private ssa(): void {
    let next = 0;
    const define = (blob: string): number => {
      const v = next++;
      this.versionOf.set(blob, v);
      if (!this.firstVersion.has(blob)) this.firstVersion.set(blob, v);
      this.consumers.set(v, []);
      return v;
    };
    this.netInputVersions = this.inputs.map((input) => define(input.name));
    for (const layer of this.layers) {
      const bottoms = layer.bottom.map((blob) => {
        const v = this.versionOf.get(blob);
        if (v === undefined) this.fail(layer, `reads blob '${blob}', which no earlier layer or net input produces`);
        (this.consumers.get(v) as number[]).push(layer.index);
        return v;
      });
      const tops = layer.top.map((blob, i) => {
        if (this.versionOf.has(blob) && layer.bottom[i] !== blob) {
          this.fail(layer, `top blob '${blob}' is already produced by an earlier layer (only in-place reuse, top ${i} == bottom ${i}, is allowed)`);
        }
        return define(blob);
      });
      this.bottomVersions[layer.index] = bottoms;
      this.topVersions[layer.index] = tops;
    }
  }

  // ---- inputs ----------------------------------------------------------------------------------

  private shapeOf(msg: BlobShapeMsg | undefined, what: string): number[] {
    const dims = msg?.dim ?? [];
    if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new CaffeImportError(`${this.prototxtName}: ${what} has shape ${fmt(dims)}; every dimension must be >= 1`);
    }
    return dims;
  }

  private collectNetInputs(): void {
    const net = this.net;
    const names = net.input ?? [];
    const shapes = net.input_shape ?? [];
    const dims = net.input_dim ?? [];
    if (shapes.length > 0 && dims.length > 0) throw new CaffeImportError(`${this.prototxtName}: the net sets both input_shape and input_dim`);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) throw new CaffeImportError(`${this.prototxtName}: input '${name}' is listed twice`);
      let shape: number[];
      if (shapes.length > 0) {
        if (shapes.length !== names.length) throw new CaffeImportError(`${this.prototxtName}: ${names.length} inputs but ${shapes.length} input_shape entries`);
        shape = this.shapeOf(shapes[i], `input '${name}'`);
      } else if (dims.length > 0) {
        if (dims.length !== 4 * names.length) throw new CaffeImportError(`${this.prototxtName}: ${names.length} inputs need ${4 * names.length} input_dim values, got ${dims.length}`);
        shape = this.shapeOf({ dim: dims.slice(4 * i, 4 * i + 4) }, `input '${name}'`);
      } else {
        throw new CaffeImportError(`${this.prototxtName}: input '${name}' has no shape (input_shape or input_dim)`);
      }
      this.inputs.push({ name, shape });
    });
    if (names.length === 0 && (shapes.length > 0 || dims.length > 0)) throw new CaffeImportError(`${this.prototxtName}: input_shape/input_dim given without input names`);
  }

  private defineInput(name: string, shape: number[]): TensorValue {
    const tensor = this.claim(name);
    this.b.input(tensor, ['N', ...shape.slice(1)]);
    return { kind: 'tensor', tensor, shape };
  }

  // ---- main ------------------------------------------------------------------------------------

  run(): CaffeImportResult {
    this.collectNetInputs();
    // Input names (NetParameter inputs and Input layer tops) are the graph input names, and the
    // SSD outputs are always mbox_loc and mbox_conf: no other tensor may take these names.
    for (const input of this.inputs) this.reserved.add(input.name);
    for (const l of this.layers) if (l.type === 'Input') for (const top of l.top) this.reserved.add(top);
    if (this.layers.some((l) => l.type === 'DetectionOutput')) {
      this.reserved.add('mbox_loc');
      this.reserved.add('mbox_conf');
    }
    this.ssa();
    this.inputs.forEach((input, i) => this.values.set(this.netInputVersions[i], this.defineInput(input.name, input.shape)));
    for (const layer of this.layers) this.process(layer);
    if (this.inputs.length === 0) throw new CaffeImportError(`${this.prototxtName}: the net has no inputs (no input/input_shape and no Input layer)`);
    return this.finish();
  }

  private input(layer: Layer, i: number): Value {
    const v = this.values.get(this.bottomVersions[layer.index][i]);
    if (!v) this.fail(layer, `reads '${layer.bottom[i]}', the output of a DetectionOutput layer, which is not part of the converted graph`);
    return v;
  }

  private tensorInput(layer: Layer, i: number, rank?: number): TensorValue {
    const v = this.input(layer, i);
    if (v.kind !== 'tensor') this.fail(layer, `reads '${layer.bottom[i]}', a PriorBox output; only Concat (axis 2) and DetectionOutput may read prior boxes`);
    if (rank !== undefined && v.shape.length !== rank) this.fail(layer, `needs a ${rank}-D input, '${layer.bottom[i]}' has shape ${fmt(v.shape)}`);
    return v;
  }

  private setTop(layer: Layer, i: number, value: Value): void {
    this.values.set(this.topVersions[layer.index][i], value);
  }

  private expectArity(layer: Layer, bottoms: number | [number, number], tops: number): void {
    const [lo, hi] = typeof bottoms === 'number' ? [bottoms, bottoms] : bottoms;
    if (layer.bottom.length < lo || layer.bottom.length > hi) {
      this.fail(layer, `has ${layer.bottom.length} bottom blob${layer.bottom.length === 1 ? '' : 's'}, expected ${lo === hi ? lo : `${lo} to ${hi === Infinity ? 'any number' : hi}`}`);
    }
    if (layer.top.length !== tops) this.fail(layer, `has ${layer.top.length} top blobs, expected ${tops}`);
  }

  private process(layer: Layer): void {
    switch (layer.type) {
      case 'Input':
        return this.inputLayer(layer);
      case 'Convolution':
      case 'Deconvolution':
        return this.convolution(layer);
      case 'BatchNorm':
        return this.batchNorm(layer);
      case 'Scale':
        return this.scale(layer);
      case 'ReLU':
        return this.relu(layer);
      case 'Sigmoid':
      case 'TanH':
        return this.unary(layer, layer.type === 'Sigmoid' ? 'Sigmoid' : 'Tanh');
      case 'Dropout':
        return this.dropout(layer);
      case 'Split':
        return this.split(layer);
      case 'Pooling':
        return this.pooling(layer);
      case 'LRN':
        return this.lrn(layer);
      case 'InnerProduct':
        return this.innerProduct(layer);
      case 'Eltwise':
        return this.eltwise(layer);
      case 'Concat':
        return this.concat(layer);
      case 'Permute':
        return this.permute(layer);
      case 'Flatten':
        return this.flatten(layer);
      case 'Reshape':
        return this.reshape(layer);
      case 'Softmax':
        return this.softmax(layer);
      case 'PriorBox':
        return this.priorBox(layer);
      case 'DetectionOutput':
        return this.detectionOutput(layer);
      default:
        throw new CaffeImportError(
          `${this.prototxtName}:${layer.line ?? '?'}: layer '${layer.name}' has type '${layer.type}', which the Caffe importer does not support (supported: ${SUPPORTED_CAFFE_LAYERS.join(', ')})`,
        );
    }
  }

  // ---- layers ----------------------------------------------------------------------------------

  private inputLayer(layer: Layer): void {
    if (layer.bottom.length !== 0) this.fail(layer, 'an Input layer takes no bottoms');
    const shapes = layer.params.input_param?.shape ?? [];
    if (shapes.length !== 1 && shapes.length !== layer.top.length) this.fail(layer, `has ${layer.top.length} tops but ${shapes.length} shapes`);
    layer.top.forEach((top, i) => {
      const shape = this.shapeOf(shapes.length === 1 ? shapes[0] : shapes[i], `Input layer '${layer.name}' top '${top}'`);
      this.inputs.push({ name: top, shape });
      this.setTop(layer, i, this.defineInput(top, shape));
    });
  }

  private spatial(layer: Layer, what: string, list: number[] | undefined, h: number | undefined, w: number | undefined, fallback: number | undefined): [number, number] {
    if (h !== undefined || w !== undefined) {
      if ((list?.length ?? 0) > 0) this.fail(layer, `sets both ${what} and ${what}_h/${what}_w`);
      if (h === undefined || w === undefined) {
        if (fallback === undefined) this.fail(layer, `needs both ${what}_h and ${what}_w`);
        return [h ?? fallback, w ?? fallback];
      }
      return [h, w];
    }
    const l = list ?? [];
    if (l.length === 0) {
      if (fallback === undefined) this.fail(layer, `has no ${what === 'kernel' ? 'kernel_size' : what}`);
      return [fallback, fallback];
    }
    if (l.length === 1) return [l[0], l[0]];
    if (l.length === 2) return [l[0], l[1]];
    return this.fail(layer, `has ${l.length} ${what} values; only 2-D (1 or 2 values) is supported`);
  }

  private convolution(layer: Layer): void {
    const deconv = layer.type === 'Deconvolution';
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0, 4);
    const p = layer.params.convolution_param ?? {};
    if ((p.axis ?? 1) !== 1) this.fail(layer, `axis ${p.axis} is not supported (only channels on axis 1)`);
    const outC = p.num_output ?? 0;
    if (!(outC > 0)) this.fail(layer, 'num_output must be > 0');
    const [kh, kw] = this.spatial(layer, 'kernel', p.kernel_size, p.kernel_h, p.kernel_w, undefined);
    const [ph, pw] = this.spatial(layer, 'pad', p.pad, p.pad_h, p.pad_w, 0);
    const [sh, sw] = this.spatial(layer, 'stride', p.stride, p.stride_h, p.stride_w, 1);
    const [dh, dw] = this.spatial(layer, 'dilation', p.dilation, undefined, undefined, 1);
    const group = p.group ?? 1;
    const bias = p.bias_term ?? true;
    const [n, inC, h, w] = x.shape;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1) this.fail(layer, 'kernel, stride and dilation must be >= 1');
    if (group < 1 || inC % group !== 0 || outC % group !== 0) this.fail(layer, `group ${group} must divide the input channels (${inC}) and num_output (${outC})`);
    const ekh = dh * (kh - 1) + 1;
    const ekw = dw * (kw - 1) + 1;
    const oh = deconv ? sh * (h - 1) + ekh - 2 * ph : Math.floor((h + 2 * ph - ekh) / sh) + 1;
    const ow = deconv ? sw * (w - 1) + ekw - 2 * pw : Math.floor((w + 2 * pw - ekw) / sw) + 1;
    if (oh < 1 || ow < 1) this.fail(layer, `output size ${oh}x${ow} for input ${fmt(x.shape)} is empty`);
    const weightShape = deconv ? [inC, outC / group, kh, kw] : [outC, inC / group, kh, kw];
    const blobs = this.blobs(layer, [{ role: 'weight', shape: weightShape }, ...(bias ? [{ role: 'bias', shape: [outC] }] : [])]);
    const inputs = [x.tensor, this.rawTensor(`${layer.name}/W`, weightShape, blobs[0])];
    if (bias) inputs.push(this.rawTensor(`${layer.name}/B`, [outC], blobs[1]));
    const attrs = { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], dilations: [dh, dw], group };
    const out = this.node(layer, deconv ? 'ConvTranspose' : 'Conv', inputs, this.topBase(layer, 0), attrs);
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: [n, outC, oh, ow] });
  }

  /** The Scale layer that is the only consumer of a BatchNorm's output, if it can carry its gamma/beta. */
  private pairedScale(bn: Layer): Layer | undefined {
    const users = this.consumers.get(this.topVersions[bn.index][0]) ?? [];
    if (users.length !== 1) return undefined;
    const s = this.layers[users[0]];
    if (s.type !== 'Scale' || s.bottom.length !== 1 || s.top.length !== 1) return undefined;
    const p = s.params.scale_param ?? {};
    const rank = (this.values.get(this.bottomVersions[bn.index][0]) as Value).shape.length;
    const axis = (p.axis ?? 1) < 0 ? (p.axis ?? 1) + rank : (p.axis ?? 1);
    return axis === 1 && (p.num_axes ?? 1) === 1 ? s : undefined;
  }

  private batchNorm(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    if (x.shape.length < 2) this.fail(layer, `needs an input of rank >= 2, got ${fmt(x.shape)}`);
    const p = layer.params.batch_norm_param ?? {};
    if (p.use_global_stats === false) this.fail(layer, 'use_global_stats: false (statistics of the batch at inference) is not supported; only the stored global statistics are');
    const scale = this.pairedScale(layer);
    if (scale) {
      // Emitted when the Scale is reached, as one BatchNormalization.
      this.pendingBn.set(scale.index, { bn: layer, input: x });
      this.counts.noNode++;
      return;
    }
    this.counts.batchNormAlone++;
    const out = this.emitBatchNorm(layer, undefined, x);
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: x.shape });
  }

  /** BatchNormalization for a Caffe BatchNorm (optionally with its Scale). Returns the output tensor. */
  private emitBatchNorm(bn: Layer, scale: Layer | undefined, x: TensorValue): string {
    const C = x.shape[1];
    const eps = bn.params.batch_norm_param?.eps ?? 1e-5;
    if (!(eps >= 0) || !Number.isFinite(eps)) this.fail(bn, `eps must be >= 0, got ${eps}`);
    const [meanBlob, varBlob, factorBlob] = this.blobs(bn, [
      { role: 'mean', shape: [C] },
      { role: 'variance', shape: [C] },
      { role: 'scale factor', shape: [1] },
    ]);
    // BatchNormLayer::Forward_cpu in float32: m = (s == 0 ? 0 : 1 / s); mean = m * blob0; var = m * blob1.
    const f = factorBlob.values()[0];
    const m = f === 0 ? 0 : Math.fround(1 / f);
    const meanRaw = meanBlob.values();
    const varRaw = varBlob.values();
    const mean = new Float32Array(C);
    const variance = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      mean[c] = meanRaw[c] * m;
      variance[c] = varRaw[c] * m;
    }
    let gamma: string;
    let beta: string;
    const base = bn.name;
    if (scale) {
      const bias = scale.params.scale_param?.bias_term ?? false;
      const blobs = this.blobs(scale, [{ role: 'scale', shape: [C] }, ...(bias ? [{ role: 'bias', shape: [C] }] : [])]);
      gamma = this.rawTensor(`${base}/gamma`, [C], blobs[0]);
      beta = bias ? (this.rawTensor(`${base}/beta`, [C], blobs[1])) : this.floatConst(`${base}/beta`, [C], new Float32Array(C));
    } else {
      gamma = this.floatConst(`${base}/gamma`, [C], new Float32Array(C).fill(1));
      beta = this.floatConst(`${base}/beta`, [C], new Float32Array(C));
    }
    const meanName = this.floatConst(`${base}/mean`, [C], mean);
    const varName = this.floatConst(`${base}/var`, [C], variance);
    // eps is a float in caffe.proto: the attribute holds the same float32 value.
    return this.node(bn, 'BatchNormalization', [x.tensor, gamma, beta, meanName, varName], bn.name, { epsilon: { float: Math.fround(eps) } });
  }

  private scale(layer: Layer): void {
    const pending = this.pendingBn.get(layer.index);
    if (pending) {
      this.counts.batchNormScalePairs++;
      const out = this.emitBatchNorm(pending.bn, layer, pending.input);
      this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: pending.input.shape });
      return;
    }
    this.counts.scaleAlone++;
    if (layer.bottom.length === 2) this.fail(layer, 'a Scale with two bottoms (scale taken from a blob) is not supported');
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const p = layer.params.scale_param ?? {};
    const rank = x.shape.length;
    const axis = (p.axis ?? 1) < 0 ? (p.axis ?? 1) + rank : (p.axis ?? 1);
    const numAxes = p.num_axes ?? 1;
    if (axis < 0 || axis > rank) this.fail(layer, `axis ${p.axis} is out of range for input ${fmt(x.shape)}`);
    const end = numAxes === -1 ? rank : axis + numAxes;
    if (numAxes < -1 || end > rank) this.fail(layer, `num_axes ${numAxes} is out of range for input ${fmt(x.shape)} at axis ${axis}`);
    const pshape = x.shape.slice(axis, end);
    const bias = p.bias_term ?? false;
    const blobs = this.blobs(layer, [{ role: 'scale', shape: pshape }, ...(bias ? [{ role: 'bias', shape: pshape }] : [])]);
    let out: string;
    if (axis === 1 && pshape.length === 1 && rank >= 2) {
      // Per-channel: a BatchNormalization with mean 0, var 1, eps 0 computes gamma * x + beta
      // exactly and folds into a preceding convolution like any other.
      const C = pshape[0];
      const gamma = this.rawTensor(`${layer.name}/gamma`, [C], blobs[0]);
      const beta = bias ? (this.rawTensor(`${layer.name}/beta`, [C], blobs[1])) : this.floatConst(`${layer.name}/beta`, [C], new Float32Array(C));
      const mean = this.floatConst(`${layer.name}/mean`, [C], new Float32Array(C));
      const variance = this.floatConst(`${layer.name}/var`, [C], new Float32Array(C).fill(1));
      out = this.node(layer, 'BatchNormalization', [x.tensor, gamma, beta, mean, variance], this.topBase(layer, 0), { epsilon: { float: 0 } });
    } else {
      // Broadcast shape: the parameter dims followed by 1s for the axes after them.
      const bshape = [...pshape, ...Array(rank - end).fill(1)];
      const gamma = this.rawTensor(`${layer.name}/gamma`, bshape, blobs[0]);
      out = this.node(layer, 'Mul', [x.tensor, gamma], bias ? `${layer.name}/mul` : this.topBase(layer, 0), {}, bias ? `${layer.name}/mul` : undefined);
      if (bias) {
        const beta = this.rawTensor(`${layer.name}/beta`, bshape, blobs[1]);
        out = this.node(layer, 'Add', [out, beta], this.topBase(layer, 0));
      }
    }
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: x.shape });
  }

  private relu(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const slope = layer.params.relu_param?.negative_slope ?? 0;
    const out = slope === 0 ? this.node(layer, 'Relu', [x.tensor], this.topBase(layer, 0)) : this.node(layer, 'LeakyRelu', [x.tensor], this.topBase(layer, 0), { alpha: { float: Math.fround(slope) } });
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: x.shape });
  }

  private unary(layer: Layer, op: string): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    this.setTop(layer, 0, { kind: 'tensor', tensor: this.node(layer, op, [x.tensor], this.topBase(layer, 0)), shape: x.shape });
  }

  private dropout(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const p = layer.params.dropout_param ?? {};
    if (p.scale_train === false) {
      // Caffe scales at test time instead of at training time: y = x * (1 - ratio).
      const k = this.floatConst(`${layer.name}/scale`, [], [1 - (p.dropout_ratio ?? 0.5)]);
      this.setTop(layer, 0, { kind: 'tensor', tensor: this.node(layer, 'Mul', [x.tensor, k], this.topBase(layer, 0)), shape: x.shape });
      return;
    }
    this.counts.noNode++;
    this.setTop(layer, 0, x);
  }

  private split(layer: Layer): void {
    this.expectArity(layer, 1, layer.top.length);
    const x = this.input(layer, 0);
    this.counts.noNode++;
    layer.top.forEach((_, i) => this.setTop(layer, i, x));
  }

  private pooling(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0, 4);
    const p = layer.params.pooling_param ?? {};
    const pool = p.pool ?? 'MAX';
    if (pool === 'STOCHASTIC') this.fail(layer, 'STOCHASTIC pooling is not supported');
    const [n, c, h, w] = x.shape;
    if (p.global_pooling) {
      if (p.kernel_size !== undefined || p.kernel_h !== undefined || p.kernel_w !== undefined) this.fail(layer, 'global_pooling cannot be combined with a kernel size');
      const out = this.node(layer, pool === 'MAX' ? 'GlobalMaxPool' : 'GlobalAveragePool', [x.tensor], this.topBase(layer, 0));
      this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: [n, c, 1, 1] });
      return;
    }
    const one = (v: number | undefined) => (v === undefined ? [] : [v]);
    const [kh, kw] = this.spatial(layer, 'kernel', one(p.kernel_size), p.kernel_h, p.kernel_w, undefined);
    const [ph, pw] = p.pad_h !== undefined || p.pad_w !== undefined ? [p.pad_h ?? 0, p.pad_w ?? 0] : [p.pad ?? 0, p.pad ?? 0];
    const [sh, sw] = p.stride_h !== undefined || p.stride_w !== undefined ? [p.stride_h ?? 1, p.stride_w ?? 1] : [p.stride ?? 1, p.stride ?? 1];
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1) this.fail(layer, 'kernel and stride must be >= 1');
    if (ph >= kh || pw >= kw) this.fail(layer, `pad (${ph}, ${pw}) must be smaller than the kernel (${kh}, ${kw})`);
    const ceil = p.ceil_mode ?? (p.round_mode ?? 'CEIL') === 'CEIL';
    // PoolingLayer::Reshape: ceil (or floor) division, then drop a last window that would start
    // inside the padding.
    const size = (len: number, k: number, s: number, pad: number): number => {
      let out = (ceil ? Math.ceil((len + 2 * pad - k) / s) : Math.floor((len + 2 * pad - k) / s)) + 1;
      if (pad > 0 && (out - 1) * s >= len + pad) out--;
      return out;
    };
    const oh = size(h, kh, sh, ph);
    const ow = size(w, kw, sw, pw);
    if (oh < 1 || ow < 1) this.fail(layer, `output size ${oh}x${ow} for input ${fmt(x.shape)} is empty`);
    // ONNX pooling in floor mode with an explicit end padding that yields exactly Caffe's size.
    const endPad = (len: number, out: number, k: number, s: number, pad: number) => Math.max(0, (out - 1) * s + k - len - pad);
    const eh = endPad(h, oh, kh, sh, ph);
    const ew = endPad(w, ow, kw, sw, pw);
    const attrs: Record<string, number | number[]> = { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, eh, ew] };
    if (pool === 'AVE') {
      // Caffe divides by the window clipped to [-pad, len + pad): that is ONNX's count_include_pad=1
      // when the window never reaches past len + pad, and count_include_pad=0 without padding.
      if (ph === 0 && pw === 0) attrs.count_include_pad = 0;
      else if (eh <= ph && ew <= pw) attrs.count_include_pad = 1;
      else this.fail(layer, 'average pooling with padding whose last window reaches past the padding (ceil rounding) is not supported');
    }
    const out = this.node(layer, pool === 'MAX' ? 'MaxPool' : 'AveragePool', [x.tensor], this.topBase(layer, 0), attrs);
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: [n, c, oh, ow] });
  }

  private lrn(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0, 4);
    const p = layer.params.lrn_param ?? {};
    if ((p.norm_region ?? 'ACROSS_CHANNELS') !== 'ACROSS_CHANNELS') this.fail(layer, 'only ACROSS_CHANNELS LRN is supported');
    const size = p.local_size ?? 5;
    if (size % 2 !== 1) this.fail(layer, `local_size must be odd, got ${size}`);
    const attrs = { size, alpha: { float: Math.fround(p.alpha ?? 1) }, beta: { float: Math.fround(p.beta ?? 0.75) }, bias: { float: Math.fround(p.k ?? 1) } };
    this.setTop(layer, 0, { kind: 'tensor', tensor: this.node(layer, 'LRN', [x.tensor], this.topBase(layer, 0), attrs), shape: x.shape });
  }

  private innerProduct(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const p = layer.params.inner_product_param ?? {};
    const rank = x.shape.length;
    const axis = (p.axis ?? 1) < 0 ? (p.axis ?? 1) + rank : (p.axis ?? 1);
    if (axis !== 1) this.fail(layer, `axis ${p.axis} is not supported (only 1)`);
    const outN = p.num_output ?? 0;
    if (!(outN > 0)) this.fail(layer, 'num_output must be > 0');
    const K = product(x.shape.slice(1));
    const transpose = p.transpose ?? false;
    const bias = p.bias_term ?? true;
    const wShape = transpose ? [K, outN] : [outN, K];
    const blobs = this.blobs(layer, [{ role: 'weight', shape: wShape }, ...(bias ? [{ role: 'bias', shape: [outN] }] : [])]);
    let input = x.tensor;
    if (rank !== 2) input = this.node(layer, 'Flatten', [input], `${layer.name}/flatten`, { axis: 1 }, `${layer.name}/flatten`);
    const inputs = [input, this.rawTensor(`${layer.name}/W`, wShape, blobs[0])];
    if (bias) inputs.push(this.rawTensor(`${layer.name}/B`, [outN], blobs[1]));
    const out = this.node(layer, 'Gemm', inputs, this.topBase(layer, 0), { transB: transpose ? 0 : 1 });
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: [x.shape[0], outN] });
  }

  private eltwise(layer: Layer): void {
    this.expectArity(layer, [2, Infinity], 1);
    const xs = layer.bottom.map((_, i) => this.tensorInput(layer, i));
    for (const x of xs) if (fmt(x.shape) !== fmt(xs[0].shape)) this.fail(layer, `inputs have different shapes (${xs.map((v) => fmt(v.shape)).join(', ')})`);
    const p = layer.params.eltwise_param ?? {};
    const op = p.operation ?? 'SUM';
    const coeff = p.coeff ?? [];
    if (coeff.length > 0 && (op !== 'SUM' || coeff.length !== xs.length)) this.fail(layer, `coeff needs the SUM operation and one value per bottom (${xs.length}), got ${coeff.length}`);
    let out: string;
    if (op === 'PROD') {
      out = xs[0].tensor;
      for (let i = 1; i < xs.length; i++) out = this.node(layer, 'Mul', [out, xs[i].tensor], i === xs.length - 1 ? this.topBase(layer, 0) : `${layer.name}/mul${i}`, {}, i === xs.length - 1 ? undefined : `${layer.name}/mul${i}`);
    } else if (op === 'MAX') {
      out = this.node(layer, 'Max', xs.map((x) => x.tensor), this.topBase(layer, 0));
    } else {
      const terms = xs.map((x, i) => {
        const k = coeff.length > 0 ? coeff[i] : 1;
        if (k === 1) return x.tensor;
        const kName = this.floatConst(`${layer.name}/coeff${i}`, [], [k]);
        return this.node(layer, 'Mul', [x.tensor, kName], `${layer.name}/term${i}`, {}, `${layer.name}/term${i}`);
      });
      out = this.node(layer, 'Sum', terms, this.topBase(layer, 0));
    }
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape: xs[0].shape });
  }

  private canonicalAxis(layer: Layer, axis: number, rank: number, what = 'axis'): number {
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) this.fail(layer, `${what} ${axis} is out of range for a ${rank}-D input`);
    return a;
  }

  private concat(layer: Layer): void {
    this.expectArity(layer, [1, Infinity], 1);
    const xs = layer.bottom.map((_, i) => this.input(layer, i));
    const p = layer.params.concat_param ?? {};
    const rank = xs[0].shape.length;
    const axis = p.axis === undefined && p.concat_dim !== undefined ? p.concat_dim : this.canonicalAxis(layer, p.axis ?? 1, rank);
    if (axis >= rank) this.fail(layer, `concat_dim ${axis} is out of range for a ${rank}-D input`);
    const priors = xs.filter((x): x is PriorsValue => x.kind === 'priors');
    if (priors.length > 0) {
      if (priors.length !== xs.length) this.fail(layer, 'mixes PriorBox outputs with other blobs');
      if (rank !== 3 || axis !== 2) this.fail(layer, `concatenates PriorBox outputs on axis ${axis}; only axis 2 keeps them prior boxes`);
    }
    for (const x of xs) {
      const same = x.shape.length === rank && x.shape.every((d, k) => k === axis || d === xs[0].shape[k]);
      if (!same) this.fail(layer, `input shapes ${xs.map((v) => fmt(v.shape)).join(', ')} do not match outside axis ${axis}`);
    }
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
    if (priors.length > 0) {
      this.counts.noNode++;
      this.setTop(layer, 0, { kind: 'priors', heads: priors.flatMap((v) => v.heads), shape });
      return;
    }
    const out = this.node(layer, 'Concat', xs.map((x) => (x as TensorValue).tensor), this.topBase(layer, 0), { axis });
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape });
  }

  private permute(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const rank = x.shape.length;
    const order: number[] = [];
    for (const o of layer.params.permute_param?.order ?? []) {
      if (o >= rank) this.fail(layer, `order ${o} is out of range for a ${rank}-D input`);
      if (order.includes(o)) this.fail(layer, `order ${o} is listed twice`);
      order.push(o);
    }
    // PermuteLayer: axes not listed follow in increasing order.
    for (let a = 0; a < rank; a++) if (!order.includes(a)) order.push(a);
    const shape = order.map((a) => x.shape[a]);
    if (order.every((a, i) => a === i)) {
      this.counts.noNode++;
      this.setTop(layer, 0, x);
      return;
    }
    if (order[0] !== 0) this.fail(layer, 'a Permute that moves the batch axis is not supported');
    const out = this.node(layer, 'Transpose', [x.tensor], this.topBase(layer, 0), { perm: order });
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape });
  }

  /** Reshape node to a Caffe shape: leading dims given as 0 (copy) up to `copyLeading`, -1 where given. */
  private reshapeNode(layer: Layer, x: TensorValue, dims: number[], outBase: string, nodeName?: string, exactOutput = false): string {
    const shapeName = this.int64Const(`${nodeName ?? layer.name}/shape`, dims);
    return this.node(layer, 'Reshape', [x.tensor, shapeName], outBase, {}, nodeName, exactOutput);
  }

  private flatten(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.input(layer, 0);
    const rank = x.shape.length;
    const p = layer.params.flatten_param ?? {};
    const start = this.canonicalAxis(layer, p.axis ?? 1, rank);
    const end = this.canonicalAxis(layer, p.end_axis ?? -1, rank, 'end_axis');
    if (end < start) this.fail(layer, `end_axis ${p.end_axis} comes before axis ${p.axis}`);
    const shape = [...x.shape.slice(0, start), product(x.shape.slice(start, end + 1)), ...x.shape.slice(end + 1)];
    if (x.kind === 'priors') this.fail(layer, `reads '${layer.bottom[0]}', a PriorBox output; only Concat (axis 2) and DetectionOutput may read prior boxes`);
    let out: string;
    if (start === 1 && end === rank - 1) {
      out = this.node(layer, 'Flatten', [x.tensor], this.topBase(layer, 0), { axis: 1 });
    } else {
      out = this.reshapeNode(layer, x, [...Array(start).fill(0), -1, ...x.shape.slice(end + 1)], this.topBase(layer, 0));
    }
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape });
  }

  private reshape(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const rank = x.shape.length;
    const p = layer.params.reshape_param ?? {};
    const spec = p.shape?.dim ?? [];
    const axis = p.axis ?? 0;
    const numAxes = p.num_axes ?? -1;
    // ReshapeLayer::Reshape.
    const start = axis >= 0 ? axis : rank + axis + 1;
    if (start < 0 || start > rank) this.fail(layer, `axis ${axis} is out of range for a ${rank}-D input`);
    if (numAxes < -1) this.fail(layer, `num_axes must be >= -1, got ${numAxes}`);
    const end = numAxes === -1 ? rank : start + numAxes;
    if (end > rank) this.fail(layer, `axis ${axis} + num_axes ${numAxes} is out of range for a ${rank}-D input`);
    if (spec.filter((d) => d === -1).length > 1) this.fail(layer, 'more than one dimension is -1');
    if (spec.some((d) => d < -1)) this.fail(layer, `shape ${fmt(spec)} has a dimension below -1`);
    const mid = spec.map((d, i) => {
      if (d !== 0) return d;
      if (start + i >= rank) this.fail(layer, `dimension ${i} is 0 (copy) but the input has no axis ${start + i}`);
      return x.shape[start + i];
    });
    const fixed = [...x.shape.slice(0, start), ...mid, ...x.shape.slice(end)];
    const known = product(fixed.filter((d) => d !== -1));
    const total = product(x.shape);
    if (spec.includes(-1)) {
      if (known === 0 || total % known !== 0) this.fail(layer, `cannot reshape ${fmt(x.shape)} to ${fmt(fixed)}`);
    } else if (known !== total) {
      this.fail(layer, `cannot reshape ${fmt(x.shape)} (${total} values) to ${fmt(fixed)} (${known})`);
    }
    const shape = fixed.map((d) => (d === -1 ? total / known : d));
    // ONNX dims: 0 copies the input dim at the same index, which is exactly Caffe's meaning for the
    // kept leading axes and for 0 entries (output index == input index). A literal first dim that
    // equals the batch size also becomes 0, so the model keeps a dynamic batch.
    const onnx = [
      ...Array(start).fill(0),
      ...spec.map((d, i) => (d === 0 ? 0 : start + i === 0 && d > 0 && d === x.shape[0] ? 0 : d)),
      ...x.shape.slice(end),
    ];
    const out = this.reshapeNode(layer, x, onnx, this.topBase(layer, 0));
    this.setTop(layer, 0, { kind: 'tensor', tensor: out, shape });
  }

  private softmax(layer: Layer): void {
    this.expectArity(layer, 1, 1);
    const x = this.tensorInput(layer, 0);
    const axis = this.canonicalAxis(layer, layer.params.softmax_param?.axis ?? 1, x.shape.length);
    this.setTop(layer, 0, { kind: 'tensor', tensor: this.node(layer, 'Softmax', [x.tensor], this.topBase(layer, 0), { axis }), shape: x.shape });
  }

  private priorBox(layer: Layer): void {
    this.expectArity(layer, 2, 1);
    const fmap = this.tensorInput(layer, 0, 4);
    const image = this.tensorInput(layer, 1, 4);
    const p = layer.params.prior_box_param ?? {};
    const head: PriorBoxHead = { featureMap: [fmap.shape[2], fmap.shape[3]], minSizes: [...(p.min_size ?? [])] };
    if ((p.max_size?.length ?? 0) > 0) head.maxSizes = [...(p.max_size as number[])];
    if ((p.aspect_ratio?.length ?? 0) > 0) head.aspectRatios = [...(p.aspect_ratio as number[])];
    head.flip = p.flip ?? true;
    head.clip = p.clip ?? false;
    head.variance = (p.variance?.length ?? 0) > 0 ? [...(p.variance as number[])] : [0.1];
    head.offset = p.offset ?? 0.5;
    if (p.step !== undefined) head.step = p.step;
    if (p.step_h !== undefined) head.stepH = p.step_h;
    if (p.step_w !== undefined) head.stepW = p.step_w;
    if (p.img_size !== undefined) head.imgSize = p.img_size;
    if (p.img_h !== undefined) head.imgH = p.img_h;
    if (p.img_w !== undefined) head.imgW = p.img_w;
    if (head.minSizes.length === 0) this.fail(layer, 'needs at least one min_size');
    let count: number;
    try {
      const checked = parseSsdSpec({ ...MOBILENET_SSD_VOC_300, priors: { kind: 'priorbox', heads: [head] } });
      count = priorBoxHeadCount((checked.priors as { heads: PriorBoxHead[] }).heads[0]);
    } catch (err) {
      if (err instanceof SsdSpecError) this.fail(layer, `invalid prior_box_param: ${err.message.replace(/^priors\.heads\[0\]\.?/, '')}`);
      throw err;
    }
    this.counts.noNode++;
    const shape = [1, 2, fmap.shape[2] * fmap.shape[3] * count * 4];
    this.setTop(layer, 0, { kind: 'priors', heads: [{ head, layer, image: [image.shape[2], image.shape[3]] }], shape });
  }

  private detectionOutput(layer: Layer): void {
    if (this.ssd) this.fail(layer, `a second DetectionOutput layer (the first is '${this.ssd.layer.name}'); only one is supported`);
    this.expectArity(layer, [3, 3], 1);
    const loc = this.tensorInput(layer, 0);
    const conf = this.tensorInput(layer, 1);
    const priors = this.input(layer, 2);
    if (priors.kind !== 'priors') this.fail(layer, `its third bottom '${layer.bottom[2]}' is not made of PriorBox outputs`);
    this.counts.noNode++;
    this.ssd = { loc, conf, priors, layer };
  }

  // ---- finish ----------------------------------------------------------------------------------

  private finish(): CaffeImportResult {
    let spec: SsdSpec | null = null;
    const outputs: { name: string; shape: Dim[] }[] = [];
    if (this.ssd) {
      const { spec: s, numPriors, numClasses } = this.buildSpec();
      spec = s;
      const { loc, conf, layer } = this.ssd;
      const perImage = (v: TensorValue) => product(v.shape.slice(1));
      if (perImage(loc) !== numPriors * 4) this.fail(layer, `loc input '${layer.bottom[0]}' has ${perImage(loc)} values per image, the ${numPriors} prior boxes need ${numPriors * 4}`);
      if (perImage(conf) !== numPriors * numClasses) {
        this.fail(layer, `conf input '${layer.bottom[1]}' has ${perImage(conf)} values per image, ${numPriors} priors x ${numClasses} classes need ${numPriors * numClasses}`);
      }
      const locOut = this.reshapeNode(layer, loc, [0, -1, 4], 'mbox_loc', 'mbox_loc/reshape', true);
      const confOut = this.reshapeNode(layer, conf, [0, -1, numClasses], 'mbox_conf', 'mbox_conf/reshape', true);
      this.b.output(locOut, ['N', numPriors, 4]);
      this.b.output(confOut, ['N', numPriors, numClasses]);
      outputs.push({ name: locOut, shape: ['N', numPriors, 4] }, { name: confOut, shape: ['N', numPriors, numClasses] });
    } else {
      if ((this.options.labels?.length ?? 0) > 0) throw new CaffeImportError(`${this.prototxtName}: labels were given, but the net has no DetectionOutput layer (labels apply to SSD models only)`);
      // Net outputs: blob versions that no layer consumes (Caffe's definition), in definition order.
      for (const layer of this.layers) {
        this.topVersions[layer.index].forEach((v) => {
          if ((this.consumers.get(v) ?? []).length > 0) return;
          const value = this.values.get(v);
          if (!value) return;
          if (value.kind === 'priors') this.fail(layer, 'PriorBox outputs need a DetectionOutput layer');
          if (this.inputs.some((i) => i.name === value.tensor) || outputs.some((o) => o.name === value.tensor)) return;
          const shape: Dim[] = ['N', ...value.shape.slice(1)];
          this.b.output(value.tensor, shape);
          outputs.push({ name: value.tensor, shape });
        });
      }
      if (outputs.length === 0) throw new CaffeImportError(`${this.prototxtName}: the net has no outputs`);
    }
    const model = this.b.model({
      irVersion: DEFAULT_IR_VERSION,
      opsetVersion: DEFAULT_OPSET,
      producerName: PRODUCER_NAME,
      producerVersion: PRODUCER_VERSION,
      // Base names only: the model bytes must not depend on where the input files were.
      docString: `Imported from Caffe: ${baseName(this.prototxtName)} + ${baseName(this.caffemodelName)}${this.net.name ? ` (net '${this.net.name}')` : ''}`,
      metadata: spec ? { [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(spec) } : {},
    });
    const deadLayers = pruneDeadNodes(model, this.nodeLayer);
    const layerTypes: Record<string, number> = {};
    for (const l of this.layers) layerTypes[l.type] = (layerTypes[l.type] ?? 0) + 1;
    const unusedWeights = [...this.weights.layers.values()].filter((l) => l.blobs.length > 0 && !this.usedWeights.has(l.name)).map((l) => l.name);
    return {
      model,
      spec,
      summary: {
        netName: this.net.name ?? '',
        prototxtFormat: this.prototxtFormat,
        weightsFormat: this.weights.format,
        layers: this.layers.length,
        layerTypes: Object.fromEntries(Object.keys(layerTypes).sort().map((k) => [k, layerTypes[k]])),
        ...this.counts,
        filteredOut: this.filteredOut,
        deadLayers,
        unusedWeights,
        weightValues: this.weights.valueCount,
        inputs: this.inputs.map((i) => ({ name: i.name, shape: ['N', ...i.shape.slice(1)] })),
        outputs,
      },
    };
  }

  private buildSpec(): { spec: SsdSpec; numPriors: number; numClasses: number } {
    const { layer, priors } = this.ssd as NonNullable<Importer['ssd']>;
    const p = layer.params.detection_output_param ?? {};
    const numClasses = p.num_classes ?? 0;
    if (!(numClasses >= 1)) this.fail(layer, 'num_classes must be set (>= 1)');
    // Checked before a label is made for every class: 2^31 of them would exhaust memory.
    if (numClasses > MAX_SSD_CLASSES) this.fail(layer, `num_classes ${numClasses} is more than the ${MAX_SSD_CLASSES} this importer accepts`);
    if (p.share_location === false) this.fail(layer, 'share_location: false (per-class boxes) is not supported');
    const codeType = CODE_TYPES[p.code_type ?? 'CORNER'];
    const labels = this.options.labels ? [...this.options.labels] : defaultLabels(numClasses, p.background_label_id ?? 0);
    if (labels.length !== numClasses) this.fail(layer, `${labels.length} labels were given for num_classes ${numClasses}`);
    // The net input the priors are laid out for: the image bottom of the PriorBox layers.
    if (this.inputs.length !== 1) this.fail(layer, `an SSD net needs exactly one input, this one has ${this.inputs.length}`);
    const input = this.inputs[0];
    if (input.shape.length !== 4) this.fail(layer, `the input '${input.name}' must be 4-D (N, C, H, W), got ${fmt(input.shape)}`);
    // Without img_size/img_h/img_w a PriorBox takes the image size from its bottom[1]; the spec
    // uses the input size then, so a head whose image bottom has another size records it.
    const heads = priors.heads.map(({ head, image }) => {
      const out = { ...head };
      const explicit = head.imgSize !== undefined || head.imgH !== undefined || head.imgW !== undefined;
      if (!explicit && (image[0] !== input.shape[2] || image[1] !== input.shape[3])) {
        out.imgH = image[0];
        out.imgW = image[1];
      }
      return out;
    });
    const pre = this.options.preprocess ?? CAFFE_SSD_PREPROCESS;
    const nms = p.nms_param ?? {};
    const raw: SsdSpec = {
      format: 'edge-ssd/v1',
      name: this.options.modelName ?? (this.net.name || 'caffe-ssd'),
      input: { name: input.name, width: input.shape[3], height: input.shape[2], channelOrder: pre.channelOrder, mean: [...pre.mean], scale: pre.scale, resize: 'warp' },
      outputs: { loc: 'mbox_loc', conf: 'mbox_conf' },
      labels,
      backgroundLabelId: p.background_label_id ?? 0,
      priors: { kind: 'priorbox', heads },
      codeType,
      varianceEncodedInTarget: p.variance_encoded_in_target ?? false,
      clipBoxes: false,
      nms: {
        // An unset confidence_threshold is -FLT_MAX in Caffe (every score passes).
        scoreThreshold: p.confidence_threshold ?? -FLT_MAX,
        iouThreshold: nms.nms_threshold ?? 0.3,
        topK: nms.top_k ?? -1,
        keepTopK: p.keep_top_k ?? -1,
        eta: nms.eta ?? 1,
      },
    };
    let spec: SsdSpec;
    try {
      spec = parseSsdSpec(raw);
    } catch (err) {
      if (!(err instanceof SsdSpecError)) throw err;
      const m = /^priors\.heads\[(\d+)\]/.exec(err.path);
      if (m) {
        this.fail(priors.heads[Number(m[1])].layer, `invalid prior_box_param: ${err.message.replace(/^priors\.heads\[\d+\]\.?/, '')}`);
      }
      this.fail(layer, `invalid detection_output_param: ${err.message}`);
    }
    const numPriors = heads.reduce((s, h) => s + h.featureMap[0] * h.featureMap[1] * priorBoxHeadCount(h), 0);
    return { spec, numPriors, numClasses };
  }
}

/** VOC for 21 classes; otherwise class_N with the background class named 'background'. */
/**
 * Most classes a DetectionOutput may declare: far above real label sets (COCO 91, Open Images
 * 600, ImageNet-21k 21 841), far below what one label per class would make a problem.
 */
export const MAX_SSD_CLASSES = 100_000;

export function defaultLabels(numClasses: number, backgroundLabelId = 0): string[] {
  if (numClasses === VOC_LABELS.length && backgroundLabelId === 0) return [...VOC_LABELS];
  return Array.from({ length: numClasses }, (_, i) => (i === backgroundLabelId ? 'background' : `class_${i}`));
}

/** Removes nodes that no graph output depends on, and the initializers only they used. */
function pruneDeadNodes(model: ModelProto, nodeLayer: Map<string, string>): string[] {
  const graph = model.graph;
  if (!graph) return [];
  const needed = new Set(graph.output.map((o) => o.name ?? ''));
  const keep: boolean[] = new Array(graph.node.length).fill(false);
  for (let i = graph.node.length - 1; i >= 0; i--) {
    const node = graph.node[i];
    if (node.output.some((o) => needed.has(o))) {
      keep[i] = true;
      for (const input of node.input) if (input) needed.add(input);
    }
  }
  const dead = new Set<string>();
  graph.node.forEach((n, i) => {
    if (!keep[i]) dead.add(nodeLayer.get(n.name ?? '') ?? n.name ?? '');
  });
  graph.node = graph.node.filter((_, i) => keep[i]);
  graph.initializer = graph.initializer.filter((t) => needed.has(t.name ?? ''));
  return [...dead];
}

/**
 * Imports a Caffe net: the prototxt text and the caffemodel (bytes, or weights already read with
 * readCaffemodel). Throws CaffeImportError for anything it cannot map faithfully.
 */
export function importCaffe(prototxt: string, caffemodel: Uint8Array | CaffeWeights, options: ImportCaffeOptions = {}): CaffeImportResult {
  const net = parsePrototxt(prototxt, options.prototxtName ?? 'prototxt');
  const weights = caffemodel instanceof Uint8Array ? readCaffemodel(caffemodel, options.caffemodelName ?? 'caffemodel') : caffemodel;
  return new Importer(net, weights, options).run();
}
