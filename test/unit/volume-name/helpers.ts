import { expect } from 'vitest';
import { ProxyError, type ErrorCode } from '../../../src/errors.js';

/** Runs fn, asserts it throws a ProxyError with `code`, and returns it for further checks. */
export function catchProxyError(fn: () => unknown, code: ErrorCode): ProxyError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ProxyError to be thrown').toBeInstanceOf(ProxyError);
  const err = caught as ProxyError;
  expect(err.code).toBe(code);
  return err;
}

/** base64url of a string, for building JWT-shaped test tokens. */
export function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

/** A JWT-shaped string (not signed for real: only its shape matters here). */
export function fakeJwt(sig = 'c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU'): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ iss: 'openstorage.io', sub: 'id/user1', exp: 2000000000 }));
  return `${header}.${payload}.${sig}`;
}
