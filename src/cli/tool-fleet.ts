/**
 * The fleet document as the tools on an agent see it (`token check`, `doctor`): read once through the
 * DC/OS store and built with this agent's configuration as serve builds it (resolveConfig with the
 * document), so that a tool judges with the policy, issuers and volumeSecrets serve applies.
 */
import { configuredFleetPath, readFleetOnce, type FleetOnce } from '../config/fleet-once.js';
import type { DcosSecretStore } from '../secrets/dcos/index.js';
import { fixFor } from '../errors.js';
import type { ToolSources } from '../config/installed.js';
import { resolveConfig } from './serve.js';

export type { FleetOnce } from '../config/fleet-once.js';

/** The document's path as this agent's configuration sets it, also when the tool reads no secret store. */
export function toolFleetPath(s: ToolSources): string | undefined {
  return configuredFleetPath({ flags: s.flags, env: s.env });
}

/** Read the document once through `store` and build this agent's configuration with it, as serve does. */
export function readToolFleet(docPath: string, store: Pick<DcosSecretStore, 'readDocument'>, s: ToolSources): Promise<FleetOnce> {
  return readFleetOnce(docPath, store, (doc) => resolveConfig(s.flags, s.env, doc));
}

/** What to do about a document that could not be read: a refused read names the one grant it needs. */
export function fleetReadFix(f: FleetOnce & { state: 'unreadable' }, who: { uid: string; url: string }): string {
  if (f.error.code === 'SECRET_FORBIDDEN') return `dcos security org users grant ${who.uid} 'dcos:secrets:default:/${f.path}' read`;
  return fixFor(f.error.code, { ...who });
}
