// Reads a served model once: its hash, the SSD spec it carries and whether its BatchNorms were
// folded, without decoding its weights (onnx-io's inspect). Sessions get the path and the spec;
// they never re-derive either.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspectModel } from '@edge-ssd/onnx-io';
import { MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY, specFromMetadata, type SsdSpec } from '@edge-ssd/ssd-core';

export interface LoadedModel {
  path: string;
  spec: SsdSpec;
  /** False when the spec is the MobileNet-SSD default because the model carries none. */
  carriesSpec: boolean;
  sha256: string;
  /** No BatchNormalization node is left. */
  bnFused: boolean;
  /** int8 for a quantized (QDQ) graph: its `ssd.precision` metadata, else its Q/DQ nodes. */
  precision: 'fp32' | 'int8';
}

/** Metadata key the quantizer writes ('int8'). */
export const PRECISION_METADATA_KEY = 'ssd.precision';
const QUANTIZED_OPS = ['QuantizeLinear', 'DequantizeLinear', 'QLinearConv'];

export async function loadModel(modelPath: string): Promise<LoadedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    throw new Error(`cannot read model ${modelPath}: ${(error as Error).message}`);
  }
  let inspection: ReturnType<typeof inspectModel>;
  try {
    inspection = inspectModel(bytes);
  } catch (error) {
    throw new Error(`model ${modelPath} is not a usable ONNX model: ${(error as Error).message}`);
  }
  // A model without a spec is taken for chuanqi305's MobileNet-SSD (e.g. a plain ONNX export of
  // it); its input and outputs must then carry that model's names.
  const carriesSpec = SSD_SPEC_METADATA_KEY in inspection.metadata;
  const spec = carriesSpec ? specFromMetadata(inspection.metadata) : MOBILENET_SSD_VOC_300;
  const names = new Set([...inspection.inputs, ...inspection.outputs].map((v) => v.name));
  for (const name of [spec.input.name, spec.outputs.loc, spec.outputs.conf]) {
    if (!names.has(name)) {
      throw new Error(`model ${modelPath} has no tensor "${name}"${carriesSpec ? '' : ` (it carries no ${SSD_SPEC_METADATA_KEY} metadata, so MobileNet-SSD names were assumed)`}`);
    }
  }
  const declared = inspection.metadata[PRECISION_METADATA_KEY];
  if (declared !== undefined && declared !== 'fp32' && declared !== 'int8') throw new Error(`model ${modelPath}: ${PRECISION_METADATA_KEY} must be fp32 or int8, got '${declared}'`);
  const precision = declared ?? (QUANTIZED_OPS.some((op) => (inspection.opCounts[op] ?? 0) > 0) ? 'int8' : 'fp32');
  return { path: modelPath, spec, carriesSpec, sha256: createHash('sha256').update(bytes).digest('hex'), bnFused: inspection.batchNormCount === 0, precision };
}
