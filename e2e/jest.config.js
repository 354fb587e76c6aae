module.exports = {
  ...require('../jest.preset.js'),
  displayName: 'e2e',
  rootDir: __dirname,
  // Each file starts real services that use every core; running files side by side only makes
  // them race for CPU (and for writing the shared default model).
  maxWorkers: 1,
};
