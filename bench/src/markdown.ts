// The report's Markdown pieces, shared by every section: figures, a median with its spread, tables.
import type { Summary } from './stats';

/** A figure to `digits` decimals, or n/a when it could not be measured. */
const fixed = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
export const f1 = (v: number): string => fixed(v, 1);
export const f2 = (v: number): string => fixed(v, 2);
/** A median with its range and the number of samples. */
export const spread = (s: Summary, digits = 1): string => `${fixed(s.median, digits)} (${fixed(s.min, digits)}–${fixed(s.max, digits)}, n=${s.n})`;

export function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
