import { barChartSvg } from '../src/chart';
import { quantile, ratio, summarize } from '../src/stats';

describe('benchmark statistics', () => {
  it('summarise samples as a median with spread, whatever their order', () => {
    expect(summarize([5, 1, 3, 2, 4])).toEqual({ n: 5, median: 3, p99: expect.closeTo(4.96, 6), min: 1, max: 5, iqr: 2 });
    expect(quantile([10, 20], 0.5)).toBe(15);
    expect(summarize([]).median).toBeNaN();
  });

  it('compare medians as a ratio', () => {
    expect(ratio(summarize([2, 4, 100]), summarize([1, 2, 3]))).toBe(2);
  });
});

describe('benchmark chart', () => {
  it('draws one bar per figure, scaled to the largest, with escaped labels', () => {
    const svg = barChartSvg('Throughput', 'images/s', [
      { label: 'raw <ORT>', value: 100, min: 90, max: 110 },
      { label: 'detector', value: 50 },
    ]);
    expect(svg.match(/<rect x="250"/g)).toHaveLength(2);
    expect(svg).toContain('raw &lt;ORT&gt;');
    expect(svg).toContain('>100.0<');
    expect(svg.startsWith('<svg')).toBe(true);
  });
});
