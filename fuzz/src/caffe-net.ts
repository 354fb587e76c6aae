// The smallest Caffe SSD that exercises the importer: Convolution + BatchNorm + Scale + ReLU, one
// head (loc and conf convolutions, Permute, Flatten, PriorBox), the softmax chain and
// DetectionOutput, with 1x1 kernels so that its weights fit a fuzzer's 4 kB inputs. Used as the
// fixed other half when the prototxt or the caffemodel is fuzzed.
import { type CaffeLayerData, type WriteCaffemodelOptions, writeCaffemodel } from '@edge-ssd/importers/testing';
import { Prng } from '@edge-ssd/prng';

export const TINY_PROTOTXT = `name: "tiny-ssd"
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" convolution_param { num_output: 4 bias_term: false kernel_size: 1 stride: 2 } }
layer { name: "c1/bn" type: "BatchNorm" bottom: "c1" top: "c1" batch_norm_param { use_global_stats: true eps: 1e-5 } }
layer { name: "c1/scale" type: "Scale" bottom: "c1" top: "c1" scale_param { bias_term: true } }
layer { name: "c1/relu" type: "ReLU" bottom: "c1" top: "c1" }
layer { name: "loc" type: "Convolution" bottom: "c1" top: "loc" convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" flatten_param { axis: 1 } }
layer { name: "conf" type: "Convolution" bottom: "c1" top: "conf" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" flatten_param { axis: 1 } }
layer { name: "priorbox" type: "PriorBox" bottom: "c1" bottom: "data" top: "priorbox" prior_box_param { min_size: 4 flip: false clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "conf_out" type: "Flatten" bottom: "conf_softmax" top: "conf_out" flatten_param { axis: 1 } }
layer {
  name: "detection_out" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_out" bottom: "priorbox" top: "detection_out"
  include { phase: TEST }
  detection_output_param { num_classes: 2 share_location: true background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 10 } code_type: CENTER_SIZE keep_top_k: 10 confidence_threshold: 0.25 }
}
`;

/** The weight layers of TINY_PROTOTXT, seeded. */
function tinyLayers(seed = 1): CaffeLayerData[] {
  const rng = new Prng(seed);
  const rand = (n: number, lo = -1, hi = 1) => Array.from({ length: n }, () => rng.uniform(lo, hi));
  return [
    { name: 'c1', type: 'Convolution', blobs: [{ shape: [4, 3, 1, 1], data: rand(12) }] },
    { name: 'c1/bn', type: 'BatchNorm', blobs: [{ shape: [4], data: rand(4) }, { shape: [4], data: rand(4, 0.5, 2) }, { shape: [1], data: [1] }] },
    { name: 'c1/scale', type: 'Scale', blobs: [{ shape: [4], data: rand(4, 0.5, 1.5) }, { shape: [4], data: rand(4) }] },
    { name: 'loc', type: 'Convolution', blobs: [{ shape: [4, 4, 1, 1], data: rand(16) }, { shape: [4], data: rand(4) }] },
    { name: 'conf', type: 'Convolution', blobs: [{ shape: [2, 4, 1, 1], data: rand(8) }, { shape: [2], data: rand(2) }] },
  ];
}

export function tinyCaffemodel(options: WriteCaffemodelOptions = {}, seed = 1): Uint8Array {
  return writeCaffemodel(tinyLayers(seed), { name: 'tiny-ssd', ...options });
}
