module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'bn-fuse',
  rootDir: __dirname,
};
