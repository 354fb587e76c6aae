// The anatomy as text: a table for people (`model anatomy`), JSON for tools, and a Markdown
// comparison of several models side by side (the README's "MobileNet-SSD vs VGG16-SSD").
import { type Cost, type HeadAnatomy, type ModelAnatomy, PARTS, type Part } from './anatomy';

const PART_LABEL: Record<Part | 'total', string> = { base: 'base network', extra: 'extra layers', heads: 'heads', total: 'total' };

const grouped = (n: number): string => Math.round(n).toLocaleString('en-US');
const fraction = (v: number): string => v.toFixed(3);
const dims = ([h, w]: readonly [number, number]): string => `${h}x${w}`;
const num = (v: number): string => String(Number(v.toFixed(4)));
/** One value when both axes agree, else h x w. */
const pair = ([h, w]: readonly [number, number], f: (v: number) => string): string => (h === w ? f(h) : `${f(h)} x ${f(w)}`);

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}

function sizes(h: HeadAnatomy): { min: string; max: string; ratios: string } {
  if (h.tableBoxes) {
    const boxes = h.tableBoxes.map(([w, ht]) => `${w.toFixed(0)}x${ht.toFixed(0)}`).join(' ');
    return { min: `table: ${boxes}`, max: '-', ratios: '-' };
  }
  return { min: (h.minSizes ?? []).map(num).join(','), max: (h.maxSizes ?? []).map(num).join(',') || '-', ratios: (h.aspectRatios ?? []).map(num).join(',') || '-' };
}

/** The report for people. */
export function formatAnatomy(a: ModelAnatomy): string {
  const lines = [`anatomy: ${a.name}, input ${a.input.width}x${a.input.height}, ${a.heads.length} heads, ${a.priors} priors`];
  const rows = [['head', 'source', 'map', 'channels', 'kernel', 'priors/loc', 'priors', 'min size', 'max size', 'aspect ratios', 'step', `smallest object (${a.k}x${a.k} cells)`]];
  a.heads.forEach((h, i) => {
    const s = sizes(h);
    rows.push([String(i + 1), h.source, dims(h.featureMap), String(h.channels), dims(h.kernel), String(h.priorsPerLocation), String(h.priors), s.min, s.max, s.ratios, `${pair(h.step, num)}${h.stepGiven ? '' : ' (input/map)'}`, pair(h.smallestObject, fraction)]);
  });
  lines.push(...table(rows));
  lines.push('');
  const cost = [['part', 'parameters', 'multiply-adds'], ...[...PARTS, 'total' as const].map((p) => [PART_LABEL[p], grouped(a.cost[p].params), grouped(a.cost[p].macs)])];
  lines.push(...table(cost));
  lines.push('(multiply-adds of convolutions and matrix products at batch 1; the base network is what the second head reads, the heads include what feeds only them, e.g. Normalize)');
  if (a.at) {
    const at = a.at;
    lines.push('');
    lines.push(`at ${at.input.width}x${at.input.height}: maps ${at.heads.map((h) => dims(h.featureMap)).join(', ')}; ${at.priors} priors; smallest object ${at.heads[0] ? pair(at.heads[0].smallestObject, fraction) : '-'} on the largest map`);
    const rowsAt = [['part', 'multiply-adds', 'factor', 'parameters', 'factor'], ...[...PARTS, 'total' as const].map((p) => [PART_LABEL[p], grouped(at.cost[p].macs), `x${at.factor[p].macs.toFixed(4)}`, grouped(at.cost[p].params), `x${at.factor[p].params.toFixed(4)}`])];
    lines.push(...table(rowsAt));
    const square = (at.input.width * at.input.height) / (a.input.width * a.input.height);
    lines.push(`(the input area grows x${square.toFixed(4)}; multiply-adds follow the feature-map shapes, padding included; parameters do not depend on the input size)`);
  }
  return lines.join('\n');
}

export function anatomyJson(a: ModelAnatomy): string {
  return `${JSON.stringify(a, null, 2)}\n`;
}

export interface ComparedModel {
  label: string;
  anatomy: ModelAnatomy;
  /** Measured images/s through the service, when there is a measurement. */
  imagesPerSecond?: number;
}

const costCell = (c: Cost, what: keyof Cost): string => (what === 'macs' ? `${(c.macs / 1e6).toFixed(1)} M` : `${(c.params / 1e6).toFixed(3)} M`);

/** A Markdown table comparing models head by head and part by part. */
export function comparisonMarkdown(models: readonly ComparedModel[], note = ''): string {
  const cols = models.map((m) => m.anatomy);
  const row = (name: string, f: (a: ModelAnatomy, i: number) => string) => `| ${name} | ${cols.map((a, i) => f(a, i)).join(' | ')} |`;
  const k = cols[0]?.k ?? 4;
  const lines = [
    `| | ${models.map((m) => m.label).join(' | ')} |`,
    `|---|${models.map(() => '---').join('|')}|`,
    row('input', (a) => `${a.input.width}x${a.input.height}`),
    row('feature maps', (a) => a.heads.map((h) => pair(h.featureMap, String)).join(', ')),
    row('channels', (a) => a.heads.map((h) => h.channels).join(', ')),
    row('head kernel', (a) => [...new Set(a.heads.map((h) => dims(h.kernel)))].join(', ')),
    row('priors per location', (a) => a.heads.map((h) => h.priorsPerLocation).join(', ')),
    row('priors', (a) => String(a.priors)),
    row(`smallest object (${k}x${k} cells on the largest map)`, (a) => (a.heads[0] ? `${k}/${pair(a.heads[0].featureMap, String)} = ${pair(a.heads[0].smallestObject, fraction)}` : '-')),
    ...(['base', 'extra', 'heads', 'total'] as const).map((p) => row(`parameters, ${PART_LABEL[p]}`, (a) => costCell(a.cost[p], 'params'))),
    ...(['base', 'extra', 'heads', 'total'] as const).map((p) => row(`multiply-adds, ${PART_LABEL[p]}`, (a) => costCell(a.cost[p], 'macs'))),
  ];
  if (cols.some((a) => a.at)) {
    lines.push(
      row('at another size: base multiply-adds, parameters', (a) =>
        a.at ? `${a.at.input.width}: x${a.at.factor.base.macs.toFixed(3)}, x${a.at.factor.base.params.toFixed(3)} (maps ${a.at.heads.map((h) => pair(h.featureMap, String)).join('/')}, ${k}/${pair(a.at.heads[0].featureMap, String)} = ${pair(a.at.heads[0].smallestObject, fraction)})` : '-',
      ),
    );
  }
  if (models.some((m) => m.imagesPerSecond !== undefined)) lines.push(row('images/s through the service', (_, i) => (models[i].imagesPerSecond === undefined ? '-' : models[i].imagesPerSecond.toFixed(1))));
  return `${lines.join('\n')}\n${note ? `\n${note}\n` : ''}`;
}
