import * as fs from 'node:fs';
import * as protobuf from 'protobufjs';
import { DataType, ModelProto, OnnxDecodeError, TensorDataError, TensorProto, decodeFloat16, decodeModel, encodeFloat16, encodeModel, findUnknownFields, makeFloatTensor, readTensorFloat64, withFloatValues } from '../src';
import { ONNX_DESCRIPTOR } from '../src/generated/onnx';
import { convBnModel } from '../src/testing';

function tensor(partial: Partial<TensorProto>): TensorProto {
  return { dims: [], float_data: [], int32_data: [], string_data: [], int64_data: [], external_data: [], double_data: [], uint64_data: [], metadata_props: [], ...partial };
}

describe('ONNX codec', () => {
  it('re-encodes a decoded model to the identical bytes', () => {
    const bytes = encodeModel(convBnModel({ bias: true }));
    const again = encodeModel(decodeModel(bytes));
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('encodes the same model object to the same bytes every time', () => {
    const model = convBnModel();
    expect(Buffer.from(encodeModel(model)).equals(Buffer.from(encodeModel(model)))).toBe(true);
  });

  it('keeps int64 values beyond 2^53 exact through a round trip', () => {
    const model = convBnModel();
    const node = model.graph?.node[0];
    if (!node) throw new Error('no node');
    const big = 9223372036854775807n;
    node.attribute.push({ name: 'custom', type: 7, ints: [big, -big - 1n, 5], floats: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] });
    const decoded = decodeModel(encodeModel(model));
    const attr = decoded.graph?.node[0].attribute.find((a) => a.name === 'custom');
    expect(attr?.ints).toEqual([big, -big - 1n, 5]);
    // Safe integers come back as plain numbers.
    expect(typeof decoded.ir_version).toBe('number');
  });

  it('rejects empty, garbage and truncated input with OnnxDecodeError', () => {
    const bytes = encodeModel(convBnModel());
    expect(() => decodeModel(new Uint8Array(0))).toThrow(OnnxDecodeError);
    expect(() => decodeModel(new TextEncoder().encode('this is not a protobuf, it is a sentence.'))).toThrow(OnnxDecodeError);
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 7))).toThrow(OnnxDecodeError);
    expect(() => decodeModel(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(OnnxDecodeError);
  });

  it('lists wire fields the schema does not know instead of dropping them silently', () => {
    const bytes = encodeModel(convBnModel());
    expect(findUnknownFields(bytes)).toEqual([]);
    // Field 99, varint 1, appended at the top level of ModelProto.
    const withUnknown = Uint8Array.from([...bytes, (99 << 3) & 0x7f | 0x80, 99 >> 4, 1]);
    expect(findUnknownFields(withUnknown)).toEqual(['onnx.ModelProto.99']);
  });
});

// An independent copy of the schema: Debian's python3-onnx 1.12 (IR 8). Every message and field it
// defines must be in our vendored IR 10 schema under the same number, type and packing, or files
// written by that serializer would be misread.
const PYTHON_ONNX_PROTO = '/usr/lib/python3/dist-packages/onnx/onnx.proto';
(fs.existsSync(PYTHON_ONNX_PROTO) ? describe : describe.skip)('the vendored onnx.proto against python3-onnx', () => {
  it('defines every field of python3-onnx 1.12 with the same number, type and packing', () => {
    const ref = protobuf.parse(fs.readFileSync(PYTHON_ONNX_PROTO, 'utf8'), { keepCase: true }).root;
    ref.resolveAll();
    const ours = protobuf.Root.fromJSON(ONNX_DESCRIPTOR).resolveAll();
    const mismatches: string[] = [];
    let compared = 0;
    const walk = (ns: protobuf.NamespaceBase) => {
      for (const nested of ns.nestedArray) {
        if (nested instanceof protobuf.Type) {
          const mine = ours.lookup(nested.fullName);
          if (!(mine instanceof protobuf.Type)) {
            mismatches.push(`missing message ${nested.fullName}`);
            continue;
          }
          for (const f of nested.fieldsArray) {
            const g = mine.fields[f.name];
            compared++;
            if (!g || g.id !== f.id || g.type !== f.type || g.repeated !== f.repeated || Boolean(g.packed) !== Boolean(f.packed)) mismatches.push(`${nested.fullName}.${f.name}`);
          }
        }
        if (nested instanceof protobuf.Namespace) walk(nested);
      }
    };
    walk(ref);
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(80);
  });
});

describe('generated ONNX types', () => {
  it('are what the generator makes from the vendored schema today (no hand edits, no drift)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { generate, OUTPUT } = require('../tools/generate-onnx.js') as { generate(): string; OUTPUT: string };
    expect(fs.readFileSync(OUTPUT, 'utf8')).toBe(generate());
  });
});

describe('tensor helpers', () => {
  const values = [1.5, -2.25, 0, 3.140625];
  const raw = (arr: ArrayBufferView) => new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);

  it('reads float32 from raw_data (little-endian, unaligned) and from float_data', () => {
    const f32 = new Float32Array(values);
    const unaligned = new Uint8Array(f32.byteLength + 1).subarray(1);
    unaligned.set(raw(f32));
    expect(Array.from(readTensorFloat64(tensor({ dims: [4], data_type: DataType.FLOAT, raw_data: unaligned })))).toEqual(values);
    expect(Array.from(readTensorFloat64(tensor({ dims: [2, 2], data_type: DataType.FLOAT, float_data: values })))).toEqual(values);
  });

  it('reads float16 and bfloat16 from raw_data and int32_data, and float64 from double_data', () => {
    const bits = values.map(encodeFloat16);
    expect(Array.from(readTensorFloat64(tensor({ dims: [4], data_type: DataType.FLOAT16, raw_data: raw(Uint16Array.from(bits)) })))).toEqual(values);
    expect(Array.from(readTensorFloat64(tensor({ dims: [4], data_type: DataType.FLOAT16, int32_data: bits })))).toEqual(values);
    const bf16 = Float32Array.from(values);
    const bfBits = Array.from(new Uint32Array(bf16.buffer), (u) => u >>> 16);
    expect(Array.from(readTensorFloat64(tensor({ dims: [4], data_type: DataType.BFLOAT16, int32_data: bfBits })))).toEqual(values);
    expect(Array.from(readTensorFloat64(tensor({ dims: [4], data_type: DataType.DOUBLE, double_data: values })))).toEqual(values);
    expect(Array.from(readTensorFloat64(tensor({ dims: [4], data_type: DataType.DOUBLE, raw_data: raw(new Float64Array(values)) })))).toEqual(values);
  });

  it('refuses external data, non-float dtypes and wrong lengths with TensorDataError', () => {
    expect(() => readTensorFloat64(tensor({ dims: [1], data_type: DataType.FLOAT, data_location: 1, external_data: [{ key: 'location', value: 'w.bin' }] }))).toThrow(TensorDataError);
    expect(() => readTensorFloat64(tensor({ dims: [1], data_type: DataType.INT64, int64_data: [1] }))).toThrow(TensorDataError);
    expect(() => readTensorFloat64(tensor({ dims: [3], data_type: DataType.FLOAT, float_data: [1, 2] }))).toThrow(TensorDataError);
  });

  it('writes values back in the original dtype, rounding once to nearest-even', () => {
    for (const dt of [DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]) {
      const t = withFloatValues(makeFloatTensor('t', [4], [0, 0, 0, 0], dt), values);
      expect(t.data_type).toBe(dt);
      expect(Array.from(readTensorFloat64(t))).toEqual(values);
    }
    const f32 = readTensorFloat64(makeFloatTensor('x', [1], [0.1]));
    expect(f32[0]).toBe(Math.fround(0.1));
  });

  it('rounds float64 to float16 correctly at ties, overflow and subnormals', () => {
    expect(decodeFloat16(encodeFloat16(1 + 2 ** -11))).toBe(1); // tie -> even
    expect(decodeFloat16(encodeFloat16(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie -> even (up)
    expect(decodeFloat16(encodeFloat16(1 + 2 ** -11 + 2 ** -30))).toBe(1 + 2 ** -10); // just above the tie
    expect(decodeFloat16(encodeFloat16(65519))).toBe(65504);
    expect(decodeFloat16(encodeFloat16(65520))).toBe(Infinity);
    expect(decodeFloat16(encodeFloat16(-(2 ** -24)))).toBe(-(2 ** -24));
    expect(decodeFloat16(encodeFloat16(2 ** -25))).toBe(0); // tie -> even (zero)
    expect(decodeFloat16(encodeFloat16(3 * 2 ** -26))).toBe(2 ** -24);
    expect(decodeFloat16(encodeFloat16(2 ** -14 - 2 ** -26))).toBe(2 ** -14); // carries into the normal range
    expect(Number.isNaN(decodeFloat16(encodeFloat16(NaN)))).toBe(true);
  });

  it('preserves model-level fields it does not interpret (metadata, opset, doc strings)', () => {
    const model: ModelProto = convBnModel();
    model.doc_string = 'doc';
    model.model_version = 3;
    const back = decodeModel(encodeModel(model));
    expect(back.doc_string).toBe('doc');
    expect(back.model_version).toBe(3);
    expect(back.metadata_props).toEqual([{ key: 'note', value: 'kept' }]);
    expect(back.opset_import).toEqual(model.opset_import);
  });
});
