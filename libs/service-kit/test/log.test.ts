import { createLogger } from '../src';

describe('logger', () => {
  it('writes one JSON object per line and drops messages below its level', () => {
    const lines: string[] = [];
    const log = createLogger('detector', 'info', (line) => lines.push(line));
    log.debug('hidden');
    log.info('started', { port: 50052 });
    log.error('failed', { err: new Error('boom') });
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ level: 'info', service: 'detector', msg: 'started', port: 50052 });
    expect(JSON.parse(lines[1]!).err).toEqual({ name: 'Error', message: 'boom' });
  });
});
