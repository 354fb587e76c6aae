// Typed readers for environment variables. Each app parses its whole configuration in one
// place with these, so a bad value fails at start with the variable's name in the message.
export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function envString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function envOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function envInt(env: Env, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text)) throw new ConfigError(`${name} must be an integer, got "${text}"`);
  const value = Number(text);
  if (range.min !== undefined && value < range.min) throw new ConfigError(`${name} must be >= ${range.min}, got ${value}`);
  if (range.max !== undefined && value > range.max) throw new ConfigError(`${name} must be <= ${range.max}, got ${value}`);
  return value;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const text = raw(env, name)?.toLowerCase();
  if (text === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw new ConfigError(`${name} must be true or false, got "${text}"`);
}

export function envEnum<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${text}"`);
  }
  return text as T;
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30 };

/** A byte count as Kubernetes writes quantities: 1073741824, 1024Mi, 1Gi, 512M. */
function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kKmMgG]i?)?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]!;
  return Number.isFinite(value) ? Math.floor(value) : undefined;
}

export function envOptionalBytes(env: Env, name: string, range: { min?: number } = {}): number | undefined {
  const text = raw(env, name);
  if (text === undefined) return undefined;
  const value = parseBytes(text);
  if (value === undefined) throw new ConfigError(`${name} must be a byte count such as 1073741824, 1024Mi or 1Gi, got "${text}"`);
  if (range.min !== undefined && value < range.min) throw new ConfigError(`${name} must be >= ${range.min} bytes, got ${value}`);
  return value;
}
