// `node fuzz/dist/seeds.js [target...]` (or `npx nx run fuzz:seeds`): writes each target's seeds()
// into corpus/<target>/, the seed corpus that is committed. Files already there with other names
// (crash inputs kept as regressions) are left alone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CORPUS_DIR, loadTarget, targetNames } from './targets';

/** Largest seed: jsfuzz truncates mutated inputs to 4096 bytes, so larger seeds mutate badly. */
export const MAX_SEED_BYTES = 4096;

function writeSeeds(names: readonly string[] = targetNames(), dir = CORPUS_DIR): string[] {
  const written: string[] = [];
  for (const name of names) {
    const seeds = loadTarget(name).seeds?.() ?? {};
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (const [file, bytes] of Object.entries(seeds)) {
      if (bytes.byteLength > MAX_SEED_BYTES) throw new Error(`seed ${name}/${file} is ${bytes.byteLength} bytes, more than ${MAX_SEED_BYTES}`);
      const out = path.join(dir, name, file);
      fs.writeFileSync(out, bytes);
      written.push(out);
    }
  }
  return written;
}

if (require.main === module) {
  const written = writeSeeds(process.argv.length > 2 ? process.argv.slice(2) : undefined);
  console.log(`wrote ${written.length} seed files under ${CORPUS_DIR}`);
}
