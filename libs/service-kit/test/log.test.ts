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
    expect(new Date(first.time).toISOString()).toBe(first.time);
    expect(JSON.parse(lines[1]!).err).toMatchObject({ type: 'Error', message: 'boom' });
  });

  it('never writes credentials', () => {
    const lines: string[] = [];
    const log = createLogger('gateway', 'info', (line) => lines.push(line));
    log.info('config', { auth: { tokens: ['s3cret'] }, token: 's3cret', headers: { authorization: 'Bearer s3cret' } });
    expect(lines[0]).not.toContain('s3cret');
  });
});
