// Files named by untrusted input, made for real: tfjs shard paths and ONNX external data locations
// that escape their directory (`..`, absolute paths, symlinks at any component), FIFOs (which would
// block an ordinary open forever), directories, oversized shards and manifests. Each must be refused
// with one clear line (`model` CLI exit code 2), nothing written, and the converter must not hang.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExternalDataReader, type ModelProto, TensorDataError, type TensorProto, decodeModel, encodeModel } from '@edge-ssd/onnx-io';
import { TfjsImportError, readTfjsWeights } from '@edge-ssd/importers';
import { convBnModel, tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectRefused, listDir, runCli } from './helpers';

/** The tfjs reader's cap on a manifest's size (importers' MAX_TFJS_MANIFEST_BYTES). */
const MAX_TFJS_MANIFEST_BYTES = 16 * 1024 * 1024;

// A converter that blocks on a FIFO would hit this timeout (status null) instead of exiting 2.
const cli = (...args: string[]): CliRun => runCli(args, 30000);

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`this test needs mkfifo (coreutils) to create a FIFO: ${r.error?.message ?? r.stderr}`);
}

describe('tfjs weights manifests', () => {
  // 4 uint8-quantised weights: the manifest needs exactly 4 shard bytes.
  const weights = [{ name: 'w', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 1, min: 0 } }];
  let root: string;
  let dir: string;
  let outDir: string;

  beforeEach(() => {
    root = tempDir('hostile-tfjs');
    dir = path.join(root, 'model');
    outDir = path.join(root, 'out');
    fs.mkdirSync(dir);
    fs.mkdirSync(outDir);
    fs.writeFileSync(path.join(dir, 'w.bin'), Uint8Array.from([1, 2, 3, 4]));
    fs.writeFileSync(path.join(root, 'outside.bin'), Uint8Array.from([9, 9, 9, 9]));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  function manifest(paths: string[], name = 'm.json'): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify([{ paths, weights }]));
    return file;
  }

  /** The CLI (convert --tfjs-manifest and import-tfjs alike) refuses the manifest with one line and writes nothing. */
  function expectCliRefuses(manifestPath: string, pattern: RegExp): void {
    const out = path.join(outDir, 'face.onnx');
    expectRefused(cli('convert', '--tfjs-manifest', manifestPath, '--output', out), pattern);
    expectRefused(cli('import-tfjs', '--tfjs-manifest', manifestPath, '--output', out), pattern);
    expect(listDir(outDir)).toEqual([]);
  }

  it('reads shards inside the directory, also through a symlink that stays inside (the control case)', () => {
    fs.symlinkSync('w.bin', path.join(dir, 'alias.bin'));
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'w.bin'), Uint8Array.from([5, 6, 7, 8]));
    for (const [p, values] of [['w.bin', [1, 2, 3, 4]], ['alias.bin', [1, 2, 3, 4]], ['sub/w.bin', [5, 6, 7, 8]]] as const) {
      expect(Array.from(readTfjsWeights(manifest([p])).tensors.get('w')?.values ?? [])).toEqual(values);
    }
  });

  it("refuses a '..' path, even one that would come back inside", () => {
    for (const p of ['../outside.bin', 'sub/../w.bin']) {
      const m = manifest([p]);
      expect(() => readTfjsWeights(m)).toThrow(new TfjsImportError(`cannot read weights shard '${path.resolve(dir, p)}': its path '${p}' has a '..' component; shard paths must stay inside the manifest's directory`));
    }
    expectCliRefuses(manifest(['../outside.bin']), /cannot read weights shard '.*\/outside\.bin': its path '\.\.\/outside\.bin' has a '\.\.' component/);
  });

  it('refuses an absolute path', () => {
    const abs = path.join(root, 'outside.bin');
    expect(() => readTfjsWeights(manifest([abs]))).toThrow(new TfjsImportError(`cannot read weights shard '${abs}': its path '${abs}' is an absolute path; shard paths must stay inside the manifest's directory`));
    expectCliRefuses(manifest([abs]), /its path '.*outside\.bin' is an absolute path/);
  });

  it('refuses a symlink to a file outside, and a path through a symlinked directory that leads outside', () => {
    fs.symlinkSync(path.join(root, 'outside.bin'), path.join(dir, 'link.bin'));
    fs.symlinkSync('..', path.join(dir, 'up'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'zero.bin'));
    for (const p of ['link.bin', 'up/outside.bin', 'zero.bin']) {
      expect(() => readTfjsWeights(manifest([p]))).toThrow(/^cannot read weights shard '.*': leads outside '.*' through a symlink: it resolves to '.*'; shard paths must stay inside the manifest's directory$/);
    }
    expectCliRefuses(manifest(['link.bin']), /cannot read weights shard '.*link\.bin': leads outside '.*model' through a symlink: it resolves to '.*outside\.bin'/);
  });

  it('refuses a FIFO without blocking, and a directory', () => {
    mkfifo(path.join(dir, 'fifo.bin'));
    fs.mkdirSync(path.join(dir, 'dir.bin'));
    expect(() => readTfjsWeights(manifest(['fifo.bin']))).toThrow(new TfjsImportError(`cannot read weights shard '${path.join(dir, 'fifo.bin')}': is a FIFO, not a regular file`));
    expect(() => readTfjsWeights(manifest(['dir.bin']))).toThrow(new TfjsImportError(`cannot read weights shard '${path.join(dir, 'dir.bin')}': is a directory, not a regular file`));
    expectCliRefuses(manifest(['fifo.bin']), /cannot read weights shard '.*fifo\.bin': is a FIFO, not a regular file$/);
  });

  it('refuses a shard larger than what its weight group still needs, before reading it', () => {
    fs.writeFileSync(path.join(dir, 'big.bin'), new Uint8Array(5));
    fs.writeFileSync(path.join(dir, 'three.bin'), new Uint8Array(3));
    expect(() => readTfjsWeights(manifest(['big.bin']))).toThrow(new TfjsImportError(`weights shard '${path.join(dir, 'big.bin')}' is 5 bytes, more than the 4 bytes weight group 0 of the manifest still needs`));
    // The cap applies to what is left of the group: 3 bytes read, then a 3-byte shard is 2 too many.
    expect(() => readTfjsWeights(manifest(['three.bin', 'three.bin']))).toThrow(/weights shard '.*three\.bin' is 3 bytes, more than the 1 bytes weight group 0/);
    // A sparse 4 GiB file: refused from its size alone, nothing is read or allocated.
    fs.truncateSync(path.join(dir, 'big.bin'), 4 * 1024 ** 3);
    expectCliRefuses(manifest(['big.bin']), /weights shard '.*big\.bin' is 4294967296 bytes, more than the 4 bytes/);
  });

  it('refuses a manifest over the size cap before parsing it, a FIFO manifest, and one declaring too much', () => {
    const big = path.join(dir, 'big.json');
    fs.writeFileSync(big, '[');
    fs.truncateSync(big, MAX_TFJS_MANIFEST_BYTES + 1);
    expect(() => readTfjsWeights(big)).toThrow(new TfjsImportError(`cannot read tfjs weights manifest '${big}': is ${MAX_TFJS_MANIFEST_BYTES + 1} bytes, more than the ${MAX_TFJS_MANIFEST_BYTES} allowed`));
    expectCliRefuses(big, /cannot read tfjs weights manifest '.*big\.json': is 16777217 bytes, more than the 16777216 allowed$/);
    const fifo = path.join(dir, 'fifo.json');
    mkfifo(fifo);
    expectCliRefuses(fifo, /cannot read tfjs weights manifest '.*fifo\.json': is a FIFO, not a regular file$/);
    const huge = path.join(dir, 'huge.json');
    fs.writeFileSync(huge, JSON.stringify([{ paths: ['w.bin'], weights: [{ name: 'h', shape: [65536, 65536], dtype: 'float32' }] }]));
    expect(() => readTfjsWeights(huge)).toThrow(/weight 'h': the manifest declares more than 1073741824 bytes of weights/);
  });
});

describe('ONNX external data', () => {
  let root: string;
  let dir: string;
  let outDir: string;
  let raw: Uint8Array;

  beforeEach(() => {
    root = tempDir('hostile-ext');
    dir = path.join(root, 'model');
    outDir = path.join(root, 'out');
    fs.mkdirSync(dir);
    fs.mkdirSync(outDir);
    const w = (convBnModel({ bias: true, cin: 8, cout: 16 }).graph as NonNullable<ModelProto['graph']>).initializer.find((t) => t.name === 'W');
    raw = w?.raw_data as Uint8Array;
    fs.writeFileSync(path.join(dir, 'w.bin'), raw);
    fs.writeFileSync(path.join(root, 'outside.bin'), raw);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A Conv+BN model in `dir` whose weight W is stored at `location`. */
  function model(location: string, name = 'in.onnx'): string {
    const m = convBnModel({ bias: true, cin: 8, cout: 16 });
    const g = m.graph as NonNullable<ModelProto['graph']>;
    const i = g.initializer.findIndex((t) => t.name === 'W');
    const ext: TensorProto = { ...g.initializer[i], data_location: 1, external_data: [{ key: 'location', value: location }, { key: 'length', value: String(raw.byteLength) }] };
    delete ext.raw_data;
    g.initializer[i] = ext;
    const file = path.join(dir, name);
    fs.writeFileSync(file, encodeModel(m));
    return file;
  }

  function read(file: string): Uint8Array[] {
    const reader = new ExternalDataReader(path.dirname(file));
    try {
      return decodeModel(fs.readFileSync(file)).graph?.initializer.filter((t) => t.data_location === 1).map((t) => reader.read(t)) ?? [];
    } finally {
      reader.close();
    }
  }

  function expectCliRefuses(input: string, pattern: RegExp): void {
    expectRefused(cli('convert', '--input', input, '--output', path.join(outDir, 'out.onnx')), pattern);
    expect(listDir(outDir)).toEqual([]);
  }

  it('reads locations inside the directory, through inside symlinks and a symlinked model directory (the control case)', () => {
    fs.symlinkSync('w.bin', path.join(dir, 'alias.bin'));
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync('../w.bin', path.join(dir, 'sub', 'up.bin'));
    fs.symlinkSync(dir, path.join(root, 'model-link'));
    for (const location of ['w.bin', './w.bin', 'alias.bin', 'sub/up.bin']) expect(read(model(location))).toEqual([raw]);
    // The model's directory itself reached through a symlink: compared by real path, still inside.
    model('w.bin');
    expect(read(path.join(root, 'model-link', 'in.onnx'))).toEqual([raw]);
  });

  it("refuses a '..' component and an absolute location", () => {
    for (const [location, why] of [
      ['../outside.bin', "points outside the model's directory (it has a '..' component)"],
      ['sub/../w.bin', "points outside the model's directory (it has a '..' component)"],
      [path.join(root, 'outside.bin'), "must be a relative path inside the model's directory (it is an absolute path)"],
    ]) {
      expect(() => read(model(location))).toThrow(new TensorDataError(`tensor 'W': external data location '${location}' ${why}`));
    }
    expectCliRefuses(model(path.join(root, 'outside.bin')), /tensor 'W': external data location '.*outside\.bin' must be a relative path inside the model's directory \(it is an absolute path\)$/);
  });

  it('refuses a symlink leading outside, at the last component or any earlier one', () => {
    fs.symlinkSync(path.join(root, 'outside.bin'), path.join(dir, 'link.bin'));
    fs.symlinkSync(root, path.join(dir, 'rootlink'));
    fs.mkdirSync(path.join(dir, 'a'));
    fs.symlinkSync('../..', path.join(dir, 'a', 'b'));
    for (const location of ['link.bin', 'rootlink/outside.bin', 'a/b/outside.bin']) {
      expect(() => read(model(location))).toThrow(
        new TensorDataError(`tensor 'W': external data location '${location}' leads outside '${fs.realpathSync(dir)}' through a symlink: it resolves to '${fs.realpathSync(path.join(root, 'outside.bin'))}'; it must stay inside the model's directory`),
      );
    }
    expectCliRefuses(model('a/b/outside.bin'), /^model: input '.*in\.onnx': tensor 'W': external data location 'a\/b\/outside\.bin' leads outside '.*model' through a symlink: it resolves to '.*outside\.bin'; it must stay inside the model's directory$/);
  });

  it('refuses a FIFO without blocking, and a directory', () => {
    mkfifo(path.join(dir, 'fifo.bin'));
    fs.mkdirSync(path.join(dir, 'dir.bin'));
    expect(() => read(model('fifo.bin'))).toThrow(new TensorDataError("tensor 'W': cannot open external data file 'fifo.bin' (is a FIFO, not a regular file)"));
    expect(() => read(model('dir.bin'))).toThrow(new TensorDataError("tensor 'W': cannot open external data file 'dir.bin' (is a directory, not a regular file)"));
    expectCliRefuses(model('fifo.bin'), /tensor 'W': cannot open external data file 'fifo\.bin' \(is a FIFO, not a regular file\)$/);
  });
});

describe('model files given on the command line', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('hostile-input');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('convert and inspect refuse a FIFO or a directory as input at once (exit 2), instead of blocking', () => {
    const fifo = path.join(dir, 'model.onnx');
    mkfifo(fifo);
    const out = path.join(dir, 'out.onnx');
    expectRefused(cli('convert', '--input', fifo, '--output', out), /^model: cannot read input '.*model\.onnx': is a FIFO, not a regular file$/);
    expectRefused(cli('convert', '--input', dir, '--output', out), /^model: cannot read input '.*': is a directory, not a regular file$/);
    expectRefused(cli('inspect', '--input', fifo), /^model: cannot read input '.*model\.onnx': is a FIFO, not a regular file$/);
    expectRefused(cli('inspect', '--input', dir), /^model: cannot read input '.*': is a directory, not a regular file$/);
    expect(listDir(dir)).toEqual(['model.onnx']);
  });

  it('the Caffe import refuses a FIFO prototxt, caffemodel or labels file (exit 2) instead of blocking', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'caffe-'));
    const fifo = path.join(sub, 'deploy.prototxt');
    mkfifo(fifo);
    mkfifo(path.join(sub, 'fifo.caffemodel'));
    mkfifo(path.join(sub, 'labels.txt'));
    fs.writeFileSync(path.join(sub, 'real.prototxt'), 'name: "n"\n');
    fs.writeFileSync(path.join(sub, 'w.caffemodel'), new Uint8Array(0));
    const before = listDir(sub);
    const out = path.join(sub, 'o.onnx');
    expectRefused(cli('convert', '--prototxt', fifo, '--caffemodel', path.join(sub, 'w.caffemodel'), '--output', out), /^model: cannot read prototxt '.*deploy\.prototxt': is a FIFO, not a regular file$/);
    expectRefused(cli('import-caffe', '--prototxt', path.join(sub, 'real.prototxt'), '--caffemodel', path.join(sub, 'fifo.caffemodel'), '--output', out), /^model: cannot read caffemodel '.*fifo\.caffemodel': is a FIFO, not a regular file$/);
    expectRefused(
      cli('import-caffe', '--prototxt', path.join(sub, 'real.prototxt'), '--caffemodel', path.join(sub, 'w.caffemodel'), '--labels', path.join(sub, 'labels.txt'), '--output', out),
      /^model: cannot read labels file '.*labels\.txt': is a FIFO, not a regular file$/,
    );
    expect(listDir(sub)).toEqual(before);
  });
});
