module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'onnx-io',
  rootDir: __dirname,
};
