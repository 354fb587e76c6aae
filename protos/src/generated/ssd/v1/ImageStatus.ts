// Original file: protos/ssd/v1/ssd.proto


/**
 * code is a gRPC status code number (0 = OK, 3 = INVALID_ARGUMENT, 8 = RESOURCE_EXHAUSTED, ...).
 */
export interface ImageStatus {
  'code'?: (number);
  'message'?: (string);
}

/**
 * code is a gRPC status code number (0 = OK, 3 = INVALID_ARGUMENT, 8 = RESOURCE_EXHAUSTED, ...).
 */
export interface ImageStatus__Output {
  'code': (number);
  'message': (string);
}
