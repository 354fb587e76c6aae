// External data (ONNX models over 2 GB keep tensor bytes in side files).
//
// Reading: a tensor with data_location EXTERNAL names a `location` relative to the model file's
// directory, an optional `offset` and `length`. Locations must stay inside that directory, as the
// ONNX checker requires, and a model is untrusted input: an absolute location, one with a `..`
// component, or one that leads outside through a symlink at any component (compared by real path)
// is refused, and so is anything but a regular file (a FIFO would block, a device never ends).
// See safe-open.ts. Every refusal is a TensorDataError naming the tensor and the location.
//
// Writing policy (convertFile): when the input uses external data, the output does too, in ONE
// file next to the output named `<output file name>.<sha256 prefix>.data` (see commit.ts for why
// the name carries its content's hash):
// - every tensor that was external in the input (anywhere: initializers, Constant attributes,
//   subgraphs) is copied into it in bounded chunks, never loaded whole;
// - every other initializer (any graph) whose raw_data has >= EXTERNAL_SIZE_THRESHOLD bytes,
//   fused tensors included (computed as they are written), goes there as well;
// - tensors of 1 MiB and more start at a 4096-byte aligned offset (mmap-friendly);
// - smaller tensors, typed-field tensors and strings stay inline.
// A model without external data is written as a single file, as before.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto } from './onnx-types';
import { FileRefusal, describeNameProblem, openInside, relativeNameProblem } from './safe-open';
import { TensorDataError, isExternalTensor, lazyData, readLazy, setLazyData, tensorElementCount } from './tensor';

/** Inline tensors at least this large go to the data file (onnx's default size_threshold). */
const EXTERNAL_SIZE_THRESHOLD = 1024;
const ALIGN_FROM = 1 << 20;
const ALIGNMENT = 4096;
const COPY_CHUNK = 8 << 20;

export interface ExternalLocation {
  location: string;
  offset: number;
  /** Absent when the tensor runs to the end of the file. */
  length?: number;
}

/** Byte width of dtypes that can be stored as raw data; undefined for strings and unknown types. */
function elementWidth(dataType: number): number | undefined {
  switch (dataType) {
    case 1: // FLOAT
    case 6: // INT32
    case 12: // UINT32
      return 4;
    case 2: // UINT8
    case 3: // INT8
    case 9: // BOOL
    case 17: // FLOAT8E4M3FN
    case 18:
    case 19:
    case 20:
      return 1;
    case 4: // UINT16
    case 5: // INT16
    case 10: // FLOAT16
    case 16: // BFLOAT16
      return 2;
    case 7: // INT64
    case 11: // DOUBLE
    case 13: // UINT64
    case 14: // COMPLEX64
      return 8;
    case 15: // COMPLEX128
      return 16;
    default:
      return undefined;
  }
}

export function externalLocation(tensor: TensorProto): ExternalLocation {
  const name = tensor.name ?? '<unnamed>';
  const entries = new Map(tensor.external_data.map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new TensorDataError(`tensor '${name}' is external but has no location`);
  const problem = relativeNameProblem(location);
  if (problem === 'parent') {
    throw new TensorDataError(`tensor '${name}': external data location '${location}' points outside the model's directory (it has a '..' component)`);
  }
  if (problem) throw new TensorDataError(`tensor '${name}': external data location '${location}' must be a relative path inside the model's directory (it ${describeNameProblem(problem)})`);
  const normalised = path.posix.normalize(location.replace(/\\/g, '/'));
  const int = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new TensorDataError(`tensor '${name}': external data ${key} '${v}' is not a non-negative integer`);
    return Number(v);
  };
  return { location: normalised, offset: int('offset') ?? 0, length: int('length') };
}

/** Every tensor of a model, wherever it is (graphs at any depth, attributes, functions, training graphs). */
export function forEachTensor(model: ModelProto, fn: (t: TensorProto) => void): void {
  mapModelTensors(model, (t) => {
    fn(t);
    return t;
  });
}

export function usesExternalData(model: ModelProto): boolean {
  let found = false;
  forEachTensor(model, (t) => {
    if (isExternalTensor(t)) found = true;
  });
  return found;
}

/** Reads external tensor bytes relative to a model's directory; keeps files open until close(). */
export class ExternalDataReader {
  private readonly fds = new Map<string, { fd: number; size: number }>();

  constructor(readonly baseDir: string) {}

  private open(location: string, tensorName: string): { fd: number; size: number } {
    let f = this.fds.get(location);
    if (!f) {
      try {
        const opened = openInside(this.baseDir, location);
        f = { fd: opened.fd, size: opened.size };
      } catch (err) {
        if (err instanceof FileRefusal && err.code === 'outside') throw new TensorDataError(`tensor '${tensorName}': external data location '${location}' ${err.reason}; it must stay inside the model's directory`);
        if (err instanceof FileRefusal) throw new TensorDataError(`tensor '${tensorName}': cannot open external data file '${location}' (${err.reason})`);
        throw err;
      }
      this.fds.set(location, f);
    }
    return f;
  }

  /** File, offset and length of a tensor's bytes, checked against the file size and the dtype. */
  region(tensor: TensorProto): { fd: number; offset: number; length: number; location: string } {
    const name = tensor.name ?? '<unnamed>';
    const loc = externalLocation(tensor);
    const f = this.open(loc.location, name);
    const length = loc.length ?? f.size - loc.offset;
    if (loc.offset + length > f.size || length < 0) {
      throw new TensorDataError(`tensor '${name}': external data ${loc.location} [${loc.offset}, +${length}) is beyond the end of the file (${f.size} bytes)`);
    }
    const width = elementWidth(tensor.data_type ?? 0);
    if (width !== undefined && length !== tensorElementCount(tensor) * width) {
      throw new TensorDataError(`tensor '${name}': external data has ${length} bytes, expected ${tensorElementCount(tensor) * width}`);
    }
    return { fd: f.fd, offset: loc.offset, length, location: loc.location };
  }

  read(tensor: TensorProto): Uint8Array {
    const r = this.region(tensor);
    const out = new Uint8Array(r.length);
    let done = 0;
    while (done < r.length) {
      const n = fs.readSync(r.fd, out, done, r.length - done, r.offset + done);
      if (n <= 0) throw new TensorDataError(`tensor '${tensor.name}': short read from ${r.location}`);
      done += n;
    }
    return out;
  }

  /** Checks every external reference of the model up front (file, bounds, size). */
  checkAll(model: ModelProto): void {
    forEachTensor(model, (t) => {
      if (isExternalTensor(t)) this.region(t);
    });
  }

  /**
   * Gives every external tensor of the model a lazy source reading ranges of its data file, so a
   * large tensor can be streamed in windows instead of loaded whole on every read. The tensors
   * keep their external_data entries: only writeExternalData may write such a model.
   */
  attachLazyData(model: ModelProto): void {
    forEachTensor(model, (t) => {
      if (!isExternalTensor(t)) return;
      const r = this.region(t);
      setLazyData(t, {
        byteLength: r.length,
        readInto: (target, offset) => {
          for (let done = 0; done < target.byteLength; ) {
            const n = fs.readSync(r.fd, target, done, target.byteLength - done, r.offset + offset + done);
            if (n <= 0) throw new TensorDataError(`tensor '${t.name}': short read from ${r.location}`);
            done += n;
          }
        },
      });
    });
  }

  /** Absolute paths of the external data files the model references. */
  files(model: ModelProto): string[] {
    const out = new Set<string>();
    forEachTensor(model, (t) => {
      if (isExternalTensor(t)) out.add(path.resolve(this.baseDir, externalLocation(t).location));
    });
    return [...out];
  }

  close(): void {
    for (const { fd } of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

export interface ExternalDataWritten {
  /** The model referencing the data file (see writeExternalData). */
  model: ModelProto;
  /** Size of the data file written. */
  bytes: number;
  /** sha256 of the data file, hex. */
  sha256: string;
}

/**
 * Writes the model's large and external tensors to `dataPath` and returns the model referencing
 * them under `location` (relative to the model file), with the data file's size and sha256
 * (hashed as it is written, in file order). The model given is not modified.
 */
export function writeExternalData(model: ModelProto, dataPath: string, reader: ExternalDataReader | undefined, location: string): ExternalDataWritten {
  const fd = fs.openSync(dataPath, 'w', 0o644);
  const hash = crypto.createHash('sha256');
  let offset = 0;
  const chunk = Buffer.allocUnsafe(COPY_CHUNK);
  const writeAll = (bytes: Uint8Array) => {
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done);
    hash.update(bytes);
    offset += bytes.length;
  };
  const pad = (length: number) => {
    if (length < ALIGN_FROM || offset % ALIGNMENT === 0) return;
    writeAll(new Uint8Array(ALIGNMENT - (offset % ALIGNMENT)));
  };
  const external = (t: TensorProto, start: number, length: number): TensorProto => {
    const out: TensorProto = {
      ...t,
      data_location: 1,
      external_data: [
        { key: 'location', value: location },
        { key: 'offset', value: String(start) },
        { key: 'length', value: String(length) },
      ],
    };
    delete out.raw_data;
    return out;
  };
  try {
    const out = mapModelTensors(
      model,
      (t) => {
        if (isExternalTensor(t)) {
          if (!reader) throw new TensorDataError(`tensor '${t.name}' is external but no input directory is known`);
          const src = reader.region(t);
          pad(src.length);
          const start = offset;
          for (let done = 0; done < src.length; ) {
            const n = fs.readSync(src.fd, chunk, 0, Math.min(COPY_CHUNK, src.length - done), src.offset + done);
            if (n <= 0) throw new TensorDataError(`tensor '${t.name}': short read from ${src.location}`);
            writeAll(chunk.subarray(0, n));
            done += n;
          }
          return external(t, start, src.length);
        }
        return t;
      },
      (t) => {
        // Initializers only: large inline (or lazy) raw tensors move out too.
        if (isExternalTensor(t)) return undefined;
        const lazy = lazyData(t);
        const size = lazy ? lazy.byteLength : t.raw_data?.byteLength;
        if (size === undefined) return undefined;
        // A small lazy tensor is made an ordinary inline one (the spread drops the lazy source).
        if (size < EXTERNAL_SIZE_THRESHOLD) return lazy ? { ...t, raw_data: readLazy(lazy) } : undefined;
        pad(size);
        const start = offset;
        if (lazy) {
          for (let done = 0; done < size; done += COPY_CHUNK) {
            const piece = chunk.subarray(0, Math.min(COPY_CHUNK, size - done));
            lazy.readInto(piece, done);
            writeAll(piece);
          }
        } else {
          writeAll(t.raw_data as Uint8Array);
        }
        return external(t, start, size);
      },
    );
    return { model: out, bytes: offset, sha256: hash.digest('hex') };
  } finally {
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
}

/**
 * Returns a copy of the model with every tensor replaced by `fn(tensor)` (copy on write: containers
 * are only copied when something in them changed). `initializerFn`, when given, is tried first for
 * graph initializers and wins when it returns a tensor.
 */
export function mapModelTensors(model: ModelProto, fn: (t: TensorProto) => TensorProto, initializerFn?: (t: TensorProto) => TensorProto | undefined): ModelProto {
  const mapTensor = (t: TensorProto) => fn(t);
  const mapSparse = (s: SparseTensorProto): SparseTensorProto => {
    const values = s.values ? mapTensor(s.values) : undefined;
    const indices = s.indices ? mapTensor(s.indices) : undefined;
    return values === s.values && indices === s.indices ? s : { ...s, ...(values ? { values } : {}), ...(indices ? { indices } : {}) };
  };
  const mapList = <T>(list: T[], f: (x: T) => T): T[] => {
    let changed = false;
    const out = list.map((x) => {
      const y = f(x);
      if (y !== x) changed = true;
      return y;
    });
    return changed ? out : list;
  };
  const mapAttribute = (a: AttributeProto): AttributeProto => {
    const t = a.t ? mapTensor(a.t) : undefined;
    const g = a.g ? mapGraph(a.g) : undefined;
    const sparse = a.sparse_tensor ? mapSparse(a.sparse_tensor) : undefined;
    const tensors = mapList(a.tensors, mapTensor);
    const graphs = mapList(a.graphs, mapGraph);
    const sparses = mapList(a.sparse_tensors, mapSparse);
    if (t === a.t && g === a.g && sparse === a.sparse_tensor && tensors === a.tensors && graphs === a.graphs && sparses === a.sparse_tensors) return a;
    return { ...a, ...(t ? { t } : {}), ...(g ? { g } : {}), ...(sparse ? { sparse_tensor: sparse } : {}), tensors, graphs, sparse_tensors: sparses };
  };
  const mapNode = (n: NodeProto): NodeProto => {
    const attribute = mapList(n.attribute, mapAttribute);
    return attribute === n.attribute ? n : { ...n, attribute };
  };
  const mapGraph = (g: GraphProto): GraphProto => {
    const node = mapList(g.node, mapNode);
    const initializer = mapList(g.initializer, (t) => initializerFn?.(t) ?? mapTensor(t));
    const sparse = mapList(g.sparse_initializer, mapSparse);
    if (node === g.node && initializer === g.initializer && sparse === g.sparse_initializer) return g;
    return { ...g, node, initializer, sparse_initializer: sparse };
  };
  const graph = model.graph ? mapGraph(model.graph) : undefined;
  const functions = mapList(model.functions, (f) => {
    const node = mapList(f.node, mapNode);
    return node === f.node ? f : { ...f, node };
  });
  const training = mapList(model.training_info, (t) => {
    const initialization = t.initialization ? mapGraph(t.initialization) : undefined;
    const algorithm = t.algorithm ? mapGraph(t.algorithm) : undefined;
    return initialization === t.initialization && algorithm === t.algorithm ? t : { ...t, ...(initialization ? { initialization } : {}), ...(algorithm ? { algorithm } : {}) };
  });
  if (graph === model.graph && functions === model.functions && training === model.training_info) return model;
  return { ...model, ...(graph ? { graph } : {}), functions, training_info: training };
}
