import * as grpc from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { TokenAuth, parseTokenFile } from '../src/security/auth';

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
