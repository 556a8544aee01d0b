/**
 * The one table of options: CLI flag, environment variables (first set wins), YAML key, default and
 * meaning, for the proxy and for the DC/OS secret store alike. Each row's `type` is its part of the
 * one schema (schema.ts): it checks the value and holds the default. The CLI help, the README's
 * reference, the loader and `doctor` all read this table.
 */
import { z } from 'zod';
import { PXD_REQUIRED_CLAIMS } from '../tokens/verify.js';
import { DCOS_DEFAULTS } from '../secrets/dcos/config.js';

/** How a value given as text (a flag, an environment variable, the YAML `dcos:` section) is read. */
export type OptionKind = 'string' | 'int' | 'seconds' | 'bool' | 'list';
/** `serve`: the YAML key is the option key; `dcos`: the YAML key is `dcos.<environment name>`. */
export type OptionGroup = 'serve' | 'dcos';

interface Row<T extends z.ZodType = z.ZodType> {
  group: OptionGroup;
  /** `--name <arg>`, or absent for a setting only the environment may give (a password must not show in `ps`). */
  flag?: string;
  env?: readonly string[];
  /** YAML keys, when not the group's rule (several: the same setting under two names; none: not in the file). */
  yaml?: readonly string[];
  kind: OptionKind;
  /** The value's check, written for the operator, with the default (`.default()`), if the option has one. */
  type: T;
  /** What the reference shows as the default when the schema has none, or the real one is derived. */
  defaultText?: string;
  description: string;
  /** The value is never echoed (help shows no default, problems never show it). */
  sensitive?: boolean;
}

export interface OptionSpec extends Omit<Row, 'yaml' | 'env' | 'flag'> {
  /** commander's attribute name of the flag, and the key of the checked values. */
  key: OptionKey;
  flag: string | null;
  env: readonly string[];
  yaml: readonly string[];
  defaultText: string;
}

/** osd's default for -jwt_issuer (pxd's plugin server). */
export const PXD_DEFAULT_ISSUER = 'openstorage.io';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

// ---- value checks, by kind. A message containing {from} is a sentence about its source; any other
// ---- is shown as `<source>: <message>` (settings.ts).

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);
const text = () => z.string({ error: 'expected text' });
function whole() {
  const expected = (i: { input: unknown }) => `expected a whole number ≥ 0, got ${show(i.input)}`;
  return z.number({ error: expected }).int({ error: expected, abort: true }).min(0, { error: expected, abort: true });
}
const yesNo = () => z.boolean({ error: (i) => `expected true or false, got ${show(i.input)}` });
const list = () => z.array(z.string(), { error: 'expected a list of text' });
/** DC/OS durations: any number of seconds in range; the value is not echoed (DC/OS settings never are). */
function seconds(min: number, max: number, minExclusive = false) {
  const error = `{from} must be a number of seconds ${minExclusive ? '>' : '≥'} ${min} and ≤ ${max}`;
  const n = z.number({ error });
  return (minExclusive ? n.gt(min, { error }) : n.min(min, { error })).max(max, { error });
}
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, said: string, echo = true) =>
  z.enum(values, { error: (i) => `must be ${said}${echo ? `, got ${show(i.input)}` : ''}` });
/** A check on the whole value, with a message that may quote it. */
const rule =
  <T>(problem: (v: T) => string | undefined) =>
  (v: T, ctx: z.RefinementCtx) => {
    const p = problem(v);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  };

function backendProblem(url: string): string | undefined {
  if (url.startsWith('unix://'))
    return url.slice('unix://'.length).startsWith('/') ? undefined : `${url} must be unix:///absolute/path.sock`;
  if (url.startsWith('local:')) return url.length > 'local:'.length ? undefined : 'local:<dir> needs a folder';
  return `${show(url)} is neither unix:///path.sock nor local:<dir>`;
}

/** `/pwx/secrets/` → `pwx/secrets`; empty → no base path. */
function basePath(p: string, ctx: z.RefinementCtx): string | undefined {
  const trimmed = p.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return undefined;
  if (trimmed.split('/').some((s) => s === '.' || s === '..' || !/^[A-Za-z0-9_.-]+$/.test(s))) {
    ctx.addIssue({ code: 'custom', message: `${show(p)} is not a clean secret path (letters, digits, _ . - and single /)` });
    return z.NEVER;
  }
  return trimmed;
}

const serve = <T extends z.ZodType>(r: Omit<Row<T>, 'group'>): Row<T> => ({ group: 'serve', ...r });
const dcos = <T extends z.ZodType>(r: Omit<Row<T>, 'group'>): Row<T> => ({ group: 'dcos', ...r });

const TABLE = {
  config: serve({
    flag: '--config <file>',
    env: ['PXD_AUTH_CONFIG'],
    yaml: [],
    kind: 'string',
    type: text().optional(),
    description: 'YAML configuration file (flags and environment take precedence over it)',
  }),
  socket: serve({
    flag: '--socket <path>',
    env: ['PXD_AUTH_SOCKET'],
    kind: 'string',
    type: text().default('/run/docker/plugins/pxd-auth.sock'),
    description: 'unix socket the plugin listens on (dockerd finds /run/docker/plugins/<name>.sock)',
  }),
  socketGroup: serve({
    flag: '--socket-group <group>',
    env: ['PXD_AUTH_SOCKET_GROUP'],
    kind: 'string',
    type: z.union([z.string(), z.number().int()], { error: 'expected a group name or gid' }).transform(String).optional(),
    defaultText: "(owner's group)",
    description: 'group (name or gid) given the socket; mode is always 0660',
  }),
  backend: serve({
    flag: '--backend <url>',
    env: ['PXD_AUTH_BACKEND'],
    kind: 'string',
    type: text().superRefine(rule(backendProblem)).default('unix:///run/docker/plugins/pxd.sock'),
    description: 'where requests go: unix://<pxd socket>, or local:<dir> for the built-in volume driver',
  }),
  mountsRoot: serve({
    flag: '--mounts-root <dir>',
    env: ['PXD_AUTH_MOUNTS_ROOT'],
    kind: 'string',
    type: text().default('/var/lib/osd/mounts'),
    defaultText: '/var/lib/osd/mounts (local:<dir> → <dir>/mounts)',
    description: 'every Mountpoint the backend returns must be under this folder',
  }),
  backendTimeout: serve({
    flag: '--backend-timeout <seconds>',
    env: ['PXD_AUTH_BACKEND_TIMEOUT'],
    kind: 'int',
    type: whole()
      .min(1, 'must be between 1 and 110 seconds (Docker gives up after 120)')
      .max(110, 'must be between 1 and 110 seconds (Docker gives up after 120)')
      .default(90),
    description: "longest wait for one backend call (always kept inside Docker's own 1 and 2 minute limits)",
  }),
  scope: serve({
    flag: '--scope <scope>',
    env: ['PXD_AUTH_SCOPE'],
    kind: 'string',
    type: oneOf(['global', 'local'], 'global or local').optional(),
    defaultText: "(the backend's answer)",
    description: 'override the Capabilities scope: global or local',
  }),
  secrets: serve({
    flag: '--secrets <store>',
    env: ['PXD_AUTH_SECRETS'],
    kind: 'string',
    type: text()
      .superRefine(rule((s: string) => (s === 'dcos' || /^file:./.test(s) ? undefined : `${show(s)} is neither dcos nor file:<dir>`)))
      .default('dcos'),
    description: 'where token_secret values are read: dcos, or file:<dir> (a secret is the file <dir>/<path>)',
  }),
  secretsBasePath: serve({
    flag: '--secrets-base-path <path>',
    env: ['PXD_AUTH_SECRETS_BASE_PATH', 'DCOS_SECRETS_BASE_PATH'],
    yaml: ['secretsBasePath', 'dcos.DCOS_SECRETS_BASE_PATH'],
    kind: 'string',
    type: text().transform(basePath).optional(),
    defaultText: '(none: top level)',
    description: 'token_secret paths are read under this path; nothing outside it is ever read',
  }),
  referencesPath: serve({
    flag: '--references-path <path>',
    env: ['PXD_AUTH_REFERENCES_PATH'],
    kind: 'string',
    type: text()
      .default('pxd-auth-proxy/volumes')
      .transform((p, ctx) => (p === 'none' ? undefined : basePath(p, ctx))),
    defaultText: 'pxd-auth-proxy/volumes',
    description:
      'with the DC/OS store: the Secret Store folder where each -o token_secret reference is recorded for every agent (none: only this agent remembers)',
  }),
  fleetConfig: serve({
    flag: '--fleet-config <path>',
    env: ['PXD_AUTH_FLEET_CONFIG'],
    kind: 'string',
    type: text().transform(basePath).optional(),
    defaultText: '(none: the YAML file only)',
    description:
      "with the DC/OS store: the Secret Store path of the fleet document, whose policy, issuers and volumeSecrets replace the YAML file's on every agent; read at start and every --fleet-config-interval",
  }),
  fleetConfigInterval: serve({
    flag: '--fleet-config-interval <seconds>',
    env: ['PXD_AUTH_FLEET_CONFIG_INTERVAL'],
    kind: 'int',
    type: whole().min(1, 'must be between 1 and 86400 seconds').max(86_400, 'must be between 1 and 86400 seconds').default(60),
    description: 'how often the fleet document is read again, ±10 % at random so that agents do not all read in the same second',
  }),
  stateDir: serve({
    flag: '--state-dir <dir>',
    env: ['PXD_AUTH_STATE_DIR'],
    kind: 'string',
    type: text().default('/var/lib/pxd-auth-proxy'),
    description: 'folder of the state file (token references given with -o token_secret, known volumes)',
  }),
  jwtIssuer: serve({
    flag: '--jwt-issuer <iss>',
    env: ['PXD_AUTH_JWT_ISSUER', 'PORTWORX_AUTH_JWT_ISSUER'],
    kind: 'string',
    type: text().optional(),
    defaultText: `${PXD_DEFAULT_ISSUER} when a key is given (as osd)`,
    description: 'trusted token issuer (exact iss); more issuers through the YAML file',
  }),
  jwtSharedSecret: serve({
    flag: '--jwt-shared-secret <secret>',
    env: ['PORTWORX_AUTH_JWT_SHAREDSECRET', 'OPENSTORAGE_AUTH_SHAREDSECRET'],
    kind: 'string',
    type: text().optional(),
    sensitive: true,
    description: 'HS256/384/512 key of that issuer (prefer the environment: flags show in ps)',
  }),
  jwtSharedSecretFile: serve({
    flag: '--jwt-shared-secret-file <file>',
    env: ['PXD_AUTH_JWT_SHARED_SECRET_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'file holding the shared secret',
  }),
  jwtRsaPubkeyFile: serve({
    flag: '--jwt-rsa-pubkey-file <file>',
    env: ['PXD_AUTH_JWT_RSA_PUBKEY_FILE', 'PORTWORX_AUTH_JWT_RSA_PUBKEY_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'RSA public key (PEM) of that issuer: RS256/384/512',
  }),
  jwtEcdsPubkeyFile: serve({
    flag: '--jwt-ecds-pubkey-file <file>',
    env: ['PXD_AUTH_JWT_ECDS_PUBKEY_FILE', 'PORTWORX_AUTH_JWT_ECDS_PUBKEY_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'ECDSA public key (PEM) of that issuer: ES256/384/512',
  }),
  usernameClaim: serve({
    flag: '--username-claim <claim>',
    env: ['PXD_AUTH_USERNAME_CLAIM', 'PORTWORX_AUTH_USERNAME_CLAIM'],
    kind: 'string',
    type: oneOf(['sub', 'email', 'name'], 'sub, email or name').default('sub'),
    description: 'claim naming the volume owner: sub, email or name (must match pxd)',
  }),
  clockTolerance: serve({
    flag: '--clock-tolerance <seconds>',
    env: ['PXD_AUTH_CLOCK_TOLERANCE'],
    kind: 'int',
    type: whole().default(0),
    description: 'leeway on exp/nbf/iat (pxd has none: a token pxd would refuse is refused here)',
  }),
  requiredClaims: serve({
    flag: '--required-claims <list>',
    env: ['PXD_AUTH_REQUIRED_CLAIMS'],
    kind: 'list',
    type: list().default([...PXD_REQUIRED_CLAIMS]),
    description: 'claims every token must carry (comma-separated)',
  }),
  tokenCacheSize: serve({
    flag: '--token-cache-size <n>',
    env: ['PXD_AUTH_TOKEN_CACHE_SIZE'],
    kind: 'int',
    type: whole().default(10_000),
    description: 'verified tokens kept (until their exp); 0 disables',
  }),
  logLevel: serve({
    flag: '--log-level <level>',
    env: ['PXD_AUTH_LOG_LEVEL'],
    kind: 'string',
    type: oneOf(LOG_LEVELS, `one of ${LOG_LEVELS.join(', ')}`, false).default('info'),
    description: 'trace, debug, info, warn, error or silent',
  }),
  logPretty: serve({
    flag: '--log-pretty',
    env: ['PXD_AUTH_LOG_PRETTY'],
    kind: 'bool',
    type: yesNo().default(false),
    description: 'human-readable logs instead of JSON lines',
  }),
  adminListen: serve({
    flag: '--admin-listen <addr>',
    env: ['PXD_AUTH_ADMIN_LISTEN'],
    kind: 'string',
    type: text()
      .superRefine(
        rule((a: string) =>
          /^unix:.+/.test(a) || /^[^:]*:\d{1,5}$/.test(a) ? undefined : `${show(a)} is neither host:port nor unix:<path>`,
        ),
      )
      .optional(),
    defaultText: '(off)',
    description: 'admin HTTP listener for /metrics, /healthz, /readyz: host:port or unix:<path>',
  }),
  embedded: serve({
    flag: '--embedded',
    env: ['PXD_AUTH_EMBEDDED'],
    kind: 'bool',
    type: yesNo().default(false),
    description: 'try-it mode: a state folder ./.pxd-auth with a local backend, file secrets, a generated key and tokens',
  }),

  // The DC/OS secret store: read when --secrets is dcos. Its logins and files are checked in dcos.ts.
  dcosUrl: dcos({
    flag: '--dcos-url <url>',
    env: ['DCOS_CLUSTER_URL'],
    kind: 'string',
    type: text().default(DCOS_DEFAULTS.url),
    description: 'DC/OS cluster URL (Admin Router); the IAM and the Secret Store are reached through it',
  }),
  dcosCaFile: dcos({
    flag: '--dcos-ca-file <file>',
    env: ['DCOS_SECRETS_CA_CERT_FILE'],
    kind: 'string',
    type: text().optional(),
    description:
      "PEM file with the cluster CA (dcos-ca.crt); without it the default trust store is used (Node's CAs plus NODE_EXTRA_CA_CERTS)",
  }),
  dcosInsecure: dcos({
    flag: '--dcos-insecure',
    env: [],
    kind: 'bool',
    type: yesNo().default(false),
    description: 'Do not verify the TLS certificate of DC/OS (testing only; logged as a warning at start)',
  }),
  dcosUsername: dcos({
    flag: '--dcos-username <uid>',
    env: ['DCOS_SECRETS_USERNAME'],
    kind: 'string',
    type: text().optional(),
    description: 'Log in as this DC/OS user (with a password)',
  }),
  dcosUsernameFile: dcos({
    env: ['DCOS_SECRETS_USERNAME_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'File holding the DC/OS user name',
  }),
  dcosPassword: dcos({
    env: ['DCOS_SECRETS_PASSWORD'],
    kind: 'string',
    type: text().optional(),
    sensitive: true,
    description: 'Password of the DC/OS user',
  }),
  dcosPasswordFile: dcos({
    flag: '--dcos-password-file <file>',
    env: ['DCOS_SECRETS_PASSWORD_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'File holding the password of the DC/OS user',
  }),
  dcosServiceAccount: dcos({
    flag: '--dcos-service-account <uid>',
    env: ['DCOS_SERVICE_ACCOUNT'],
    kind: 'string',
    type: text().optional(),
    description: 'Log in as this DC/OS service account (with a private key)',
  }),
  dcosPrivateKeyFile: dcos({
    flag: '--dcos-private-key-file <file>',
    env: ['DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'RSA private key of the service account (PEM, PKCS#8 or PKCS#1, unencrypted)',
  }),
  dcosCredential: dcos({
    env: ['DCOS_SERVICE_ACCOUNT_CREDENTIAL'],
    kind: 'string',
    type: text().optional(),
    sensitive: true,
    description: 'Service account credential JSON (uid, private_key, login_endpoint, scheme) as DC/OS injects it',
  }),
  dcosCredentialFile: dcos({
    flag: '--dcos-credential-file <file>',
    env: ['DCOS_SERVICE_ACCOUNT_CREDENTIAL_FILE'],
    kind: 'string',
    type: text().optional(),
    description: 'File holding the service account credential JSON',
  }),
  secretCacheTtl: dcos({
    flag: '--secret-cache-ttl <seconds>',
    env: ['PXD_AUTH_SECRET_CACHE_TTL'],
    kind: 'seconds',
    type: seconds(0, 86_400).default(DCOS_DEFAULTS.cacheTtlSec),
    description: 'How long a token read from the secret store is used before it is read again',
  }),
  secretMaxStale: dcos({
    flag: '--secret-max-stale <seconds>',
    env: ['PXD_AUTH_SECRET_MAX_STALE'],
    kind: 'seconds',
    type: seconds(0, 86_400).default(DCOS_DEFAULTS.maxStaleSec),
    description: "How long past that a cached token may still be used while the secret store is failing (never past the token's exp)",
  }),
  dcosTimeout: dcos({
    flag: '--dcos-timeout <seconds>',
    env: ['PXD_AUTH_DCOS_TIMEOUT'],
    kind: 'seconds',
    type: seconds(0, 45, true).default(DCOS_DEFAULTS.timeoutSec),
    description: 'Timeout of one request to DC/OS (at most 45; one read, login and retry included, never takes more than 45 s)',
  }),
} satisfies Record<string, Row>;

export type OptionKey = keyof typeof TABLE;
/** The schema's shape: every option's check, with its default. */
export type OptionShape = { [K in OptionKey]: (typeof TABLE)[K]['type'] };

/** The default as the reference prints it (`iss,sub,...` for a list), or null when there is none. */
function shownDefault(type: z.ZodType): string | null {
  if (!(type instanceof z.ZodDefault)) return null;
  const v: unknown = type.def.defaultValue;
  return Array.isArray(v) ? v.join(',') : String(v);
}

export const OPTIONS: readonly OptionSpec[] = Object.freeze(
  (Object.entries(TABLE) as Array<[OptionKey, Row]>).map(([key, r]): OptionSpec => {
    const env = r.env ?? [];
    return Object.freeze({
      ...r,
      key,
      flag: r.flag ?? null,
      env: Object.freeze([...env]),
      yaml: Object.freeze([...(r.yaml ?? (r.group === 'serve' ? [key] : env.map((e) => `dcos.${e}`)))]),
      defaultText: r.defaultText ?? shownDefault(r.type) ?? '(none)',
    });
  }),
);

export const OPTION_SHAPE: OptionShape = Object.fromEntries(OPTIONS.map((o) => [o.key, o.type])) as OptionShape;

export function option(key: OptionKey): OptionSpec {
  return OPTIONS.find((o) => o.key === key)!;
}

/** `--backend-timeout` from `--backend-timeout <seconds>`. */
export function flagName(o: OptionSpec): string | null {
  return o.flag?.split(' ')[0] ?? null;
}

/** Every name an option goes by: `--backend, PXD_AUTH_BACKEND or backend: in the YAML file`. */
export function optionNames(o: OptionSpec): string {
  const names = [flagName(o), ...o.env, ...(o.yaml.length ? [`${o.yaml.join(' or ')}: in the YAML file`] : [])].filter(
    (n): n is string => !!n,
  );
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

/** What doctor says to do about a problem: for one about an option, its names, meaning and default from this table. */
export function optionFix(key: OptionKey | undefined): string {
  if (key === undefined) return 'correct the flag, environment variable or YAML key named above';
  const o = option(key);
  return `correct ${optionNames(o)} (${o.description}; default: ${o.defaultText})`;
}

/** The keys of the YAML file's `dcos:` section: the DC/OS settings first, then the others written there. */
export const DCOS_YAML_KEYS: readonly string[] = Object.freeze(
  [...OPTIONS.filter((o) => o.group === 'dcos'), ...OPTIONS.filter((o) => o.group !== 'dcos')]
    .flatMap((o) => o.yaml)
    .filter((k) => k.startsWith('dcos.'))
    .map((k) => k.slice('dcos.'.length)),
);

/** The serve options (flags of the proxy itself), in table order. */
export const SERVE_OPTIONS = OPTIONS.filter((o): o is OptionSpec & { flag: string } => o.group === 'serve' && o.flag !== null);

/** The DC/OS rows in the form the DC/OS tests and docs list them: a flag's name and its argument apart. */
export interface DcosOption {
  flag: string | null;
  key: string | null;
  arg: string | null;
  env: string | null;
  description: string;
  default: string | null;
}
export const DCOS_OPTIONS: readonly DcosOption[] = Object.freeze(
  OPTIONS.filter((o) => o.group === 'dcos').map((o) => ({
    flag: flagName(o),
    key: o.flag ? o.key : null,
    arg: o.flag?.split(' ')[1] ?? null,
    env: o.env[0] ?? null,
    description: o.description,
    default: shownDefault(o.type),
  })),
);
