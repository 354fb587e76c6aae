// ONNX external data resolution: tensors whose external_data entries come from the input, resolved
// against the fixed sandbox (sandbox.ts) by ExternalDataReader. Besides crashes, a finding is any
// read that returns bytes no file inside the model directory holds (it escaped through `..`, an
// absolute path or a symlink), or a hang (a FIFO opened blocking).
//
// Input: one tensor per line (at most 16), fields separated by `|`: `key=value` pairs become the
// tensor's external_data entries in order (location, offset, length, anything else); `@type=N`
// sets data_type and `@dims=a,b` the dims.
import { ExternalDataReader, ModelProto, TensorDataError, TensorProto, usesExternalData } from '@edge-ssd/onnx-io';
import { defineTarget } from '../harness';
import { bytesFromInside, sandbox } from '../sandbox';

const sb = sandbox();

function tensorFromLine(line: string, i: number): TensorProto {
  const t: TensorProto = {
    name: `t${i}`,
    dims: [],
    data_type: 2,
    float_data: [],
    int32_data: [],
    string_data: [],
    int64_data: [],
    external_data: [],
    data_location: 1,
    double_data: [],
    uint64_data: [],
    metadata_props: [],
  };
  for (const field of line.split('|')) {
    const eq = field.indexOf('=');
    const key = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (key === '@type') t.data_type = Number.parseInt(value, 10) | 0;
    else if (key === '@dims') t.dims = value.split(',').filter((d) => d !== '').slice(0, 8).map((d) => Math.max(0, Number.parseInt(d, 10) | 0));
    else t.external_data.push({ key, value });
  }
  return t;
}

/** A model holding the tensors as initializers of an otherwise empty graph. */
function modelOf(tensors: TensorProto[]): ModelProto {
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: { name: 'g', node: [], initializer: tensors, sparse_initializer: [], input: [], output: [], value_info: [], quantization_annotation: [], metadata_props: [] },
    metadata_props: [],
    training_info: [],
    functions: [],
  };
}

export const target = defineTarget({
  expected: [TensorDataError],
  run(data) {
    const lines = data.toString('utf8').split('\n').filter((l) => l !== '').slice(0, 16);
    const tensors = lines.map(tensorFromLine);
    const model = modelOf(tensors);
    usesExternalData(model);
    const reader = new ExternalDataReader(sb.modelDir);
    try {
      for (const t of tensors) {
        let bytes: Uint8Array;
        try {
          bytes = reader.read(t);
        } catch (err) {
          if (err instanceof TensorDataError) continue;
          throw err;
        }
        if (!bytesFromInside(bytes)) throw new Error(`tensor ${t.name} (${JSON.stringify(t.external_data)}) read ${bytes.byteLength} bytes that no file inside the model directory holds`);
      }
      reader.files(model);
    } finally {
      reader.close();
    }
  },
});

export const fuzz = target.fuzz;

/** Every kind of location: inside, through inside symlinks, and each way out of the sandbox. */
export function seeds(): Record<string, Uint8Array> {
  const cases: Record<string, string[]> = {
    inside: ['location=w.bin|offset=0|length=16|@type=1|@dims=4', 'location=sub/w.bin|@type=2|@dims=64', 'location=big.bin|offset=128|length=128|@type=10|@dims=8,8'],
    'inside-symlinks': ['location=link-in.bin|offset=8|length=8|@type=2|@dims=8', 'location=sub/up.bin|@type=3|@dims=64', 'location=./w.bin|offset=60|@type=2|@dims=4'],
    escapes: ['location=../outside.bin|@type=2|@dims=256', 'location=link-out.bin|@type=2|@dims=256', 'location=up/outside.bin|@type=2|@dims=256', 'location=/etc/hostname', 'location=sub\\..\\..\\outside.bin'],
    'special-files': ['location=fifo|length=4|@type=2|@dims=4', 'location=dir|@type=2', 'location=dev|length=4|@type=2|@dims=4', 'location=loop', 'location=missing.bin'],
    'bad-numbers': ['location=w.bin|offset=-1', 'location=w.bin|offset=65|length=0', 'location=w.bin|length=99999999999999999999|@type=1|@dims=1', 'location=w.bin|offset=0x10', 'offset=0|length=4', 'location=|length=1'],
  };
  return Object.fromEntries(Object.entries(cases).map(([name, lines]) => [`${name}.txt`, Buffer.from(`${lines.join('\n')}\n`)]));
}
