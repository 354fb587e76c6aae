export * from './spec';
export { MAX_PRIORS, SsdSpecError, parseSsdSpec, serializeSsdSpec, specFromMetadata } from './spec-validate';
export { type PriorTable, buildPriors, countPriors, expandAspectRatios, priorBoxHeadCount } from './priors';
export { boxSize, decodeBox, decodeBoxes } from './decode';
export { type NmsOptions, MAX_SORTABLE_PRIORS, applyNmsFast, greedyNms, jaccardOverlap, selectCandidates } from './nms';
export { type DetectOptions, type Detection, SsdPostprocessor } from './postprocess';
