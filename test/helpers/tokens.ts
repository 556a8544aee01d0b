import { SignJWT } from 'jose';
import { createSecretKey } from 'node:crypto';

/** Sign a pxd-style token directly with jose (independent of the proxy's own generator). */
export async function signHs256(
  secret: string,
  claims: Record<string, unknown>,
  opts: { expSec?: number; iatSec?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: opts.iatSec ?? now, exp: opts.expSec ?? now + 3600, ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(createSecretKey(Buffer.from(secret)));
}

export const ISSUER = 'portworx.com';
export const SHARED_SECRET = 'integration-shared-secret-0123456789';

export function userClaims(id: string, roles: string[] = ['system.user'], extra: Record<string, unknown> = {}) {
  return { iss: ISSUER, sub: `id/${id}`, name: `User ${id}`, email: `${id}@example.com`, roles, groups: [], ...extra };
}
