// The calibration table: what calibration measured, as JSON with a fixed key order, so that
// quantizing from a table is a pure function of (model bytes, table, options) and a table can be
// committed, reviewed and reused on a machine without the calibration images.
import type { Ranges } from './qdq';

export const TABLE_FORMAT = 'edge-ssd/calibration-table/v1';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

export interface CalibrationTable {
  format: typeof TABLE_FORMAT;
  method: CalibrationMethod;
  /** Percentile method only: the share of values (in %) kept inside the range. */
  percentile?: number;
  /** sha256 of the fp32 model file the ranges were measured on. */
  modelSha256: string;
  /** The calibration images (file name and sha256), sorted by name. */
  images: ImageRecord[];
  /** The images the INT8 model was checked on when the table was made (never calibration ones). */
  evaluation?: ImageRecord[];
  /** Free text: how the table was made (the command, the image split). */
  note?: string;
  /** Activation tensor -> [min, max], keys in the graph's order. */
  ranges: Record<string, [number, number]>;
}

interface ImageRecord {
  file: string;
  sha256: string;
}

export class TableError extends Error {}

/** The table as committed: two-space JSON, keys in a fixed order, a final newline. */
export function serializeTable(t: CalibrationTable): string {
  const ordered = {
    format: t.format,
    method: t.method,
    ...(t.percentile === undefined ? {} : { percentile: t.percentile }),
    modelSha256: t.modelSha256,
    ...(t.note === undefined ? {} : { note: t.note }),
    images: t.images.map((i) => ({ file: i.file, sha256: i.sha256 })),
    ...(t.evaluation === undefined ? {} : { evaluation: t.evaluation.map((i) => ({ file: i.file, sha256: i.sha256 })) }),
    ranges: t.ranges,
  };
  // One range per line keeps the committed file reviewable.
  return `${JSON.stringify(ordered, null, 2).replace(/\[\n\s+(-?[\d.e+-]+),\n\s+(-?[\d.e+-]+)\n\s+\]/g, '[$1, $2]')}\n`;
}

function fail(message: string): never {
  throw new TableError(`calibration table: ${message}`);
}

export function parseTable(text: string): CalibrationTable {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(`not JSON (${(err as Error).message})`);
  }
  const t = raw as Partial<CalibrationTable> | null;
  if (!t || typeof t !== 'object') fail('not an object');
  if (t.format !== TABLE_FORMAT) fail(`format must be '${TABLE_FORMAT}'`);
  if (!CALIBRATION_METHODS.includes(t.method as CalibrationMethod)) fail(`method must be one of ${CALIBRATION_METHODS.join(', ')}`);
  if (typeof t.modelSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(t.modelSha256)) fail('modelSha256 must be a sha256 in hex');
  if (t.percentile !== undefined && !(typeof t.percentile === 'number' && t.percentile > 0 && t.percentile <= 100)) fail('percentile must be in (0, 100]');
  const isRecords = (v: unknown) => Array.isArray(v) && v.every((i) => i && typeof i.file === 'string' && typeof i.sha256 === 'string');
  if (!isRecords(t.images)) fail('images must be a list of {file, sha256}');
  if (t.evaluation !== undefined && !isRecords(t.evaluation)) fail('evaluation must be a list of {file, sha256}');
  if (t.note !== undefined && typeof t.note !== 'string') fail('note must be a string');
  if (!t.ranges || typeof t.ranges !== 'object' || Array.isArray(t.ranges)) fail('ranges must be an object');
  for (const [name, r] of Object.entries(t.ranges)) {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number' && Number.isFinite(v)) || r[0] > r[1]) fail(`range of '${name}' must be [min, max] with finite min <= max`);
  }
  return t as CalibrationTable;
}

export function tableRanges(t: CalibrationTable): Ranges {
  return new Map(Object.entries(t.ranges));
}
