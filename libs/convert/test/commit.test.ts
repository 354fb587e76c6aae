// Committing a converted model with external data over a previous one: at every step (a crash
// can happen between any two) the output model on disk must read the data it was written with,
// either the previous pair or the new pair. Failures are injected through StagedOutput.commit()'s
// afterStep parameter (onnx-io's stageOutput, which convert() uses), and the disk is inspected at
// each step.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CommitStep, type ModelProto, type StagedOutput, ExternalDataReader, decodeModel, externalLocation, isExternalTensor, stageOutput } from '@edge-ssd/onnx-io';
import { convBnModel, tempDir, writeExternalModel } from '@edge-ssd/onnx-io/testing';
import { type ConvertOptions, VerificationFailedError, convert, openOnnxFile } from '../src';


/** Converts an ONNX file as `model convert --input` does. */
function convertFile(input: string, output: string, options?: ConvertOptions) {
  return convert(openOnnxFile(input), output, options);
}

interface Pair {
  model: Buffer;
  /** The data files the model references, by location. */
  data: Record<string, Buffer>;
}

/** The model at `file` and the data files it references; throws when one is missing. */
function pairAt(file: string): Pair {
  const model = fs.readFileSync(file);
  const data: Record<string, Buffer> = {};
  for (const t of decodeModel(model).graph?.initializer ?? []) {
    if (!isExternalTensor(t)) continue;
    const location = externalLocation(t).location;
    data[location] = fs.readFileSync(path.join(path.dirname(file), location));
  }
  return { model, data };
}

function samePair(a: Pair, b: Pair): boolean {
  const keys = Object.keys(a.data).sort();
  return a.model.equals(b.model) && JSON.stringify(keys) === JSON.stringify(Object.keys(b.data).sort()) && keys.every((k) => a.data[k].equals(b.data[k]));
}

function which(now: Pair, previous: Pair, next: Pair): 'previous' | 'new' | 'mix' {
  if (samePair(now, previous)) return 'previous';
  if (samePair(now, next)) return 'new';
  return 'mix';
}

const sha16 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);

describe('committing a converted model with external data', () => {
  let dir: string;
  let out: string;
  let previous: Pair;
  let previousData: string;
  let reader: ExternalDataReader;

  beforeEach(async () => {
    dir = tempDir('commit');
    out = path.join(dir, 'out.onnx');
    const input = writeExternalModel(dir, 'in.onnx');
    const first = await convertFile(input, out, { verify: false });
    previous = pairAt(out);
    previousData = first.externalDataPath as string;
    reader = new ExternalDataReader(dir);
  });
  afterEach(() => {
    reader.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Stages a different model (other weights) for `out`, as convert() does before committing. */
  function stageNew(model: ModelProto = convBnModel({ bias: true, cin: 8, cout: 16, seed: 2 })): { staged: StagedOutput; next: Pair } {
    const staged = stageOutput(model, out, reader);
    const name = path.basename(staged.finalDataPath as string);
    return { staged, next: { model: fs.readFileSync(staged.modelPath), data: { [name]: fs.readFileSync(staged.dataPath as string) } } };
  }

  it('names the data file by its sha256 and leaves the previous or the new pair after every step, never a mix', () => {
    expect(path.basename(previousData)).toBe(`out.onnx.${sha16(fs.readFileSync(previousData))}.data`);
    const { staged, next } = stageNew();
    const name = path.basename(staged.finalDataPath as string);
    expect(name).toBe(`out.onnx.${sha16(next.data[name])}.data`);
    expect(name).not.toBe(path.basename(previousData));
    const seen: [CommitStep, string][] = [];
    try {
      staged.commit([], (step) => seen.push([step, which(pairAt(out), previous, next)]));
    } finally {
      staged.discard();
    }
    expect(seen).toEqual([
      ['data-renamed', 'previous'],
      ['model-renamed', 'new'],
      ['previous-data-removed', 'new'],
    ]);
    // The previous data file, now unreferenced, is gone; nothing staged is left.
    expect(fs.readdirSync(dir).sort()).toEqual(['in.onnx', 'out.onnx', name, 'w.bin'].sort());
  });

  it('a crash after the data file is in place leaves the previous pair, readable', () => {
    const { staged, next } = stageNew();
    expect(() =>
      staged.commit([], (step) => {
        if (step === 'data-renamed') throw new Error('simulated crash');
      }),
    ).toThrow('simulated crash');
    staged.discard();
    expect(which(pairAt(out), previous, next)).toBe('previous');
    // The only trace: the new, unreferenced data file.
    expect(fs.readdirSync(dir).sort()).toEqual(['in.onnx', 'out.onnx', path.basename(previousData), path.basename(staged.finalDataPath as string), 'w.bin'].sort());
  });

  it('a crash after the model is in place leaves the new pair; the previous data file is merely unreferenced', () => {
    const { staged, next } = stageNew();
    expect(() =>
      staged.commit([], (step) => {
        if (step === 'model-renamed') throw new Error('simulated crash');
      }),
    ).toThrow('simulated crash');
    staged.discard();
    expect(which(pairAt(out), previous, next)).toBe('new');
    expect(fs.existsSync(previousData)).toBe(true);
  });

  it("keeps a previous data file the input reads, and removes the previous model's data under the former fixed name", () => {
    const kept = stageNew();
    kept.staged.commit([previousData]);
    kept.staged.discard();
    expect(fs.existsSync(previousData)).toBe(true);
    // A pair written by an older converter: out.onnx reading out.onnx.data.
    writeExternalModel(dir, 'out.onnx', 'out.onnx.data');
    const { staged } = stageNew(convBnModel({ bias: true, cin: 8, cout: 16, seed: 3 }));
    staged.commit();
    staged.discard();
    expect(fs.existsSync(path.join(dir, 'out.onnx.data'))).toBe(false);
    expect(Object.keys(pairAt(out).data)).toEqual([path.basename(staged.finalDataPath as string)]);
  });

  it('a model rename that fails takes back the new data file it had put in place', () => {
    const { staged } = stageNew();
    // A directory where the model should go: rename fails after the data file was put in place.
    fs.rmSync(out);
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep'), 'x');
    expect(() => staged.commit()).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    staged.discard();
    expect(fs.existsSync(staged.finalDataPath as string)).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(['in.onnx', 'out.onnx', path.basename(previousData), 'w.bin'].sort());
  });

  it('a conversion that fails verification leaves the previous pair byte for byte, and nothing else', async () => {
    const input = writeExternalModel(dir, 'in2.onnx', 'w2.bin', 'w2.bin', 5);
    const before = fs.readdirSync(dir).sort();
    // A zero tolerance: the fold's float rounding alone exceeds it, a real verification failure.
    const failed = convertFile(input, out, { rtol: 0, atol: 0 });
    await expect(failed).rejects.toThrow(VerificationFailedError);
    const err = (await failed.catch((e: unknown) => e)) as VerificationFailedError;
    expect(err.message).toMatch(/^verification failed: max abs error .* exceeds atol 0 \+ rtol 0 \* \|ref\|; nothing written$/);
    expect(err.result.verification?.ok).toBe(false);
    expect(err.result.verification?.maxAbsError).toBeGreaterThan(0);
    // The result names the data file that would have been written; it is not there.
    expect(fs.existsSync(err.result.externalDataPath as string)).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(samePair(pairAt(out), previous)).toBe(true);
    // With the default tolerance the same conversion passes: the failure was the tolerance.
    await convertFile(input, out);
    expect(samePair(pairAt(out), previous)).toBe(false);
  });
});
