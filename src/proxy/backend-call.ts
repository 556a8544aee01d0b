import { asProxyError } from '../errors.js';
import type { Endpoint } from '../plugin/protocol.js';
import type { BackendReply } from '../backend/client.js';
import type { ProxyDeps } from './types.js';

/** One call to pxd within the request's deadline, timed for the admin listener's counters. */
export async function callBackend(deps: ProxyDeps, endpoint: Endpoint, body: unknown, deadline: number): Promise<BackendReply> {
  const now = deps.now ?? Date.now;
  const remaining = Math.max(1_000, Math.min(deps.settings.backendTimeoutMs, deadline - now()));
  const t0 = performance.now();
  let outcome = 'ok';
  try {
    return await deps.backend.call(endpoint, body, remaining);
  } catch (e) {
    outcome = asProxyError(e).code;
    throw e;
  } finally {
    deps.observer?.backend?.(endpoint, outcome, (performance.now() - t0) / 1000);
  }
}
