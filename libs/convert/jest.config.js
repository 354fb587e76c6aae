module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'convert',
  rootDir: __dirname,
};
