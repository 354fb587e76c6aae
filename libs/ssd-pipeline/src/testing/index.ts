// @edge-ssd/ssd-pipeline/testing: a tiny runnable SSD for tests (never used by the product).
export * from './tiny-ssd';
