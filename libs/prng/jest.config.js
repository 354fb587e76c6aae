module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'prng',
  rootDir: __dirname,
};
