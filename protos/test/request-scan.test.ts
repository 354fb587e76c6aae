// Counting a DetectRequest's images and class ids from its bytes, before decoding.
import * as protobuf from 'protobufjs';
import { detectRequestFields, detectStreamRequestFields, loadSsdPackage, MalformedMessageError, scanDetectRequest, SSD_PROTO_FILE } from '../src';

const root = protobuf.loadSync(SSD_PROTO_FILE);
const DetectRequest = root.lookupType('ssd.v1.DetectRequest');
const fields = detectRequestFields(loadSsdPackage().definition);
const encode = (message: object): Uint8Array => DetectRequest.encode(DetectRequest.fromObject(message)).finish();

describe('scanDetectRequest', () => {
  it('takes its field numbers from the schema', () => {
    expect(fields).toEqual({ images: 1, options: 2, classIds: 5 });
  });

  it('counts images and packed class ids as protobuf encodes them', () => {
    const bytes = encode({ images: [{ id: 'a', encoded: Buffer.from([1, 2]) }, { id: 'b' }, {}], options: { scoreThreshold: 0.5, classIds: [1, 300, 70000, 0] } });
    expect(scanDetectRequest(bytes, fields)).toEqual({ images: 3, classIds: 4 });
  });

  it('counts unpacked class ids and options that appear more than once (protobuf merges them)', () => {
    // options { class_ids: 7 (unpacked) } twice, then one packed id.
    const unpacked = Buffer.from([0x12, 0x02, 0x28, 0x07, 0x12, 0x02, 0x28, 0x07, 0x12, 0x03, 0x2a, 0x01, 0x09]);
    expect(scanDetectRequest(unpacked, fields)).toEqual({ images: 0, classIds: 3 });
  });

  it('refuses truncated and malformed messages instead of reading past them', () => {
    const bytes = encode({ images: [{ id: 'abcdef' }] });
    expect(() => scanDetectRequest(bytes.subarray(0, bytes.length - 2), fields)).toThrow(MalformedMessageError);
    expect(() => scanDetectRequest(Buffer.from([0x0f]), fields)).toThrow('unsupported wire type 7');
    expect(() => scanDetectRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), fields)).toThrow('varint longer than 10 bytes');
  });
});

describe('scanDetectRequest on a DetectStream message', () => {
  const DetectStreamRequest = root.lookupType('ssd.v1.DetectStreamRequest');
  const streamFields = detectStreamRequestFields(loadSsdPackage().definition);

  it('counts the frame as the image and the stream options\' class ids', () => {
    const bytes = DetectStreamRequest.encode(
      DetectStreamRequest.fromObject({ frame: { sequence: 7, image: { id: 'f', encoded: Buffer.from([1, 2, 3]) } }, options: { classIds: [15, 7, 300] }, policy: 2 }),
    ).finish();
    expect(scanDetectRequest(bytes, streamFields)).toEqual({ images: 1, classIds: 3 });
  });
});
