// The conversion report: one formatter for every input, so `model convert`, `import-caffe` and
// `import-tfjs` print the same lines for the same facts; the front end adds its own lines.
import { countPriors } from '@edge-ssd/ssd-core';
import type { ConvertResult, ModelSummary } from './pipeline';

function num(n: number): string {
  return n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential() : String(n);
}

function size(bytes: number): string {
  return bytes < 1e5 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(2)} MB`;
}

function ops(summary: ModelSummary): string {
  return Object.entries(summary.opCounts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
}

function specLines(r: ConvertResult): string[] {
  const s = r.spec;
  if (!s) return [];
  const labels = s.labels.length <= 6 ? s.labels.join(', ') : `${s.labels.slice(0, 4).join(', ')}, ... ${s.labels[s.labels.length - 1]}`;
  const priors = s.priors.kind === 'priorbox' ? `${countPriors(s)} priors from ${s.priors.heads.length} PriorBox heads (${s.priors.heads.map((h) => `${h.featureMap[0]}x${h.featureMap[1]}`).join(', ')})` : `${countPriors(s)} priors (stored table)`;
  return [
    `ssd.spec: ${priors}, ${s.labels.length} classes (${labels}), background ${s.backgroundLabelId}`,
    `  ${s.codeType}, score > ${num(s.nms.scoreThreshold)}, NMS IoU ${s.nms.iouThreshold} top_k ${s.nms.topK} keep_top_k ${s.nms.keepTopK}; input ${s.input.width}x${s.input.height} ${s.input.channelOrder} ${s.input.resize}, mean ${s.input.mean.join('/')}, scale ${s.input.scale}`,
  ];
}

function foldLines(r: ConvertResult): string[] {
  const { report } = r;
  const epsilons = [...new Set(report.folded.map((f) => Number(f.epsilon.toPrecision(6))))].join(', ');
  const lines = [`BatchNormalization: ${report.batchNormFound} found, ${report.batchNormFolded} folded${epsilons ? ` (epsilon ${epsilons})` : ''}, ${report.batchNormLeft} left`];
  for (const left of report.left) lines.push(`  left ${left.graph ? `${left.graph}: ` : ''}${left.batchNorm}: ${left.code}: ${left.reason}`);
  for (const note of report.notes) lines.push(`  note: ${note}`);
  lines.push(`nodes: ${r.before.nodes} -> ${r.after.nodes}`, `  before: ${ops(r.before)}`, `  after:  ${ops(r.after)}`);
  lines.push(`initializers: ${report.initializersRemoved.length} removed, ${report.initializersAdded.length} added`);
  return lines;
}

function sizeLines(r: ConvertResult): string[] {
  const total = (m: ModelSummary) => m.bytes + (m.externalBytes ?? 0);
  const show = (m: ModelSummary) => (m.externalBytes === undefined ? size(m.bytes) : `${size(m.bytes)} + ${size(m.externalBytes)} external`);
  const delta = total(r.after) - total(r.before);
  const lines = [`size: ${show(r.before)} -> ${show(r.after)} (${delta >= 0 ? '+' : ''}${delta} bytes)`];
  if (r.externalDataPath) lines.push(`external data: ${r.externalDataPath}`);
  if (r.unfusedOutputPath) lines.push(`unfused model: ${r.unfusedOutputPath} (${r.before.bytes} bytes)`);
  return lines;
}

function verifyLines(r: ConvertResult): string[] {
  const v = r.verification;
  if (!v) return ['verify: skipped (--no-verify)'];
  const shapes = Object.entries(v.inputShapes).map(([n, s]) => `${n}[${s.join(',')}]`).join(' ');
  const lines = [
    `verify: ${v.ok ? 'OK' : 'FAILED'}: max abs error ${v.maxAbsError.toExponential(2)}, max rel error ${v.maxRelError.toExponential(2)} (rtol ${num(v.rtol)}, atol ${num(v.atol)}; before vs after in onnxruntime, optimizations disabled, random ${shapes})`,
  ];
  if (v.error) lines.push(`  error: ${v.error}`);
  for (const o of v.outputs) lines.push(`  ${o.name} [${o.shape.join(',')}]: max abs ${o.maxAbsError.toExponential(2)}, max rel ${o.maxRelError.toExponential(2)}, ${Number.isFinite(o.worstToleranceRatio) ? `${(o.worstToleranceRatio * 100).toFixed(0)}% of tolerance` : 'over a zero tolerance'}`);
  return lines;
}

export function formatReport(r: ConvertResult): string {
  const t = r.timings;
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const body = [
    ...r.input.lines,
    ...specLines(r),
    ...foldLines(r),
    ...sizeLines(r),
    ...verifyLines(r),
    `time: ${(t.totalMs / 1000).toFixed(2)} s (read ${ms(t.readMs)}, import ${ms(t.importMs)}, fold ${ms(t.foldMs)}, encode ${ms(t.encodeMs)}, verify ${ms(t.verifyMs)})`,
  ];
  return [`convert: ${r.input.source} -> ${r.outputPath}`, ...body.map((l) => `  ${l}`)].join('\n');
}

/** The JSON report written by `--report`. */
export function reportJson(r: ConvertResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
