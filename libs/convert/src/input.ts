// Inputs of the pipeline. A front end's import (importers) is held in memory; an ONNX file is read
// lazily so that converting a large model holds one tensor at a time: large raw tensors stay in the
// file (onnx-io's model-file) or in its external data, and are read when the fold or the writer
// needs them.
import * as path from 'node:path';
import {
  ExternalDataReader,
  FileRefusal,
  type ModelFile,
  type ModelProto,
  ModelValidationError,
  OnnxDecodeError,
  TensorDataError,
  attachLazyData,
  decodeModel,
  encodeModel,
  findUnknownFields,
  forEachTensor,
  isExternalTensor,
  readModelFile,
  usesExternalData,
  validateModel,
} from '@edge-ssd/onnx-io';
import { type ImportedModel, type Provenance, InputError } from '@edge-ssd/importers';

export interface ConversionInput {
  /** The model before the passes (BatchNormalization nodes in place). */
  model: ModelProto;
  provenance: Provenance;
  /** The same model as onnxruntime loads it for verification: its file, or its encoding. */
  reference: string | Uint8Array;
  /** Size of the model file or encoding, and of its external data when it has some. */
  size: { bytes: number; externalBytes?: number };
  /** Reads the tensors the model keeps in external data files. */
  externalData?: ExternalDataReader;
  timings: { readMs: number; importMs: number };
  /** Releases open files. */
  close(): void;
}

/** A front end's import, encoded once: the encoding is what verification runs as the reference. */
export function importedInput(imported: ImportedModel): ConversionInput {
  const reference = encodeModel(imported.model);
  return { model: imported.model, provenance: imported.provenance, reference, size: { bytes: reference.byteLength }, timings: imported.timings, close: () => {} };
}

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}

/** Decodes and structurally validates a model's skeleton; every problem is an InputError. */
function decodeInput(bytes: Uint8Array, inputPath: string): ModelProto {
  try {
    // Fields our schema does not know would be dropped on re-encoding: refuse rather than lose them.
    const unknown = findUnknownFields(bytes);
    if (unknown.length > 0) throw new OnnxDecodeError(`the model uses fields this converter does not know (${unknown.join(', ')}); re-encoding would drop them`);
    const model = decodeModel(bytes);
    validateModel(model);
    return model;
  } catch (err) {
    if (err instanceof OnnxDecodeError || err instanceof ModelValidationError) throw new InputError(`input '${inputPath}' is not a usable ONNX model: ${err.message}`);
    throw err;
  }
}

function externalBytesOf(model: ModelProto, reader: ExternalDataReader, inputPath: string): number {
  try {
    reader.checkAll(model);
  } catch (err) {
    if (err instanceof TensorDataError) throw new InputError(`input '${inputPath}': ${err.message}`);
    throw err;
  }
  let bytes = 0;
  forEachTensor(model, (t) => {
    if (isExternalTensor(t)) bytes += reader.region(t).length;
  });
  return bytes;
}

/** Opens an ONNX model file (and its external data) as a pipeline input. */
export function openOnnxFile(inputPath: string): ConversionInput {
  const t0 = performance.now();
  let file: ModelFile;
  try {
    file = readModelFile(inputPath);
  } catch (err) {
    throw new InputError(`cannot read input '${inputPath}': ${err instanceof FileRefusal ? err.reason : describeFsError(err)}`);
  }
  const opened = file;
  let reader: ExternalDataReader | undefined;
  const close = () => {
    reader?.close();
    opened.close();
  };
  try {
    const model = decodeInput(file.skeleton, inputPath);
    attachLazyData(model, file);
    let externalBytes: number | undefined;
    if (usesExternalData(model)) {
      reader = new ExternalDataReader(path.dirname(path.resolve(inputPath)));
      externalBytes = externalBytesOf(model, reader, inputPath);
      // Read in ranges, as the fold streams weights in windows.
      reader.attachLazyData(model);
    }
    return {
      model,
      provenance: { source: inputPath, files: [inputPath, ...(reader ? reader.files(model) : [])], lines: [], details: { format: 'onnx', path: inputPath } },
      reference: inputPath,
      size: { bytes: file.size, ...(externalBytes === undefined ? {} : { externalBytes }) },
      ...(reader ? { externalData: reader } : {}),
      timings: { readMs: performance.now() - t0, importMs: 0 },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
