// @edge-ssd/prng: the one seeded PRNG.
export { Prng } from './prng';
