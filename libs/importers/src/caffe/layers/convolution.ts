// Convolution and Deconvolution (2-D, channels on axis 1) -> Conv / ConvTranspose with explicit
// symmetric pads; grouped and dilated kernels included.
import { fmt } from '../dims';
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';
import { spatial } from './params';

export const convolution: LayerHandler = {
  types: ['Convolution', 'Deconvolution'],
  infer(s: LayerScope) {
    const { layer } = s;
    const deconv = layer.type === 'Deconvolution';
    s.arity(1, 1);
    const x = s.tensorInput(0, 4);
    const p = layer.params.convolution_param ?? {};
    if ((p.axis ?? 1) !== 1) s.fail(`axis ${p.axis} is not supported (only channels on axis 1)`);
    const outC = p.num_output ?? 0;
    if (!(outC > 0)) s.fail('num_output must be > 0');
    const [kh, kw] = spatial(s, 'kernel', p.kernel_size, p.kernel_h, p.kernel_w, undefined);
    const [ph, pw] = spatial(s, 'pad', p.pad, p.pad_h, p.pad_w, 0);
    const [sh, sw] = spatial(s, 'stride', p.stride, p.stride_h, p.stride_w, 1);
    const [dh, dw] = spatial(s, 'dilation', p.dilation, undefined, undefined, 1);
    const group = p.group ?? 1;
    const bias = p.bias_term ?? true;
    const [n, inC, h, w] = x.shape;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1) s.fail('kernel, stride and dilation must be >= 1');
    if (group < 1 || inC % group !== 0 || outC % group !== 0) s.fail(`group ${group} must divide the input channels (${inC}) and num_output (${outC})`);
    const ekh = dh * (kh - 1) + 1;
    const ekw = dw * (kw - 1) + 1;
    const oh = deconv ? sh * (h - 1) + ekh - 2 * ph : Math.floor((h + 2 * ph - ekh) / sh) + 1;
    const ow = deconv ? sw * (w - 1) + ekw - 2 * pw : Math.floor((w + 2 * pw - ekw) / sw) + 1;
    if (oh < 1 || ow < 1) s.fail(`output size ${oh}x${ow} for input ${fmt(x.shape)} is empty`);
    // Caffe's blob layout: ConvolutionLayer [out, in/group, kh, kw], DeconvolutionLayer [in, out/group, kh, kw].
    const weightShape = deconv ? [inC, outC / group, kh, kw] : [outC, inC / group, kh, kw];
    return {
      weights: [{ layer, blobs: [{ role: 'weight', shape: weightShape }, ...(bias ? [{ role: 'bias', shape: [outC] }] : [])] }],
      emit(g, [weight, biasBlob]) {
        const inputs = [x.tensor, g.rawTensor(`${layer.name}/W`, weightShape, weight)];
        if (bias) inputs.push(g.rawTensor(`${layer.name}/B`, [outC], biasBlob));
        const attrs = { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], dilations: [dh, dw], group };
        return [tensorValue(g.node(deconv ? 'ConvTranspose' : 'Conv', inputs, g.topBase(0), attrs), [n, outC, oh, ow])];
      },
    };
  },
};
