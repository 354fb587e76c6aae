// Checks with independent tools for tests: Debian's python3-onnx (onnx.checker, full_check, and a
// byte-for-byte re-serialisation) and scratch directories.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelProto } from '../onnx-types';
import { encodeModel } from '../codec';

export const PYTHON = '/usr/bin/python3';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `edge-ssd-${prefix}-`));
}

/**
 * Collects models and runs `onnx.checker.check_model(full_check=True)` on all of them in one
 * Python process, plus a check that the reference serializer reproduces our bytes. Needs Debian's
 * python3-onnx; with SSD_SKIP_ONNX_CHECKER=1 a missing package skips the check.
 */
export class OnnxChecker {
  readonly dir: string;
  private readonly files: string[] = [];

  constructor(prefix: string) {
    this.dir = tempDir(`checker-${prefix}`);
  }

  /** Models above opset 17 / IR 8 are beyond python3-onnx 1.12 and are not queued. */
  add(name: string, model: ModelProto | Uint8Array): void {
    const bytes = model instanceof Uint8Array ? model : encodeModel(model);
    const file = path.join(this.dir, `${name.replace(/[^\w.-]+/g, '_')}.onnx`);
    fs.writeFileSync(file, bytes);
    this.files.push(file);
  }

  addFile(file: string): void {
    this.files.push(file);
  }

  get count(): number {
    return this.files.length;
  }

  /** Returns the number of models checked (0 when skipped). */
  run(): number {
    if (!pythonOnnxAvailable()) return 0;
    const script = [
      'import sys, onnx',
      'for p in sys.argv[1:]:',
      '    data = open(p, "rb").read()',
      '    m = onnx.load(p, load_external_data=False)',
      '    if max([o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] + [0]) > 17 or m.ir_version > 8:',
      '        print("skip", p); continue',
      // The reference serializer must reproduce our bytes exactly (canonical field order, packing).
      '    assert m.SerializeToString() == data, "re-serialised bytes differ: " + p',
      // On a loaded proto (external data read in): check_model(path, full_check=True) in onnx 1.12
      // writes the shape-inferred model back over the file.
      '    onnx.checker.check_model(onnx.load(p), full_check=True)',
      // With external data, also the path-based check (it validates the data file references).
      '    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer):',
      '        onnx.checker.check_model(p)',
      '    print("ok", p)',
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script, ...this.files], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`onnx.checker failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return r.stdout.split('\n').filter((l) => l.startsWith('ok ')).length;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let pythonOnnx: boolean | undefined;

/** True when Debian's python3 can import onnx; throws (unless SSD_SKIP_ONNX_CHECKER=1) when it cannot. */
export function pythonOnnxAvailable(): boolean {
  if (pythonOnnx === undefined) {
    const probe = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { encoding: 'utf8' });
    pythonOnnx = probe.status === 0;
    if (!pythonOnnx && process.env.SSD_SKIP_ONNX_CHECKER !== '1') {
      throw new Error(
        `cannot import the onnx Python package with ${PYTHON} (${(probe.stderr || String(probe.error)).trim().split('\n').pop()}). ` +
          'Install it with `apt-get install -y python3-onnx`, or set SSD_SKIP_ONNX_CHECKER=1 to skip these checks.',
      );
    }
  }
  return pythonOnnx;
}
