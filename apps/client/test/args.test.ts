import { parseClientArgs, UsageError } from '../src/args';
import { overlaySvg } from '../src/annotate';

describe('detect CLI arguments', () => {
  it('take files, a target and options, with defaults that mean "the model\'s own"', () => {
    expect(parseClientArgs(['a.jpg', 'b.png'], {})).toMatchObject({
      files: ['a.jpg', 'b.png'],
      target: 'localhost:50051',
      scoreThreshold: 0,
      iouThreshold: 0,
      classIds: [],
      deadlineMs: 60000,
      help: false,
    });
    expect(parseClientArgs(['--target', 'gw:1', '--score', '0.4', '--classes', '15,7', '--annotate', 'out', 'x.jpg'], {})).toMatchObject({
      target: 'gw:1',
      scoreThreshold: 0.4,
      classIds: [15, 7],
      annotateDir: 'out',
    });
    expect(parseClientArgs(['x.jpg'], { GATEWAY_TARGET: 'remote:443' }).target).toBe('remote:443');
  });

  it('reject bad usage with a message', () => {
    expect(() => parseClientArgs([], {})).toThrow(new UsageError('no image files given'));
    expect(() => parseClientArgs(['--score', '2', 'x.jpg'], {})).toThrow('--score must be a number in [0, 1]');
    expect(() => parseClientArgs(['--classes', 'person', 'x.jpg'], {})).toThrow('--classes takes class ids');
    expect(() => parseClientArgs(['--bogus', 'x.jpg'], {})).toThrow(UsageError);
    expect(parseClientArgs(['--help'], {}).help).toBe(true);
  });
});

describe('annotation overlay', () => {
  it('draws one box and one escaped label per detection, in pixels', () => {
    const svg = overlaySvg({
      id: 'x',
      status: { code: 0, message: '' },
      width: 200,
      height: 100,
      detections: [
        { classId: 1, label: 'face', score: 0.97, box: { xmin: 0, ymin: 0, xmax: 0, ymax: 0 }, pixelBox: { xmin: 10, ymin: 20, xmax: 60, ymax: 90 } },
        { classId: 2, label: 'a<b', score: 0.5, box: { xmin: 0, ymin: 0, xmax: 0, ymax: 0 }, pixelBox: { xmin: 0, ymin: 0, xmax: 5, ymax: 5 } },
      ],
    });
    expect(svg.match(/<rect /g)).toHaveLength(2);
    expect(svg).toContain('<rect x="10" y="20" width="50" height="70"');
    expect(svg).toContain('face 0.97');
    expect(svg).toContain('a&lt;b 0.50');
  });
});
