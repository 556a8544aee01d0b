/**
 * plugin/dcos/pxd-auth-proxy.marathon.json: the fields DC/OS needs to run one proxy per agent, and an
 * environment that the real config loader accepts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { SHARED_SECRET, credentialJson, readRepo, tempDir, writeCaCert } from './files.js';

const FILE = 'plugin/dcos/pxd-auth-proxy.marathon.json';

interface Volume {
  containerPath: string;
  hostPath?: string;
  mode: string;
}
interface HealthCheck {
  protocol: string;
  path?: string;
  portIndex?: number;
  port?: number;
  command?: unknown;
}
interface App {
  id: string;
  instances: number;
  cpus: number;
  mem: number;
  user?: string;
  constraints: string[][];
  container: { type: string; docker: { image: string }; volumes: Volume[] };
  args?: string[];
  cmd?: string;
  networks?: Array<{ mode: string }>;
  networkMode?: string;
  portDefinitions?: Array<{ port: number; name?: string }>;
  requirePorts?: boolean;
  secrets: Record<string, { source: string }>;
  env: Record<string, string | { secret: string }>;
  healthChecks: HealthCheck[];
  upgradeStrategy?: { minimumHealthCapacity: number; maximumOverCapacity: number };
}

const app = JSON.parse(readRepo(FILE)) as App;
const dir = tempDir('pxa-shipping-marathon-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `--admin-listen <addr>` from the app's args. */
function argValue(flag: string): string | undefined {
  const args = app.args ?? [];
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe(FILE, () => {
  it('has an id, resources and one instance per agent', () => {
    expect(app.id).toMatch(/^\/[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/);
    expect(app.cpus).toBeGreaterThan(0);
    expect(app.mem).toBeGreaterThanOrEqual(128);
    expect(Number.isInteger(app.instances) && app.instances >= 1).toBe(true);
    expect(app.constraints).toContainEqual(['hostname', 'UNIQUE']);
    // Two proxies cannot share an agent: an upgrade must not start the new one beside the old.
    expect(app.upgradeStrategy?.maximumOverCapacity).toBe(0);
    expect(app.upgradeStrategy!.minimumHealthCapacity).toBeLessThan(1);
  });

  it('runs the image as root, on the host network, with the plugin and state folders from the host', () => {
    expect(app.user).toBe('root');
    expect(app.container.type).toBe('MESOS');
    expect(app.container.docker.image).toMatch(/pxd-auth-proxy:[\w.-]+$/);
    expect(app.networks?.some((n) => n.mode === 'host') || app.networkMode === 'HOST').toBe(true);
    const vol = (p: string) => app.container.volumes.find((v) => v.containerPath === p);
    expect(vol('/run/docker/plugins')).toEqual({ containerPath: '/run/docker/plugins', hostPath: '/run/docker/plugins', mode: 'RW' });
    expect(vol('/var/lib/pxd-auth-proxy')).toEqual({
      containerPath: '/var/lib/pxd-auth-proxy',
      hostPath: '/var/lib/pxd-auth-proxy',
      mode: 'RW',
    });
    // The proxy only checks mountpoint strings: pxd's mounts are not needed in the container.
    expect(vol('/var/lib/osd/mounts')).toBeUndefined();
    for (const v of app.container.volumes) expect(v.hostPath, v.containerPath).toBe(v.containerPath);
  });

  it('serves with the admin listener, and health-checks /healthz on that port', () => {
    expect(app.args?.[0]).toBe('serve');
    expect(app.cmd).toBeUndefined();
    const admin = argValue('--admin-listen');
    expect(admin).toBe('127.0.0.1:9102');
    const port = Number(admin!.split(':')[1]);
    expect(app.healthChecks.length).toBeGreaterThan(0);
    const hc = app.healthChecks[0]!;
    expect(hc.protocol).toBe('MESOS_HTTP');
    expect(hc.path).toBe('/healthz');
    const checked = hc.port ?? app.portDefinitions?.[hc.portIndex ?? 0]?.port;
    expect(checked).toBe(port);
    expect(app.requirePorts).toBe(true);
  });

  it('logs in with a service-account credential injected from a declared secret', () => {
    const ref = app.env.DCOS_SERVICE_ACCOUNT_CREDENTIAL;
    expect(ref).toEqual({ secret: expect.any(String) });
    for (const [name, value] of Object.entries(app.env)) {
      if (typeof value === 'object') expect(Object.keys(app.secrets), `env ${name}`).toContain(value.secret);
    }
    // A Marathon app may read only secrets under its own id.
    const space = app.id.replace(/^\//, '');
    for (const s of Object.values(app.secrets)) expect(s.source.startsWith(`${space}/`), s.source).toBe(true);
    expect(app.env.DCOS_SECRETS_BASE_PATH).toBe('pwx/secrets');
    // Every agent of the fleet reads the same policy document (docs/configuration.md#the-fleet-document).
    expect(app.env.PXD_AUTH_FLEET_CONFIG).toBe('pxd-auth-proxy/fleet');
    // Secret values never sit in the app definition.
    for (const k of ['PORTWORX_AUTH_JWT_SHAREDSECRET', 'OPENSTORAGE_AUTH_SHAREDSECRET', 'DCOS_SECRETS_PASSWORD']) {
      expect(typeof app.env[k] === 'string', k).toBe(false);
    }
  });

  it('is a configuration the real loader accepts, with every path it uses inside a mounted folder', () => {
    const secretValues: Record<string, string> = {
      DCOS_SERVICE_ACCOUNT_CREDENTIAL: credentialJson('pxd-auth-proxy'),
      PORTWORX_AUTH_JWT_SHAREDSECRET: SHARED_SECRET,
    };
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(app.env)) {
      if (typeof v === 'string') env[k] = v;
      else {
        expect(secretValues[k], `a test value for secret env ${k}`).toBeDefined();
        env[k] = secretValues[k]!;
      }
    }
    const caPath = env.DCOS_SECRETS_CA_CERT_FILE!;
    env.DCOS_SECRETS_CA_CERT_FILE = writeCaCert(dir);
    const { config, problems } = loadConfig({ flags: { adminListen: argValue('--admin-listen') }, env });
    expect(problems).toEqual([]);
    expect(config!.secrets.kind === 'dcos' && config!.secrets.dcos.login.kind).toBe('service-account');
    expect(config!.secretsBasePath).toBe('pwx/secrets');
    expect(config!.verifier.issuers.map((i) => i.name)).toEqual([env.PORTWORX_AUTH_JWT_ISSUER]);

    const mounted = (p: string) => app.container.volumes.some((v) => p === v.containerPath || p.startsWith(`${v.containerPath}/`));
    expect(mounted(config!.socket), config!.socket).toBe(true);
    expect(config!.backend.kind === 'unix' && mounted(config!.backend.socketPath)).toBe(true);
    expect(mounted(config!.stateDir), config!.stateDir).toBe(true);
    expect(mounted(path.dirname(caPath)), caPath).toBe(true);
    const ro = app.container.volumes.find((v) => caPath.startsWith(`${v.containerPath}/`));
    expect(ro?.mode).toBe('RO');
  });
});
