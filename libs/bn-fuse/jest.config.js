module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'bn-fuse',
  rootDir: __dirname,
  // onnxruntime-node returns typed arrays from Node's main context; see test/ort-environment.js.
  testEnvironment: '<rootDir>/test/ort-environment.js',
};
