/**
 * The error catalogue: one entry per code, holding every fact about it (as fastify's lib/errors.js
 * does): its summary, whether it is a refusal or an outage, whether a cached secret may be served
 * stale after it, and what to do about it. Everything else derives from here: the audit decision
 * (`verdictOf`), the secret cache's stale-if-error list (`staleServableCodes`), the doctor's fixes
 * (`fixFor`). docs/troubleshooting.md is the long form, one `#### \`CODE\`` section each
 * (test/unit/errors-catalogue.test.ts keeps the two in step).
 *
 * Messages are written for the person at the Docker CLI (what failed, for which volume / secret path,
 * what to do) and must never contain a token, a password, a key or a secret value. The text Docker
 * shows is `pxd-auth <CODE>: <message>` so operators can grep for the code.
 */
import { redact as scrub } from './redact.js';

/** How a failure is recorded: `deny`, the request was refused; `error`, it could not be decided or done (an outage, a bug). */
export type ErrorVerdict = 'deny' | 'error';

export interface ErrorEntry {
  /** What the code means, in one line (also the message when nothing better is known). */
  readonly summary: string;
  readonly verdict: ErrorVerdict;
  /** After this error a cached secret may be served past its TTL: the store is failing, not answering "no". */
  readonly staleServable: boolean;
  /** What to do, in one line. `{uid}` and `{url}` are filled by `fixFor`. */
  readonly fix: string;
}

export const ERROR_CODES = {
  // The plugin protocol (request shape)
  BODY_EMPTY: {
    summary: 'the request body is empty',
    verdict: 'deny',
    staleServable: false,
    fix: 'run the docker command again; if it repeats, check whether the proxy restarted and that only dockerd and dvdcli use the socket',
  },
  BODY_TOO_LARGE: {
    summary: 'the request body is too large',
    verdict: 'deny',
    staleServable: false,
    fix: 'find the client that sends it; keep tokens in secrets, not in volume names',
  },
  BODY_NOT_JSON: {
    summary: 'the request body is not JSON',
    verdict: 'deny',
    staleServable: false,
    fix: 'use docker or dvdcli; when testing with curl, send a JSON body',
  },
  BODY_INVALID: {
    summary: 'the request body does not have the expected shape',
    verdict: 'deny',
    staleServable: false,
    fix: 'send {"Name":"...","Opts":{...}} as the Docker volume plugin protocol does',
  },
  ENDPOINT_UNKNOWN: {
    summary: 'no such plugin endpoint',
    verdict: 'deny',
    staleServable: false,
    fix: 'point the client at a volume plugin endpoint; pxd-auth is a volume driver only',
  },
  METHOD_NOT_ALLOWED: {
    summary: 'plugin endpoints only accept POST',
    verdict: 'deny',
    staleServable: false,
    fix: 'use POST; health checks belong on the admin listener (GET /healthz)',
  },
  REQUEST_TIMEOUT: {
    summary: 'the request did not arrive in time',
    verdict: 'deny',
    staleServable: false,
    fix: 'find the client that holds connections open (ss -xp | grep pxd-auth.sock)',
  },

  // The volume name and options
  NAME_INVALID: {
    summary: 'the volume name or its inline options are malformed',
    verdict: 'deny',
    staleServable: false,
    fix: 'write key=value pairs separated by commas, ending with name=<volume>; values cannot contain ","',
  },
  NAME_DUPLICATE_KEY: {
    summary: 'an option is given twice',
    verdict: 'deny',
    staleServable: false,
    fix: 'give each option once',
  },
  NAME_UNSUPPORTED: {
    summary: 'the volume name cannot be expressed for pxd',
    verdict: 'deny',
    staleServable: false,
    fix: 'rename the volume: letters, digits, "_" and "-", at most 191 characters',
  },
  OPTS_INVALID: {
    summary: 'the -o options are malformed',
    verdict: 'deny',
    staleServable: false,
    fix: 'give options as -o key=value, each once; in Marathon JSON write values as strings',
  },
  SECRET_PATH_INVALID: {
    summary: 'the token_secret path is malformed',
    verdict: 'deny',
    staleServable: false,
    fix: 'name the secret plainly (token_secret=pwx/secrets/user1-token); a raw token goes in token=',
  },
  SECRET_PATH_OUTSIDE_BASE: {
    summary: 'the token_secret path is outside the allowed base path',
    verdict: 'deny',
    staleServable: false,
    fix: 'use a path under the base path, or a relative one',
  },
  PXD_READS_DIFFERENTLY: {
    summary: 'pxd would read the request differently from what the proxy checked',
    verdict: 'deny',
    staleServable: false,
    fix: 'give the volume a plain name and pass the option the message names with -o',
  },

  // Finding the token
  TOKEN_MISSING: {
    summary: 'no token was given for an authenticated operation',
    verdict: 'deny',
    staleServable: false,
    fix: 'put token_secret=<path> in the volume name, or map the volume to its secret in volumeSecrets',
  },
  TOKEN_TOO_LARGE: {
    summary: 'the token is too large',
    verdict: 'deny',
    staleServable: false,
    fix: 'store the JWT alone; keep groups short',
  },

  // Checking the token
  TOKEN_MALFORMED: {
    summary: 'the token is not a well-formed JWT',
    verdict: 'deny',
    staleServable: false,
    fix: 'store the JWT alone (no quotes, no "Bearer ", one token)',
  },
  TOKEN_ALG_UNSUPPORTED: {
    summary: 'the token is signed with an algorithm that is not accepted',
    verdict: 'deny',
    staleServable: false,
    fix: 'issue the token again signed with HS256, RS256 or ES256',
  },
  TOKEN_ISSUER_UNTRUSTED: {
    summary: 'the token issuer is not trusted',
    verdict: 'deny',
    staleServable: false,
    fix: "generate the token with pxd's issuer (-jwt_issuer), or trust the issuer in both the proxy and pxd",
  },
  TOKEN_KEY_MISSING: {
    summary: 'no key is configured for the token algorithm family of that issuer',
    verdict: 'deny',
    staleServable: false,
    fix: 'configure the key pxd uses for that issuer, or sign tokens with the key that is configured',
  },
  TOKEN_SIGNATURE_INVALID: {
    summary: 'the token signature does not verify',
    verdict: 'deny',
    staleServable: false,
    fix: "make the proxy's key equal to pxd's, then issue the token again with that key",
  },
  TOKEN_EXPIRED: {
    summary: 'the token has expired',
    verdict: 'deny',
    staleServable: false,
    fix: 'issue a new token and update the secret',
  },
  TOKEN_NOT_YET_VALID: {
    summary: 'the token is not valid yet (nbf or iat in the future)',
    verdict: 'deny',
    staleServable: false,
    fix: 'synchronise the clocks of the token issuer and this host',
  },
  TOKEN_CLAIM_MISSING: {
    summary: 'a required claim is missing from the token',
    verdict: 'deny',
    staleServable: false,
    fix: 'issue the token again with iss, sub, exp, iat, name and email (pxd-auth-proxy token generate writes all six)',
  },
  TOKEN_CLAIM_INVALID: {
    summary: 'a claim of the token has the wrong type or value',
    verdict: 'deny',
    staleServable: false,
    fix: 'issue the token again with claims of the right types (roles and groups as lists of strings)',
  },
  TOKEN_USERNAME_EMPTY: {
    summary: 'the username claim of the token is empty',
    verdict: 'deny',
    staleServable: false,
    fix: 'set sub (or the configured username claim) and issue the token again',
  },

  // Policy
  POLICY_ROLE_DENIED: {
    summary: 'none of the token roles may perform this operation',
    verdict: 'deny',
    staleServable: false,
    fix: 'use a token with system.user or system.admin, or have an administrator change policy.roles',
  },
  POLICY_BINDING_DENIED: {
    summary: 'the token secret is bound to other volume names',
    verdict: 'deny',
    staleServable: false,
    fix: 'use the secret meant for this volume, or have an administrator extend policy.bindings',
  },

  // Secret stores
  SECRET_NOT_FOUND: {
    summary: 'no secret exists at that path',
    verdict: 'deny',
    staleServable: false,
    fix: 'check the path (base path included) or create the secret',
  },
  SECRET_FORBIDDEN: {
    summary: 'the proxy account may not read that secret',
    verdict: 'deny',
    staleServable: false,
    fix: 'grant the proxy account read on the base path (dcos:secrets:default:/<base path>/* read)',
  },
  SECRET_NOT_TEXT: {
    summary: 'the secret does not hold a plain-text token',
    verdict: 'deny',
    staleServable: false,
    fix: 'store the JWT as a text secret (dcos security secrets update --value=<token> <path>)',
  },
  SECRET_EMPTY: {
    summary: 'the secret is empty',
    verdict: 'deny',
    staleServable: false,
    fix: 'store the token in the secret (dcos security secrets update --value=<token> <path>)',
  },
  SECRET_STORE_UNAVAILABLE: {
    summary: 'the secret store is unreachable or failing',
    verdict: 'error',
    staleServable: true,
    fix: 'check DCOS_CLUSTER_URL ({url}) and that Admin Router is reachable from this node',
  },
  SECRET_STORE_TIMEOUT: {
    summary: 'the secret store did not answer in time',
    verdict: 'error',
    staleServable: true,
    fix: 'check the network path to {url}',
  },
  SECRET_STORE_LOGIN_FAILED: {
    summary: 'the proxy could not log in to the secret store',
    verdict: 'error',
    staleServable: true,
    fix: 'check the credentials of {uid} (dcos security org service-accounts show {uid}; the public key registered must match the private key)',
  },
  SECRET_STORE_TLS: {
    summary: 'the TLS certificate of the secret store could not be verified',
    verdict: 'error',
    staleServable: true,
    fix: 'give the cluster CA with DCOS_SECRETS_CA_CERT_FILE (curl -k https://master.mesos/ca/dcos-ca.crt from inside the cluster)',
  },

  // The backend (pxd) and its replies
  BACKEND_UNREACHABLE: {
    summary: 'the backend volume driver is unreachable',
    verdict: 'error',
    staleServable: false,
    fix: 'start pxd (Portworx) on this node, or correct --backend',
  },
  BACKEND_TIMEOUT: {
    summary: 'the backend volume driver did not answer in time',
    verdict: 'error',
    staleServable: false,
    fix: "check pxd's health (pxctl status, its logs)",
  },
  BACKEND_BAD_REPLY: {
    summary: 'the backend volume driver sent a reply that cannot be used',
    verdict: 'error',
    staleServable: false,
    fix: "point --backend at pxd's socket (unix:///run/docker/plugins/pxd.sock)",
  },
  BACKEND_ERROR: {
    summary: 'the backend volume driver refused the request',
    verdict: 'deny',
    staleServable: false,
    fix: "act on pxd's words; pxctl volume inspect <name> shows the volume",
  },
  BACKEND_DENIED: {
    summary: 'the backend volume driver denied access',
    verdict: 'deny',
    staleServable: false,
    fix: "use a token of the volume's owner; make the proxy's issuers, keys and roles match pxd's",
  },
  MOUNTPOINT_INVALID: {
    summary: 'the backend returned an unsafe mountpoint',
    verdict: 'deny',
    staleServable: false,
    fix: 'set --mounts-root to the folder pxd mounts under, or report it to Portworx',
  },

  // Local state
  REFERENCE_CONFLICT: {
    summary: 'the volume is already recorded with another token secret',
    verdict: 'deny',
    staleServable: false,
    fix: 'create it with the secret it was recorded with, or remove the volume first; a Create never retargets a volume',
  },
  REFERENCE_INVALID: {
    summary: "the cluster's record of the volume's token secret cannot be read",
    verdict: 'deny',
    staleServable: false,
    fix: 'delete the record (dcos security secrets delete <folder>/<volume>) and create the volume again with -o token_secret',
  },
  STATE_WRITE_FAILED: {
    summary: 'the proxy could not record the volume token reference',
    verdict: 'error',
    staleServable: false,
    fix: 'free space or fix permissions on the state folder (--state-dir), then run the command again',
  },
  INTERNAL: {
    summary: 'an internal error occurred',
    verdict: 'error',
    staleServable: false,
    fix: 'run the command again, and report the log lines around the time (they hold no token)',
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** `deny` or `error`, as the audit line records a failure with this code. */
export function verdictOf(code: ErrorCode): ErrorVerdict {
  return ERROR_CODES[code].verdict;
}

/** The codes after which a cached secret may be served stale, in catalogue order. */
export function staleServableCodes(): ErrorCode[] {
  return CODES.filter((c) => ERROR_CODES[c].staleServable);
}

/** The fix of a code, `{name}` filled from `values` (`<name>` when not given). */
export function fixFor(code: ErrorCode, values: Readonly<Record<string, string>> = {}): string {
  return ERROR_CODES[code].fix.replace(/\{(\w+)\}/g, (_m, name: string) => values[name] ?? `<${name}>`);
}

/** Details every code may carry. Paths and claim names are not secret; a token never goes here. */
export interface ProxyErrorDetails {
  /** Docker volume name the request was about (the short name; never a raw inline spec with a token). */
  volume?: string;
  /** Secret path involved, already resolved (paths are not secret). */
  secretPath?: string;
  /** Claim name for claim errors. */
  claim?: string;
  /** The token's issuer (`iss`), for issuer and key errors. */
  issuer?: string;
  /** The secret store account, for login errors. */
  uid?: string;
  [key: string]: unknown;
}

type With<K extends 'volume' | 'secretPath' | 'claim' | 'issuer'> = ProxyErrorDetails & { [P in K]: string };

/** What a code's details must hold; a code not listed here takes ProxyErrorDetails, all optional. */
export interface DetailsByCode {
  NAME_UNSUPPORTED: With<'volume'>;
  PXD_READS_DIFFERENTLY: With<'volume'>;
  SECRET_PATH_OUTSIDE_BASE: With<'secretPath'>;
  REFERENCE_CONFLICT: With<'volume'>;
  REFERENCE_INVALID: With<'secretPath'>;
  TOKEN_MISSING: With<'volume'>;
  TOKEN_ISSUER_UNTRUSTED: With<'issuer'>;
  TOKEN_KEY_MISSING: With<'issuer'>;
  TOKEN_CLAIM_MISSING: With<'claim'>;
  TOKEN_CLAIM_INVALID: With<'claim'>;
  POLICY_ROLE_DENIED: With<'volume'>;
  POLICY_BINDING_DENIED: With<'volume'>;
  SECRET_NOT_FOUND: With<'secretPath'>;
  SECRET_FORBIDDEN: With<'secretPath'>;
  SECRET_NOT_TEXT: With<'secretPath'>;
  SECRET_EMPTY: With<'secretPath'>;
  BACKEND_ERROR: With<'volume'>;
  BACKEND_DENIED: With<'volume'>;
  MOUNTPOINT_INVALID: With<'volume'>;
}

/** The details of code `C` (for a union of codes, the union of their details). */
export type DetailsOf<C extends ErrorCode> = C extends keyof DetailsByCode ? DetailsByCode[C] : ProxyErrorDetails;

/** The empty object type, `{}`: `NoDetails extends T` holds when no property of T is required. */
type NoDetails = Record<never, never>;

/** `details` as a parameter (for functions that build a ProxyError): left out only for a code that requires none. */
export type DetailsParam<C extends ErrorCode> = NoDetails extends DetailsOf<C> ? [details?: DetailsOf<C>] : [details: DetailsOf<C>];

type DetailsArgs<C extends ErrorCode> =
  NoDetails extends DetailsOf<C>
    ? [details?: DetailsOf<C>, options?: { cause?: unknown }]
    : [details: DetailsOf<C>, options?: { cause?: unknown }];

export class ProxyError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name = 'ProxyError';
  readonly code: C;
  readonly details: DetailsOf<C>;

  constructor(code: C, message: string, ...[details, options]: DetailsArgs<C>) {
    super(message, options);
    this.code = code;
    this.details = details ?? ({} as DetailsOf<C>);
  }

  /**
   * The text placed in the plugin reply's `Err`, shown by the docker CLI and kept in dockerd's log.
   * Messages are written never to quote a token; scrubbing here is the last line if one still does.
   */
  toDockerText(): string {
    return `pxd-auth ${this.code}: ${scrub(this.message)}`;
  }
}

export function isProxyError(e: unknown): e is ProxyError {
  return e instanceof ProxyError;
}

/** Wrap anything thrown into a ProxyError without leaking its message (which may hold data). */
export function asProxyError(e: unknown, fallback: ErrorCode = 'INTERNAL'): ProxyError {
  if (isProxyError(e)) return e;
  return new ProxyError(fallback, ERROR_CODES[fallback].summary, {}, { cause: e });
}
