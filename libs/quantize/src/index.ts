// @edge-ssd/quantize: static INT8 quantization of an SSD model in onnxruntime's QDQ format:
// calibration through the detector's own preprocessing, a calibration table, the QDQ rewrite, and
// the agreement of INT8 detections with fp32 ones.
export { CALIBRATION_METHODS, parseTable, serializeTable } from './table';
export { AgreementError, type QuantizeResult, quantize, quantizeFromTable } from './pipeline';
export { formatQuantizeReport } from './report';
export { type Agreement, compareDetections, DEFAULT_CRITERIA, summarise as summariseAgreement } from './agreement';
