export * from './spec';
export { MAX_PRIORS, SsdSpecError, parseSsdSpec, serializeSsdSpec, specFromMetadata } from './spec-validate';
export {
  buildPriors,
  countPriors,
  expandAspectRatios,
  priorBoxHeadCount,
} from './priors';
export { boxSize, decodeBox, decodeBoxes } from './decode';
export {
  applyNmsFast,
  jaccardOverlap,
} from './nms';
export { type DetectOptions, type Detection, SsdPostprocessor } from './postprocess';
