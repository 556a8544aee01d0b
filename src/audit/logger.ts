import { pino, type Logger, type DestinationStream } from 'pino';
import { scrub, scrubDeep } from './scrub.js';

export type { Logger };

export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  /** Where lines go (tests capture them); default stdout, written asynchronously. */
  destination?: DestinationStream;
}

/**
 * JSON lines by default. Every line is scrubbed: objects deeply (and fields named token, password or
 * authorization censored whatever they hold), messages as text, so a token in a volume name or a
 * backend error can never reach the log. Audit lines carry `audit: true`.
 *
 * stdout is written asynchronously (pino's sonic-boom, sync: false): a line is handed to the kernel
 * as soon as the previous write has finished, so under load lines go out in batches instead of one
 * write(2) per line on the request path (bench/README.md). pino flushes what is left synchronously
 * when the process exits, so a fatal line before exit is not lost.
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
        for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = scrub(args[i] as string);
        method.apply(this, args);
      },
    },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino(base, pino.destination({ dest: 1, sync: false }));
}

/** A logger that drops everything (library use, tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
