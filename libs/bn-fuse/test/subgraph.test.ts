// BatchNormalization inside If branches and Loop bodies: folded in place in the subgraph, with
// weights that may live in the enclosing graph; outer-scope reads count as uses; new names are
// unique across the whole model. Checked numerically with onnxruntime for both If branches.
import * as ort from 'onnxruntime-node';
import { AttributeProto, DataType, GraphProto, ModelProto, NodeProto, TensorProto, attribute, decodeModel, encodeModel, makeFloatTensor, makeInt64Tensor, valueInfo } from '@edge-ssd/onnx-io';
import { Prng } from '@edge-ssd/prng';
import { foldBatchNorm } from '../src';
import { OnnxChecker, graphAttr, graphOf } from '@edge-ssd/onnx-io/testing';
import { itWithOnnxChecker, runOrt } from './helpers';

const checker = new OnnxChecker('subgraph');
afterAll(() => checker.cleanup());

const rng = new Prng(5);
const rand = (n: number, lo = -1, hi = 1) => Array.from({ length: n }, () => rng.uniform(lo, hi));

function node(op: string, input: string[], output: string[], name: string, attrs: AttributeProto[] = []): NodeProto {
  return { op_type: op, input, output, name, attribute: attrs, metadata_props: [] };
}

const conv3x3 = () => [attribute('kernel_shape', [3, 3]), attribute('pads', [1, 1, 1, 1])];

function graph(name: string, nodes: NodeProto[], initializer: TensorProto[], inputs: GraphProto['input'], outputs: GraphProto['output']): GraphProto {
  return { name, node: nodes, initializer, sparse_initializer: [], input: inputs, output: outputs, value_info: [], quantization_annotation: [], metadata_props: [] };
}

function bnParams(prefix: string, c: number): TensorProto[] {
  return [
    makeFloatTensor(`${prefix}_scale`, [c], rand(c, 0.3, 1.5).map((g, i) => (i % 2 ? -g : g))),
    makeFloatTensor(`${prefix}_B`, [c], rand(c)),
    makeFloatTensor(`${prefix}_mean`, [c], rand(c)),
    makeFloatTensor(`${prefix}_var`, [c], rand(c, 0.05, 3)),
  ];
}

const bnInputs = (x: string, prefix: string) => [x, `${prefix}_scale`, `${prefix}_B`, `${prefix}_mean`, `${prefix}_var`];
const eps = () => [attribute('epsilon', { float: 1e-4 })];
const Y = (name: string) => valueInfo(name, ['N', 6, 6, 6]);

/**
 * Main: X -> conv_main (W_main) -> bn_main (bn params 'p') -> main_y
 *       If(cond): then: conv(X, W_outer from main, B_then local) -> then_bn (params 'p' from main) -> then_out
 *                 else: conv(main_y, W_else local) -> else_bn (local params 'q') -> else_out
 *       Loop(2 trips, acc = main_y): body: conv(X, W_loop local) -> loop_bn -> t; acc + t
 */
function nestedModel(): ModelProto {
  const thenBranch = graph(
    'then',
    [node('Conv', ['X', 'W_outer', 'B_then'], ['then_c'], 'then_conv', conv3x3()), node('BatchNormalization', bnInputs('then_c', 'p'), ['then_out'], 'then_bn', eps())],
    [makeFloatTensor('B_then', [6], rand(6))],
    [],
    [Y('then_out')],
  );
  const elseBranch = graph(
    'else',
    [node('Conv', ['main_y', 'W_else'], ['else_c'], 'else_conv', conv3x3()), node('BatchNormalization', bnInputs('else_c', 'q'), ['else_out'], 'else_bn', eps())],
    [makeFloatTensor('W_else', [6, 6, 3, 3], rand(324)), ...bnParams('q', 6)],
    [],
    [Y('else_out')],
  );
  const body = graph(
    'body',
    [
      node('Conv', ['X', 'W_loop'], ['loop_c'], 'loop_conv', conv3x3()),
      node('BatchNormalization', bnInputs('loop_c', 'r'), ['loop_t'], 'loop_bn', eps()),
      node('Add', ['acc', 'loop_t'], ['acc_out'], 'loop_add'),
      node('Identity', ['cond_in'], ['cond_out'], 'loop_cond'),
    ],
    [makeFloatTensor('W_loop', [6, 4, 3, 3], rand(216)), ...bnParams('r', 6)],
    [valueInfo('iter', [], DataType.INT64), valueInfo('cond_in', [], DataType.BOOL), Y('acc')],
    [valueInfo('cond_out', [], DataType.BOOL), Y('acc_out')],
  );
  body.value_info.push(Y('loop_c'), Y('loop_t'));
  const main = graph(
    'nested',
    [
      node('Conv', ['X', 'W_main'], ['conv_main_out'], 'conv_main', conv3x3()),
      node('BatchNormalization', bnInputs('conv_main_out', 'p'), ['main_y'], 'bn_main', eps()),
      node('If', ['cond'], ['z'], 'branchy', [graphAttr('then_branch', thenBranch), graphAttr('else_branch', elseBranch)]),
      node('Loop', ['trips', 'keep_going', 'main_y'], ['loop_out'], 'looper', [graphAttr('body', body)]),
    ],
    [
      makeFloatTensor('W_main', [6, 4, 3, 3], rand(216)),
      makeFloatTensor('W_outer', [6, 4, 3, 3], rand(216)),
      ...bnParams('p', 6),
      makeInt64Tensor('trips', [], [2]),
      { ...makeFloatTensor('keep_going', [], [1]), data_type: DataType.BOOL, raw_data: Uint8Array.from([1]) },
    ],
    [valueInfo('X', ['N', 4, 6, 6]), valueInfo('cond', [], DataType.BOOL)],
    [Y('z'), Y('loop_out')],
  );
  return { ir_version: 8, opset_import: [{ domain: '', version: 17 }], graph: main, metadata_props: [], training_info: [], functions: [], producer_name: 'test' };
}

function subgraph(model: ModelProto, nodeName: string, attr: string): GraphProto {
  const n = graphOf(model).node.find((x) => x.name === nodeName);
  const g = n?.attribute.find((a) => a.name === attr)?.g;
  if (!g) throw new Error(`no ${nodeName}.${attr}`);
  return g;
}

describe('BatchNormalization in If branches and a Loop body', () => {
  const before = nestedModel();
  const beforeBytes = encodeModel(before);
  const result = foldBatchNorm(decodeModel(beforeBytes));
  const afterBytes = encodeModel(result.model);

  it('folds all four, and says in which graph each one was', () => {
    expect(result.report).toMatchObject({ batchNormFound: 4, batchNormFolded: 4, batchNormLeft: 0 });
    expect(result.report.folded.map((f) => [f.batchNorm, f.graph])).toEqual([
      ['bn_main', undefined],
      ['then_bn', "If 'branchy' then_branch"],
      ['else_bn', "If 'branchy' else_branch"],
      ['loop_bn', "Loop 'looper' body"],
    ]);
    const ops = (g: GraphProto) => g.node.map((n) => n.op_type);
    expect(ops(graphOf(result.model))).toEqual(['Conv', 'If', 'Loop']);
    expect(ops(subgraph(result.model, 'branchy', 'then_branch'))).toEqual(['Conv']);
    expect(ops(subgraph(result.model, 'looper', 'body'))).toEqual(['Conv', 'Add', 'Identity']);
  });

  it('puts fused tensors in the subgraph; outer weights and statistics no longer read anywhere are removed', () => {
    const then = subgraph(result.model, 'branchy', 'then_branch');
    expect(then.node[0].input).toEqual(['X', 'W_outer_bnfused', 'B_then_bnfused']);
    expect(then.node[0].output).toEqual(['then_out']);
    expect(then.initializer.map((t) => t.name)).toEqual(['W_outer_bnfused', 'B_then_bnfused']);
    // 'p' statistics were read by bn_main and then_bn: both folded, so they go.
    expect(graphOf(result.model).initializer.map((t) => t.name)).toEqual(['W_main_bnfused', 'conv_main_bias_bnfused', 'trips', 'keep_going']);
    const body = subgraph(result.model, 'looper', 'body');
    expect(body.initializer.map((t) => t.name)).toEqual(['W_loop_bnfused', 'loop_conv_bias_bnfused']);
    // value_info of the removed intermediate is dropped, the rest kept.
    expect(body.value_info.map((v) => v.name)).toEqual(['loop_t']);
  });

  it('gives every tensor a name unique across the whole model', () => {
    const names: string[] = [];
    const visit = (g: GraphProto) => {
      names.push(...g.initializer.map((t) => t.name ?? ''));
      for (const n of g.node) {
        names.push(...n.output.filter((o) => o));
        for (const a of n.attribute) if (a.g) visit(a.g);
      }
    };
    visit(graphOf(result.model));
    expect(new Set(names).size).toBe(names.length);
  });

  it.each([true, false])('matches the unfolded model in onnxruntime with cond = %s', async (cond) => {
    const X = Float32Array.from(rand(2 * 4 * 36));
    const feeds = () => ({ X: new ort.Tensor('float32', X, [2, 4, 6, 6]), cond: new ort.Tensor('bool', Uint8Array.from([cond ? 1 : 0]), []) });
    const a = await runOrt(beforeBytes, feeds());
    const b = await runOrt(afterBytes, feeds());
    for (const name of ['z', 'loop_out']) {
      const x = a[name].data as Float32Array;
      const y = b[name].data as Float32Array;
      expect(y.length).toBe(x.length);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1e-5 + 1e-4 * Math.abs(x[i])));
      expect(worst).toBeLessThanOrEqual(1);
    }
    checker.add(`nested-${cond}`, afterBytes);
  });

  it('is idempotent', () => {
    const again = foldBatchNorm(decodeModel(afterBytes));
    expect(again.report.batchNormFound).toBe(0);
    expect(Buffer.from(encodeModel(again.model)).equals(Buffer.from(afterBytes))).toBe(true);
  });
});

describe('outer-scope initializers read inside a subgraph count as uses', () => {
  /** Main Conv+BN on W; an If branch reads W too (Identity), so W is shared. */
  function model(): ModelProto {
    const m = nestedModel();
    const g = graphOf(m);
    const then = subgraph(m, 'branchy', 'then_branch');
    then.node.push(node('Identity', ['W_main'], ['w_seen'], 'peek'));
    then.output.push(valueInfo('w_seen', [6, 4, 3, 3]));
    const els = subgraph(m, 'branchy', 'else_branch');
    els.node.push(node('Identity', ['W_else'], ['w_else_seen'], 'peek2'));
    els.output.push(valueInfo('w_else_seen', [6, 6, 3, 3]));
    g.node[2].output.push('w_any');
    g.output.push(valueInfo('w_any', [6, 4, 3, 3]));
    return m;
  }

  it('clone (default): the main fold uses a copy and W stays for the branch', () => {
    const result = foldBatchNorm(model());
    expect(result.report.left).toEqual([]);
    expect(graphOf(result.model).node[0].input[1]).toBe('W_main_bnfused');
    expect(graphOf(result.model).initializer.map((t) => t.name)).toContain('W_main');
  });

  it("leave: the BN stays, with the shared-weight reason", () => {
    const result = foldBatchNorm(model(), { sharedWeights: 'leave' });
    expect(result.report.left.map((l) => [l.batchNorm, l.code])).toEqual([
      ['bn_main', 'shared-weight'],
      ['else_bn', 'shared-weight'],
    ]);
  });

  it('a BN in a subgraph whose producer is in the enclosing graph stays', () => {
    const m = nestedModel();
    const then = subgraph(m, 'branchy', 'then_branch');
    // then_bn now normalises the main graph's conv output directly.
    then.node = [node('BatchNormalization', bnInputs('conv_main_out', 'p'), ['then_out'], 'then_bn', eps())];
    then.initializer = [];
    const result = foldBatchNorm(m);
    const left = result.report.left.find((l) => l.batchNorm === 'then_bn');
    expect(left?.code).toBe('unsupported-producer');
    expect(left?.reason).toMatch(/enclosing graph/);
    // And bn_main is left too: conv_main_out has a second reader (inside the branch).
    expect(result.report.left.find((l) => l.batchNorm === 'bn_main')?.code).toBe('producer-output-shared');
  });
});

itWithOnnxChecker('the folded nested model passes onnx.checker.check_model(full_check=True)', () => {
  expect(checker.count).toBeGreaterThan(0);
  expect(checker.run()).toBe(checker.count);
});
