// The public contract ssd.v1 under buf, as `nx run protos:lint` checks it: `buf lint` (STANDARD,
// with the released file's exceptions in buf.yaml) and `buf breaking` (FILE rules) against the
// image of the last release in releases/. Then proof that both checks can fail: a copy of the proto
// tree with a field renumbered, a field renamed, or a lint violation must be refused.
//
// Skipped, not passed, when the buf binary (root devDependency @bufbuild/buf) cannot run.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const PROTOS = path.resolve(__dirname, '..');
const PROTO = path.join('ssd', 'v1', 'ssd.proto');
const BUF = path.join(PROTOS, '..', 'node_modules', '.bin', 'buf');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function buf(cwd: string, ...args: string[]): Run {
  const run = spawnSync(BUF, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

// Decided when the suite is defined, so a missing buf shows up as skipped tests.
const BUF_VERSION = existsSync(BUF) ? spawnSync(BUF, ['--version'], { encoding: 'utf8', timeout: 60_000 }) : undefined;
const available = BUF_VERSION?.status === 0;
const describeBuf = available ? describe : describe.skip;

/** The lint target's buf commands (project.json): the single place that names the last release. */
function lintCommands(): { lint: string; breaking: string; against: string } {
  const project = JSON.parse(readFileSync(path.join(PROTOS, 'project.json'), 'utf8')) as { targets: { lint: { options: { commands: string[] } } } };
  const commands = project.targets.lint.options.commands;
  const lint = commands.find((c) => /\bbuf lint\b/.test(c));
  const breaking = commands.find((c) => /\bbuf breaking\b/.test(c));
  const against = /--against (\S+)$/.exec(breaking ?? '')?.[1];
  if (!lint || !breaking || !against) throw new Error(`protos:lint does not run buf lint and buf breaking --against <image>: ${JSON.stringify(commands)}`);
  return { lint, breaking, against };
}

function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`expected exactly one ${JSON.stringify(from)} in ${PROTO}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

describeBuf(available ? `the ssd.v1 contract under buf ${BUF_VERSION.stdout.trim()}` : `the ssd.v1 contract under buf (skipped: ${BUF} does not run)`, () => {
  let release: string;
  const copies: string[] = [];

  beforeAll(() => {
    release = path.join(PROTOS, lintCommands().against);
  });

  afterAll(() => {
    for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of buf.yaml and the proto tree with ssd.proto edited (and any extra files added). */
  function copyWith(edit: (proto: string) => string, extra: Record<string, string> = {}): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'protos-buf-'));
    copies.push(dir);
    cpSync(path.join(PROTOS, 'buf.yaml'), path.join(dir, 'buf.yaml'));
    cpSync(path.join(PROTOS, 'ssd'), path.join(dir, 'ssd'), { recursive: true });
    const file = path.join(dir, PROTO);
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    for (const [name, text] of Object.entries(extra)) writeFileSync(path.join(dir, name), text);
    return dir;
  }

  const breaking = (cwd: string): Run => buf(cwd, 'breaking', '--against', release);

  it('is checked by nx run protos:lint in protos/, against a committed release image', () => {
    const { lint, breaking: breakingCommand, against } = lintCommands();
    expect(lint).toBe('cd {projectRoot} && buf lint');
    expect(breakingCommand).toBe(`cd {projectRoot} && buf breaking --against ${against}`);
    expect(against).toMatch(/^releases\/ssd-v\d+\.\d+\.\d+\.binpb$/);
    expect(existsSync(release)).toBe(true);
  });

  it('passes buf lint with no output', () => {
    expect(buf(PROTOS, 'lint')).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('passes buf breaking against the last release with no output', () => {
    expect(breaking(PROTOS)).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('accepts an additive change: a new field with a new number (the checks are not just diffs)', () => {
    const dir = copyWith((proto) => replaceOnce(proto, '  repeated uint32 class_ids = 5;\n', '  repeated uint32 class_ids = 5;\n  bool include_masks = 6;\n'));
    expect(buf(dir, 'lint')).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(breaking(dir)).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('refuses a renumbered field, naming it', () => {
    const dir = copyWith((proto) => replaceOnce(proto, 'uint32 top_k = 3;', 'uint32 top_k = 9;'));
    const run = breaking(dir);
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain('field "3" with name "top_k" on message "DetectOptions"');
  });

  it('refuses a renamed field (same number and type), naming it', () => {
    const dir = copyWith((proto) => replaceOnce(proto, 'uint32 keep_top_k = 4;', 'uint32 max_detections = 4;'));
    const run = breaking(dir);
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain('Field "4" on message "DetectOptions" changed name from "keep_top_k" to "max_detections"');
  });

  it('fails buf lint on a lint violation in the released file', () => {
    const dir = copyWith((proto) => replaceOnce(proto, '  repeated uint32 class_ids = 5;\n', '  repeated uint32 class_ids = 5;\n  bool includeMasks = 6;\n'));
    const run = buf(dir, 'lint');
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain('Field name "includeMasks" should be lower_snake_case');
  });

  it("keeps the released file's exceptions to that file: a new file gets every STANDARD rule", () => {
    const extra = 'syntax = "proto3";\n\npackage ssd.v1;\n\nenum Colour {\n  COLOUR_UNSPECIFIED = 0;\n  RED = 1;\n}\n';
    const dir = copyWith((proto) => proto, { [path.join('ssd', 'v1', 'colour.proto')]: extra });
    const run = buf(dir, 'lint');
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain('ssd/v1/colour.proto:7:3:Enum value name "RED" should be prefixed with "COLOUR_"');
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
  });
});
