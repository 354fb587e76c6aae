module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'quantize',
  rootDir: __dirname,
};
