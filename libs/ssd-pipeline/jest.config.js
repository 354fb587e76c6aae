module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'ssd-pipeline',
  rootDir: __dirname,
};
