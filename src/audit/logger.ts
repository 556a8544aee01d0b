import { pino, type Logger, type DestinationStream } from 'pino';
import { scrub, scrubDeep } from './scrub.js';

export type { Logger };

export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  /** Where lines go (tests capture them); default stdout. */
  destination?: DestinationStream;
}

/**
 * JSON lines by default. Every line is scrubbed: objects deeply, messages as text, so a token in a
 * volume name or a backend error can never reach the log. Audit lines carry `audit: true`.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const base = {
    level: opts.level,
    base: { name: 'pxd-auth-proxy' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label: string) => ({ level: label }),
      log: (obj: Record<string, unknown>) => scrubDeep(obj) as Record<string, unknown>,
    },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? scrub(a) : a)),
        );
      },
    },
    redact: { paths: ['token', '*.token', 'password', '*.password', 'authorization', '*.authorization'], censor: '***' },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino(base);
}

/** A logger that drops everything (library use, tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
