// Original file: protos/ssd/v1/ssd.proto


export interface ModelInfo {
  'name'?: (string);
  /**
   * SHA-256 of the served ONNX file, hex.
   */
  'sha256'?: (string);
  'inputWidth'?: (number);
  'inputHeight'?: (number);
  /**
   * Index = class id.
   */
  'labels'?: (string)[];
  /**
   * True when the served graph has no BatchNormalization node left.
   */
  'bnFused'?: (boolean);
  'numPriors'?: (number);
  /**
   * Arithmetic of the served graph: "fp32", or "int8" for a quantized (QDQ) model.
   */
  'precision'?: (string);
}

export interface ModelInfo__Output {
  'name': (string);
  /**
   * SHA-256 of the served ONNX file, hex.
   */
  'sha256': (string);
  'inputWidth': (number);
  'inputHeight': (number);
  /**
   * Index = class id.
   */
  'labels': (string)[];
  /**
   * True when the served graph has no BatchNormalization node left.
   */
  'bnFused': (boolean);
  'numPriors': (number);
  /**
   * Arithmetic of the served graph: "fp32", or "int8" for a quantized (QDQ) model.
   */
  'precision': (string);
}
