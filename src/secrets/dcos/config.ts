/**
 * What a DC/OS secret store is configured with: the shape, its defaults, and how two compare. It is
 * read from flags, the environment and the YAML file by the configuration loader (src/config/dcos.ts).
 *
 * Secret material never sits in the config as a plain string: the password is a `SecretText`
 * (prints as `[redacted]`), the private key a node `KeyObject` (prints without key material).
 */
import { KeyObject } from 'node:crypto';
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
/** The defaults of the settings an operator may change (the option table shows and applies these). */
export const DCOS_DEFAULTS = Object.freeze({ url: DEFAULT_DCOS_URL, cacheTtlSec: 60, maxStaleSec: 300, timeoutSec: 20 });
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
  cacheTtlSec: z.number().min(0).max(86_400).default(DCOS_DEFAULTS.cacheTtlSec),
  /** How long past its TTL a cached secret may still serve while DC/OS fails (never past its exp). */
  maxStaleSec: z.number().min(0).max(86_400).default(DCOS_DEFAULTS.maxStaleSec),
  /** Timeout of one HTTP request to DC/OS. */
  timeoutSec: z.number().gt(0).max(45).default(DCOS_DEFAULTS.timeoutSec),
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

/** `dcos https://master.mesos as pwx-proxy` (for logs and `doctor`). */
export function describeDcosConfig(config: DcosConfig): string {
  return `dcos ${config.url} as ${config.login.uid}`;
}
