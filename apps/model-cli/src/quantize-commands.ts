// `model quantize`: an fp32 (BatchNorm-folded) SSD model and calibration images (or a calibration
// table) to a static INT8 QDQ model, checked against fp32 detections on the image sets before it
// is written.
import { AgreementError, CALIBRATION_METHODS, type QuantizeResult, formatQuantizeReport, quantize } from '@edge-ssd/quantize';
import { writeFileAtomic } from '@edge-ssd/onnx-io';
import { UsageError, choiceOption, numberOption, parse, requiredOption, stringOption } from './args';

export const QUANTIZE_USAGE = [
  '  model quantize <fp32.onnx> --calibration <dir|image>... [--method minmax|percentile|entropy] [--percentile 99.99]',
  '                 [--keep-fp32 <heads|op:Type|node name glob>]... [--eval <dir|image>...] [--min-agreement 1]',
  '                 [--table out.json [--note text] | --from-table in.json] [--report report.json] [--no-timing] -o out.onnx',
].join('\n');

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  calibration: { type: 'string', multiple: true },
  method: { type: 'string' },
  percentile: { type: 'string' },
  'keep-fp32': { type: 'string', multiple: true },
  eval: { type: 'string', multiple: true },
  'min-agreement': { type: 'string' },
  table: { type: 'string' },
  note: { type: 'string' },
  'from-table': { type: 'string' },
  report: { type: 'string' },
  timing: { type: 'boolean' },
} as const;

function list(value: unknown): string[] {
  return Array.isArray(value) ? (value as string[]) : [];
}

/** The report as JSON: the table without its ranges (they are in the table file), the spec by name. */
function reportJson(r: QuantizeResult): string {
  return `${JSON.stringify({ ...r, spec: r.spec?.name ?? null, table: { ...r.table, ranges: undefined } }, null, 2)}\n`;
}

export async function runQuantize(args: readonly string[]): Promise<number> {
  const p = parse(args, OPTIONS, 1);
  const input = p.positionals[0];
  if (input === undefined) throw new UsageError('quantize needs the fp32 model');
  const output = requiredOption(p, 'output');
  const calibration = list(p.values.calibration);
  const fromTable = stringOption(p, 'from-table');
  if ((calibration.length > 0) === (fromTable !== undefined)) throw new UsageError('give either --calibration images or --from-table');
  if (fromTable !== undefined && ['table', 'method', 'percentile', 'note'].some((k) => p.values[k] !== undefined)) throw new UsageError('--table, --method, --percentile and --note apply to calibration, not to --from-table');
  const method = choiceOption(p, 'method', CALIBRATION_METHODS);
  const percentile = numberOption(p, 'percentile');
  if (percentile !== undefined && (method ?? 'percentile') !== 'percentile') throw new UsageError('--percentile applies to --method percentile');
  if (percentile !== undefined && !(percentile > 0 && percentile <= 100)) throw new UsageError('--percentile must be in (0, 100]');
  const minAgreement = numberOption(p, 'min-agreement');
  if (minAgreement !== undefined && minAgreement > 1) throw new UsageError('--min-agreement must be between 0 and 1');
  const report = stringOption(p, 'report');
  let result: QuantizeResult;
  try {
    result = await quantize(input, output, {
      ...(calibration.length > 0 ? { calibration } : {}),
      ...(fromTable === undefined ? {} : { fromTable }),
      ...(method === undefined ? {} : { method }),
      ...(percentile === undefined ? {} : { percentile }),
      ...(minAgreement === undefined ? {} : { minAgreement }),
      keepFp32: list(p.values['keep-fp32']),
      evaluation: list(p.values.eval),
      ...(stringOption(p, 'table') === undefined ? {} : { tableOutput: stringOption(p, 'table') }),
      ...(stringOption(p, 'note') === undefined ? {} : { note: stringOption(p, 'note') }),
      timing: p.values.timing !== false,
    });
  } catch (err) {
    if (!(err instanceof AgreementError)) throw err;
    console.log(formatQuantizeReport(err.result));
    if (report !== undefined) writeFileAtomic(report, reportJson(err.result));
    throw err;
  }
  if (report !== undefined) writeFileAtomic(report, reportJson(result));
  console.log(formatQuantizeReport(result));
  return 0;
}
