// @edge-ssd/onnx-io/testing: fixtures and independent checks for tests; never imported by the product.
export * from './fixtures';
export * from './checker';
