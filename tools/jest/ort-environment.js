// Jest environment for every project (tests run onnxruntime-node in-process in several).
//
// Jest runs each test file in its own V8 context, with its own Float32Array etc. onnxruntime-node's
// native binding creates output tensors' typed arrays in Node's main context, and
// onnxruntime-common then rejects them (`data instanceof Float32Array` is false across contexts:
// "A float32 tensor's data must be type of function Float32Array()"). Sharing the main context's
// typed-array constructors with the test context makes both sides agree.
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
