// Validation and (de)serialisation of `SsdSpec`. A spec usually arrives as JSON from a model's
// metadata, so every field is checked here once; the rest of the library then trusts the types
// and the invariants Caffe would otherwise enforce with CHECKs at runtime.

import {
  SSD_SPEC_METADATA_KEY,
  type CodeType,
  type InputSpec,
  type NmsSpec,
  type PriorBoxHead,
  type PriorsSpec,
  type SsdSpec,
} from './spec';
import { priorBoxHeadCount } from './priors';

/** Thrown for any invalid spec; the message starts with the offending path. */
export class SsdSpecError extends Error {
  constructor(
    message: string,
    /** Dotted path of the offending field, e.g. `priors.heads[2].maxSizes[0]`; empty for the root. */
    readonly path: string,
  ) {
    super(message);
    this.name = 'SsdSpecError';
  }
}

type Obj = Record<string, unknown>;

const CODE_TYPES: readonly CodeType[] = ['CENTER_SIZE', 'CORNER', 'CORNER_SIZE'];

function fail(path: string, problem: string): never {
  throw new SsdSpecError(`${path || 'spec'} ${problem}`, path);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return `a ${typeof value}`;
}

function object(value: unknown, path: string, known: readonly string[]): Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(path, `must be an object, got ${describe(value)}`);
  // Unknown keys are rejected so a typo (`minSize`) cannot silently fall back to a default.
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(join(path, key), 'is not a known field');
  }
  return value as Obj;
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(path, `must be a non-empty string, got ${describe(value)}`);
  return value;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(path, `must be a boolean, got ${describe(value)}`);
  return value;
}

function finite(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, `must be a finite number, got ${describe(value)}`);
  return value;
}

function positive(value: unknown, path: string): number {
  const n = finite(value, path);
  if (!(n > 0)) fail(path, `must be > 0, got ${n}`);
  return n;
}

function integer(value: unknown, path: string, min: number): number {
  const n = finite(value, path);
  if (!Number.isInteger(n) || n < min) fail(path, `must be an integer >= ${min}, got ${n}`);
  return n;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) fail(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
  return value as T;
}

function array(value: unknown, path: string, minLength = 0): unknown[] {
  if (!Array.isArray(value)) fail(path, `must be an array, got ${describe(value)}`);
  if (value.length < minLength) fail(path, `must have at least ${minLength} element${minLength === 1 ? '' : 's'}`);
  return value;
}

function numbers(value: unknown, path: string, each: (v: unknown, p: string) => number, minLength = 0): number[] {
  return array(value, path, minLength).map((v, i) => each(v, `${path}[${i}]`));
}

function parseInput(value: unknown, path: string): InputSpec {
  const o = object(value, path, ['name', 'width', 'height', 'channelOrder', 'mean', 'scale', 'resize']);
  const mean = numbers(o.mean, join(path, 'mean'), finite);
  if (mean.length !== 3) fail(join(path, 'mean'), `must have exactly 3 values, got ${mean.length}`);
  return {
    name: string(o.name, join(path, 'name')),
    width: integer(o.width, join(path, 'width'), 1),
    height: integer(o.height, join(path, 'height'), 1),
    channelOrder: oneOf(o.channelOrder, join(path, 'channelOrder'), ['BGR', 'RGB'] as const),
    mean: [mean[0], mean[1], mean[2]],
    scale: positive(o.scale, join(path, 'scale')),
    resize: oneOf(o.resize, join(path, 'resize'), ['warp', 'letterbox'] as const),
  };
}

const HEAD_KEYS = [
  'featureMap', 'minSizes', 'maxSizes', 'aspectRatios', 'flip', 'clip', 'variance', 'offset',
  'step', 'stepH', 'stepW', 'imgSize', 'imgH', 'imgW',
] as const;

function parseHead(value: unknown, path: string): PriorBoxHead {
  const o = object(value, path, HEAD_KEYS);
  const fm = numbers(o.featureMap, join(path, 'featureMap'), (v, p) => integer(v, p, 1));
  if (fm.length !== 2) fail(join(path, 'featureMap'), `must be [height, width], got ${fm.length} values`);
  // Caffe keeps sizes in an int, so a size below 1 would give zero-sized priors that DecodeBBox rejects.
  const minSizes = numbers(o.minSizes, join(path, 'minSizes'), (v, p) => {
    const n = finite(v, p);
    if (!(n >= 1)) fail(p, `must be >= 1 (Caffe truncates sizes to int), got ${n}`);
    return n;
  }, 1);
  const head: PriorBoxHead = { featureMap: [fm[0], fm[1]], minSizes };
  if (o.maxSizes !== undefined) {
    const p = join(path, 'maxSizes');
    const maxSizes = numbers(o.maxSizes, p, finite);
    if (maxSizes.length !== minSizes.length) fail(p, `must have as many values as minSizes (${minSizes.length}), got ${maxSizes.length}`);
    maxSizes.forEach((m, i) => {
      if (!(m > minSizes[i])) fail(`${p}[${i}]`, `must be > minSizes[${i}] (${minSizes[i]}), got ${m}`);
    });
    head.maxSizes = maxSizes;
  }
  if (o.aspectRatios !== undefined) head.aspectRatios = numbers(o.aspectRatios, join(path, 'aspectRatios'), positive);
  if (o.flip !== undefined) head.flip = boolean(o.flip, join(path, 'flip'));
  if (o.clip !== undefined) head.clip = boolean(o.clip, join(path, 'clip'));
  if (o.variance !== undefined) {
    const variance = numbers(o.variance, join(path, 'variance'), positive);
    if (variance.length !== 1 && variance.length !== 4) fail(join(path, 'variance'), `must have 1 or 4 values, got ${variance.length}`);
    head.variance = variance;
  }
  if (o.offset !== undefined) head.offset = finite(o.offset, join(path, 'offset'));
  // Same exclusivity rules as PriorBoxLayer::LayerSetUp.
  if (o.step !== undefined) {
    if (o.stepH !== undefined || o.stepW !== undefined) fail(join(path, 'step'), 'cannot be combined with stepH/stepW');
    head.step = positive(o.step, join(path, 'step'));
  } else if (o.stepH !== undefined || o.stepW !== undefined) {
    head.stepH = positive(o.stepH, join(path, 'stepH'));
    head.stepW = positive(o.stepW, join(path, 'stepW'));
  }
  if (o.imgSize !== undefined) {
    if (o.imgH !== undefined || o.imgW !== undefined) fail(join(path, 'imgSize'), 'cannot be combined with imgH/imgW');
    head.imgSize = integer(o.imgSize, join(path, 'imgSize'), 1);
  } else if (o.imgH !== undefined || o.imgW !== undefined) {
    head.imgH = integer(o.imgH, join(path, 'imgH'), 1);
    head.imgW = integer(o.imgW, join(path, 'imgW'), 1);
  }
  return head;
}

/** The most priors a model may have: SSD512 on COCO has 24 564, this model family 1917 to 5118. */
export const MAX_PRIORS = 1_000_000;

function parsePriors(value: unknown, path: string): PriorsSpec {
  const kind = (value !== null && typeof value === 'object' ? (value as Obj).kind : undefined);
  if (kind === 'table') {
    const o = object(value, path, ['kind', 'boxes', 'variances']);
    const boxesPath = join(path, 'boxes');
    const boxes = numbers(o.boxes, boxesPath, finite, 4);
    if (boxes.length % 4 !== 0) fail(boxesPath, `length must be a multiple of 4, got ${boxes.length}`);
    const count = boxes.length / 4;
    if (count > MAX_PRIORS) fail(boxesPath, `holds ${count} priors; at most ${MAX_PRIORS} are accepted`);
    for (let i = 0; i < count; i++) {
      // Every code type that uses the prior's size requires it to be positive (Caffe CHECK_GT).
      if (!(boxes[4 * i + 2] > boxes[4 * i])) fail(`${boxesPath}[${4 * i + 2}]`, `(xmax of prior ${i}) must be > xmin`);
      if (!(boxes[4 * i + 3] > boxes[4 * i + 1])) fail(`${boxesPath}[${4 * i + 3}]`, `(ymax of prior ${i}) must be > ymin`);
    }
    const variancesPath = join(path, 'variances');
    const variances = numbers(o.variances, variancesPath, positive);
    if (variances.length !== 4 && variances.length !== boxes.length) {
      fail(variancesPath, `must have 4 values or 4 per prior (${boxes.length}), got ${variances.length}`);
    }
    return { kind: 'table', boxes, variances };
  }
  if (kind === 'priorbox') {
    const o = object(value, path, ['kind', 'heads']);
    const heads = array(o.heads, join(path, 'heads'), 1).map((h, i) => parseHead(h, `${join(path, 'heads')}[${i}]`));
    // Checked before any prior is built: a spec from a hostile model must not make the detector
    // allocate for billions of priors.
    let total = 0;
    for (const head of heads) total += head.featureMap[0] * head.featureMap[1] * priorBoxHeadCount(head);
    if (!(total <= MAX_PRIORS)) fail(join(path, 'heads'), `make ${total} priors; at most ${MAX_PRIORS} are accepted`);
    return { kind: 'priorbox', heads };
  }
  object(value, path, ['kind']);
  return fail(join(path, 'kind'), `must be "priorbox" or "table", got ${describe(kind)}`);
}

function parseNms(value: unknown, path: string): NmsSpec {
  const o = object(value, path, ['scoreThreshold', 'iouThreshold', 'topK', 'keepTopK', 'eta']);
  return {
    scoreThreshold: finite(o.scoreThreshold, join(path, 'scoreThreshold')),
    iouThreshold: unitInterval(o.iouThreshold, join(path, 'iouThreshold')),
    topK: integer(o.topK, join(path, 'topK'), -1),
    keepTopK: integer(o.keepTopK, join(path, 'keepTopK'), -1),
    eta: eta(o.eta, join(path, 'eta')),
  };
}

/** IoU thresholds live in [0, 1]; Caffe CHECKs >= 0 and anything above 1 would never suppress. */
function unitInterval(value: unknown, path: string): number {
  const n = finite(value, path);
  if (n < 0 || n > 1) fail(path, `must be in [0, 1], got ${n}`);
  return n;
}

/** Caffe's adaptive NMS factor must be in (0, 1]. */
function eta(value: unknown, path: string): number {
  const n = finite(value, path);
  if (!(n > 0 && n <= 1)) fail(path, `must be in (0, 1], got ${n}`);
  return n;
}

const SPEC_KEYS = [
  'format', 'name', 'input', 'outputs', 'labels', 'backgroundLabelId', 'priors', 'codeType',
  'varianceEncodedInTarget', 'clipBoxes', 'nms',
] as const;

/**
 * Validates an unknown value (an object, or JSON text) and returns a fresh, fully typed copy.
 * Optional prior-box fields stay absent when absent, so parse(serialize(spec)) round-trips.
 */
export function parseSsdSpec(value: unknown): SsdSpec {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch (e) {
      fail('', `is not valid JSON: ${(e as Error).message}`);
    }
  }
  const o = object(value, '', SPEC_KEYS);
  if (o.format !== 'edge-ssd/v1') fail('format', `must be "edge-ssd/v1", got ${describe(o.format)}`);
  const outputs = object(o.outputs, 'outputs', ['loc', 'conf']);
  const loc = string(outputs.loc, 'outputs.loc');
  const conf = string(outputs.conf, 'outputs.conf');
  if (loc === conf) fail('outputs.conf', 'must differ from outputs.loc');
  const labels = array(o.labels, 'labels', 1).map((l, i) => {
    if (typeof l !== 'string') fail(`labels[${i}]`, `must be a string, got ${describe(l)}`);
    return l;
  });
  const backgroundLabelId = integer(o.backgroundLabelId, 'backgroundLabelId', -1);
  if (backgroundLabelId >= labels.length) fail('backgroundLabelId', `must be -1 or a label index < ${labels.length}, got ${backgroundLabelId}`);
  if (backgroundLabelId >= 0 && labels.length < 2) fail('labels', 'must contain at least one class besides the background');
  return {
    format: 'edge-ssd/v1',
    name: string(o.name, 'name'),
    input: parseInput(o.input, 'input'),
    outputs: { loc, conf },
    labels,
    backgroundLabelId,
    priors: parsePriors(o.priors, 'priors'),
    codeType: oneOf(o.codeType, 'codeType', CODE_TYPES),
    varianceEncodedInTarget: boolean(o.varianceEncodedInTarget, 'varianceEncodedInTarget'),
    clipBoxes: boolean(o.clipBoxes, 'clipBoxes'),
    nms: parseNms(o.nms, 'nms'),
  };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Obj = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Obj)[key]);
    return out;
  }
  return value;
}

/**
 * Validates, then writes compact JSON with keys sorted at every level, so equal specs give
 * byte-identical text however they were built (useful for caching and metadata diffs).
 */
export function serializeSsdSpec(spec: SsdSpec): string {
  return JSON.stringify(sortKeys(parseSsdSpec(spec)));
}

/** Reads and validates the spec a model carries under metadata key `ssd.spec`. */
export function specFromMetadata(metadata: Readonly<Record<string, string>>): SsdSpec {
  const text = Object.prototype.hasOwnProperty.call(metadata, SSD_SPEC_METADATA_KEY) ? metadata[SSD_SPEC_METADATA_KEY] : undefined;
  if (typeof text !== 'string') {
    throw new SsdSpecError(`model metadata has no "${SSD_SPEC_METADATA_KEY}" entry`, '');
  }
  return parseSsdSpec(text);
}
