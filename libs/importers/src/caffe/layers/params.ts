// Parameter readers shared by several layer handlers, with Caffe's rules for defaults and ranges.
import type { LayerScope } from '../handler';

/**
 * A 2-D parameter given as a repeated field (`kernel_size: 3`, or one value per axis) or as
 * `<what>_h` + `<what>_w`; `fallback` when absent (undefined: required).
 */
export function spatial(s: LayerScope, what: string, list: number[] | undefined, h: number | undefined, w: number | undefined, fallback: number | undefined): [number, number] {
  if (h !== undefined || w !== undefined) {
    if ((list?.length ?? 0) > 0) s.fail(`sets both ${what} and ${what}_h/${what}_w`);
    if (h === undefined || w === undefined) {
      if (fallback === undefined) s.fail(`needs both ${what}_h and ${what}_w`);
      return [h ?? fallback, w ?? fallback];
    }
    return [h, w];
  }
  const l = list ?? [];
  if (l.length === 0) {
    if (fallback === undefined) s.fail(`has no ${what === 'kernel' ? 'kernel_size' : what}`);
    return [fallback, fallback];
  }
  if (l.length === 1) return [l[0], l[0]];
  if (l.length === 2) return [l[0], l[1]];
  return s.fail(`has ${l.length} ${what} values; only 2-D (1 or 2 values) is supported`);
}

/** A Caffe axis (negative counts from the end) as an index into a `rank`-D shape. */
export function canonicalAxis(s: LayerScope, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) s.fail(`${what} ${axis} is out of range for a ${rank}-D input`);
  return a;
}
