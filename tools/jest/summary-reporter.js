// Adds each jest run's counts to the file named by JEST_SUMMARY_FILE (one JSON line per run), so
// `npm test`, which runs jest once per project through Nx, can print one total at the end.
const { appendFileSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const file = process.env.JEST_SUMMARY_FILE;
    if (!file) return;
    const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped, numFailedTestSuites: failedSuites } = results;
    appendFileSync(file, JSON.stringify({ passed, failed, skipped, failedSuites }) + '\n');
  }
}

module.exports = SummaryReporter;
