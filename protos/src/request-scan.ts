// A look at a DetectRequest's bytes before protobuf decoding turns them into objects: how many
// images and class ids it carries. Decoding a million-entry `class_ids` or a million empty images
// allocates far more than the message's size, so services refuse such requests from this count
// instead. Field numbers come from the loaded schema, not from a copy of it.
import type { PackageDefinition } from '@grpc/proto-loader';

export interface RequestCounts {
  images: number;
  classIds: number;
}

interface FieldNumbers {
  images: number;
  options: number;
  classIds: number;
}

function fieldNumber(definition: PackageDefinition, message: string, field: string): number {
  const type = (definition[message] as { type?: { field?: Array<{ name: string; number: number }> } } | undefined)?.type;
  const found = type?.field?.find((f) => f.name === field);
  if (!found) throw new Error(`${message} has no field ${field}`);
  return found.number;
}

export function detectRequestFields(definition: PackageDefinition): FieldNumbers {
  return {
    images: fieldNumber(definition, 'ssd.v1.DetectRequest', 'images'),
    options: fieldNumber(definition, 'ssd.v1.DetectRequest', 'options'),
    classIds: fieldNumber(definition, 'ssd.v1.DetectOptions', 'classIds'),
  };
}

/**
 * The same look at one DetectStream message: its frame counts as the image, and the stream's
 * options (at the message's top level, as in a DetectRequest) carry the class ids.
 */
export function detectStreamRequestFields(definition: PackageDefinition): FieldNumbers {
  return {
    images: fieldNumber(definition, 'ssd.v1.DetectStreamRequest', 'frame'),
    options: fieldNumber(definition, 'ssd.v1.DetectStreamRequest', 'options'),
    classIds: fieldNumber(definition, 'ssd.v1.DetectOptions', 'classIds'),
  };
}

export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

/** Reads a varint at `pos`; returns [value, next position]. Values beyond 2^53 are clamped. */
function varint(bytes: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedMessageError('truncated varint');
    const b = bytes[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [Math.min(value, Number.MAX_SAFE_INTEGER), pos];
    scale *= 128;
  }
  throw new MalformedMessageError('varint longer than 10 bytes');
}

/** Calls `field` for every top-level field of a message in bytes[start, end). */
function forEachField(bytes: Uint8Array, start: number, end: number, field: (number: number, wireType: number, from: number, to: number) => void): void {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = varint(bytes, pos, end);
    const number = Math.floor(key / 8);
    const wireType = key % 8;
    if (number === 0) throw new MalformedMessageError('field number 0');
    let next: number;
    switch (wireType) {
      case 0:
        next = varint(bytes, afterKey, end)[1];
        break;
      case 1:
        next = afterKey + 8;
        break;
      case 2: {
        const [length, afterLength] = varint(bytes, afterKey, end);
        next = afterLength + length;
        if (next > end) throw new MalformedMessageError('length-delimited field runs past the message');
        field(number, wireType, afterLength, next);
        pos = next;
        continue;
      }
      case 5:
        next = afterKey + 4;
        break;
      default:
        throw new MalformedMessageError(`unsupported wire type ${wireType}`);
    }
    if (next > end) throw new MalformedMessageError('field runs past the message');
    field(number, wireType, afterKey, next);
    pos = next;
  }
}

/** Counts a DetectRequest's images and class ids (packed or not) without decoding anything. */
export function scanDetectRequest(bytes: Uint8Array, fields: FieldNumbers): RequestCounts {
  const counts: RequestCounts = { images: 0, classIds: 0 };
  forEachField(bytes, 0, bytes.length, (number, wireType, from, to) => {
    if (number === fields.images && wireType === 2) counts.images++;
    if (number !== fields.options || wireType !== 2) return;
    forEachField(bytes, from, to, (n, w, f, t) => {
      if (n !== fields.classIds) return;
      if (w === 0) counts.classIds++;
      // Packed: one varint per id; every byte below 0x80 ends one.
      else if (w === 2) for (let i = f; i < t; i++) if (bytes[i]! < 0x80) counts.classIds++;
    });
  });
  return counts;
}
