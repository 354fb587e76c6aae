// The quantization report: what was quantized, from which ranges, how far INT8 detections are from
// fp32 ones on each image set (with the threshold that decides whether the model is written), and
// the raw inference time of both models.
import type { Agreement } from './agreement';
import type { QuantizeResult } from './pipeline';

/** Op counts in alphabetical order (Conv, DequantizeLinear, QuantizeLinear, ...). */
function ops(counts: Record<string, number>): string {
  return Object.keys(counts)
    .sort()
    .map((op) => `${op} ${counts[op]}`)
    .join(', ');
}

function agreementLines(set: string, a: Agreement, threshold: number): string[] {
  const c = a.criteria;
  const lines = [
    `${set} images (${a.images.length}): agreement ${a.found}/${a.references + a.extras} = ${a.ratio.toFixed(3)} (threshold ${threshold}): ${a.ratio >= threshold ? 'OK' : 'BELOW'}`,
    `  fp32 detections >= ${c.minScore}: ${a.references}, found by INT8 (same class, IoU >= ${c.minIou}, |score delta| <= ${c.scoreTolerance}): ${a.found}, INT8 extras >= ${c.minScore}: ${a.extras}; min IoU ${a.minIou.toFixed(3)}, max |score delta| ${a.maxScoreDelta.toFixed(3)}`,
  ];
  for (const i of a.images) lines.push(`    ${i.file}: ${i.found}/${i.references} found, ${i.extras} extra${i.references > 0 ? `, min IoU ${i.minIou.toFixed(3)}, max |score delta| ${i.maxScoreDelta.toFixed(3)}` : ''}`);
  return lines;
}

export function formatQuantizeReport(r: QuantizeResult): string {
  const t = r.table;
  const method = t.method === 'percentile' ? `percentile ${t.percentile}` : t.method;
  const body = [
    `ranges: ${method}, ${Object.keys(t.ranges).length} tensors, ${t.images.length} calibration images (${r.tableSource === 'measured' ? 'measured now' : `table ${r.tableSource}`})`,
    `QDQ: ${r.summary.convs} Conv quantized (int8 per-channel weights, int32 bias, uint8 activations), ${r.summary.tensors} activation tensors with Q/DQ; ${r.summary.kept.length} kept in fp32${r.summary.kept.length ? ` (${r.summary.kept.join(', ')})` : ''}`,
    `  max per-channel weight rounding error ${(r.summary.maxWeightError * 100).toFixed(3)} % of the channel's max |w|`,
    `  ops: ${ops(r.ops)}`,
    ...(r.agreements.length === 0 ? ['agreement: not measured (no images given)'] : r.agreements.flatMap((a) => agreementLines(a.set, a.agreement, r.minAgreement))),
    ...(r.speed ? [`speed (raw onnxruntime, 1 thread, batch 1, ${r.speed.image}): fp32 ${r.speed.fp32Ms.toFixed(1)} ms, INT8 ${r.speed.int8Ms.toFixed(1)} ms per image (${(r.speed.fp32Ms / r.speed.int8Ms).toFixed(2)}x)`] : []),
    `size: ${(r.bytes.fp32 / 1e6).toFixed(2)} MB -> ${(r.bytes.int8 / 1e6).toFixed(2)} MB; sha256 ${r.sha256}`,
    `time: ${r.seconds.toFixed(1)} s`,
  ];
  return [`quantize: ${r.input} -> ${r.output}`, ...body.map((l) => `  ${l}`)].join('\n');
}
