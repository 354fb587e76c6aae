// Caffe blob shapes as plain number arrays (index 0 is the batch): element counts, and the form
// every importer message prints them in.
import type { Dim } from '@edge-ssd/onnx-io';

export function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** `[1, 3, 300, 300]`: how messages print a shape. */
export function fmt(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}
