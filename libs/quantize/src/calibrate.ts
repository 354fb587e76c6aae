// Calibration: the fp32 model with every tensor of the plan added as a graph output, run by
// onnxruntime with optimizations disabled (so the tensors keep their names and values) over the
// images as the detector preprocesses them. The network input's range is known exactly from the
// preprocessing, ((0 - mean) * scale, (255 - mean) * scale) in float32, and is used as such.
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { DataType, type ModelProto, encodeModel } from '@edge-ssd/onnx-io';
import type { InputSpec } from '@edge-ssd/ssd-core';
import { type NamedImage, preprocessNamed } from './images';
import { calibrationTensors } from './plan';
import { TensorStats } from './ranges';
import { type CalibrationMethod, type CalibrationTable, TABLE_FORMAT } from './table';

export interface CalibrateOptions {
  method: CalibrationMethod;
  /** Percentile method: % of |x| kept inside the range (default 99.99). */
  percentile?: number;
  note?: string;
}

const DEFAULT_PERCENTILE = 99.99;

function withOutputs(model: ModelProto, tensors: readonly string[]): ModelProto {
  const graph = model.graph!;
  const present = new Set(graph.output.map((o) => o.name));
  const added = tensors.filter((t) => !present.has(t)).map((name) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT } }, metadata_props: [] }));
  return { ...model, graph: { ...graph, output: [...graph.output, ...added] } };
}

/** The exact range of the preprocessed input, per the spec (the LUT of preprocessInto, float32). */
function inputRange(input: InputSpec): [number, number] {
  const ends = input.mean.flatMap((m) => [Math.fround((0 - m) * input.scale), Math.fround((255 - m) * input.scale)]);
  return [Math.min(...ends), Math.max(...ends)];
}

/**
 * Measures the range of every activation tensor the quantizer may quantize (all candidate Convs,
 * whatever is later kept in fp32) over `images`, by `method`.
 */
export async function calibrate(model: ModelProto, modelBytes: Uint8Array, input: InputSpec, images: readonly NamedImage[], options: CalibrateOptions): Promise<CalibrationTable> {
  const tensors = calibrationTensors(model);
  const graphInputs = new Set(model.graph!.input.map((i) => i.name));
  const measured = tensors.filter((t) => !graphInputs.has(t));
  const session = await ort.InferenceSession.create(encodeModel(withOutputs(model, measured)), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const stats = new Map(measured.map((t) => [t, new TensorStats()]));
  const passes: Array<(s: TensorStats, d: Float32Array) => void> = [(s, d) => s.observeMinMax(d)];
  if (options.method !== 'minmax') passes.push((s, d) => s.observeHistogram(d));
  try {
    for (const pass of passes) {
      for (const image of images) {
        const data = await preprocessNamed(image, input);
        const outputs = await session.run({ [input.name]: new ort.Tensor('float32', data, [1, 3, input.height, input.width]) }, measured);
        for (const name of measured) {
          const value = outputs[name];
          if (!(value?.data instanceof Float32Array)) throw new Error(`calibration: tensor '${name}' is not float32`);
          pass(stats.get(name)!, value.data);
          value.dispose();
        }
      }
    }
  } finally {
    await session.release();
  }
  const percentile = options.percentile ?? DEFAULT_PERCENTILE;
  const ranges: Record<string, [number, number]> = {};
  for (const t of tensors) {
    if (graphInputs.has(t)) {
      if (t !== input.name) throw new Error(`calibration: graph input '${t}' is not the SSD input '${input.name}'`);
      ranges[t] = inputRange(input);
      continue;
    }
    const s = stats.get(t)!;
    ranges[t] = options.method === 'minmax' ? s.minmax() : options.method === 'percentile' ? s.percentile(percentile) : s.entropy();
  }
  return {
    format: TABLE_FORMAT,
    method: options.method,
    ...(options.method === 'percentile' ? { percentile } : {}),
    modelSha256: createHash('sha256').update(modelBytes).digest('hex'),
    ...(options.note === undefined ? {} : { note: options.note }),
    images: images.map((i) => ({ file: i.file, sha256: i.sha256 })),
    ranges,
  };
}
