module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'model-cli',
  rootDir: __dirname,
};
