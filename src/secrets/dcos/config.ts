/**
 * Configuration of the DC/OS secret store: flags over environment variables, files read, everything
 * validated at once (every problem listed together, none echoing a value), then frozen.
 *
 * Secret material never sits in the config as a plain string: the password is a `SecretText`
 * (prints as `[redacted]`), the private key a node `KeyObject` (prints without key material).
 */
import { createPrivateKey, KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { z } from 'zod';

/** A secret string that does not leak through `String()`, `JSON.stringify` or `util.inspect`. */
export class SecretText {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The value itself: only for the wire. */
  reveal(): string {
    return this.#value;
  }
  /** Whether both hold the same value (a reload must notice a changed password that prints the same). */
  equals(other: SecretText): boolean {
    return this.#value === other.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'SecretText([redacted])';
  }
}

export const DEFAULT_DCOS_URL = 'https://master.mesos';
export const LOGIN_PATH = '/acs/api/v1/auth/login';

// KeyObject's constructor is private, so z.instanceof() cannot take it.
const rsaPrivateKey = z.custom<KeyObject>(
  (k) => k instanceof KeyObject && k.type === 'private' && k.asymmetricKeyType === 'rsa',
  'must be an RSA private key (KeyObject)',
);

export const DcosLoginSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('password'),
    uid: z.string().min(1),
    password: z.instanceof(SecretText),
  }),
  z.object({
    kind: z.literal('service-account'),
    uid: z.string().min(1),
    privateKey: rsaPrivateKey,
    /** Where the key came from, for logs (`key-file` or `credential`). */
    source: z.enum(['key-file', 'credential']),
  }),
]);

export const DcosConfigSchema = z.object({
  /** Cluster URL (Admin Router), no trailing slash. */
  url: z.string().min(1),
  /**
   * Login endpoint: `<url>/acs/api/v1/auth/login`, or the credential's `login_endpoint` (upgraded to
   * https://) when the cluster URL was left at its default.
   */
  loginUrl: z.string().min(1),
  /** Where loginUrl came from (for the start-up log line). */
  loginUrlFrom: z.enum(['cluster-url', 'credential']).default('cluster-url'),
  /** The credential's `login_endpoint` as written, when it has one (a URL, for log lines only). */
  credentialLoginEndpoint: z.string().optional(),
  /** CA file path (for messages) and its PEM text. Neither: the default trust store. */
  caFile: z.string().optional(),
  caPem: z.string().optional(),
  /** Skip TLS verification (explicit `--dcos-insecure` only; logged loudly). */
  insecure: z.boolean().default(false),
  login: DcosLoginSchema,
  /** How long a fetched secret is trusted before it is read again. */
  cacheTtlSec: z.number().min(0).max(86_400).default(60),
  /** How long past its TTL a cached secret may still serve while DC/OS fails (never past its exp). */
  maxStaleSec: z.number().min(0).max(86_400).default(300),
  /** Timeout of one HTTP request to DC/OS. */
  timeoutSec: z.number().gt(0).max(45).default(20),
  /** Upper bound for one read, login and retry included (Docker's own budget is larger). */
  readBudgetSec: z.number().gt(0).max(45).default(45),
  cacheMaxEntries: z.number().int().min(1).max(1_000_000).default(1000),
  /** After DC/OS refused the credentials, fail fast for this long before trying again. */
  loginBackoffSec: z.number().min(0).max(3600).default(30),
  /** How long a `ready()` answer is reused. */
  readyCacheSec: z.number().min(0).max(300).default(5),
});

export type DcosConfig = Readonly<z.output<typeof DcosConfigSchema>>;
export type DcosConfigInput = z.input<typeof DcosConfigSchema>;
export type DcosLogin = z.output<typeof DcosLoginSchema>;

/** Validate and freeze a config built in code (tests, embedding). Throws on a bad shape. */
export function makeDcosConfig(input: DcosConfigInput): DcosConfig {
  return Object.freeze(DcosConfigSchema.parse(input));
}

/**
 * Whether a store built from `b` would be the same as one built from `a`. JSON compares everything
 * but the password and the key, which print redacted; those are compared themselves.
 */
export function sameDcosConfig(a: DcosConfig, b: DcosConfig): boolean {
  if (JSON.stringify(a) !== JSON.stringify(b)) return false;
  const x = a.login;
  const y = b.login;
  if (x.kind === 'password' && y.kind === 'password') return x.password.equals(y.password);
  if (x.kind === 'service-account' && y.kind === 'service-account') return x.privateKey.equals(y.privateKey);
  return false;
}

/** The flags, as commander names them (camelCase of the long flag). */
export interface DcosFlags {
  dcosUrl: string;
  dcosCaFile: string;
  dcosInsecure: boolean;
  dcosUsername: string;
  dcosPasswordFile: string;
  dcosServiceAccount: string;
  dcosPrivateKeyFile: string;
  dcosCredentialFile: string;
  secretCacheTtl: string | number;
  secretMaxStale: string | number;
  dcosTimeout: string | number;
}

export interface DcosOption {
  /** Long flag, or null when the setting is environment-only (e.g. a password, which must not show up in `ps`). */
  flag: string | null;
  /** commander's attribute name of the flag. */
  key: keyof DcosFlags | null;
  /** Value placeholder for the help text (`<url>`), null for a boolean flag. */
  arg: string | null;
  /** Environment variable, or null when flag-only. */
  env: string | null;
  description: string;
  default: string | null;
}

/** Rows for the CLI help and the README table. A flag beats its environment variable. */
export const DCOS_OPTIONS: readonly DcosOption[] = Object.freeze([
  { flag: '--dcos-url', key: 'dcosUrl', arg: '<url>', env: 'DCOS_CLUSTER_URL', default: DEFAULT_DCOS_URL,
    description: 'DC/OS cluster URL (Admin Router); the IAM and the Secret Store are reached through it' },
  { flag: '--dcos-ca-file', key: 'dcosCaFile', arg: '<file>', env: 'DCOS_SECRETS_CA_CERT_FILE', default: null,
    description: 'PEM file with the cluster CA (dcos-ca.crt); without it the default trust store is used (Node\'s CAs plus NODE_EXTRA_CA_CERTS)' },
  { flag: '--dcos-insecure', key: 'dcosInsecure', arg: null, env: null, default: 'false',
    description: 'Do not verify the TLS certificate of DC/OS (testing only; logged as a warning at start)' },
  { flag: '--dcos-username', key: 'dcosUsername', arg: '<uid>', env: 'DCOS_SECRETS_USERNAME', default: null,
    description: 'Log in as this DC/OS user (with a password)' },
  { flag: null, key: null, arg: null, env: 'DCOS_SECRETS_USERNAME_FILE', default: null,
    description: 'File holding the DC/OS user name' },
  { flag: null, key: null, arg: null, env: 'DCOS_SECRETS_PASSWORD', default: null,
    description: 'Password of the DC/OS user' },
  { flag: '--dcos-password-file', key: 'dcosPasswordFile', arg: '<file>', env: 'DCOS_SECRETS_PASSWORD_FILE', default: null,
    description: 'File holding the password of the DC/OS user' },
  { flag: '--dcos-service-account', key: 'dcosServiceAccount', arg: '<uid>', env: 'DCOS_SERVICE_ACCOUNT', default: null,
    description: 'Log in as this DC/OS service account (with a private key)' },
  { flag: '--dcos-private-key-file', key: 'dcosPrivateKeyFile', arg: '<file>', env: 'DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE', default: null,
    description: 'RSA private key of the service account (PEM, PKCS#8 or PKCS#1, unencrypted)' },
  { flag: null, key: null, arg: null, env: 'DCOS_SERVICE_ACCOUNT_CREDENTIAL', default: null,
    description: 'Service account credential JSON (uid, private_key, login_endpoint, scheme) as DC/OS injects it' },
  { flag: '--dcos-credential-file', key: 'dcosCredentialFile', arg: '<file>', env: 'DCOS_SERVICE_ACCOUNT_CREDENTIAL_FILE', default: null,
    description: 'File holding the service account credential JSON' },
  { flag: '--secret-cache-ttl', key: 'secretCacheTtl', arg: '<seconds>', env: 'PXD_AUTH_SECRET_CACHE_TTL', default: '60',
    description: 'How long a token read from the secret store is used before it is read again' },
  { flag: '--secret-max-stale', key: 'secretMaxStale', arg: '<seconds>', env: 'PXD_AUTH_SECRET_MAX_STALE', default: '300',
    description: 'How long past that a cached token may still be used while the secret store is failing (never past the token\'s exp)' },
  { flag: '--dcos-timeout', key: 'dcosTimeout', arg: '<seconds>', env: 'PXD_AUTH_DCOS_TIMEOUT', default: '20',
    description: 'Timeout of one request to DC/OS (at most 45; one read, login and retry included, never takes more than 45 s)' },
] satisfies DcosOption[]);

/** Portworx's name for the base path; read by the config loader, also in the YAML `dcos:` section. */
export const DCOS_BASE_PATH_ENV = 'DCOS_SECRETS_BASE_PATH';

/** The keys the YAML `dcos:` section accepts: the environment names above, and the base path. */
export const DCOS_YAML_KEYS: readonly string[] = Object.freeze([
  ...DCOS_OPTIONS.flatMap((o) => (o.env ? [o.env] : [])),
  DCOS_BASE_PATH_ENV,
]);

export interface DcosConfigResult {
  config?: DcosConfig;
  problems: string[];
}

interface Source {
  value: string;
  /** Human name of where it came from: `--dcos-username` or `DCOS_SECRETS_USERNAME`. */
  from: string;
  /** A problem was already reported for it (unreadable file, both variants set). */
  failed?: boolean;
}

function present(v: string | undefined): v is string {
  return v !== undefined && v !== '';
}

/** Drop one trailing newline (files written by `echo`), nothing else: a password may end with spaces. */
function chompNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

const DEFAULT_URL_FROM = 'the default URL';

/** `http://host/path` → `https://host/path`; anything else unchanged (checkUrl judges it). */
function upgradeHttp(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:') return raw;
    u.protocol = 'https:';
    return u.href;
  } catch {
    return raw;
  }
}

/** A URL for a log line: scheme, host and path only (no user info, query or fragment), or a placeholder. */
function loggableUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/**
 * Build the DC/OS store configuration from flags (commander's camelCase names) over the environment.
 * Reads `_FILE` variants, key and CA files. Returns every problem found; `config` only when there is none.
 */
export function dcosConfigFromEnv(env: NodeJS.ProcessEnv, flags: Partial<DcosFlags> = {}): DcosConfigResult {
  const problems: string[] = [];

  const readText = (file: string, what: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      problems.push(`${what}: cannot read the file ${file} (${code})`);
      return undefined;
    }
  };

  // A value given directly or through a _FILE variant (never both from the environment).
  const valueOrFile = (
    flagValue: string | undefined, flagName: string | null,
    flagFile: string | undefined, flagFileName: string | null,
    envName: string, envFileName: string,
    trim: (s: string) => string,
  ): Source | undefined => {
    if (flagName && present(flagValue)) return { value: flagValue, from: flagName };
    if (flagFileName && present(flagFile)) {
      const text = readText(flagFile, flagFileName);
      return text === undefined ? { value: '', from: flagFileName, failed: true } : { value: trim(text), from: flagFileName };
    }
    const direct = env[envName];
    const file = env[envFileName];
    if (present(direct) && present(file)) {
      problems.push(`both ${envName} and ${envFileName} are set: set only one`);
      return { value: '', from: envName, failed: true };
    }
    // Trimmed as the file: a value injected from a DC/OS secret often ends with a newline.
    if (present(direct)) return { value: trim(direct), from: envName };
    if (present(file)) {
      const text = readText(file, envFileName);
      return text === undefined ? { value: '', from: envFileName, failed: true } : { value: trim(text), from: envFileName };
    }
    return undefined;
  };

  const pick = (flagValue: string | undefined, flagName: string, envName: string): Source | undefined => {
    if (present(flagValue)) return { value: flagValue, from: flagName };
    const v = env[envName];
    return present(v) ? { value: v, from: envName } : undefined;
  };

  const seconds = (
    flagValue: string | number | undefined, flagName: string, envName: string,
    def: number, min: number, max: number, minExclusive: boolean,
  ): number => {
    let raw: string | number | undefined = flagValue;
    let from = flagName;
    if (raw === undefined || raw === '') {
      raw = env[envName];
      from = envName;
    }
    if (raw === undefined || raw === '') return def;
    const n = typeof raw === 'number' ? raw : Number(raw.trim());
    const low = minExclusive ? n <= min : n < min;
    if (!Number.isFinite(n) || low || n > max) {
      problems.push(`${from} must be a number of seconds ${minExclusive ? '>' : '≥'} ${min} and ≤ ${max}`);
      return def;
    }
    return n;
  };

  // --- TLS
  const insecure = flags.dcosInsecure === true;
  const caSrc = pick(flags.dcosCaFile, '--dcos-ca-file', 'DCOS_SECRETS_CA_CERT_FILE');
  let caPem: string | undefined;
  if (caSrc) {
    if (insecure) problems.push(`--dcos-insecure and ${caSrc.from} exclude each other: verify with the CA, or (testing only) do not verify`);
    const text = readText(caSrc.value, caSrc.from);
    if (text !== undefined) {
      if (!text.includes('-----BEGIN CERTIFICATE-----')) {
        problems.push(`${caSrc.from}: the file ${caSrc.value} holds no PEM certificate (expected the cluster CA, dcos-ca.crt)`);
      } else {
        try {
          new X509Certificate(text);
          caPem = text;
        } catch {
          problems.push(`${caSrc.from}: the file ${caSrc.value} holds a PEM certificate that cannot be parsed`);
        }
      }
    }
  }

  const checkUrl = (raw: string, from: string): string | undefined => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      problems.push(`${from} is not a URL (expected e.g. ${DEFAULT_DCOS_URL})`);
      return undefined;
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && insecure)) {
      problems.push(`${from} must be an https:// URL (http:// only with --dcos-insecure)`);
      return undefined;
    }
    if (u.username || u.password) {
      problems.push(`${from} must not hold a user name or password`);
      return undefined;
    }
    if (u.search || u.hash) {
      problems.push(`${from} must not have a query or fragment`);
      return undefined;
    }
    return u.href.replace(/\/+$/, '');
  };

  // --- Cluster URL
  const urlSrc = pick(flags.dcosUrl, '--dcos-url', 'DCOS_CLUSTER_URL') ?? { value: DEFAULT_DCOS_URL, from: DEFAULT_URL_FROM };
  const url = checkUrl(urlSrc.value, urlSrc.from);

  // --- Login: user + password
  const username = valueOrFile(
    flags.dcosUsername, '--dcos-username', undefined, null,
    'DCOS_SECRETS_USERNAME', 'DCOS_SECRETS_USERNAME_FILE', (s) => s.trim(),
  );
  const password = valueOrFile(
    undefined, null, flags.dcosPasswordFile, '--dcos-password-file',
    'DCOS_SECRETS_PASSWORD', 'DCOS_SECRETS_PASSWORD_FILE', chompNewline,
  );
  // --- Login: service account + key file
  const saUid = pick(flags.dcosServiceAccount, '--dcos-service-account', 'DCOS_SERVICE_ACCOUNT');
  const keyFile = pick(flags.dcosPrivateKeyFile, '--dcos-private-key-file', 'DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE');
  // --- Login: credential JSON
  const credential = valueOrFile(
    undefined, null, flags.dcosCredentialFile, '--dcos-credential-file',
    'DCOS_SERVICE_ACCOUNT_CREDENTIAL', 'DCOS_SERVICE_ACCOUNT_CREDENTIAL_FILE', (s) => s,
  );

  const modes: string[] = [];
  if (username || password) modes.push(`a user (${[username?.from, password?.from].filter(Boolean).join(', ')})`);
  if (saUid || keyFile) modes.push(`a service account (${[saUid?.from, keyFile?.from].filter(Boolean).join(', ')})`);
  if (credential) modes.push(`a service account credential (${credential.from})`);

  const loadKey = (pem: string, from: string): KeyObject | undefined => {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch {
      problems.push(
        `${from}: no readable private key (expected an unencrypted PEM RSA key: PKCS#8 "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA PRIVATE KEY")`,
      );
      return undefined;
    }
    if (key.asymmetricKeyType !== 'rsa') {
      problems.push(`${from}: the key is ${key.asymmetricKeyType ?? 'not RSA'}; DC/OS service accounts sign with RSA (RS256)`);
      return undefined;
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) {
      problems.push(`${from}: the RSA key has ${bits} bits; RS256 needs at least 2048`);
      return undefined;
    }
    return key;
  };

  let login: DcosLogin | undefined;
  let loginUrl: string | undefined = url === undefined ? undefined : `${url}${LOGIN_PATH}`;
  let loginUrlFrom: 'cluster-url' | 'credential' = 'cluster-url';
  let credentialLoginEndpoint: string | undefined;
  if (modes.length === 0) {
    problems.push(
      'no DC/OS login is configured: set DCOS_SECRETS_USERNAME with DCOS_SECRETS_PASSWORD (or DCOS_SECRETS_PASSWORD_FILE), ' +
        'or DCOS_SERVICE_ACCOUNT with DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE, or DCOS_SERVICE_ACCOUNT_CREDENTIAL (or its _FILE variant)',
    );
  } else if (modes.length > 1) {
    problems.push(`more than one DC/OS login is configured: ${modes.join('; ')}. Keep exactly one`);
  } else if (username || password) {
    if (!username) problems.push(`${password!.from} is set but no user name: set DCOS_SECRETS_USERNAME (or --dcos-username)`);
    else if (username.value === '' && !username.failed) problems.push(`${username.from}: the user name is empty`);
    if (!password) problems.push(`${username!.from} is set but no password: set DCOS_SECRETS_PASSWORD or DCOS_SECRETS_PASSWORD_FILE (or --dcos-password-file)`);
    else if (password.value === '' && !password.failed) problems.push(`${password.from}: the password is empty`);
    if (username?.value && password?.value) {
      login = { kind: 'password', uid: username.value, password: new SecretText(password.value) };
    }
  } else if (saUid || keyFile) {
    if (!saUid) problems.push(`${keyFile!.from} is set but no account: set DCOS_SERVICE_ACCOUNT (or --dcos-service-account)`);
    if (!keyFile) problems.push(`${saUid!.from} is set but no key: set DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE (or --dcos-private-key-file)`);
    let key: KeyObject | undefined;
    if (keyFile) {
      const pem = readText(keyFile.value, keyFile.from);
      if (pem !== undefined) key = loadKey(pem, `${keyFile.from} (${keyFile.value})`);
    }
    if (saUid && key) login = { kind: 'service-account', uid: saUid.value.trim(), privateKey: key, source: 'key-file' };
  } else if (credential) {
    const from = credential.from;
    let parsed: unknown;
    let ok = credential.value !== '';
    if (ok) {
      try {
        parsed = JSON.parse(credential.value);
      } catch {
        ok = false;
        problems.push(`${from} is not JSON (expected {"uid","private_key","login_endpoint","scheme"} as made by dcos security secrets create-sa-secret)`);
      }
    } else if (!credential.failed) {
      problems.push(`${from} is empty`);
    }
    if (ok) {
      const c = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>;
      const uid = typeof c['uid'] === 'string' ? c['uid'].trim() : '';
      if (uid === '') problems.push(`${from}: the credential has no "uid"`);
      if (c['scheme'] !== undefined && c['scheme'] !== 'RS256') {
        problems.push(`${from}: the credential's "scheme" is not RS256 (the only scheme DC/OS uses)`);
      }
      let key: KeyObject | undefined;
      if (typeof c['private_key'] !== 'string' || c['private_key'] === '') {
        problems.push(`${from}: the credential has no "private_key"`);
      } else {
        key = loadKey(c['private_key'], `${from} "private_key"`);
      }
      const endpoint = c['login_endpoint'];
      if (endpoint !== undefined && typeof endpoint !== 'string') {
        problems.push(`${from}: the credential's "login_endpoint" is not a string`);
      } else if (endpoint !== undefined && urlSrc.from !== DEFAULT_URL_FROM) {
        // All traffic goes through Admin Router: a cluster URL set on purpose (outside the cluster,
        // behind a load balancer) beats the credential's in-cluster host. Logged by the store.
        credentialLoginEndpoint = loggableUrl(endpoint);
      } else if (endpoint !== undefined) {
        credentialLoginEndpoint = loggableUrl(endpoint);
        // create-sa-secret without --strict writes http:// (permissive clusters); Admin Router serves
        // the same path over https://. Upgraded (logged by the store), never by skipping TLS checks.
        loginUrl = checkUrl(upgradeHttp(endpoint), `${from} "login_endpoint"`);
        loginUrlFrom = 'credential';
      }
      if (uid !== '' && key) login = { kind: 'service-account', uid, privateKey: key, source: 'credential' };
    }
  }

  // --- Cache and timeouts
  const cacheTtlSec = seconds(flags.secretCacheTtl, '--secret-cache-ttl', 'PXD_AUTH_SECRET_CACHE_TTL', 60, 0, 86_400, false);
  const maxStaleSec = seconds(flags.secretMaxStale, '--secret-max-stale', 'PXD_AUTH_SECRET_MAX_STALE', 300, 0, 86_400, false);
  const timeoutSec = seconds(flags.dcosTimeout, '--dcos-timeout', 'PXD_AUTH_DCOS_TIMEOUT', 20, 0, 45, true);

  if (problems.length > 0 || url === undefined || loginUrl === undefined || login === undefined) {
    if (problems.length === 0) problems.push('the DC/OS configuration is incomplete');
    return { problems };
  }
  const parsed = DcosConfigSchema.safeParse({
    url, loginUrl, loginUrlFrom, credentialLoginEndpoint, caFile: caSrc?.value, caPem, insecure, login, cacheTtlSec, maxStaleSec, timeoutSec,
  } satisfies DcosConfigInput);
  if (!parsed.success) {
    // Only shapes and bounds here; zod's messages name paths, not values.
    return { problems: parsed.error.issues.map((i) => `DC/OS configuration ${i.path.join('.')}: ${i.message}`) };
  }
  return { config: Object.freeze(parsed.data), problems: [] };
}

/** `dcos https://master.mesos as pwx-proxy` (for logs and `doctor`). */
export function describeDcosConfig(config: DcosConfig): string {
  return `dcos ${config.url} as ${config.login.uid}`;
}
