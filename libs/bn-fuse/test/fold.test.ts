import { AttributeType, DataType, GraphProto, ModelProto, concatChunks, decodeModel, encodeModel, encodeModelChunks, lazyData, makeFloatTensor, readTensorFloat64, valueInfo } from '@edge-ssd/onnx-io';
import { FoldResult, foldBatchNorm, verifyFold } from '../src';
import { expectedFold, worstToleranceRatio } from '../src/testing';
import { convBnModel, graphOf, initializer, nodeNamed, opTypes } from '@edge-ssd/onnx-io/testing';

function checkFoldedFormula(before: ModelProto, after: FoldResult, dataType: number = DataType.FLOAT): void {
  const bn = nodeNamed(before, 'bn');
  const conv = nodeNamed(before, 'conv');
  const fused = nodeNamed(after.model, 'conv');
  const expected = expectedFold(before, bn, conv);
  const w = initializer(after.model, fused.input[1]);
  const b = initializer(after.model, fused.input[2]);
  expect(w.data_type).toBe(dataType);
  expect(b.data_type).toBe(before.graph?.initializer.find((t) => t.name === conv.input[2])?.data_type ?? dataType);
  const rtol = dataType === DataType.FLOAT16 ? 1e-3 : dataType === DataType.DOUBLE ? 1e-12 : 1e-6;
  expect(worstToleranceRatio(readTensorFloat64(w), expected.w, rtol, 1e-30)).toBeLessThanOrEqual(1);
  expect(worstToleranceRatio(readTensorFloat64(b), expected.b, rtol, 1e-30)).toBeLessThanOrEqual(1);
}

describe('foldBatchNorm on small graphs', () => {
  it.each([
    ['dense conv with bias', { group: 1, bias: true }],
    ['dense conv without bias', { group: 1, bias: false }],
    ['depthwise conv (group = C) without bias', { cin: 6, cout: 6, group: 6, bias: false }],
    ['depthwise conv with bias', { cin: 6, cout: 6, group: 6, bias: true }],
    ['grouped conv (group 2, channel multiplier 3)', { cin: 4, cout: 6, group: 2, bias: true }],
    ['1x1 conv', { kernel: 1, bias: false }],
  ])('folds a %s exactly and the outputs match', async (_what, options) => {
    const before = convBnModel(options);
    const result = foldBatchNorm(before);
    expect(result.report.batchNormFolded).toBe(1);
    expect(opTypes(result.model)).toEqual(['Conv']);
    checkFoldedFormula(before, result);
    const v = await verifyFold(encodeModel(before), encodeModel(result.model));
    expect(v.ok).toBe(true);
  });

  it("uses each node's epsilon attribute, and 1e-5 when it is absent", () => {
    const tiny = [1e-6, 0.5, 1e-7, 2, 1, 1e-6];
    for (const epsilon of [0.1, null]) {
      const before = convBnModel({ epsilon, variance: tiny });
      const result = foldBatchNorm(before);
      expect(result.report.folded[0].epsilon).toBe(Math.fround(epsilon ?? 1e-5));
      checkFoldedFormula(before, result);
    }
  });

  it.each([
    ['float16', DataType.FLOAT16],
    ['float64', DataType.DOUBLE],
  ])('keeps %s storage for the fused tensors, rounding once', (_what, dataType) => {
    const before = convBnModel({ dataType, bias: true });
    const result = foldBatchNorm(before);
    expect(result.report.batchNormFolded).toBe(1);
    checkFoldedFormula(before, result, dataType);
  });

  it('keeps the BN output name when it is a graph output (the Conv now produces it)', () => {
    const result = foldBatchNorm(convBnModel());
    const g = graphOf(result.model);
    expect(g.output.map((o) => o.name)).toEqual(['y']);
    expect(nodeNamed(result.model, 'conv').output).toEqual(['y']);
    expect(g.initializer.map((t) => t.name)).toEqual(['W_bnfused', 'conv_bias_bnfused']);
  });

  describe('leaves the BN in place, with a reason, when folding could change results', () => {
    function expectLeft(model: ModelProto, code: string): FoldResult {
      const result = foldBatchNorm(model);
      expect(result.report.batchNormFound).toBe(1);
      expect(result.report.batchNormFolded).toBe(0);
      expect(result.report.left).toHaveLength(1);
      expect(result.report.left[0]).toMatchObject({ batchNorm: 'bn', code });
      expect(result.report.left[0].reason.length).toBeGreaterThan(10);
      // Unchanged model: same bytes.
      expect(Buffer.from(encodeModel(result.model)).equals(Buffer.from(encodeModel(model)))).toBe(true);
      return result;
    }

    it('the conv output also feeds another node', () => {
      const m = convBnModel();
      graphOf(m).node.push({ input: ['conv_out'], output: ['z'], op_type: 'Relu', name: 'other', attribute: [], metadata_props: [] });
      graphOf(m).output.push(valueInfo('z', ['N', 6, 6, 6]));
      expectLeft(m, 'producer-output-shared');
    });

    it('the conv output is read inside a subgraph of another node', () => {
      const m = convBnModel();
      const branch = (name: string): GraphProto => ({
        node: [{ input: ['conv_out'], output: [`${name}_out`], op_type: 'Identity', name: `${name}_id`, attribute: [], metadata_props: [] }],
        name,
        initializer: [],
        sparse_initializer: [],
        input: [],
        output: [valueInfo(`${name}_out`, ['N', 6, 6, 6])],
        value_info: [],
        quantization_annotation: [],
        metadata_props: [],
      });
      const emptyAttr = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
      graphOf(m).initializer.push({ ...makeFloatTensor('cond', [], [1]), data_type: DataType.BOOL, raw_data: Uint8Array.from([1]) });
      graphOf(m).node.push({
        input: ['cond'],
        output: ['z'],
        op_type: 'If',
        name: 'branchy',
        attribute: [
          { ...emptyAttr, name: 'then_branch', type: AttributeType.GRAPH, g: branch('then') },
          { ...emptyAttr, name: 'else_branch', type: AttributeType.GRAPH, g: branch('else') },
        ],
        metadata_props: [],
      });
      graphOf(m).output.push(valueInfo('z', ['N', 6, 6, 6]));
      expectLeft(m, 'producer-output-shared');
    });

    it('the conv output is a graph output', () => {
      const m = convBnModel();
      graphOf(m).output.push(valueInfo('conv_out', ['N', 6, 6, 6]));
      expectLeft(m, 'producer-output-is-graph-output');
    });

    it('a BN input is not a constant initializer (a graph input)', () => {
      const m = convBnModel();
      const g = graphOf(m);
      g.initializer = g.initializer.filter((t) => t.name !== 'bn_mean');
      g.input.push(valueInfo('bn_mean', [6]));
      expectLeft(m, 'non-constant-input');
    });

    it('a BN input is an initializer that is also a graph input (overridable, IR >= 4)', () => {
      const m = convBnModel();
      graphOf(m).input.push(valueInfo('bn_var', [6]));
      expectLeft(m, 'non-constant-input');
    });

    it('the conv weight is produced by another node', () => {
      const m = convBnModel();
      const g = graphOf(m);
      const w = initializer(m, 'W');
      g.initializer = g.initializer.map((t) => (t === w ? { ...w, name: 'W_src' } : t));
      g.node.unshift({ input: ['W_src'], output: ['W'], op_type: 'Identity', name: 'w_id', attribute: [], metadata_props: [] });
      expectLeft(m, 'non-constant-input');
    });

    it("the conv weight is shared with another node, with sharedWeights: 'leave'", () => {
      const m = convBnModel();
      graphOf(m).node.push({ input: ['X', 'W'], output: ['z'], op_type: 'Conv', name: 'twin', attribute: [], metadata_props: [] });
      graphOf(m).output.push(valueInfo('z', ['N', 6, 4, 4]));
      const result = foldBatchNorm(m, { sharedWeights: 'leave' });
      expect(result.report.left[0]).toMatchObject({ batchNorm: 'bn', code: 'shared-weight' });
      expect(Buffer.from(encodeModel(result.model)).equals(Buffer.from(encodeModel(m)))).toBe(true);
    });

    it('the BN is in training mode (training_mode=1)', () => {
      const m = convBnModel();
      nodeNamed(m, 'bn').attribute.push({ name: 'training_mode', type: AttributeType.INT, i: 1, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] });
      expectLeft(m, 'training-mode');
    });

    it("the BN's optional outputs are used", () => {
      const m = convBnModel();
      nodeNamed(m, 'bn').output.push('running_mean', 'running_var');
      graphOf(m).output.push(valueInfo('running_mean', [6]));
      expectLeft(m, 'extra-outputs-used');
    });

    it('the BN input is not produced by a Conv', () => {
      const m = convBnModel();
      const g = graphOf(m);
      g.node.splice(1, 0, { input: ['conv_out'], output: ['relu_out'], op_type: 'Relu', name: 'relu', attribute: [], metadata_props: [] });
      nodeNamed(m, 'bn').input[0] = 'relu_out';
      expectLeft(m, 'unsupported-producer');
    });
  });

  it('folds when optional BN outputs exist but nothing reads them, and says so', () => {
    const m = convBnModel();
    nodeNamed(m, 'bn').output.push('running_mean', '');
    graphOf(m).value_info.push(valueInfo('running_mean', [6]), valueInfo('conv_out', ['N', 6, 6, 6]));
    const result = foldBatchNorm(m);
    expect(result.report.batchNormFolded).toBe(1);
    expect(result.report.notes.join(' ')).toContain('running_mean');
    expect(graphOf(result.model).value_info).toEqual([]);
  });

  it('never reuses an existing tensor name for the fused initializers', () => {
    const m = convBnModel({ bias: true });
    const g = graphOf(m);
    g.initializer.push(makeFloatTensor('W_bnfused', [1], [42]), makeFloatTensor('B_bnfused', [1], [43]));
    g.node.push({ input: ['W_bnfused', 'B_bnfused'], output: ['keep'], op_type: 'Add', name: 'keeper', attribute: [], metadata_props: [] });
    g.output.push(valueInfo('keep', [1]));
    const result = foldBatchNorm(m);
    const fused = nodeNamed(result.model, 'conv');
    expect(fused.input).toEqual(['X', 'W_bnfused_1', 'B_bnfused_1']);
    expect(readTensorFloat64(initializer(result.model, 'W_bnfused'))[0]).toBe(42);
    const names = graphOf(result.model).initializer.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('removes only initializers it orphaned: BN vectors still used by a kept BN stay', () => {
    // Two Conv -> BN branches sharing the BN vectors; the second conv output is also a graph output.
    const m = convBnModel();
    const g = graphOf(m);
    g.initializer.push(makeFloatTensor('W2', [6, 4, 3, 3], Array.from({ length: 216 }, (_, i) => Math.sin(i))), makeFloatTensor('unused', [1], [1]));
    g.node.push(
      { input: ['X', 'W2'], output: ['conv2_out'], op_type: 'Conv', name: 'conv2', attribute: [], metadata_props: [] },
      { input: ['conv2_out', 'bn_scale', 'bn_B', 'bn_mean', 'bn_var'], output: ['y2'], op_type: 'BatchNormalization', name: 'bn2', attribute: [], metadata_props: [] },
    );
    g.output.push(valueInfo('y2', ['N', 6, 4, 4]), valueInfo('conv2_out', ['N', 6, 4, 4]));
    const partial = foldBatchNorm(m);
    expect(partial.report.folded.map((f) => f.batchNorm)).toEqual(['bn']);
    expect(partial.report.left.map((l) => [l.batchNorm, l.code])).toEqual([['bn2', 'producer-output-is-graph-output']]);
    expect(partial.report.initializersRemoved).toEqual(['W']);
    const kept = graphOf(partial.model).initializer.map((t) => t.name);
    expect(kept).toEqual(expect.arrayContaining(['bn_scale', 'bn_B', 'bn_mean', 'bn_var', 'W2', 'unused']));

    g.output = g.output.filter((o) => o.name !== 'conv2_out');
    const full = foldBatchNorm(m);
    expect(full.report.batchNormFolded).toBe(2);
    expect(graphOf(full.model).initializer.map((t) => t.name).sort()).toEqual(['W2_bnfused', 'W_bnfused', 'conv2_bias_bnfused', 'conv_bias_bnfused', 'unused']);
  });

  it('folds a Conv -> BN -> BN chain into the Conv', async () => {
    const m = convBnModel({ bias: true });
    const g = graphOf(m);
    nodeNamed(m, 'bn').output[0] = 'mid';
    g.node.push({ input: ['mid', 'bn_var', 'bn_mean', 'bn_B', 'bn_var'], output: ['y'], op_type: 'BatchNormalization', name: 'bn_second', attribute: [], metadata_props: [] });
    const result = foldBatchNorm(m);
    expect(result.report.batchNormFolded).toBe(2);
    expect(opTypes(result.model)).toEqual(['Conv']);
    expect(graphOf(result.model).initializer).toHaveLength(2);
    const v = await verifyFold(encodeModel(m), encodeModel(result.model), { rtol: 1e-5, atol: 1e-6 });
    expect(v.ok).toBe(true);
  });

  it('keeps IR < 4 models valid: fused initializers are listed as graph inputs, removed ones are not', () => {
    const m = convBnModel();
    m.ir_version = 3;
    const g = graphOf(m);
    for (const t of g.initializer) g.input.push(valueInfo(t.name ?? '', t.dims.map(Number)));
    const result = foldBatchNorm(m);
    expect(result.report.batchNormFolded).toBe(1);
    expect(graphOf(result.model).input.map((v) => v.name)).toEqual(['X', 'W_bnfused', 'conv_bias_bnfused']);
  });

  it('honours the opset: BatchNormalization-6 without is_test=1 is training mode', () => {
    const m = convBnModel();
    m.opset_import = [{ domain: '', version: 6 }];
    expect(foldBatchNorm(m).report.left[0]?.code).toBe('training-mode');
    nodeNamed(m, 'bn').attribute.push({ name: 'is_test', type: AttributeType.INT, i: 1, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] });
    expect(foldBatchNorm(m).report.batchNormFolded).toBe(1);
  });

  it('counts BNs in function bodies and reports them as not folded', () => {
    const m = convBnModel();
    m.functions.push({
      name: 'fn',
      domain: 'local',
      input: ['a', 's', 'b', 'm', 'v'],
      output: ['o'],
      attribute: [],
      attribute_proto: [],
      node: [{ input: ['a', 's', 'b', 'm', 'v'], output: ['o'], op_type: 'BatchNormalization', name: 'fbn', attribute: [], metadata_props: [] }],
      opset_import: [{ domain: '', version: 17 }],
      value_info: [],
      metadata_props: [],
    });
    const result = foldBatchNorm(m);
    expect(result.report).toMatchObject({ batchNormFound: 2, batchNormFolded: 1, batchNormLeft: 1 });
    expect(result.report.left[0]).toMatchObject({ batchNorm: 'fbn', graph: "function 'fn'", code: 'unsupported-scope' });
  });
});

describe('shared weights (default policy: clone)', () => {
  it('folds into a copy of a weight another Conv reads; the other Conv keeps the original', async () => {
    const m = convBnModel({ bias: true });
    graphOf(m).node.push({ input: ['X', 'W', 'B'], output: ['z'], op_type: 'Conv', name: 'twin', attribute: [], metadata_props: [] });
    graphOf(m).output.push(valueInfo('z', ['N', 6, 4, 4]));
    const result = foldBatchNorm(m);
    expect(result.report.batchNormFolded).toBe(1);
    expect(nodeNamed(result.model, 'conv').input).toEqual(['X', 'W_bnfused', 'B_bnfused']);
    expect(nodeNamed(result.model, 'twin').input).toEqual(['X', 'W', 'B']);
    expect(graphOf(result.model).initializer.map((t) => t.name)).toEqual(['W', 'W_bnfused', 'B_bnfused', 'B']);
    expect(result.report.notes.join('\n')).toMatch(/weight 'W' is also read by 1 other input\(s\); folded into a copy/);
    const v = await verifyFold(encodeModel(m), encodeModel(result.model), { rtol: 1e-5, atol: 1e-6 });
    expect(v.outputs.map((o) => o.name)).toEqual(['y', 'z']);
    expect(v.ok).toBe(true);
  });

  it('two Conv+BN pairs sharing one weight get one fused copy each', async () => {
    const m = convBnModel();
    const g = graphOf(m);
    g.node.push(
      { input: ['X', 'W'], output: ['conv2_out'], op_type: 'Conv', name: 'conv2', attribute: [], metadata_props: [] },
      { input: ['conv2_out', 'bn_var', 'bn_mean', 'bn_B', 'bn_var'], output: ['y2'], op_type: 'BatchNormalization', name: 'bn2', attribute: [], metadata_props: [] },
    );
    g.output.push(valueInfo('y2', ['N', 6, 4, 4]));
    const result = foldBatchNorm(m);
    expect(result.report.batchNormFolded).toBe(2);
    expect(nodeNamed(result.model, 'conv').input[1]).toBe('W_bnfused');
    expect(nodeNamed(result.model, 'conv2').input[1]).toBe('W_bnfused_1');
    // The original is no longer read by anyone and is removed.
    expect(result.report.initializersRemoved).toContain('W');
    const v = await verifyFold(encodeModel(m), encodeModel(result.model));
    expect(v.outputs.map((o) => o.name)).toEqual(['y', 'y2']);
    expect(v.ok).toBe(true);
  });
});

describe('initializers that are also graph inputs', () => {
  function withInitializerInputs(): ModelProto {
    const m = convBnModel({ bias: true });
    const g = graphOf(m);
    for (const t of g.initializer) g.input.push(valueInfo(t.name ?? '', t.dims.map(Number)));
    return m;
  }

  it("IR >= 4, default 'leave': they can be overridden at run time, so the BN stays", () => {
    const result = foldBatchNorm(withInitializerInputs());
    expect(result.report.left[0]).toMatchObject({ code: 'non-constant-input' });
    expect(result.report.left[0].reason).toMatch(/overridden at run time/);
  });

  it("IR >= 4, initializerInputs: 'fold': folded, and the folded-away inputs are dropped", async () => {
    const m = withInitializerInputs();
    const result = foldBatchNorm(m, { initializerInputs: 'fold' });
    expect(result.report.batchNormFolded).toBe(1);
    expect(graphOf(result.model).input.map((v) => v.name)).toEqual(['X']);
    expect(result.report.notes.join('\n')).toMatch(/removed from the graph inputs: 'W', 'B', 'bn_scale'/);
    const v = await verifyFold(encodeModel(m), encodeModel(result.model), { rtol: 1e-5, atol: 1e-6 });
    expect(v.ok).toBe(true);
  });
});

describe('graph validity', () => {
  it('keeps value_info of surviving tensors and drops it for removed ones', () => {
    const m = convBnModel();
    const g = graphOf(m);
    g.value_info.push(valueInfo('conv_out', ['N', 6, 6, 6]), valueInfo('y', ['N', 6, 6, 6]), valueInfo('bn_var', [6]), valueInfo('X', ['N', 4, 6, 6]));
    const result = foldBatchNorm(m);
    expect(graphOf(result.model).value_info.map((v) => v.name)).toEqual(['y', 'X']);
  });

  it('keeps IR version, opsets (other domains too), producer, doc strings and metadata', () => {
    const m = convBnModel();
    m.opset_import.push({ domain: 'com.microsoft', version: 1 });
    m.doc_string = 'doc';
    m.model_version = 7;
    graphOf(m).doc_string = 'graph doc';
    const result = foldBatchNorm(m);
    expect(result.model).toMatchObject({ ir_version: m.ir_version, opset_import: m.opset_import, producer_name: 'test', doc_string: 'doc', model_version: 7, metadata_props: [{ key: 'note', value: 'kept' }] });
    expect(graphOf(result.model).doc_string).toBe('graph doc');
  });

  it('is deterministic and keeps names stable: node names, graph outputs, fused names', () => {
    const a = encodeModel(foldBatchNorm(convBnModel({ bias: true })).model);
    const b = encodeModel(foldBatchNorm(convBnModel({ bias: true })).model);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const folded = decodeModel(a);
    expect(folded.graph?.node.map((n) => [n.name, n.op_type, n.input, n.output])).toEqual([['conv', 'Conv', ['X', 'W_bnfused', 'B_bnfused'], ['y']]]);
  });

  it('deferWeights gives the same bytes, and still refuses values that overflow the dtype', () => {
    const model = convBnModel({ bias: true });
    const eager = encodeModel(foldBatchNorm(model).model);
    const deferred = foldBatchNorm(model, { deferWeights: true });
    const fused = graphOf(deferred.model).initializer[0];
    expect(lazyData(fused)?.byteLength).toBe(6 * 4 * 9 * 4);
    expect(fused.raw_data).toBeUndefined();
    expect(Buffer.from(concatChunks(encodeModelChunks(deferred.model))).equals(Buffer.from(eager))).toBe(true);
    expect(Buffer.from(encodeModel(deferred.model)).equals(Buffer.from(eager))).toBe(true);
    const f16 = convBnModel({ dataType: DataType.FLOAT16, variance: [0, 0, 0, 0, 0, 0], epsilon: 1e-12, gamma: [1e6, 1e6, 1e6, 1e6, 1e6, 1e6] });
    expect(foldBatchNorm(f16, { deferWeights: true }).report.left[0]?.code).toBe('invalid-statistics');
  });
});
