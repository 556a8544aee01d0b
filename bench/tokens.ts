/** The bench user's token: HS256 from the bench issuer, valid for a day, with the claims pxd needs. */
import { SignJWT } from 'jose';
import { ISSUER, SHARED_SECRET } from './stack.js';

export async function benchToken(sub = 'bench-user'): Promise<string> {
  return new SignJWT({ name: sub, email: `${sub}@example.com`, roles: ['system.user'], groups: ['bench'] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('24h')
    .sign(new TextEncoder().encode(SHARED_SECRET));
}
