// @edge-ssd/convert: the conversion pipeline (input -> fold -> verify -> atomic write) and its
// report, for ONNX files and for whatever the importers front ends return.
export { type ConversionInput, importedInput, openOnnxFile } from './input';
export {
  type ConvertOptions,
  type ConvertResult,
  OutputError,
  VerificationFailedError,
  convert,
} from './pipeline';
export { formatReport, reportJson } from './report';
