import { promises as fsp, readlinkSync, unlinkSync } from 'node:fs';
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

/** Where dockerd looks for plugin sockets. */
export const DOCKER_PLUGIN_DIR = '/run/docker/plugins';

/**
 * The folder the banner's link goes in: dockerd's, unless PXD_AUTH_DOCKER_PLUGIN_DIR names another
 * (for tests, which must not touch the machine's /run/docker/plugins).
 */
export function dockerPluginDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PXD_AUTH_DOCKER_PLUGIN_DIR || DOCKER_PLUGIN_DIR;
}

/** The link the banner suggests: `<plugin dir>/pxd-auth.sock`. */
export function dockerLinkPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dockerPluginDir(env), 'pxd-auth.sock');
}

export type LinkRemoval = 'removed' | 'absent' | 'not ours';

/**
 * On stop: remove the link the banner told the user to make, if it still points at this proxy's
 * socket. Left dangling, it makes every `docker volume ls` wait about 15 s for a plugin that is gone.
 * Anything else there (a real socket, another proxy's link, a file) is left alone. Synchronous, so
 * that it is done before the process exits; never throws.
 */
export function removeDockerLink(
  socket: string,
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void },
  link: string = dockerLinkPath(),
): LinkRemoval {
  let target: string;
  try {
    target = readlinkSync(link);
  } catch (e) {
    // ENOENT: no link; EINVAL: not a link (a proxy started with --socket there owns a real socket).
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'not ours';
  }
  if (path.resolve(path.dirname(link), target) !== path.resolve(socket)) return 'not ours';
  try {
    unlinkSync(link);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'absent';
    logger?.warn({ link, code }, `could not remove the link ${link}; remove it by hand: rm ${link}`);
    return 'not ours';
  }
  logger?.info({ link }, 'removed the link to this socket from the Docker plugin folder');
  return 'removed';
}

/** What `npm start` prints: what runs, and commands to try it. */
export function embeddedBanner(setup: EmbeddedSetup, socket: string, pluginDir: string = dockerPluginDir()): string {
  const sock = socket;
  const link = path.join(pluginDir, 'pxd-auth.sock');
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
    `  ln -sf ${sock} ${link}    # or start with --socket ${link}`,
    '  docker volume create -d pxd-auth --name token_secret=pwx/secrets/user1-token,name=demo3',
    '  docker run --rm -v token_secret=pwx/secrets/user1-token,name=demo3:/data busybox sh -c "echo hi > /data/f"',
    `  rm -f ${link}    # undo: the proxy removes the link when it stops; by hand if it was killed`,
    '  (a link left pointing at a stopped proxy makes every docker volume command wait about 15 s)',
    '',
    'Stop with Ctrl-C. Logs follow as JSON lines (audit lines carry "audit":true).',
    '',
  ].join('\n');
}
