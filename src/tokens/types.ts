/** Contract of token verification. */

export type UsernameClaim = 'sub' | 'email' | 'name';

/** One trusted issuer. At least one key source must be set. Key material is PEM text or raw bytes. */
export interface IssuerConfig {
  /** Exact `iss` value (compared byte for byte, as pxd does). */
  name: string;
  /** HS256/384/512 key. */
  sharedSecret?: string;
  /** PEM (SPKI) RSA public key text: RS256/384/512. */
  rsaPublicKeyPem?: string;
  /** PEM (SPKI) EC public key text: ES256/384/512. */
  ecdsaPublicKeyPem?: string;
  /** Remote JWK set (OIDC-style issuers): RS and ES tokens, the key chosen by `kid`. */
  jwksUrl?: string;
  /** Discover the JWK set from `<name>/.well-known/openid-configuration` (name is then a URL). */
  oidcDiscovery?: boolean;
  /** Username claim for this issuer (default: the global one, `sub`). */
  usernameClaim?: UsernameClaim;
}

export interface VerifierOptions {
  issuers: IssuerConfig[];
  /** Claims that must be present (default pxd's: iss, sub, exp, iat, name, email). */
  requiredClaims: string[];
  usernameClaim: UsernameClaim;
  /** Seconds of leeway on exp/nbf/iat (pxd: 0). */
  clockToleranceSec: number;
  /** Upper bound of a token's length in characters. */
  maxTokenLength: number;
  /** Verified-token cache size (entries). 0 disables caching. */
  cacheSize: number;
  /** Clock, in milliseconds since epoch; tests move it. */
  now?: () => number;
}

/** What the verifier hands on after a token passed every check. */
export interface VerifiedToken {
  issuer: string;
  /** The value of the username claim (pxd's owner identity). */
  username: string;
  subject: string;
  email?: string;
  displayName?: string;
  roles: string[];
  groups: string[];
  /** Seconds since epoch. */
  expiresAt: number;
  issuedAt: number;
  /** The algorithm actually used and which key slot verified it, for `token check` and audit. */
  algorithm: string;
  keySlot: 'shared-secret' | 'rsa' | 'ecdsa' | 'jwks';
}

/** Where a token came from, for error texts and audit (never the token itself). */
export type TokenSource =
  | { kind: 'name-token' }
  | { kind: 'opts-token' }
  | { kind: 'name-secret'; secretPath: string }
  | { kind: 'opts-secret'; secretPath: string }
  | { kind: 'state-secret'; secretPath: string }
  /** The cluster's record of the volume (the DC/OS Secret Store), written at Create on any agent. */
  | { kind: 'registry-secret'; secretPath: string }
  | { kind: 'config-secret'; secretPath: string };

export function describeSource(s: TokenSource): string {
  switch (s.kind) {
    case 'name-token':
      return 'token in the volume name';
    case 'opts-token':
      return 'token in the -o options';
    case 'name-secret':
    case 'opts-secret':
    case 'state-secret':
    case 'registry-secret':
    case 'config-secret':
      return `token from secret ${s.secretPath}`;
  }
}
