import {
  MOBILENET_SSD_VOC_300,
  SSD_SPEC_METADATA_KEY,
  SsdSpecError,
  parseSsdSpec,
  serializeSsdSpec,
  specFromMetadata,
  type SsdSpec,
} from '../src/index';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function mutated(change: (spec: Json) => void): Json {
  const spec = JSON.parse(JSON.stringify(MOBILENET_SSD_VOC_300)) as Json;
  change(spec);
  return spec;
}

function tableSpec(boxes: number[], variances: number[]): Json {
  return mutated((s) => {
    s.priors = { kind: 'table', boxes, variances };
  });
}

function errorOf(value: unknown): SsdSpecError {
  try {
    parseSsdSpec(value);
  } catch (e) {
    if (e instanceof SsdSpecError) return e;
    throw e;
  }
  throw new Error('expected parseSsdSpec to throw');
}

/** Same data, keys inserted in reverse order at every level. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value !== null && typeof value === 'object') {
    const out: Json = {};
    for (const key of Object.keys(value).reverse()) out[key] = reversedKeys((value as Json)[key]);
    return out;
  }
  return value;
}

describe('parseSsdSpec', () => {
  it('accepts MOBILENET_SSD_VOC_300 and returns an equal, unfrozen copy', () => {
    const parsed = parseSsdSpec(MOBILENET_SSD_VOC_300);
    expect(parsed).toEqual(MOBILENET_SSD_VOC_300);
    expect(parsed).not.toBe(MOBILENET_SSD_VOC_300);
    expect(Object.isFrozen(parsed)).toBe(false);
  });

  it('accepts JSON text and table priors with shared or per-prior variances', () => {
    expect(parseSsdSpec(JSON.stringify(MOBILENET_SSD_VOC_300))).toEqual(MOBILENET_SSD_VOC_300);
    const boxes = [0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1];
    expect(parseSsdSpec(tableSpec(boxes, [0.1, 0.1, 0.2, 0.2])).priors).toEqual({ kind: 'table', boxes, variances: [0.1, 0.1, 0.2, 0.2] });
    expect(parseSsdSpec(tableSpec(boxes, [1, 1, 1, 1, 2, 2, 2, 2])).priors.kind).toBe('table');
  });

  it('accepts backgroundLabelId -1 (no background class) and every optional head field', () => {
    const spec = mutated((s) => {
      s.backgroundLabelId = -1;
      s.priors.heads[0] = { featureMap: [4, 5], minSizes: [30], maxSizes: [60], aspectRatios: [2], flip: false, clip: true, variance: [0.2], offset: 0.25, stepH: 10, stepW: 12, imgH: 100, imgW: 120 };
      s.priors.heads[1] = { featureMap: [2, 2], minSizes: [30], step: 8, imgSize: 64 };
    });
    expect(parseSsdSpec(spec)).toEqual(spec);
  });

  // [case, mutation, path, message fragment]
  const invalid: Array<[string, (s: Json) => void, string, string]> = [
    ['wrong format', (s) => { s.format = 'edge-ssd/v2'; }, 'format', 'format must be "edge-ssd/v1"'],
    ['unknown top-level key', (s) => { s.extra = 1; }, 'extra', 'extra is not a known field'],
    ['empty name', (s) => { s.name = ''; }, 'name', 'name must be a non-empty string'],
    ['zero input width', (s) => { s.input.width = 0; }, 'input.width', 'input.width must be an integer >= 1'],
    ['fractional input height', (s) => { s.input.height = 299.5; }, 'input.height', 'input.height must be an integer >= 1'],
    ['bad channel order', (s) => { s.input.channelOrder = 'RGBA'; }, 'input.channelOrder', 'input.channelOrder must be one of "BGR", "RGB"'],
    ['two mean values', (s) => { s.input.mean = [1, 2]; }, 'input.mean', 'input.mean must have exactly 3 values'],
    ['non-numeric mean', (s) => { s.input.mean = [1, '2', 3]; }, 'input.mean[1]', 'input.mean[1] must be a finite number'],
    ['zero scale', (s) => { s.input.scale = 0; }, 'input.scale', 'input.scale must be > 0'],
    ['bad resize mode', (s) => { s.input.resize = 'crop'; }, 'input.resize', 'input.resize must be one of'],
    ['missing outputs.conf', (s) => { delete s.outputs.conf; }, 'outputs.conf', 'outputs.conf must be a non-empty string'],
    ['loc and conf the same tensor', (s) => { s.outputs.conf = s.outputs.loc; }, 'outputs.conf', 'outputs.conf must differ from outputs.loc'],
    ['no labels', (s) => { s.labels = []; }, 'labels', 'labels must have at least 1 element'],
    ['non-string label', (s) => { s.labels[3] = 5; }, 'labels[3]', 'labels[3] must be a string'],
    ['only a background label', (s) => { s.labels = ['background']; }, 'labels', 'at least one class besides the background'],
    ['background id out of range', (s) => { s.backgroundLabelId = 21; }, 'backgroundLabelId', 'backgroundLabelId must be -1 or a label index < 21'],
    ['background id below -1', (s) => { s.backgroundLabelId = -2; }, 'backgroundLabelId', 'backgroundLabelId must be an integer >= -1'],
    ['unknown priors kind', (s) => { s.priors = { kind: 'anchors' }; }, 'priors.kind', 'priors.kind must be "priorbox" or "table"'],
    ['no heads', (s) => { s.priors.heads = []; }, 'priors.heads', 'priors.heads must have at least 1 element'],
    ['max size not above min size', (s) => { s.priors.heads[2].maxSizes = [100]; }, 'priors.heads[2].maxSizes[0]', 'priors.heads[2].maxSizes[0] must be > minSizes[0]'],
    ['max size equal to min size', (s) => { s.priors.heads[1].maxSizes = [105]; }, 'priors.heads[1].maxSizes[0]', 'must be > minSizes[0] (105), got 105'],
    ['max and min size counts differ', (s) => { s.priors.heads[1].maxSizes = [150, 160]; }, 'priors.heads[1].maxSizes', 'priors.heads[1].maxSizes must have as many values as minSizes (1), got 2'],
    ['no min sizes', (s) => { s.priors.heads[0].minSizes = []; }, 'priors.heads[0].minSizes', 'priors.heads[0].minSizes must have at least 1 element'],
    ['min size below 1', (s) => { s.priors.heads[0].minSizes = [0.5]; }, 'priors.heads[0].minSizes[0]', 'priors.heads[0].minSizes[0] must be >= 1'],
    ['negative min size', (s) => { s.priors.heads[3].minSizes = [-60]; }, 'priors.heads[3].minSizes[0]', 'priors.heads[3].minSizes[0] must be >= 1'],
    ['one-dimensional feature map', (s) => { s.priors.heads[0].featureMap = [19]; }, 'priors.heads[0].featureMap', 'priors.heads[0].featureMap must be [height, width]'],
    ['zero feature-map width', (s) => { s.priors.heads[5].featureMap = [1, 0]; }, 'priors.heads[5].featureMap[1]', 'priors.heads[5].featureMap[1] must be an integer >= 1'],
    ['negative aspect ratio', (s) => { s.priors.heads[1].aspectRatios = [2, -3]; }, 'priors.heads[1].aspectRatios[1]', 'priors.heads[1].aspectRatios[1] must be > 0'],
    ['two variances', (s) => { s.priors.heads[0].variance = [0.1, 0.2]; }, 'priors.heads[0].variance', 'priors.heads[0].variance must have 1 or 4 values, got 2'],
    ['zero variance', (s) => { s.priors.heads[0].variance = [0.1, 0, 0.2, 0.2]; }, 'priors.heads[0].variance[1]', 'priors.heads[0].variance[1] must be > 0'],
    ['non-boolean flip', (s) => { s.priors.heads[4].flip = 1; }, 'priors.heads[4].flip', 'priors.heads[4].flip must be a boolean'],
    ['step with stepH', (s) => { s.priors.heads[0].step = 16; s.priors.heads[0].stepH = 16; }, 'priors.heads[0].step', 'priors.heads[0].step cannot be combined with stepH/stepW'],
    ['stepH without stepW', (s) => { s.priors.heads[0].stepH = 16; }, 'priors.heads[0].stepW', 'priors.heads[0].stepW must be a finite number'],
    ['zero step', (s) => { s.priors.heads[0].step = 0; }, 'priors.heads[0].step', 'priors.heads[0].step must be > 0'],
    ['imgSize with imgH', (s) => { s.priors.heads[0].imgSize = 300; s.priors.heads[0].imgH = 300; }, 'priors.heads[0].imgSize', 'cannot be combined with imgH/imgW'],
    ['fractional imgW', (s) => { s.priors.heads[0].imgH = 300; s.priors.heads[0].imgW = 300.5; }, 'priors.heads[0].imgW', 'priors.heads[0].imgW must be an integer >= 1'],
    ['misspelt head field', (s) => { s.priors.heads[0].minSize = 60; }, 'priors.heads[0].minSize', 'priors.heads[0].minSize is not a known field'],
    ['non-finite offset', (s) => { s.priors.heads[0].offset = 'half'; }, 'priors.heads[0].offset', 'priors.heads[0].offset must be a finite number'],
    ['bad code type', (s) => { s.codeType = 'CENTER'; }, 'codeType', 'codeType must be one of "CENTER_SIZE", "CORNER", "CORNER_SIZE"'],
    ['non-boolean varianceEncodedInTarget', (s) => { s.varianceEncodedInTarget = 'no'; }, 'varianceEncodedInTarget', 'varianceEncodedInTarget must be a boolean'],
    ['missing clipBoxes', (s) => { delete s.clipBoxes; }, 'clipBoxes', 'clipBoxes must be a boolean'],
    ['NaN score threshold', (s) => { s.nms.scoreThreshold = NaN; }, 'nms.scoreThreshold', 'nms.scoreThreshold must be a finite number'],
    ['infinite score threshold', (s) => { s.nms.scoreThreshold = Infinity; }, 'nms.scoreThreshold', 'nms.scoreThreshold must be a finite number'],
    ['IoU threshold above 1', (s) => { s.nms.iouThreshold = 1.5; }, 'nms.iouThreshold', 'nms.iouThreshold must be in [0, 1]'],
    ['negative IoU threshold', (s) => { s.nms.iouThreshold = -0.1; }, 'nms.iouThreshold', 'nms.iouThreshold must be in [0, 1]'],
    ['topK below -1', (s) => { s.nms.topK = -2; }, 'nms.topK', 'nms.topK must be an integer >= -1'],
    ['fractional keepTopK', (s) => { s.nms.keepTopK = 1.5; }, 'nms.keepTopK', 'nms.keepTopK must be an integer >= -1'],
    ['eta of 0', (s) => { s.nms.eta = 0; }, 'nms.eta', 'nms.eta must be in (0, 1]'],
    ['eta above 1', (s) => { s.nms.eta = 1.2; }, 'nms.eta', 'nms.eta must be in (0, 1]'],
    ['nms not an object', (s) => { s.nms = [0.25]; }, 'nms', 'nms must be an object, got an array'],
  ];

  it.each(invalid)('rejects %s with an error naming the field', (_name, change, path, message) => {
    const error = errorOf(mutated(change));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SsdSpecError');
    expect(error.path).toBe(path);
    expect(error.message).toContain(message);
    expect(error.message.startsWith(path)).toBe(true);
  });

  const invalidTables: Array<[string, number[], number[], string, string]> = [
    ['boxes not a multiple of 4', [0, 0, 1, 1, 0.5, 0.5], [1, 1, 1, 1], 'priors.boxes', 'priors.boxes length must be a multiple of 4, got 6'],
    ['no boxes', [], [1, 1, 1, 1], 'priors.boxes', 'priors.boxes must have at least 4 elements'],
    ['inverted xmax', [0.5, 0, 0.4, 1], [1, 1, 1, 1], 'priors.boxes[2]', 'priors.boxes[2] (xmax of prior 0) must be > xmin'],
    ['zero-height second prior', [0, 0, 1, 1, 0, 0.5, 1, 0.5], [1, 1, 1, 1], 'priors.boxes[7]', 'priors.boxes[7] (ymax of prior 1) must be > ymin'],
    ['variance count neither 4 nor 4 per prior', [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1], 'priors.variances', 'priors.variances must have 4 values or 4 per prior (12), got 8'],
    ['negative variance', [0, 0, 1, 1], [1, -1, 1, 1], 'priors.variances[1]', 'priors.variances[1] must be > 0'],
  ];

  it.each(invalidTables)('rejects table priors with %s', (_name, boxes, variances, path, message) => {
    const error = errorOf(tableSpec(boxes, variances));
    expect(error.path).toBe(path);
    expect(error.message).toContain(message);
  });

  it('rejects non-objects and malformed JSON text', () => {
    expect(errorOf(null).message).toBe('spec must be an object, got null');
    expect(errorOf([]).message).toBe('spec must be an object, got an array');
    expect(errorOf('{"format": ').message).toMatch(/^spec is not valid JSON/);
  });
});

describe('serializeSsdSpec', () => {
  it('round-trips through parseSsdSpec', () => {
    const text = serializeSsdSpec(MOBILENET_SSD_VOC_300);
    expect(parseSsdSpec(text)).toEqual(MOBILENET_SSD_VOC_300);
    expect(serializeSsdSpec(parseSsdSpec(text))).toBe(text);
  });

  it('is independent of key insertion order and sorts keys at every level', () => {
    const text = serializeSsdSpec(MOBILENET_SSD_VOC_300);
    expect(serializeSsdSpec(reversedKeys(MOBILENET_SSD_VOC_300) as SsdSpec)).toBe(text);
    expect(Object.keys(JSON.parse(text))).toEqual([
      'backgroundLabelId', 'clipBoxes', 'codeType', 'format', 'input', 'labels', 'name', 'nms', 'outputs', 'priors', 'varianceEncodedInTarget',
    ]);
    expect(text).toContain('"nms":{"eta":1,"iouThreshold":0.45,"keepTopK":100,"scoreThreshold":0.25,"topK":100}');
  });

  it('refuses to serialise an invalid spec', () => {
    expect(() => serializeSsdSpec(mutated((s) => { s.nms.eta = 2; }) as SsdSpec)).toThrow('nms.eta must be in (0, 1]');
  });
});

describe('specFromMetadata', () => {
  it('reads the spec from the ssd.spec metadata key', () => {
    expect(SSD_SPEC_METADATA_KEY).toBe('ssd.spec');
    const spec = specFromMetadata({ producer: 'test', 'ssd.spec': serializeSsdSpec(MOBILENET_SSD_VOC_300) });
    expect(spec).toEqual(MOBILENET_SSD_VOC_300);
  });

  it('fails clearly when the key is missing or holds an invalid spec', () => {
    expect(() => specFromMetadata({ producer: 'test' })).toThrow('model metadata has no "ssd.spec" entry');
    expect(() => specFromMetadata({ 'ssd.spec': 'not json' })).toThrow(/^spec is not valid JSON/);
    expect(() => specFromMetadata({ 'ssd.spec': JSON.stringify(mutated((s) => { s.labels = []; })) })).toThrow(SsdSpecError);
  });
});

describe('prior count bound', () => {
  it('refuses specs whose priors could not be built, before building any', () => {
    const huge = { ...JSON.parse(serializeSsdSpec(MOBILENET_SSD_VOC_300)) };
    huge.priors.heads[0].featureMap = [30000, 30000];
    expect(() => parseSsdSpec(huge)).toThrow(/^priors\.heads make 2700000834 priors; at most 1000000 are accepted$/);
    huge.priors.heads[0].featureMap = [1e200, 1e200];
    expect(() => parseSsdSpec(huge)).toThrow(SsdSpecError);
  });
});
