// Input: each top is a graph input of the declared shape (the batch dimension becomes N).
import type { LayerHandler, LayerScope } from '../handler';
import { blobShape } from '../net';

export const input: LayerHandler = {
  types: ['Input'],
  infer(s: LayerScope) {
    const { layer } = s;
    if (layer.bottom.length !== 0) s.fail('an Input layer takes no bottoms');
    const shapes = layer.params.input_param?.shape ?? [];
    if (shapes.length !== 1 && shapes.length !== layer.top.length) s.fail(`has ${layer.top.length} tops but ${shapes.length} shapes`);
    const dims = layer.top.map((top, i) => blobShape(s.file, shapes.length === 1 ? shapes[0] : shapes[i], `Input layer '${layer.name}' top '${top}'`));
    return { emit: (g) => layer.top.map((top, i) => g.graphInput(top, dims[i])) };
  },
};
