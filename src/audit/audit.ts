import type { Logger } from 'pino';
import type { Operation } from '../operations.js';

/** One line per decision on Create/Remove/Mount. Never a token: only who, what, why. */
export interface AuditRecord {
  operation: Operation;
  volume: string;
  subject?: string;
  issuer?: string;
  roles?: string[];
  secretPath?: string;
  tokenSource?: string;
  /** allow (done), deny (refused by the proxy or by pxd), error (could not be decided or done). */
  decision: 'allow' | 'deny' | 'error';
  /** Whether the request reached the backend. */
  forwarded: boolean;
  /** Reason code: ROLE_ALLOWED, or the error code of the denial (TOKEN_EXPIRED, BACKEND_DENIED, ...). */
  reason: string;
  latencyMs: number;
  message?: string;
}

export function audit(logger: Logger, rec: AuditRecord): void {
  const line = { audit: true, ...rec };
  if (rec.decision === 'allow') logger.info(line, `audit ${rec.operation} ${rec.volume} allow`);
  else logger.warn(line, `audit ${rec.operation} ${rec.volume} ${rec.decision} ${rec.reason}`);
}
