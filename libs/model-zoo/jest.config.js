module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'model-zoo',
  rootDir: __dirname,
};
