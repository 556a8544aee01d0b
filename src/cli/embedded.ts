import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { generateToken } from '../tokens/generate.js';
import { decodeJwt } from 'jose';

/**
 * The try-it setup behind `npm start`: a folder in the working tree with a generated shared secret,
 * tokens stored as file secrets, the built-in local volume driver and a socket, so the proxy runs
 * with no outside service. Returned values are the lowest-precedence defaults of the configuration.
 */
export interface EmbeddedSetup {
  dir: string;
  defaults: Record<string, unknown>;
  issuer: string;
  secrets: Array<{ path: string; role: string; user: string }>;
}

const ISSUER = 'portworx.com';
const USERS = [
  {
    secret: 'pwx/secrets/admin-token',
    name: 'Storage Administrator',
    email: 'admin@example.com',
    sub: 'id/admin',
    roles: ['system.admin'],
    groups: ['*'],
  },
  {
    secret: 'pwx/secrets/user1-token',
    name: 'User One',
    email: 'user1@example.com',
    sub: 'id/user1',
    roles: ['system.user'],
    groups: ['group1'],
  },
  {
    secret: 'pwx/secrets/user2-token',
    name: 'User Two',
    email: 'user2@example.com',
    sub: 'id/user2',
    roles: ['system.user'],
    groups: ['group2'],
  },
  { secret: 'pwx/secrets/viewer-token', name: 'Viewer', email: 'viewer@example.com', sub: 'id/viewer', roles: ['system.view'], groups: [] },
];

export async function prepareEmbedded(cwd: string): Promise<EmbeddedSetup> {
  const dir = path.join(cwd, '.pxd-auth');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const secretFile = path.join(dir, 'shared-secret');
  let shared: string;
  try {
    shared = (await fsp.readFile(secretFile, 'utf8')).trim();
  } catch {
    shared = randomBytes(32).toString('base64url');
    await fsp.writeFile(secretFile, shared + '\n', { mode: 0o600 });
  }
  const secretsDir = path.join(dir, 'secrets');
  const now = Date.now();
  for (const u of USERS) {
    const file = path.join(secretsDir, u.secret);
    let fresh: boolean;
    try {
      const exp = decodeJwt((await fsp.readFile(file, 'utf8')).trim()).exp ?? 0;
      fresh = exp * 1000 > now + 86_400_000;
    } catch {
      fresh = false;
    }
    if (fresh) continue;
    const token = await generateToken({
      claims: { name: u.name, email: u.email, sub: u.sub, roles: u.roles, groups: u.groups },
      issuer: ISSUER,
      key: { sharedSecret: shared },
      durationSec: 30 * 86_400,
    });
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fsp.writeFile(file, token + '\n', { mode: 0o600 });
  }
  return {
    dir,
    issuer: ISSUER,
    secrets: USERS.map((u) => ({ path: u.secret, role: u.roles.join(','), user: u.sub })),
    defaults: {
      socket: path.join(dir, 'pxd-auth.sock'),
      backend: `local:${path.join(dir, 'volumes')}`,
      secrets: `file:${secretsDir}`,
      stateDir: path.join(dir, 'state'),
      jwtIssuer: ISSUER,
      jwtSharedSecretFile: secretFile,
    },
  };
}

/** What `npm start` prints: what runs, and commands to try it. */
export function embeddedBanner(setup: EmbeddedSetup, socket: string): string {
  const sock = socket;
  const curl = (ep: string, body: string) => `curl -s --unix-socket ${sock} -X POST http://plugin/${ep} -d '${body}'`;
  return [
    '',
    'pxd-auth-proxy is running on the embedded default:',
    `  plugin socket   ${sock}`,
    `  backend         the built-in local volume driver (${path.join(setup.dir, 'volumes')})`,
    `  secrets         files under ${path.join(setup.dir, 'secrets')} (tokens for ${setup.secrets.map((s) => s.path).join(', ')})`,
    `  trusted issuer  ${setup.issuer} (shared secret in ${path.join(setup.dir, 'shared-secret')})`,
    '',
    'Try it from another terminal:',
    `  ${curl('VolumeDriver.Create', '{"Name":"token_secret=pwx/secrets/user1-token,size=1G,name=demo1"}')}`,
    `  ${curl('VolumeDriver.Mount', '{"Name":"token_secret=pwx/secrets/user1-token,size=1G,name=demo1","ID":"c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"}')}`,
    `  ${curl('VolumeDriver.List', '{}')}`,
    `  ${curl('VolumeDriver.Create', '{"Name":"token_secret=pwx/secrets/viewer-token,name=demo2"}')}   # denied: role system.view`,
    `  ${curl('VolumeDriver.Mount', '{"Name":"token_secret=pwx/secrets/user2-token,name=demo1","ID":"c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"}')}   # denied: demo1 belongs to id/user1`,
    '',
    'With a Docker daemon on this machine (as root), make the socket discoverable and use the driver:',
    `  ln -sf ${sock} /run/docker/plugins/pxd-auth.sock    # or start with --socket /run/docker/plugins/pxd-auth.sock`,
    '  docker volume create -d pxd-auth --name token_secret=pwx/secrets/user1-token,name=demo3',
    '  docker run --rm -v token_secret=pwx/secrets/user1-token,name=demo3:/data busybox sh -c "echo hi > /data/f"',
    '',
    'Stop with Ctrl-C. Logs follow as JSON lines (audit lines carry "audit":true).',
    '',
  ].join('\n');
}
