import path from 'node:path';
import { LineCounter, parseDocument as parseYamlDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import type { VerifierOptions } from '../tokens/types.js';
import type { PolicyConfig, Operation } from '../policy/types.js';
import { PXD_DEFAULT_ROLES } from '../policy/decide.js';
import type { DcosConfig } from '../secrets/dcos/config.js';
import { resolveSecretPath } from '../volume-name/index.js';
import { buildDcosConfig } from './dcos.js';
import { buildIssuers } from './issuers.js';
import type { OptionKey, OptionSpec } from './options.js';
import { yamlSchema, zodProblem } from './schema.js';
import { Issues, deepFreeze, peekOption, readFileText, readSettings, type ConfigIssue, type Settings } from './settings.js';

export { PXD_DEFAULT_ISSUER } from './options.js';
export type { ConfigIssue } from './settings.js';

/** The validated, frozen configuration of a running proxy. Holds key material: never log it whole. */
export interface Config {
  socket: string;
  socketGroup?: string | number;
  backendUrl: string;
  backend: { kind: 'unix'; socketPath: string } | { kind: 'local'; dir: string };
  mountsRoot: string;
  backendTimeoutMs: number;
  scope?: 'global' | 'local';
  secretsUrl: string;
  secrets: { kind: 'file'; dir: string } | { kind: 'dcos'; dcos: DcosConfig };
  secretsBasePath?: string;
  /** With the DC/OS store: the Secret Store folder of the cluster's volume references (undefined: off). */
  referencesPath?: string;
  stateDir: string;
  verifier: VerifierOptions;
  policy: PolicyConfig;
  /** Token secrets for volumes named without any reference, by volume-name pattern (first match wins). */
  volumeSecrets: Array<{ volumes: string[]; secretPath: string }>;
  logLevel: string;
  logPretty: boolean;
  adminListen?: string;
  embedded: boolean;
  configFile?: string;
  /** The Secret Store path of the fleet document (DC/OS store only), or none. */
  fleetConfig?: string;
  fleetConfigIntervalSec: number;
}

/** The fleet document (`--fleet-config`) as read from the Secret Store: its sections replace the YAML file's. */
export interface FleetDocument {
  /** How problems name it: `fleet document pxd-auth-proxy/fleet`. */
  name: string;
  /** YAML or JSON text holding only the sections of FLEET_SECTIONS. */
  text: string;
}

/** The YAML file's sections that the fleet document may hold (every agent the same); everything else is per agent. */
export const FLEET_SECTIONS = ['policy', 'issuers', 'volumeSecrets'] as const;

export interface LoadInput {
  /** Values from the command line, by option key (commander's camelCase). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** Lowest-precedence values (the embedded mode's generated setup). */
  defaults?: Record<string, unknown>;
  cwd?: string;
  /** The fleet document, when one was read: each section it holds replaces the YAML file's of that name. */
  fleet?: FleetDocument;
  /**
   * false for a tool that reads no secret (`token check --token`): the secret store's settings (the
   * DC/OS ones included), the volume references' folder and the fleet document are neither read nor
   * checked, and the configuration has none of them. Default true.
   */
  needsSecretStore?: boolean;
}

/** The settings only the secret store (and what lives in it) needs, beside the DC/OS group. */
const STORE_OPTIONS: readonly OptionKey[] = ['secrets', 'referencesPath', 'fleetConfig', 'fleetConfigInterval'];

/** The configuration of a tool that reads no secret (`needsSecretStore: false`). */
export type StorelessConfig = Omit<Config, 'secrets' | 'secretsUrl' | 'referencesPath' | 'fleetConfig' | 'fleetConfigIntervalSec'>;

/** What can be checked on an agent without a valid configuration: where the plugin socket and the backend are. */
export interface ConfigBasics {
  socket: string;
  /** Undefined when the backend setting itself was refused. */
  backend?: Config['backend'];
  backendUrl: string;
  /** Whether a YAML file was given but could not be used: the values are then the flags', the environment's and the defaults. */
  withoutFile: boolean;
}

export interface LoadResult<C = Config> {
  config?: Readonly<C>;
  /** Every problem found, together; empty when config is set. */
  problems: string[];
  /** The same problems, each with the option it is about when it is about one (doctor's fixes). */
  issues: ConfigIssue[];
  /** Settings that are accepted but weak (a short shared secret): logged by serve, flagged by doctor. Never hold a value. */
  warnings?: ConfigIssue[];
  /** The socket and the backend, also when the configuration has problems (doctor checks them anyway). */
  basics?: ConfigBasics;
}

/** The sections of the YAML file (and of the fleet document) that are not options. */
type Sections = Pick<z.output<typeof yamlSchema>, (typeof FLEET_SECTIONS)[number]>;

/** The YAML file: option values by YAML key, and the sections that are not options. */
interface ConfigFile {
  name: string;
  values: Map<string, unknown>;
  sections: Sections;
}

/**
 * Merge flags > environment > YAML file > defaults, check everything with the one schema, then what
 * depends on several options or on files (backend, issuers and their keys, the DC/OS login, policy).
 * Returns every problem together, each naming where its value came from, or a deeply frozen Config.
 * A YAML file that cannot be read, does not parse or has the wrong shape is reported alone: what
 * would follow from its missing settings ("no trusted issuer", "no DC/OS login") is not a problem of
 * its own.
 */
export function loadConfig(input: LoadInput & { needsSecretStore: false }): LoadResult<StorelessConfig>;
export function loadConfig(input: LoadInput & { needsSecretStore?: true }): LoadResult<Config>;
export function loadConfig(input: LoadInput): LoadResult<StorelessConfig>;
export function loadConfig(input: LoadInput): LoadResult<Config> | LoadResult<StorelessConfig> {
  const issues = new Issues();
  const cwd = input.cwd ?? process.cwd();
  const abs = (p: string) => path.resolve(cwd, p);
  const needsStore = input.needsSecretStore !== false;
  const only = needsStore ? undefined : (o: OptionSpec) => o.group !== 'dcos' && !STORE_OPTIONS.includes(o.key);

  // 1. The YAML file (its own location comes from a flag or the environment).
  const configOption = peekOption('config', input);
  const file = configOption && readConfigFile(configOption.value!, configOption.from, abs, issues);
  if (issues.list.length > 0) {
    // Its problems alone, and where the socket and the backend are without it (doctor checks them).
    const bare = readSettings({ ...input }, new Issues(), only);
    return { problems: issues.texts, issues: issues.list, basics: basicsOf(bare, abs, true) };
  }

  // 2. Every option, by precedence, checked by the schema.
  const s = readSettings({ ...input, file }, issues, only);
  const v = s.values;
  const basics = basicsOf(s, abs, false);
  // The fleet document's sections replace the file's of the same name; each problem names where it is.
  const fleet = input.fleet && readFleetDocument(input.fleet, issues);
  const section = <K extends keyof Sections>(key: K): { name: string; value: Sections[K] } => {
    if (fleet?.[key] !== undefined) return { name: input.fleet!.name, value: fleet[key] };
    return { name: file?.name ?? '', value: file?.sections[key] };
  };

  // 3. Socket, backend, mounts root.
  const { socket, backend } = basics;
  if (backend?.kind === 'unix' && backend.socketPath === socket) {
    issues.add(s.from('backend'), `the backend socket is the proxy's own socket (${socket})`, 'backend');
  }
  const mountsRootGiven =
    s.level('mountsRoot') !== undefined ? v.mountsRoot : backend?.kind === 'local' ? path.join(backend.dir, 'mounts') : v.mountsRoot;
  const mountsRoot = path.posix.normalize(abs(mountsRootGiven)).replace(/\/+$/, '');
  if (mountsRoot === '' || mountsRoot === '/') issues.add(s.from('mountsRoot'), 'must be a folder below /, not / itself', 'mountsRoot');

  // 4. Secret store (not for a tool that reads no secret).
  let secrets: Config['secrets'] | undefined;
  if (!needsStore || s.refused('secrets')) secrets = undefined;
  else if (v.secrets === 'dcos') {
    const dcos = buildDcosConfig(s, issues);
    if (dcos) secrets = { kind: 'dcos', dcos };
  } else secrets = { kind: 'file', dir: abs(v.secrets.slice('file:'.length)) };
  const secretsBasePath = v.secretsBasePath;
  // The records are not tokens, and the account holds full on their folder: the two must not overlap.
  const refs = v.referencesPath;
  if (refs !== undefined && secretsBasePath !== undefined && secrets?.kind === 'dcos' && overlaps(refs, secretsBasePath)) {
    issues.add(
      s.from('referencesPath'),
      `${refs} overlaps the secrets base path ${secretsBasePath}: give the volume records a folder of their own`,
      'referencesPath',
    );
  }

  // The fleet document sets every agent's policy and may hold an issuer's shared secret: it is only
  // read, and lies outside the folders whose secrets users name (the base path) or the account writes.
  const fleetPath = needsStore ? v.fleetConfig : undefined;
  const fleetFrom = s.from('fleetConfig');
  if (fleetPath !== undefined && !s.refused('secrets') && v.secrets !== 'dcos') {
    issues.add(fleetFrom, 'the fleet document is read from the DC/OS Secret Store: it needs --secrets dcos', 'fleetConfig');
  } else if (fleetPath !== undefined && secretsBasePath !== undefined && overlaps(fleetPath, secretsBasePath)) {
    issues.add(
      fleetFrom,
      `${fleetPath} overlaps the secrets base path ${secretsBasePath}: keep the fleet document outside it`,
      'fleetConfig',
    );
  } else if (fleetPath !== undefined && refs !== undefined && secrets?.kind === 'dcos' && overlaps(fleetPath, refs)) {
    issues.add(fleetFrom, `${fleetPath} overlaps the volume records' folder ${refs}: keep the fleet document outside it`, 'fleetConfig');
  }

  // 5. Issuers: the one from flags/env first, then the YAML list.
  const issuersYaml = section('issuers');
  const warnings = new Issues();
  const issuers = buildIssuers(s, issuersYaml.value && { name: issuersYaml.name, issuers: issuersYaml.value }, abs, issues, warnings);
  const verifier: VerifierOptions = {
    issuers,
    requiredClaims: v.requiredClaims,
    usernameClaim: v.usernameClaim,
    clockToleranceSec: v.clockTolerance,
    maxTokenLength: 16_384,
    cacheSize: v.tokenCacheSize,
  };

  // 6. Policy and the volumes' own secrets, read under the base path.
  const { name: policyFrom, value: policyYaml } = section('policy');
  const roles: Record<string, Operation[]> = { ...PXD_DEFAULT_ROLES, ...(policyYaml?.roles ?? {}) };
  const bindings: PolicyConfig['bindings'] = [];
  for (const [i, b] of (policyYaml?.bindings ?? []).entries()) {
    const prefix = bindingPrefix(b.secretPrefix, secretsBasePath);
    if (typeof prefix === 'string') bindings.push({ ...b, secretPrefix: prefix });
    else issues.add(`${policyFrom}: policy.bindings[${i}].secretPrefix`, prefix.problem);
  }
  const policy: PolicyConfig = { roles, bindings, strict: policyYaml?.strict ?? false };
  const volumeSecrets: Config['volumeSecrets'] = [];
  const volumeSecretsYaml = section('volumeSecrets');
  for (const [i, vs] of (volumeSecretsYaml.value ?? []).entries()) {
    try {
      volumeSecrets.push({ volumes: vs.volumes, secretPath: resolveSecretPath({ path: vs.tokenSecret, basePath: secretsBasePath }) });
    } catch (e) {
      issues.add(`${volumeSecretsYaml.name}: volumeSecrets[${i}].tokenSecret`, (e as Error).message);
    }
  }

  if (issues.list.length > 0 || !backend || (needsStore && !secrets)) {
    const list = issues.list.length ? issues.list : [{ text: 'invalid configuration' }];
    return { problems: list.map((i) => i.text), issues: list, warnings: warnings.list, basics };
  }

  const common: StorelessConfig = {
    socket,
    socketGroup: v.socketGroup,
    backendUrl: v.backend,
    backend,
    mountsRoot,
    backendTimeoutMs: v.backendTimeout * 1000,
    scope: v.scope,
    secretsBasePath,
    stateDir: abs(v.stateDir),
    verifier,
    policy,
    volumeSecrets,
    logLevel: v.logLevel,
    logPretty: v.logPretty,
    adminListen: v.adminListen,
    embedded: v.embedded,
    configFile: configOption?.value,
  };
  const done = { problems: [], issues: [], warnings: warnings.list, basics };
  if (!secrets) return { ...done, config: deepFreeze(common) };
  const config: Config = {
    ...common,
    secretsUrl: v.secrets,
    secrets,
    ...(secrets.kind === 'dcos' && v.referencesPath !== undefined ? { referencesPath: v.referencesPath } : {}),
    fleetConfig: v.fleetConfig,
    fleetConfigIntervalSec: v.fleetConfigInterval,
  };
  return { ...done, config: deepFreeze(config) };
}

/** The socket and the backend, from checked settings. */
function basicsOf(s: Settings, abs: (p: string) => string, withoutFile: boolean): ConfigBasics {
  const v = s.values;
  const backend: Config['backend'] | undefined = s.refused('backend')
    ? undefined
    : v.backend.startsWith('unix://')
      ? { kind: 'unix', socketPath: v.backend.slice('unix://'.length) }
      : { kind: 'local', dir: abs(v.backend.slice('local:'.length)) };
  return { socket: abs(v.socket), ...(backend ? { backend } : {}), backendUrl: v.backend, withoutFile };
}

/** Read and parse the YAML file; its structure is checked here, its option values with the others. */
function readConfigFile(name: string, from: string, abs: (p: string) => string, issues: Issues): ConfigFile | undefined {
  const text = readFileText(abs(name), from, issues, 'config');
  if (text === undefined) return undefined;
  const raw = parseDocument(name, text, yamlSchema, issues, 'config', true);
  if (raw === undefined) return undefined;
  const values = new Map<string, unknown>();
  for (const [k, val] of Object.entries(raw)) if (k !== 'dcos') values.set(k, val);
  // The dcos: section's settings are read as the environment is, under `dcos.<NAME>`.
  for (const [k, val] of Object.entries(isPlainObject(raw.dcos) ? raw.dcos : {})) {
    if (['string', 'number', 'boolean'].includes(typeof val)) values.set(`dcos.${k}`, val);
  }
  return { name, values, sections: sectionsOf(raw) };
}

/** The fleet document's part of the YAML file's schema: the same checks, section by section. */
const fleetSchema = z.object(Object.fromEntries(FLEET_SECTIONS.map((k) => [k, yamlSchema.shape[k]])));

/** The fleet document, read as the YAML file is (YAML or JSON, the same schema); any other key is refused. */
function readFleetDocument(doc: FleetDocument, issues: Issues): Sections | undefined {
  const raw = parseDocument(doc.name, doc.text, fleetSchema, issues, 'fleetConfig');
  if (raw === undefined) return undefined;
  const allowed: readonly string[] = FLEET_SECTIONS;
  for (const key of Object.keys(raw).filter((k) => !allowed.includes(k))) {
    issues.add(
      `${doc.name}: ${key}`,
      `the fleet document holds only ${FLEET_SECTIONS.join(', ')}; set the other settings on each agent (flags, environment or the YAML file)`,
      'fleetConfig',
    );
  }
  return sectionsOf(raw);
}

/**
 * A YAML (or JSON) text checked against `schema`, each problem named `<name>: key` (with `lines`:
 * `<name>:<line>: key`, the line of the key); undefined when it does not parse.
 */
function parseDocument(
  name: string,
  text: string,
  schema: z.ZodType,
  issues: Issues,
  key: OptionKey,
  lines = false,
): Record<string, unknown> | undefined {
  const lineCounter = new LineCounter();
  const parsedYaml = parseYamlDocument(text, { lineCounter });
  let doc: unknown;
  try {
    const first = parsedYaml.errors[0];
    if (first) throw first;
    doc = parsedYaml.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    // The first line only (it says where: "at line 3, column 5"): the next ones quote the text, which may hold a secret.
    issues.add(name, `not valid YAML (${(e as Error).message.split('\n')[0]})`, key);
    return undefined;
  }
  const parsed = schema.safeParse(doc);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const node = lines ? (parsedYaml.getIn(i.path, true) as YamlNode | undefined) : undefined;
      const line = node?.range ? `:${lineCounter.linePos(node.range[0]).line}` : '';
      issues.note(zodProblem(`${name}${line}: `, i));
    }
  }
  return isPlainObject(doc) ? doc : {};
}

/** A section with a problem is left out (its problem is reported); the others still count. */
function sectionsOf(raw: Record<string, unknown>): Sections {
  const section = <K extends keyof Sections>(key: K): Sections[K] => {
    const r = yamlSchema.shape[key].safeParse(raw[key]);
    return r.success ? (r.data as Sections[K]) : undefined;
  };
  return { issuers: section('issuers'), policy: section('policy'), volumeSecrets: section('volumeSecrets') };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A binding's secret prefix, read as token_secret paths are: under the base path. `tenant-a` and
 * `pwx/secrets/tenant-a` both mean `pwx/secrets/tenant-a` with the base `pwx/secrets`. A prefix
 * above the base (`pwx`) or beside it (`/other`) could never match a secret the proxy reads: it is
 * refused rather than left to default-allow silently.
 */
export function bindingPrefix(raw: string, basePath: string | undefined): string | { problem: string } {
  const absolute = raw.startsWith('/');
  const prefix = raw.replace(/^\/+|\/+$/g, '');
  const base = (basePath ?? '').replace(/^\/+|\/+$/g, '');
  if (base === '') return prefix;
  if (prefix === base || prefix.startsWith(`${base}/`)) return prefix;
  if (prefix === '' || base.startsWith(`${prefix}/`)) {
    return {
      problem: `${JSON.stringify(raw)} is above the secrets base path ${JSON.stringify(base)}; write it relative to the base path (tenant-a) or in full (${base}/tenant-a)`,
    };
  }
  if (absolute) {
    return {
      problem: `${JSON.stringify(raw)} is outside the secrets base path ${JSON.stringify(base)}, so it could never match; write it under the base path`,
    };
  }
  return `${base}/${prefix}`;
}

/** Whether one secret folder holds the other (whole segments). */
function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  return a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}
