// Every committed corpus file through its target, in this process (regressions: crash inputs
// kept in the corpus must stay fixed), and the corpus in step with the targets' seeds().
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { replayFiles } from '../src/replay';
import { removeSandbox } from '../src/sandbox';
import { MAX_SEED_BYTES } from '../src/seeds';
import { CORPUS_DIR, corpusFiles, loadTarget, targetNames } from '../src/targets';

const names = targetNames();
// The targets that resolve files make their sandbox when loaded; 'exit' does not fire in jest.
afterAll(removeSandbox);

it('finds the seven targets, and every corpus directory belongs to one', () => {
  expect(names).toEqual(['caffemodel', 'external-data', 'onnx-model', 'prototxt', 'ssd-spec', 'tfjs-files', 'tfjs-weights']);
  expect(fs.readdirSync(CORPUS_DIR).sort()).toEqual(names);
});

describe.each(names)('%s', (name) => {
  it('every corpus file passes the target (no finding)', () => {
    const files = corpusFiles(name);
    expect(files.length).toBeGreaterThan(0);
    const failures = replayFiles(name, files).map((f) => `${path.basename(f.file)}: ${inspect(f.error)}`);
    expect(failures).toEqual([]);
  });

  it("the corpus holds today's seeds() byte for byte, each small enough to mutate", () => {
    const seeds = loadTarget(name).seeds?.() ?? {};
    expect(Object.keys(seeds).length).toBeGreaterThan(0);
    for (const [file, bytes] of Object.entries(seeds)) {
      const committed = path.join(CORPUS_DIR, name, file);
      expect([file, fs.existsSync(committed) && fs.readFileSync(committed).equals(Buffer.from(bytes))]).toEqual([file, true]);
      expect(bytes.byteLength).toBeLessThanOrEqual(MAX_SEED_BYTES);
    }
  });
});

it('the whole corpus stays small (under 1 MB)', () => {
  const total = names.flatMap((n) => corpusFiles(n)).reduce((sum, f) => sum + fs.statSync(f).size, 0);
  expect(total).toBeLessThan(1024 * 1024);
});
