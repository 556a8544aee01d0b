import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SERVE_OPTIONS, type OptionSpec } from './options.js';
import { yamlSchema, zodProblems, type YamlConfig, type IssuerYaml } from './schema.js';
import type { IssuerConfig, UsernameClaim, VerifierOptions } from '../tokens/types.js';
import type { PolicyConfig, Operation } from '../policy/types.js';
import { PXD_DEFAULT_ROLES } from '../policy/decide.js';
import { PXD_REQUIRED_CLAIMS } from '../tokens/verify.js';
import { DCOS_BASE_PATH_ENV, dcosConfigFromEnv, type DcosConfig } from '../secrets/dcos/config.js';
import { resolveSecretPath } from '../volume-name/index.js';

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
}

export interface LoadInput {
  /** Values from the command line, by option key (commander's camelCase). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** Lowest-precedence values (the embedded mode's generated setup). */
  defaults?: Record<string, unknown>;
  cwd?: string;
}

export interface LoadResult {
  config?: Readonly<Config>;
  /** Every problem found, together; empty when config is set. */
  problems: string[];
}

/** osd's default for -jwt_issuer (pxd's plugin server). */
export const PXD_DEFAULT_ISSUER = 'openstorage.io';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function readEnv(spec: OptionSpec, env: NodeJS.ProcessEnv): string | undefined {
  for (const name of spec.env) {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

function coerce(spec: OptionSpec, raw: unknown, origin: string, problems: string[]): unknown {
  if (raw === undefined) return undefined;
  const shown = spec.sensitive ? '(value hidden)' : JSON.stringify(raw);
  switch (spec.kind) {
    case 'string':
      if (typeof raw === 'number') return String(raw);
      if (typeof raw !== 'string') {
        problems.push(`${origin}: expected text, got ${shown}`);
        return undefined;
      }
      return raw;
    case 'int': {
      const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
      if (!Number.isSafeInteger(n) || n < 0) {
        problems.push(`${origin}: expected a whole number ≥ 0, got ${shown}`);
        return undefined;
      }
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
      problems.push(`${origin}: expected true or false, got ${shown}`);
      return undefined;
    }
    case 'list':
      if (Array.isArray(raw)) return raw.map(String);
      return String(raw)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  }
}

function flagName(spec: OptionSpec): string {
  return spec.flag.split(' ')[0]!;
}

function readText(file: string, what: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    problems.push(`${what}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

function readPublicKey(file: string, want: 'rsa' | 'ec', what: string, problems: string[]): string | undefined {
  const pem = readText(file, what, problems);
  if (pem === undefined) return undefined;
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== want) {
      problems.push(`${what}: ${file} holds an ${key.asymmetricKeyType ?? 'unknown'} key, expected an ${want === 'rsa' ? 'RSA' : 'ECDSA'} public key`);
      return undefined;
    }
    return pem;
  } catch {
    problems.push(`${what}: ${file} is not a PEM public key`);
    return undefined;
  }
}

/**
 * Merge flags > environment > YAML file > defaults, then validate everything at once. Returns every
 * problem together (the operator fixes them in one go), or a frozen Config.
 */
export function loadConfig(input: LoadInput): LoadResult {
  const problems: string[] = [];
  const cwd = input.cwd ?? process.cwd();
  const abs = (p: string) => path.resolve(cwd, p);

  // 1. Find and read the YAML file (its own location may come from a flag or the environment).
  const configSpec = SERVE_OPTIONS.find((o) => o.key === 'config')!;
  const configFile = (input.flags.config as string | undefined) ?? readEnv(configSpec, input.env);
  let yaml: YamlConfig = {};
  if (configFile) {
    const text = readText(configFile, '--config', problems);
    if (text !== undefined) {
      try {
        const doc = parseYaml(text) ?? {};
        const parsed = yamlSchema.safeParse(doc);
        if (parsed.success) yaml = parsed.data;
        else problems.push(...zodProblems(`${configFile}: `, parsed.error));
      } catch (e) {
        problems.push(`${configFile}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
      }
    }
  }

  // Portworx's name of the base path counts in the dcos: section too, below the environment as there.
  const yamlValues: Record<string, unknown> = { ...yaml };
  const yamlKey: Record<string, string> = {};
  const dcosBasePath = yaml.dcos?.[DCOS_BASE_PATH_ENV];
  if (dcosBasePath !== undefined) {
    const bare = (v: string) => v.replace(/^\/+|\/+$/g, '');
    if (yaml.secretsBasePath !== undefined && bare(yaml.secretsBasePath) !== bare(String(dcosBasePath))) {
      problems.push(`${configFile}: secretsBasePath and dcos.${DCOS_BASE_PATH_ENV} differ: give the base path once`);
    } else {
      yamlValues.secretsBasePath = dcosBasePath;
      yamlKey.secretsBasePath = `dcos.${DCOS_BASE_PATH_ENV}`;
    }
  }

  // 2. Merge each option by precedence.
  const raw: Record<string, unknown> = {};
  /** Where each value came from, for problems found after the merge. */
  const origin: Record<string, string> = {};
  for (const spec of SERVE_OPTIONS) {
    if (spec.key === 'config') continue;
    const fromFlag = input.flags[spec.key];
    const fromEnv = readEnv(spec, input.env);
    const fromYaml = yamlValues[spec.key];
    const fromDefault = input.defaults?.[spec.key];
    let from: string | undefined;
    let given: unknown;
    if (fromFlag !== undefined) [from, given] = [flagName(spec), fromFlag];
    else if (fromEnv !== undefined) [from, given] = [spec.env.find((n) => input.env[n])!, fromEnv];
    else if (fromYaml !== undefined) [from, given] = [`${configFile}: ${yamlKey[spec.key] ?? spec.key}`, fromYaml];
    else if (fromDefault !== undefined) [from, given] = [`default ${spec.key}`, fromDefault];
    if (from === undefined) continue;
    const value = coerce(spec, given, from, problems);
    if (value !== undefined) {
      raw[spec.key] = value;
      origin[spec.key] = from;
    }
  }

  // 3. Socket, backend, mounts root.
  const socket = abs((raw.socket as string | undefined) ?? '/run/docker/plugins/pxd-auth.sock');
  const backendUrl = (raw.backend as string | undefined) ?? 'unix:///run/docker/plugins/pxd.sock';
  let backend: Config['backend'] | undefined;
  if (backendUrl.startsWith('unix://')) {
    const p = backendUrl.slice('unix://'.length);
    if (!p.startsWith('/')) problems.push(`--backend: ${backendUrl} must be unix:///absolute/path.sock`);
    else backend = { kind: 'unix', socketPath: p };
  } else if (backendUrl.startsWith('local:')) {
    const d = backendUrl.slice('local:'.length);
    if (!d) problems.push('--backend: local:<dir> needs a folder');
    else backend = { kind: 'local', dir: abs(d) };
  } else {
    problems.push(`--backend: ${JSON.stringify(backendUrl)} is neither unix:///path.sock nor local:<dir>`);
  }
  if (backend?.kind === 'unix' && backend.socketPath === socket) {
    problems.push(`--backend: the backend socket is the proxy's own socket (${socket})`);
  }
  const mountsRootRaw =
    (raw.mountsRoot as string | undefined) ?? (backend?.kind === 'local' ? path.join(backend.dir, 'mounts') : '/var/lib/osd/mounts');
  const mountsRoot = path.posix.normalize(abs(mountsRootRaw)).replace(/\/+$/, '');
  if (mountsRoot === '' || mountsRoot === '/') problems.push('--mounts-root: must be a folder below /, not / itself');

  const backendTimeoutSec = (raw.backendTimeout as number | undefined) ?? 90;
  if (backendTimeoutSec < 1 || backendTimeoutSec > 110) problems.push('--backend-timeout: must be between 1 and 110 seconds (Docker gives up after 120)');

  let scope: Config['scope'];
  if (raw.scope !== undefined) {
    if (raw.scope === 'global' || raw.scope === 'local') scope = raw.scope;
    else problems.push(`--scope: must be global or local, got ${JSON.stringify(raw.scope)}`);
  }

  // 4. Secret store.
  const secretsUrl = (raw.secrets as string | undefined) ?? 'dcos';
  let secrets: Config['secrets'] | undefined;
  if (secretsUrl === 'dcos') {
    const yamlDcos = Object.fromEntries(Object.entries(yaml.dcos ?? {}).map(([k, v]) => [k, String(v)]));
    // YAML's dcos section sits below the real environment.
    const r = dcosConfigFromEnv({ ...yamlDcos, ...input.env }, pickDcosFlags(input.flags));
    problems.push(...r.problems.map((p) => `DC/OS: ${p}`));
    if (r.config) secrets = { kind: 'dcos', dcos: r.config };
  } else if (secretsUrl.startsWith('file:') && secretsUrl.length > 'file:'.length) {
    secrets = { kind: 'file', dir: abs(secretsUrl.slice('file:'.length)) };
  } else {
    problems.push(`--secrets: ${JSON.stringify(secretsUrl)} is neither dcos nor file:<dir>`);
  }
  const secretsBasePath = normalizeBasePath(raw.secretsBasePath as string | undefined, origin.secretsBasePath ?? '--secrets-base-path', problems);

  // 5. Issuers: the one from flags/env first, then the YAML list.
  const usernameClaim = (raw.usernameClaim as string | undefined) ?? 'sub';
  if (!['sub', 'email', 'name'].includes(usernameClaim)) problems.push(`--username-claim: must be sub, email or name, got ${JSON.stringify(usernameClaim)}`);
  const issuers: IssuerConfig[] = [];
  // As osd (pxd's plugin server): keys given without --jwt-issuer belong to the issuer openstorage.io.
  const flagKeys = Boolean(raw.jwtSharedSecret || raw.jwtSharedSecretFile || raw.jwtRsaPubkeyFile || raw.jwtEcdsPubkeyFile);
  const flagIssuer: IssuerYaml | undefined =
    raw.jwtIssuer || flagKeys
    ? {
        name: (raw.jwtIssuer as string | undefined) ?? PXD_DEFAULT_ISSUER,
        sharedSecret: raw.jwtSharedSecret as string | undefined,
        sharedSecretFile: raw.jwtSharedSecretFile as string | undefined,
        rsaPublicKeyFile: raw.jwtRsaPubkeyFile as string | undefined,
        ecdsaPublicKeyFile: raw.jwtEcdsPubkeyFile as string | undefined,
      }
    : undefined;
  const issuerInputs = [...(flagIssuer ? [flagIssuer] : []), ...(yaml.issuers ?? []).filter((i) => i.name !== flagIssuer?.name)];
  for (const [idx, i] of issuerInputs.entries()) {
    const where = i === flagIssuer ? `issuer ${i.name} (flags)` : `issuers[${idx - (flagIssuer ? 1 : 0)}] (${i.name})`;
    const cfg: IssuerConfig = { name: i.name };
    if (i.usernameClaim) cfg.usernameClaim = i.usernameClaim as UsernameClaim;
    if (i.sharedSecret && i.sharedSecretFile) problems.push(`${where}: give the shared secret or its file, not both`);
    const secret = i.sharedSecretFile ? readText(abs(i.sharedSecretFile), `${where} shared secret file`, problems)?.trim() : i.sharedSecret;
    if (secret !== undefined) {
      if (secret.length < 16) problems.push(`${where}: the shared secret is shorter than 16 characters`);
      cfg.sharedSecret = secret;
    }
    if (i.rsaPublicKeyFile) cfg.rsaPublicKeyPem = readPublicKey(abs(i.rsaPublicKeyFile), 'rsa', `${where} RSA public key`, problems);
    if (i.ecdsaPublicKeyFile) cfg.ecdsaPublicKeyPem = readPublicKey(abs(i.ecdsaPublicKeyFile), 'ec', `${where} ECDSA public key`, problems);
    if (i.jwksUrl) cfg.jwksUrl = i.jwksUrl;
    if (i.oidc) {
      cfg.oidcDiscovery = true;
      if (!/^https?:\/\//.test(i.name)) problems.push(`${where}: oidc: true needs the issuer name to be its URL (https://...)`);
    }
    if (!i.sharedSecret && !i.sharedSecretFile && !i.rsaPublicKeyFile && !i.ecdsaPublicKeyFile && !i.jwksUrl && !i.oidc) {
      problems.push(`${where}: no key configured (shared secret, RSA or ECDSA public key file)`);
    }
    issuers.push(cfg);
  }
  if (issuerInputs.length === 0) {
    problems.push('no trusted issuer: set --jwt-issuer with a key (--jwt-shared-secret / PORTWORX_AUTH_JWT_SHAREDSECRET, --jwt-rsa-pubkey-file, --jwt-ecds-pubkey-file) or list issuers in the YAML file');
  }
  const tokenCacheSize = (raw.tokenCacheSize as number | undefined) ?? 10_000;
  const verifier: VerifierOptions = {
    issuers,
    requiredClaims: (raw.requiredClaims as string[] | undefined) ?? [...PXD_REQUIRED_CLAIMS],
    usernameClaim: usernameClaim as UsernameClaim,
    clockToleranceSec: (raw.clockTolerance as number | undefined) ?? 0,
    maxTokenLength: 16_384,
    cacheSize: tokenCacheSize,
  };

  // 6. Policy.
  const roles: Record<string, Operation[]> = { ...PXD_DEFAULT_ROLES, ...(yaml.policy?.roles ?? {}) };
  const bindings: PolicyConfig['bindings'] = [];
  for (const [i, b] of (yaml.policy?.bindings ?? []).entries()) {
    const prefix = bindingPrefix(b.secretPrefix, secretsBasePath);
    if (typeof prefix === 'string') bindings.push({ ...b, secretPrefix: prefix });
    else problems.push(`policy.bindings[${i}].secretPrefix: ${prefix.problem}`);
  }
  const policy: PolicyConfig = { roles, bindings, strict: yaml.policy?.strict ?? false };
  const volumeSecrets: Config['volumeSecrets'] = [];
  for (const [i, v] of (yaml.volumeSecrets ?? []).entries()) {
    try {
      volumeSecrets.push({ volumes: v.volumes, secretPath: resolveSecretPath({ path: v.tokenSecret, basePath: secretsBasePath }) });
    } catch (e) {
      problems.push(`volumeSecrets[${i}].tokenSecret: ${(e as Error).message}`);
    }
  }

  const logLevel = (raw.logLevel as string | undefined) ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`--log-level: must be one of ${LOG_LEVELS.join(', ')}`);
  const adminListen = raw.adminListen as string | undefined;
  if (adminListen !== undefined && !/^unix:.+/.test(adminListen) && !/^[^:]*:\d{1,5}$/.test(adminListen)) {
    problems.push(`--admin-listen: ${JSON.stringify(adminListen)} is neither host:port nor unix:<path>`);
  }

  if (problems.length > 0 || !backend || !secrets) return { problems: problems.length ? problems : ['invalid configuration'] };

  const config: Config = {
    socket,
    socketGroup: raw.socketGroup as string | undefined,
    backendUrl,
    backend,
    mountsRoot,
    backendTimeoutMs: backendTimeoutSec * 1000,
    scope,
    secretsUrl,
    secrets,
    secretsBasePath,
    stateDir: abs((raw.stateDir as string | undefined) ?? '/var/lib/pxd-auth-proxy'),
    verifier,
    policy,
    volumeSecrets,
    logLevel,
    logPretty: (raw.logPretty as boolean | undefined) ?? false,
    adminListen,
    embedded: (raw.embedded as boolean | undefined) ?? false,
    configFile,
  };
  return { config: deepFreeze(config), problems: [] };
}

function normalizeBasePath(p: string | undefined, from: string, problems: string[]): string | undefined {
  if (p === undefined) return undefined;
  const trimmed = p.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return undefined;
  const segs = trimmed.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..' || !/^[A-Za-z0-9_.-]+$/.test(s))) {
    problems.push(`${from}: ${JSON.stringify(p)} is not a clean secret path (letters, digits, _ . - and single /)`);
    return undefined;
  }
  return trimmed;
}

/** Flags that belong to the DC/OS store, passed on by their camelCase names. */
function pickDcosFlags(flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flags)) if (k.startsWith('dcos') || k.startsWith('secret')) out[k] = v;
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
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
    return { problem: `${JSON.stringify(raw)} is above the secrets base path ${JSON.stringify(base)}; write it relative to the base path (tenant-a) or in full (${base}/tenant-a)` };
  }
  if (absolute) {
    return { problem: `${JSON.stringify(raw)} is outside the secrets base path ${JSON.stringify(base)}, so it could never match; write it under the base path` };
  }
  return `${base}/${prefix}`;
}
