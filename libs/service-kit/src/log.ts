// Structured logs (pino): one JSON object per line on stdout with an ISO time, a level name,
// the service and the message, so a cluster's log pipeline parses them without a format
// definition. Call sites use (message, fields); credentials are redacted wherever they appear.
import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const REDACTED_PATHS = ['token', 'tokens', 'authorization', 'password', 'key', '*.token', '*.tokens', '*.authorization', '*.password', '*.key'];

export function createLogger(service: string, level: LogLevel = 'info', write?: (line: string) => void): Logger {
  const destination = write ? { write: (chunk: string) => write(chunk.replace(/\n$/, '')) } : pino.destination({ dest: 1, sync: true });
  const base = pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
  return {
    debug: (msg, fields) => base.debug(fields ?? {}, msg),
    info: (msg, fields) => base.info(fields ?? {}, msg),
    warn: (msg, fields) => base.warn(fields ?? {}, msg),
    error: (msg, fields) => base.error(fields ?? {}, msg),
  };
}
