import { ConfigError, envBool, envEnum, envInt, envString } from '../src';

describe('environment readers', () => {
  it('fall back to the default when a variable is unset or blank', () => {
    expect(envInt({}, 'PORT', 50051)).toBe(50051);
    expect(envInt({ PORT: '  ' }, 'PORT', 50051)).toBe(50051);
    expect(envString({}, 'HOST', '0.0.0.0')).toBe('0.0.0.0');
    expect(envBool({}, 'FLAG', true)).toBe(true);
  });

  it('parse valid values', () => {
    expect(envInt({ PORT: '8080' }, 'PORT', 1)).toBe(8080);
    expect(envBool({ FLAG: 'off' }, 'FLAG', true)).toBe(false);
    expect(envEnum({ LEVEL: 'warn' }, 'LEVEL', ['info', 'warn'] as const, 'info')).toBe('warn');
  });

  it('reject bad values naming the variable', () => {
    expect(() => envInt({ PORT: '80x' }, 'PORT', 1)).toThrow(new ConfigError('PORT must be an integer, got "80x"'));
    expect(() => envInt({ PORT: '0' }, 'PORT', 1, { min: 1 })).toThrow('PORT must be >= 1, got 0');
    expect(() => envInt({ PORT: '70000' }, 'PORT', 1, { max: 65535 })).toThrow('PORT must be <= 65535');
    expect(() => envBool({ FLAG: 'maybe' }, 'FLAG', true)).toThrow('FLAG must be true or false');
    expect(() => envEnum({ LEVEL: 'loud' }, 'LEVEL', ['info'] as const, 'info')).toThrow('LEVEL must be one of info');
  });
});
