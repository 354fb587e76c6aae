import * as grpc from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { TokenAuth, parseTokenFile } from '../src/security/auth';
import { backoffMs, chunk, RETRYABLE } from '../src/service/dispatch';

describe('sharding', () => {
  it('cuts a batch into chunks of the configured size, in order', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([1, 2], 8)).toEqual([[1, 2]]);
    expect(chunk([], 3)).toEqual([]);
  });
});

describe('retries', () => {
  const policy = { maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 300 };

  it('back off exponentially with jitter, up to the ceiling', () => {
    expect(backoffMs(1, policy, () => 0)).toBe(25);
    expect(backoffMs(1, policy, () => 1)).toBe(50);
    expect(backoffMs(3, policy, () => 1)).toBe(200);
    expect(backoffMs(10, policy, () => 1)).toBe(300);
  });

  it('retry what another detector may not share, never a bad request', () => {
    expect(RETRYABLE.has(grpc.status.UNAVAILABLE)).toBe(true);
    expect(RETRYABLE.has(grpc.status.RESOURCE_EXHAUSTED)).toBe(true);
    expect(RETRYABLE.has(grpc.status.INVALID_ARGUMENT)).toBe(false);
    expect(RETRYABLE.has(grpc.status.DEADLINE_EXCEEDED)).toBe(false);
  });
});

describe('token authentication', () => {
  const bearer = (value: string): Metadata => {
    const m = new Metadata();
    m.set('authorization', value);
    return m;
  };

  it('is off without tokens', () => {
    expect(new TokenAuth([]).check(new Metadata())).toBeUndefined();
  });

  it('accepts any configured token and nothing else', () => {
    const auth = new TokenAuth(['alpha', 'beta']);
    expect(auth.check(bearer('Bearer beta'))).toBeUndefined();
    expect(auth.check(bearer('bearer   alpha'))).toBeUndefined();
    expect(auth.check(bearer('Bearer gamma'))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: 'invalid token' });
    expect(auth.check(bearer('Basic YWxwaGE='))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(auth.check(new Metadata())?.details).toMatch(/missing bearer token/);
  });

  it('reads token files without comments or blank lines', () => {
    expect(parseTokenFile('a\n# b\n\n c \n')).toEqual(['a', 'c']);
  });
});
