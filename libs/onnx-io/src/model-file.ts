// Reading a model file without holding its weights in memory.
//
// The converter's peak memory would otherwise be the whole file plus everything derived from it.
// readModelFile walks the protobuf structure of the file with small positioned reads, down the
// path ModelProto.graph (7) -> GraphProto.initializer (5) -> TensorProto.raw_data (9), and builds a
// *skeleton*: the same bytes with every large raw_data payload left out (an empty raw_data field in
// its place, enclosing length prefixes recomputed). The skeleton decodes with the normal codec;
// attachLazyData then gives each of those initializers a lazy source that reads its bytes from the
// file when needed (fold, write). Every other field is copied as it is, so nothing else changes.
//
// Anything unexpected on that path (groups, a second graph field, lengths beyond the end of the
// file, a wire type that does not fit) makes the walker give up and read the whole file instead;
// the normal decoder then reports the problem with its usual message (truncated, corrupt, ...).
// The walk has a fixed depth (model, graph, tensor): a hostile nesting of messages cannot recurse
// here, and the decoder bounds it (codec.ts, MAX_MESSAGE_DEPTH). The file must be a regular file
// (a FIFO would block the open, a device never ends): safe-open.ts.
import * as fs from 'node:fs';
import { ModelProto } from './onnx-types';
import { openRegularFile } from './safe-open';
import { setLazyData } from './tensor';

/** raw_data payloads at least this large stay in the file. */
const LAZY_RAW_THRESHOLD = 4 * 1024;

interface LazyRange {
  /** Index of the initializer in the main graph. */
  initializer: number;
  offset: number;
  length: number;
}

export interface ModelFile {
  /** The file bytes without the large raw_data payloads (the whole file after a fallback). */
  skeleton: Uint8Array;
  /** Where the left-out payloads are in the file. */
  lazy: LazyRange[];
  /** Size of the file. */
  size: number;
  /** Fills `target` with the file's bytes from `offset`. */
  readInto(target: Uint8Array, offset: number): void;
  close(): void;
}

class Fallback extends Error {}

/** Positioned reads through a small window. */
class Window {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private start = 0;
  private end = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private fill(pos: number): void {
    this.start = pos;
    this.end = pos + fs.readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - pos), pos);
  }

  byte(pos: number): number {
    if (pos < this.start || pos >= this.end) {
      if (pos >= this.size) throw new Fallback('past the end');
      this.fill(pos);
    }
    return this.buf[pos - this.start];
  }

  /** A varint at `pos`: [value, position after it]. */
  varint(pos: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(pos + i);
      value += (b & 0x7f) * scale;
      if (b < 0x80) return [value, pos + i + 1];
      scale *= 128;
    }
    throw new Fallback('bad varint');
  }

  copy(pos: number, length: number): Uint8Array {
    if (length <= this.buf.length && pos + length <= this.size) {
      if (pos < this.start || pos + length > this.end) this.fill(pos);
      return Uint8Array.prototype.slice.call(this.buf, pos - this.start, pos - this.start + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, pos + done);
      if (n <= 0) throw new Fallback('short read');
      done += n;
    }
    return out;
  }
}

function varintBytes(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function delimited(field: number, parts: Uint8Array[]): Uint8Array[] {
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  return [Uint8Array.from([...varintBytes(field * 8 + 2), ...varintBytes(length)]), ...parts];
}

interface Field {
  field: number;
  wireType: number;
  start: number;
  payload: number;
  end: number;
}

/** The fields of the message in [start, end). */
function* fields(w: Window, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = w.varint(pos);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new Fallback('field 0');
    let payload = afterTag;
    let next: number;
    switch (wireType) {
      case 0:
        next = w.varint(afterTag)[1];
        break;
      case 1:
        next = afterTag + 8;
        break;
      case 5:
        next = afterTag + 4;
        break;
      case 2: {
        const [length, afterLength] = w.varint(afterTag);
        payload = afterLength;
        next = afterLength + length;
        break;
      }
      default:
        throw new Fallback(`wire type ${wireType}`);
    }
    if (next > end) throw new Fallback('field beyond its message');
    yield { field, wireType, start: pos, payload, end: next };
    pos = next;
  }
}

/** Opens and walks a model file; throws FileRefusal (safe-open.ts) for anything but a regular file. */
export function readModelFile(path: string, threshold = LAZY_RAW_THRESHOLD): ModelFile {
  const { fd, size } = openRegularFile(path);
  const w = new Window(fd, size);
  const readInto = (target: Uint8Array, offset: number) => {
    for (let done = 0; done < target.byteLength; ) {
      const n = fs.readSync(fd, target, done, target.byteLength - done, offset + done);
      if (n <= 0) throw new Error(`short read at ${offset + done} of ${path}`);
      done += n;
    }
  };
  const close = () => fs.closeSync(fd);
  const lazy: LazyRange[] = [];
  try {
    const tensor = (start: number, end: number, index: number): Uint8Array[] => {
      const parts: Uint8Array[] = [];
      let found = false;
      for (const f of fields(w, start, end)) {
        if (f.field === 9 && f.wireType === 2 && f.end - f.payload >= threshold) {
          if (found) throw new Fallback('raw_data twice');
          found = true;
          lazy.push({ initializer: index, offset: f.payload, length: f.end - f.payload });
          parts.push(...delimited(9, []));
        } else {
          parts.push(w.copy(f.start, f.end - f.start));
        }
      }
      return parts;
    };
    const graph = (start: number, end: number): Uint8Array[] => {
      const parts: Uint8Array[] = [];
      let index = 0;
      for (const f of fields(w, start, end)) {
        if (f.field === 5 && f.wireType === 2) {
          parts.push(...(f.end - f.payload >= threshold ? delimited(5, tensor(f.payload, f.end, index)) : [w.copy(f.start, f.end - f.start)]));
          index++;
        } else {
          parts.push(w.copy(f.start, f.end - f.start));
        }
      }
      return parts;
    };
    const parts: Uint8Array[] = [];
    let graphs = 0;
    for (const f of fields(w, 0, size)) {
      if (f.field === 7 && f.wireType === 2) {
        if (++graphs > 1) throw new Fallback('graph twice');
        parts.push(...delimited(7, graph(f.payload, f.end)));
      } else {
        parts.push(w.copy(f.start, f.end - f.start));
      }
    }
    const skeleton = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      skeleton.set(p, at);
      at += p.byteLength;
    }
    return { skeleton, lazy, size, readInto, close };
  } catch (err) {
    if (!(err instanceof Fallback)) {
      close();
      throw err;
    }
    return { skeleton: w.copy(0, size), lazy: [], size, readInto, close };
  }
}

/**
 * Gives the main-graph initializers whose raw_data was left in the file a lazy source reading it
 * from there. `model` must be decoded from `file.skeleton`.
 */
export function attachLazyData(model: ModelProto, file: ModelFile): void {
  const inits = model.graph?.initializer ?? [];
  for (const range of file.lazy) {
    const t = inits[range.initializer];
    if (!t || (t.raw_data?.byteLength ?? 0) !== 0) throw new Error(`skeleton and file disagree at initializer ${range.initializer}`);
    setLazyData(t, { byteLength: range.length, readInto: (target, offset) => file.readInto(target, range.offset + offset) });
  }
}
