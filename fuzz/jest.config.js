module.exports = {
  ...require('../jest.preset.js'),
  displayName: 'fuzz',
  rootDir: __dirname,
  // The smoke test runs one jsfuzz process per target at a time; side by side they would only
  // compete for the CPUs the time budgets assume.
  maxWorkers: 1,
};
