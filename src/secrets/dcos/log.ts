/**
 * The logger the DC/OS store writes to: pino's shape (`logger.warn({uid, url}, 'text')`).
 * Fields are uid, url, path, durations and error codes, never a secret value, password, key or token.
 */
export interface DcosLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: DcosLogger = Object.freeze({ info: noop, warn: noop, error: noop, debug: noop });

/** `3 min 20 s`, `2 h 5 min`, `800 ms`: durations in messages written for people. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 1000) return ms === 0 ? '0 s' : `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}
