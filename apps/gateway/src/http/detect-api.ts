// Our own HTTP API, POST /v1/detect: one image, ssd.v1's options by their proto names (query
// string or form fields), and ssd.v1's answer as JSON (proto3's JSON names): normalised boxes as
// Caffe's DetectionOutput gives them and the same boxes in pixels. Pure mapping; see openapi.json.
import type { Box, DetectOptions, DetectResponse } from '@edge-ssd/protos';
import { ApiError } from './errors';

const OPTION_NAMES = ['score_threshold', 'iou_threshold', 'top_k', 'keep_top_k', 'class_ids'] as const;
type OptionName = (typeof OPTION_NAMES)[number];

function isOptionName(name: string): name is OptionName {
  return (OPTION_NAMES as readonly string[]).includes(name);
}

function fraction(name: string, text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 0;
  const value = Number(text.trim());
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new ApiError(400, `${name} must be a number from 0 to 1, got "${text}"`);
  return value;
}

function count(name: string, text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 0;
  if (!/^\d{1,10}$/.test(text.trim()) || Number(text) > 0xffffffff) throw new ApiError(400, `${name} must be a whole number, got "${text}"`);
  return Number(text);
}

/**
 * ssd.v1 options from text fields (0 or absent = the model's default). Unknown names are refused, so
 * a misspelt option is an error rather than silently the default; `class_ids` is comma-separated and
 * at most `maxClassIds` long (the gateway's GATEWAY_MAX_CLASS_IDS). The detector checks the rest
 * (top_k and keep_top_k against its maxima) as it does for gRPC.
 */
export function parseDetectOptions(fields: Readonly<Record<string, string | undefined>>, maxClassIds: number): DetectOptions {
  for (const name of Object.keys(fields)) if (!isOptionName(name)) throw new ApiError(400, `unknown option "${name}"; options are ${OPTION_NAMES.join(', ')}`);
  const ids = (fields.class_ids ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ids.length > maxClassIds) throw new ApiError(400, `class_ids has ${ids.length} entries; the limit is ${maxClassIds}`);
  return {
    scoreThreshold: fraction('score_threshold', fields.score_threshold),
    iouThreshold: fraction('iou_threshold', fields.iou_threshold),
    topK: count('top_k', fields.top_k),
    keepTopK: count('keep_top_k', fields.keep_top_k),
    classIds: ids.map((id) => count('class_ids entry', id)),
  };
}

export interface DetectJson {
  model: string;
  width: number;
  height: number;
  detections: Array<{ classId: number; label: string; score: number; box: Box; pixelBox: Box }>;
  timing: { totalMs: number };
}

const NO_BOX: Box = { xmin: 0, ymin: 0, xmax: 0, ymax: 0 };

/** The answer for one image that the detector served (status OK). */
export function toDetectJson(response: DetectResponse, totalMs: number): DetectJson {
  const result = response.results[0]!;
  return {
    model: response.model,
    width: result.width,
    height: result.height,
    detections: result.detections.map((d) => ({ classId: d.classId, label: d.label, score: d.score, box: d.box ?? NO_BOX, pixelBox: d.pixelBox ?? NO_BOX })),
    timing: { totalMs: Math.round(totalMs * 10) / 10 },
  };
}
