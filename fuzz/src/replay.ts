// Runs corpus files through a target in this process, as jsfuzz would (same harness, same limits):
// the regression check of the seed corpus, and a way to reproduce a finding with its full stack.
import * as fs from 'node:fs';
import { loadTarget } from './targets';

export interface ReplayFailure {
  file: string;
  error: unknown;
}

/** Every file that makes the target report a finding (none: all pass). */
export function replayFiles(target: string, files: readonly string[]): ReplayFailure[] {
  const { fuzz } = loadTarget(target);
  const failures: ReplayFailure[] = [];
  for (const file of files) {
    try {
      fuzz(fs.readFileSync(file));
    } catch (error) {
      failures.push({ file, error });
    }
  }
  return failures;
}
