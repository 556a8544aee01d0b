/**
 * The fleet document read once, as the tools see it (`token check`, `doctor`): read through the DC/OS
 * Secret Store as serve reads it (FleetConfig's `read`), then built with this agent's configuration
 * as serve builds it (FleetConfig's `build`). The document's text is never returned nor quoted: it may
 * hold an issuer's shared secret; problems name keys, never values.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { asProxyError, type ProxyError } from '../errors.js';
import type { DcosSecretStore } from '../secrets/dcos/index.js';
import { versionOf } from './fleet.js';
import type { Config, FleetDocument, LoadResult } from './load.js';
import { option } from './options.js';
import { Issues, peekOption, readSettings } from './settings.js';

/** What one read of the fleet document came to. */
export type FleetOnce =
  /** 404: serve applies the YAML file's policy, issuers and volumeSecrets. */
  | { state: 'absent'; path: string; name: string }
  /** The read failed (login, grant, DC/OS down): the error, whose code fixFor explains. */
  | { state: 'unreadable'; path: string; name: string; error: ProxyError }
  /** Read, and the configuration built with it: the one serve would run. */
  | { state: 'built'; path: string; name: string; version: string; config: Readonly<Config> }
  /** Read, but the configuration does not build with it: serve refuses it, the configuration in force stays. */
  | { state: 'refused'; path: string; name: string; version: string; problems: string[] };

/** How problems name the document, as FleetConfig names it. */
export function fleetDocumentName(docPath: string): string {
  return `fleet document ${docPath}`;
}

/**
 * Read the fleet document at `docPath` once through `store` and build the configuration with it
 * (`build`: the one serve uses, e.g. resolveConfig with the document). Never throws for a read that fails.
 */
export async function readFleetOnce(
  docPath: string,
  store: Pick<DcosSecretStore, 'readDocument'>,
  build: (fleet: FleetDocument) => LoadResult | Promise<LoadResult>,
  signal?: AbortSignal,
): Promise<FleetOnce> {
  const name = fleetDocumentName(docPath);
  let text: string | undefined;
  try {
    text = await store.readDocument(docPath, signal);
  } catch (e) {
    return { state: 'unreadable', path: docPath, name, error: asProxyError(e) };
  }
  if (text === undefined) return { state: 'absent', path: docPath, name };
  const version = versionOf(text);
  let built: LoadResult;
  try {
    built = await build({ name, text });
  } catch (e) {
    return { state: 'refused', path: docPath, name, version, problems: [(e as Error).message] };
  }
  if (!built.config) return { state: 'refused', path: docPath, name, version, problems: built.problems };
  return { state: 'built', path: docPath, name, version, config: built.config };
}

/**
 * The fleet document's path as the configuration sets it (flags > environment > YAML file), without
 * building the rest: a tool that reads no secret (`token check --token`) tells with it that the policy
 * it uses may not be the cluster's. Undefined when none is set or the setting cannot be read.
 */
export function configuredFleetPath(input: { flags: Record<string, unknown>; env: NodeJS.ProcessEnv; cwd?: string }): string | undefined {
  const o = option('fleetConfig');
  let values = new Map<string, unknown>();
  const config = peekOption('config', input);
  if (config?.value) {
    try {
      const raw: unknown = parseYaml(readFileSync(path.resolve(input.cwd ?? process.cwd(), config.value), 'utf8'));
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
        values = new Map(o.yaml.map((k) => [k, (raw as Record<string, unknown>)[k]] as const));
      }
    } catch {
      // The file's problems are the loader's to report.
    }
  }
  const issues = new Issues();
  const s = readSettings(
    { flags: input.flags, env: input.env, file: { name: config?.value ?? '', values } },
    issues,
    (x) => x.key === o.key,
  );
  return issues.list.length || s.refused('fleetConfig') ? undefined : s.values.fleetConfig;
}
