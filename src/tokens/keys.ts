/**
 * The algorithms pxd accepts, the EC curves and the key importers: one place for each, shared by
 * verification (verify.ts), token generation (generate.ts) and configuration checks.
 *
 * Messages never quote key material: parsing errors are dropped, as they may echo the input.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';

/** Every algorithm pxd accepts, by family. */
export const ALGORITHMS = {
  HS256: 'hs',
  HS384: 'hs',
  HS512: 'hs',
  RS256: 'rsa',
  RS384: 'rsa',
  RS512: 'rsa',
  ES256: 'ec',
  ES384: 'ec',
  ES512: 'ec',
} as const;
export type Alg = keyof typeof ALGORITHMS;
export type Family = (typeof ALGORITHMS)[Alg];
/** The accepted algorithms, for messages. */
export const ACCEPTED_ALGS = Object.keys(ALGORITHMS).join(', ');

/** The algorithms of one family, in table order (HS256, HS384, HS512). */
export function algorithmsOf(family: Family): Alg[] {
  return (Object.keys(ALGORITHMS) as Alg[]).filter((alg) => ALGORITHMS[alg] === family);
}

/** EC curve (OpenSSL name) → the only ES algorithm that key can verify or sign, and the JOSE curve name. */
export const EC_CURVES: Readonly<Record<string, { readonly alg: Alg; readonly name: string }>> = Object.freeze({
  prime256v1: { alg: 'ES256', name: 'P-256' },
  secp384r1: { alg: 'ES384', name: 'P-384' },
  secp521r1: { alg: 'ES512', name: 'P-521' },
});

/** The EC_CURVES entry of a key, or undefined when its curve is not one pxd accepts. */
export function ecCurveOf(key: KeyObject): { readonly alg: Alg; readonly name: string } | undefined {
  const named = key.asymmetricKeyDetails?.namedCurve ?? '';
  return Object.hasOwn(EC_CURVES, named) ? EC_CURVES[named] : undefined;
}

/** The smallest RSA modulus accepted, in bits. */
export const MIN_RSA_BITS = 2048;

/** `where` prefixes every message, e.g. "issuer dcos". */
export function importSharedSecret(secret: unknown, where: string): KeyObject {
  if (typeof secret !== 'string' || secret === '') {
    throw new Error(`${where}: the shared secret is empty`);
  }
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/** `key` when it is an RSA or an EC key as asked; `what` names it in the message, e.g. "issuer dcos: the RSA public key". */
export function keyOfType(key: KeyObject, type: 'rsa' | 'ec', what: string): KeyObject {
  if (key.asymmetricKeyType !== type) {
    throw new Error(`${what} PEM holds a ${key.asymmetricKeyType ?? 'unknown'} key, not an ${type.toUpperCase()} key`);
  }
  return key;
}

/** An RSA public key of at least MIN_RSA_BITS bits. */
export function importRsaPublicKey(pem: unknown, where: string): KeyObject {
  const what = `${where}: the RSA public key`;
  const key = keyOfType(importPublicPem(pem, what), 'rsa', what);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new Error(`${where}: the RSA public key has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  }
  return key;
}

/** An ECDSA public key on P-256, P-384 or P-521, with the one algorithm its curve allows. */
export function importEcdsaPublicKey(pem: unknown, where: string): { key: KeyObject; alg: Alg; curve: string } {
  const what = `${where}: the ECDSA public key`;
  const key = keyOfType(importPublicPem(pem, what), 'ec', what);
  const curve = ecCurveOf(key);
  if (!curve) {
    throw new Error(`${where}: the ECDSA public key is on an unsupported curve (use P-256, P-384 or P-521)`);
  }
  return { key, alg: curve.alg, curve: curve.name };
}

/** `what` names the key in messages, e.g. "issuer dcos: the RSA public key". */
export function importPublicPem(pem: unknown, what: string): KeyObject {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN')) {
    throw new Error(`${what} is not PEM text`);
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error(`${what} is a private key; configure the public key instead`);
  }
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch {
    // The cause is dropped on purpose: key parsing errors may quote the input.
    throw new Error(`${what} could not be read (expected an SPKI "PUBLIC KEY", "RSA PUBLIC KEY" or certificate PEM)`);
  }
}
