import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  privatePem: string;
}

function pair(kp: { privateKey: KeyObject; publicKey: KeyObject }): KeyPair {
  return {
    ...kp,
    publicPem: kp.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export const rsaKey = (bits = 2048): KeyPair => pair(generateKeyPairSync('rsa', { modulusLength: bits }));
export const ecKey = (curve: 'P-256' | 'P-384' | 'P-521' = 'P-256'): KeyPair => pair(generateKeyPairSync('ec', { namedCurve: curve }));

/** 2026-11-20T09:00:00Z */
export const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);
export const T0S = T0 / 1000;

export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: 'portworx.com',
    sub: 'id/user1',
    name: 'User One',
    email: 'user1@example.com',
    roles: ['system.user'],
    groups: ['g1'],
    iat: T0S - 60,
    exp: T0S + 3600,
    ...overrides,
  };
}

export function sign(
  payload: Record<string, unknown>,
  key: KeyObject | Uint8Array,
  header: Record<string, unknown> & { alg: string },
): Promise<string> {
  return new SignJWT(payload as JWTPayload).setProtectedHeader(header).sign(key);
}

export const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');

/** A hand-made token (no real signature). */
export const craft = (header: unknown, payload: unknown, sig = 'c2lnbmF0dXJl'): string => `${b64(header)}.${b64(payload)}.${sig}`;

export function decodePart(token: string, i: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[i] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}
