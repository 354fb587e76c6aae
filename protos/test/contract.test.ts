import * as protobuf from 'protobufjs';
import { loadSsdPackage, SSD_PROTO_FILE } from '../src';

// Clients are compiled against these numbers: a change here breaks every deployed client.
const CONTRACT: Record<string, Record<string, [number, string, ('repeated' | 'oneof:source')?]>> = {
  DetectRequest: { images: [1, 'Image', 'repeated'], options: [2, 'DetectOptions'] },
  Image: { id: [1, 'string'], encoded: [2, 'bytes', 'oneof:source'], raw: [3, 'RawImage', 'oneof:source'] },
  RawImage: { width: [1, 'uint32'], height: [2, 'uint32'], format: [3, 'PixelFormat'], data: [4, 'bytes'] },
  DetectOptions: {
    score_threshold: [1, 'float'],
    iou_threshold: [2, 'float'],
    top_k: [3, 'uint32'],
    keep_top_k: [4, 'uint32'],
    class_ids: [5, 'uint32', 'repeated'],
  },
  DetectResponse: { results: [1, 'ImageResult', 'repeated'], model: [2, 'string'] },
  ImageResult: { id: [1, 'string'], status: [2, 'ImageStatus'], detections: [3, 'Detection', 'repeated'], width: [4, 'uint32'], height: [5, 'uint32'] },
  ImageStatus: { code: [1, 'int32'], message: [2, 'string'] },
  Detection: { class_id: [1, 'uint32'], label: [2, 'string'], score: [3, 'float'], box: [4, 'Box'], pixel_box: [5, 'Box'] },
  Box: { xmin: [1, 'float'], ymin: [2, 'float'], xmax: [3, 'float'], ymax: [4, 'float'] },
  GetModelInfoRequest: {},
  ModelInfo: {
    name: [1, 'string'],
    sha256: [2, 'string'],
    input_width: [3, 'uint32'],
    input_height: [4, 'uint32'],
    labels: [5, 'string', 'repeated'],
    bn_fused: [6, 'bool'],
    num_priors: [7, 'uint32'],
  },
};

describe('the public gRPC contract (package ssd.v1)', () => {
  const root = new protobuf.Root().loadSync(SSD_PROTO_FILE, { keepCase: true });

  it.each(Object.entries(CONTRACT))('%s keeps its field names, numbers and types', (name, fields) => {
    const type = root.lookupType(`ssd.v1.${name}`);
    const actual = Object.fromEntries(
      type.fieldsArray.map((f) => [f.name, [f.id, f.type, ...(f.repeated ? ['repeated'] : f.partOf ? [`oneof:${f.partOf.name}`] : [])]]),
    );
    expect(actual).toEqual(fields);
  });

  it('keeps the pixel formats', () => {
    expect(root.lookupEnum('ssd.v1.PixelFormat').values).toEqual({ PIXEL_FORMAT_UNSPECIFIED: 0, RGB8: 1, BGR8: 2 });
  });

  it('serves Detect and GetModelInfo on both the public Gateway and the internal Detector', () => {
    for (const service of ['Gateway', 'Detector']) {
      const methods = root.lookupService(`ssd.v1.${service}`).methods;
      expect(Object.keys(methods).sort()).toEqual(['Detect', 'GetModelInfo']);
      expect([methods['Detect']!.requestType, methods['Detect']!.responseType]).toEqual(['DetectRequest', 'DetectResponse']);
      expect([methods['GetModelInfo']!.requestType, methods['GetModelInfo']!.responseType]).toEqual(['GetModelInfoRequest', 'ModelInfo']);
    }
    const pkg = loadSsdPackage();
    expect(Object.keys(pkg.Gateway.service).sort()).toEqual(['Detect', 'GetModelInfo']);
    expect(pkg.Detector.service['Detect']!.path).toBe('/ssd.v1.Detector/Detect');
  });
});
