// The prototxt as the importer walks it: the layers that take part in inference (TEST phase, in
// either the LayerParameter or the legacy V1 form, one type name per layer), the net's declared
// inputs, and the way every message names a layer (file, line, name, type).
import { CaffeImportError } from './errors';
import { fmt } from './dims';
import { lineOf } from './prototxt';
import { V1_LAYER_TYPES } from './schema';
import type { BlobShapeMsg, LayerParamsMsg, NetParameterMsg, NetStateMsg, NetStateRuleMsg } from './types';

export interface Layer {
  /** Position among the kept layers. */
  index: number;
  name: string;
  /** LayerParameter type name; V1 enum values are mapped to it ('CONVOLUTION' -> 'Convolution'). */
  type: string;
  bottom: string[];
  top: string[];
  params: LayerParamsMsg;
  line: number | undefined;
}

export interface NetLayers {
  layers: Layer[];
  /** Names of the layers excluded by include/exclude phase rules. */
  filteredOut: string[];
  /** 'layer' (LayerParameter) or 'layers' (legacy V1). */
  format: 'layer' | 'layers';
}

export interface NetInput {
  name: string;
  /** Caffe shape; index 0 is the batch (the prototxt's value). */
  shape: number[];
}

/** `deploy.prototxt:12: layer 'conv0' (Convolution)`: the prefix of every message about a layer. */
export function layerError(file: string, layer: Layer, message: string): CaffeImportError {
  return new CaffeImportError(`${file}:${layer.line ?? '?'}: layer '${layer.name}' (${layer.type}): ${message}`);
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

/** The layers Caffe instantiates for inference (phase TEST, the net's level and stages). */
export function netLayers(net: NetParameterMsg, file: string): NetLayers {
  const v2 = net.layer ?? [];
  const v1 = net.layers ?? [];
  if (v2.length > 0 && v1.length > 0) throw new CaffeImportError(`${file}: the net mixes 'layer' and legacy 'layers' entries; use one form`);
  const state: Required<NetStateMsg> = { phase: 'TEST', level: net.state?.level ?? 0, stage: net.state?.stage ?? [] };
  const layers: Layer[] = [];
  const filteredOut: string[] = [];
  const seen = new Map<string, number | undefined>();
  (v2.length > 0 ? v2 : v1).forEach((l, i) => {
    const line = lineOf(l);
    let type: string;
    if (v1.length > 0) {
      const v1l = l as (typeof v1)[number];
      if (v1l.layer) throw new CaffeImportError(`${file}:${line ?? '?'}: layer uses the V0 format (layers { layer { ... } }), which is not supported`);
      type = V1_LAYER_TYPES[v1l.type ?? 'NONE'] ?? v1l.type ?? '';
    } else {
      type = (l as (typeof v2)[number]).type ?? '';
    }
    const layer: Layer = { index: -1, name: l.name || `layer#${i}`, type, bottom: [...(l.bottom ?? [])], top: [...(l.top ?? [])], params: l, line };
    if (!type) throw layerError(file, layer, 'the layer has no type');
    const include = l.include ?? [];
    const exclude = l.exclude ?? [];
    if (include.length > 0 && exclude.length > 0) throw layerError(file, layer, 'specifies both include and exclude rules');
    const phase = (l as { phase?: string }).phase;
    let keep = include.length > 0 ? include.some((r) => meetsRule(state, r)) : !exclude.some((r) => meetsRule(state, r));
    if (phase !== undefined && phase !== state.phase) keep = false;
    if (!keep) {
      filteredOut.push(layer.name);
      return;
    }
    if (seen.has(layer.name)) throw layerError(file, layer, `duplicate layer name (first defined at line ${seen.get(layer.name) ?? '?'})`);
    seen.set(layer.name, line);
    layer.index = layers.length;
    layers.push(layer);
  });
  return { layers, filteredOut, format: v1.length > 0 ? 'layers' : 'layer' };
}

/** A declared blob shape: every dimension an integer >= 1. */
export function blobShape(file: string, msg: BlobShapeMsg | undefined, what: string): number[] {
  const dims = msg?.dim ?? [];
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new CaffeImportError(`${file}: ${what} has shape ${fmt(dims)}; every dimension must be >= 1`);
  }
  return dims;
}

/** The inputs NetParameter declares (input + input_shape or input_dim); Input layers come on top. */
export function netInputs(net: NetParameterMsg, file: string): NetInput[] {
  const names = net.input ?? [];
  const shapes = net.input_shape ?? [];
  const dims = net.input_dim ?? [];
  if (shapes.length > 0 && dims.length > 0) throw new CaffeImportError(`${file}: the net sets both input_shape and input_dim`);
  const inputs = names.map((name, i): NetInput => {
    if (names.indexOf(name) !== i) throw new CaffeImportError(`${file}: input '${name}' is listed twice`);
    if (shapes.length > 0) {
      if (shapes.length !== names.length) throw new CaffeImportError(`${file}: ${names.length} inputs but ${shapes.length} input_shape entries`);
      return { name, shape: blobShape(file, shapes[i], `input '${name}'`) };
    }
    if (dims.length > 0) {
      if (dims.length !== 4 * names.length) throw new CaffeImportError(`${file}: ${names.length} inputs need ${4 * names.length} input_dim values, got ${dims.length}`);
      return { name, shape: blobShape(file, { dim: dims.slice(4 * i, 4 * i + 4) }, `input '${name}'`) };
    }
    throw new CaffeImportError(`${file}: input '${name}' has no shape (input_shape or input_dim)`);
  });
  if (names.length === 0 && (shapes.length > 0 || dims.length > 0)) throw new CaffeImportError(`${file}: input_shape/input_dim given without input names`);
  return inputs;
}
