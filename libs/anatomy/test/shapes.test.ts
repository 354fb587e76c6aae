// The anatomy's shape inference on the operator forms the real models do not all exercise: ONNX's
// auto_pad, ceil_mode, Reduce axes, broadcasting, Reshape with 0 and -1, and an unknown operator.
import { GraphBuilder, makeFloatTensor, makeInt64Tensor } from '@edge-ssd/onnx-io';
import { AnatomyError, inferShapes } from '../src/shapes';

function graph(extra?: (b: GraphBuilder) => void) {
  const b = new GraphBuilder('g');
  b.input('x', ['N', 3, 20, 20]);
  b.initializer(makeFloatTensor('w', [8, 3, 3, 3], new Float32Array(216)));
  b.initializer(makeFloatTensor('s', [1, 8, 1, 1], new Float32Array(8)));
  b.initializer(makeInt64Tensor('shape', [3], [0, -1, 4]));
  b.node('Conv', ['x', 'w'], ['c'], { strides: [2, 2], auto_pad: 'SAME_UPPER' }, 'conv');
  b.node('MaxPool', ['c'], ['p'], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, 'pool');
  b.node('ReduceSumSquare', ['p'], ['r'], { axes: [1], keepdims: 1 }, 'sumsq');
  b.node('Div', ['p', 'r'], ['d'], {}, 'div');
  b.node('Mul', ['d', 's'], ['m'], {}, 'mul');
  b.node('Transpose', ['m'], ['t'], { perm: [0, 2, 3, 1] }, 'perm');
  b.node('Reshape', ['t', 'shape'], ['y'], {}, 'reshape');
  b.node('Concat', ['y', 'y'], ['z'], { axis: 1 }, 'concat');
  b.node('Flatten', ['m'], ['f'], { axis: 1 }, 'flatten');
  extra?.(b);
  b.output('z', ['N', 100, 4]);
  return b.model({ irVersion: 8, opsetVersion: 17 }).graph!;
}

describe('shape inference', () => {
  it('follows SAME_UPPER, ceil_mode, Reduce keepdims, broadcasting, Reshape 0/-1, Concat and Flatten', () => {
    const { shapes } = inferShapes(graph(), undefined);
    expect(shapes.get('c')).toEqual([1, 8, 10, 10]);
    // ceil((10 - 3) / 2) + 1 = 5 (floor would give 4).
    expect(shapes.get('p')).toEqual([1, 8, 5, 5]);
    expect(shapes.get('r')).toEqual([1, 1, 5, 5]);
    expect(shapes.get('m')).toEqual([1, 8, 5, 5]);
    expect(shapes.get('y')).toEqual([1, 50, 4]);
    expect(shapes.get('z')).toEqual([1, 100, 4]);
    expect(shapes.get('f')).toEqual([1, 200]);
  });

  it('sizes the image input at another size, batch 1', () => {
    const { shapes } = inferShapes(graph(), { height: 40, width: 24 });
    expect(shapes.get('x')).toEqual([1, 3, 40, 24]);
    expect(shapes.get('c')).toEqual([1, 8, 20, 12]);
    // Pooling: ceil((20 - 3) / 2) + 1 = 10 and ceil((12 - 3) / 2) + 1 = 6.
    expect(shapes.get('p')).toEqual([1, 8, 10, 6]);
    expect(shapes.get('y')).toEqual([1, 120, 4]);
  });

  it('names the node of an operator it does not know, and a Reshape that cannot hold', () => {
    expect(() => inferShapes(graph((b) => b.node('Resize', ['m'], ['q'], {}, 'upsample')), undefined)).toThrow(new AnatomyError("node 'upsample': operator Resize is not supported by the anatomy report's shape inference"));
    const badReshape = (b: GraphBuilder) => {
      b.initializer(makeInt64Tensor('seven', [3], [0, 7, -1]));
      b.node('Reshape', ['m', 'seven'], ['q'], {}, 'reshape7');
    };
    expect(() => inferShapes(graph(badReshape), undefined)).toThrow(new AnatomyError("node 'reshape7' (Reshape): cannot reshape [1, 8, 5, 5] to [0, 7, -1]"));
  });
});
