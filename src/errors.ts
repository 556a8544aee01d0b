/**
 * The error catalogue. Every failure the proxy reports has a stable code; the message is written
 * for the person at the Docker CLI (what failed, for which volume / secret path, what to do) and
 * must never contain a token, a password, a key or a secret value.
 *
 * The text Docker shows is `pxd-auth <CODE>: <message>` so operators can grep for the code
 * (docs/troubleshooting.md explains each one).
 */
import { redact as scrub } from './redact.js';

export const ERROR_CODES = {
  // The plugin protocol (request shape)
  BODY_EMPTY: 'the request body is empty',
  BODY_TOO_LARGE: 'the request body is too large',
  BODY_NOT_JSON: 'the request body is not JSON',
  BODY_INVALID: 'the request body does not have the expected shape',
  ENDPOINT_UNKNOWN: 'no such plugin endpoint',
  METHOD_NOT_ALLOWED: 'plugin endpoints only accept POST',
  REQUEST_TIMEOUT: 'the request did not arrive in time',

  // The volume name and options
  NAME_INVALID: 'the volume name or its inline options are malformed',
  NAME_DUPLICATE_KEY: 'an option is given twice',
  NAME_UNSUPPORTED: 'the volume name cannot be expressed for pxd',
  OPTS_INVALID: 'the -o options are malformed',
  SECRET_PATH_INVALID: 'the token_secret path is malformed',
  SECRET_PATH_OUTSIDE_BASE: 'the token_secret path is outside the allowed base path',
  PXD_READS_DIFFERENTLY: 'pxd would read the request differently from what the proxy checked',

  // Finding the token
  TOKEN_MISSING: 'no token was given for an authenticated operation',
  TOKEN_TOO_LARGE: 'the token is too large',

  // Checking the token
  TOKEN_MALFORMED: 'the token is not a well-formed JWT',
  TOKEN_ALG_UNSUPPORTED: 'the token is signed with an algorithm that is not accepted',
  TOKEN_ISSUER_UNTRUSTED: 'the token issuer is not trusted',
  TOKEN_KEY_MISSING: 'no key is configured for the token algorithm family of that issuer',
  TOKEN_SIGNATURE_INVALID: 'the token signature does not verify',
  TOKEN_EXPIRED: 'the token has expired',
  TOKEN_NOT_YET_VALID: 'the token is not valid yet (nbf or iat in the future)',
  TOKEN_CLAIM_MISSING: 'a required claim is missing from the token',
  TOKEN_CLAIM_INVALID: 'a claim of the token has the wrong type or value',
  TOKEN_USERNAME_EMPTY: 'the username claim of the token is empty',

  // Policy
  POLICY_ROLE_DENIED: 'none of the token roles may perform this operation',
  POLICY_BINDING_DENIED: 'the token secret is bound to other volume names',

  // Secret stores
  SECRET_NOT_FOUND: 'no secret exists at that path',
  SECRET_FORBIDDEN: 'the proxy account may not read that secret',
  SECRET_NOT_TEXT: 'the secret does not hold a plain-text token',
  SECRET_EMPTY: 'the secret is empty',
  SECRET_STORE_UNAVAILABLE: 'the secret store is unreachable or failing',
  SECRET_STORE_TIMEOUT: 'the secret store did not answer in time',
  SECRET_STORE_LOGIN_FAILED: 'the proxy could not log in to the secret store',
  SECRET_STORE_TLS: 'the TLS certificate of the secret store could not be verified',

  // The backend (pxd) and its replies
  BACKEND_UNREACHABLE: 'the backend volume driver is unreachable',
  BACKEND_TIMEOUT: 'the backend volume driver did not answer in time',
  BACKEND_BAD_REPLY: 'the backend volume driver sent a reply that cannot be used',
  BACKEND_ERROR: 'the backend volume driver refused the request',
  BACKEND_DENIED: 'the backend volume driver denied access',
  MOUNTPOINT_INVALID: 'the backend returned an unsafe mountpoint',

  // Local state
  STATE_WRITE_FAILED: 'the proxy could not record the volume token reference',
  INTERNAL: 'an internal error occurred',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ProxyErrorDetails {
  /** Docker volume name the request was about (the short name; never a raw inline spec with a token). */
  volume?: string;
  /** Secret path involved, already resolved (paths are not secret). */
  secretPath?: string;
  /** Claim name for claim errors. */
  claim?: string;
  [key: string]: unknown;
}

export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  readonly code: ErrorCode;
  readonly details: ProxyErrorDetails;

  constructor(code: ErrorCode, message: string, details: ProxyErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
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
  return new ProxyError(fallback, ERROR_CODES[fallback], {}, { cause: e });
}
