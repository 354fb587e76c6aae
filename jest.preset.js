// Shared jest settings. Tests run TypeScript sources through ts-jest (transpile only; `nx lint`
// type-checks test files with tsc), while workspace libraries resolve to their sources so a
// library change is seen without a rebuild.
const path = require('node:path');

const root = __dirname;

module.exports = {
  // onnxruntime-node's tensors must pass instanceof checks inside jest's test context.
  testEnvironment: path.join(root, 'tools/jest/ort-environment.js'),
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(root, 'tsconfig.jest.json') }],
  },
  moduleNameMapper: {
    '^@edge-ssd/(prng|ssd-core|ssd-pipeline|onnx-io|bn-fuse|importers|convert|quantize|anatomy|model-zoo|service-kit)$': path.join(root, 'libs/$1/src/index.ts'),
    '^@edge-ssd/protos$': path.join(root, 'protos/src/index.ts'),
    '^@edge-ssd/(ssd-core|onnx-io|importers|bn-fuse|service-kit|ssd-pipeline)/testing$': path.join(root, 'libs/$1/src/testing/index.ts'),
    // An app's configuration contract, which the Kubernetes manifests are checked against.
    '^@edge-ssd/(detector|gateway)/config$': path.join(root, 'apps/$1/src/config.ts'),
  },
  testTimeout: 60000,
  reporters: ['default', path.join(root, 'tools/jest/summary-reporter.js')],
};
