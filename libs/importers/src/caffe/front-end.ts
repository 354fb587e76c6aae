// The Caffe front end: reads a prototxt, a caffemodel and optionally a labels file (regular files,
// size-capped: a FIFO or device would block or never end) and imports the net (import.ts). Its
// provenance lines say what the importer mapped, merged, dropped and ignored.
import { FileRefusal, readRegularFile } from '@edge-ssd/onnx-io';
import type { ImportedModel } from '../imported';
import { readCaffemodel } from './caffemodel';
import { CaffeImportError } from './errors';
import { CaffeImportSummary, ImportCaffeOptions, importCaffe } from './import';

/** Largest prototxt read (MobileNet-SSD's deploy.prototxt is 30 kB). */
const MAX_PROTOTXT_BYTES = 16 * 1024 * 1024;
/** Largest caffemodel read: protobuf's own 2 GiB message limit. */
const MAX_CAFFEMODEL_BYTES = 2 * 1024 * 1024 * 1024 - 1;
/** Largest labels file read. */
const MAX_LABELS_BYTES = 1024 * 1024;

function readInput(file: string, what: string, maxBytes: number): Buffer {
  try {
    return readRegularFile(file, maxBytes);
  } catch (err) {
    if (err instanceof FileRefusal) throw new CaffeImportError(`cannot read ${what} '${file}': ${err.reason}`);
    throw err;
  }
}

/** Reads a labels file: one label per line; blank lines are ignored. */
function readLabelsFile(file: string): string[] {
  const text = readInput(file, 'labels file', MAX_LABELS_BYTES).toString('utf8');
  const labels = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (labels.length === 0) throw new CaffeImportError(`labels file '${file}' has no labels`);
  return labels;
}

export interface CaffeFiles {
  prototxt: string;
  caffemodel: string;
  /** One label per line; default: VOC for 21 classes, class_N otherwise. */
  labels?: string;
}

export type ImportCaffeFilesOptions = Pick<ImportCaffeOptions, 'modelName' | 'preprocess'>;

/** Reads the files and imports the net. Throws CaffeImportError for unusable input. */
export function importCaffeFiles(files: CaffeFiles, options: ImportCaffeFilesOptions = {}): ImportedModel {
  const t0 = performance.now();
  const labels = files.labels === undefined ? undefined : readLabelsFile(files.labels);
  const text = readInput(files.prototxt, 'prototxt', MAX_PROTOTXT_BYTES).toString('utf8');
  // The file bytes are read once; the weights stay views of them (see caffemodel.ts).
  const weights = readCaffemodel(readInput(files.caffemodel, 'caffemodel', MAX_CAFFEMODEL_BYTES), files.caffemodel);
  const t1 = performance.now();
  const { model, summary } = importCaffe(text, weights, { ...options, labels, prototxtName: files.prototxt, caffemodelName: files.caffemodel });
  const read = [files.prototxt, files.caffemodel, ...(files.labels === undefined ? [] : [files.labels])];
  return {
    model,
    provenance: { source: `${files.prototxt} + ${files.caffemodel}`, files: read, lines: caffeLines(summary), details: { format: 'caffe', ...summary } },
    timings: { readMs: t1 - t0, importMs: performance.now() - t1 },
  };
}

function counts(record: Record<string, number>): string {
  return Object.entries(record)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

function caffeLines(c: CaffeImportSummary): string[] {
  const form = (f: string) => (f === 'layers' ? 'legacy V1 layers' : f);
  const shape = (dims: readonly (number | string)[]) => `[${dims.join(',')}]`;
  const lines = [
    `caffe: net '${c.netName || '?'}', ${c.layers} layers (${form(c.prototxtFormat)} form): ${counts(c.layerTypes)}`,
    `  weights: ${c.weightValues} values (${form(c.weightsFormat)} form)`,
    `  BatchNorm+Scale pairs ${c.batchNormScalePairs}, BatchNorm alone ${c.batchNormAlone}, Scale alone ${c.scaleAlone}`,
  ];
  if (c.filteredOut.length > 0) lines.push(`  excluded by phase rules: ${c.filteredOut.join(', ')}`);
  if (c.deadLayers.length > 0) lines.push(`  not contributing to any output (dropped): ${c.deadLayers.join(', ')}`);
  if (c.unusedWeights.length > 0) lines.push(`  caffemodel layers not in the prototxt (ignored): ${c.unusedWeights.join(', ')}`);
  if (c.preprocess) {
    const { mean, scale, channelOrder, assumed } = c.preprocess;
    const how = assumed.length === 0 ? 'as given' : `assumed (not given: ${assumed.join(', ')}): chuanqi305 MobileNet-SSD's; a deploy prototxt does not carry it`;
    lines.push(`  preprocessing: ${channelOrder}, mean ${mean.join('/')}, scale ${scale}, ${how}`);
  }
  lines.push(`  inputs: ${c.inputs.map((i) => `${i.name} ${shape(i.shape)}`).join(', ')}; outputs: ${c.outputs.map((o) => `${o.name} ${shape(o.shape)}`).join(', ')}`);
  return lines;
}
