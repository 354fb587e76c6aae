// A small caffemodel writer: encodes a NetParameter holding layer names, types, bottoms/tops and
// weight blobs with our caffe.proto schema (schema.ts). The tests use it to make Caffe models with
// seeded weights that both OpenCV and our importer read. It writes what Caffe's own
// `Net::ToProto` writes for the weights; layer parameters are not written (both Caffe and OpenCV
// take them from the prototxt and only copy blobs from the binary file, by layer name).
import { CaffeSchemaVariant, V1LayerParameterType, netParameterTypeOf } from '../caffe/schema';

interface CaffeBlobData {
  shape: readonly number[];
  data: ArrayLike<number>;
}

export interface CaffeLayerData {
  name: string;
  /** LayerParameter.type ('Convolution', ...); for the V1 form, the V1 enum name or the string type. */
  type: string;
  bottom?: readonly string[];
  top?: readonly string[];
  blobs: readonly CaffeBlobData[];
}

export interface WriteCaffemodelOptions {
  name?: string;
  /**
   * 'packed' (default, what Caffe writes): one length-delimited float run per blob.
   * 'unpacked': one tag per float (old writers; slow to encode, use for small nets).
   */
  floats?: 'packed' | 'unpacked';
  /** Write blob shapes as the legacy num/channels/height/width fields (shapes of rank <= 4). */
  legacyShapes?: boolean;
  /** Write the legacy `layers` (V1LayerParameter, field 2) form instead of `layer` (100). */
  v1?: boolean;
  /** Store values in BlobProto.double_data instead of data. */
  doubles?: boolean;
}

const V1_TYPE_IDS: Record<string, number> = (() => {
  const values = V1LayerParameterType.lookupEnum('LayerType').values;
  const byString: Record<string, number> = { ...values };
  // Also accept LayerParameter string types ('Convolution' -> CONVOLUTION).
  for (const [name, id] of Object.entries(values)) byString[name.replace(/_/g, '').toLowerCase()] = id;
  return byString;
})();

function v1TypeId(type: string): number {
  const id = V1_TYPE_IDS[type] ?? V1_TYPE_IDS[type.toLowerCase()] ?? (type === 'SoftmaxWithLoss' ? V1_TYPE_IDS.SOFTMAX_LOSS : undefined);
  if (id === undefined) throw new Error(`no V1 layer type for '${type}'`);
  return id;
}

function floatBytes(values: ArrayLike<number>): Uint8Array {
  if (values instanceof Float32Array) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return new Uint8Array(out.buffer);
}

function blobObject(blob: CaffeBlobData, options: WriteCaffemodelOptions): Record<string, unknown> {
  const count = blob.shape.reduce((a, b) => a * b, 1);
  if (count !== blob.data.length) throw new Error(`blob of shape [${blob.shape.join(', ')}] given ${blob.data.length} values`);
  const out: Record<string, unknown> = {};
  if (options.legacyShapes) {
    if (blob.shape.length > 4) throw new Error('legacy blob shapes have at most 4 dims');
    const dims = [...Array(4 - blob.shape.length).fill(1), ...blob.shape];
    [out.num, out.channels, out.height, out.width] = dims;
  } else {
    out.shape = { dim: [...blob.shape] };
  }
  if (options.doubles) out.double_data = Array.from(blob.data, Number);
  else if (options.floats === 'unpacked') out.data = Array.from(blob.data, (v) => Math.fround(v));
  else out.data = floatBytes(blob.data);
  return out;
}

/** Encodes the layers as a binary NetParameter (a .caffemodel). */
export function writeCaffemodel(layers: readonly CaffeLayerData[], options: WriteCaffemodelOptions = {}): Uint8Array {
  const variant: CaffeSchemaVariant = options.floats === 'unpacked' ? 'unpacked' : options.doubles ? 'packed' : 'bytes';
  const type = netParameterTypeOf(variant);
  const layerObjects = layers.map((l) => ({
    name: l.name,
    type: options.v1 ? v1TypeId(l.type) : l.type,
    bottom: [...(l.bottom ?? [])],
    top: [...(l.top ?? [])],
    blobs: l.blobs.map((b) => blobObject(b, options)),
  }));
  const net: Record<string, unknown> = { name: options.name ?? 'net' };
  if (options.v1) net.layers = layerObjects;
  else net.layer = layerObjects;
  const bytes = type.encode(net).finish();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
