// @edge-ssd/ssd-core/testing: fixtures for tests and benchmarks, kept out of the library's main entry.
export { syntheticOutputs } from './synthetic';
export { maxAbsDiff } from './compare';
