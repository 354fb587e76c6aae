module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'ssd-core',
  rootDir: __dirname,
};
