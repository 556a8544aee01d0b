import { promises as fsp, constants as fsc } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import type { Command } from 'commander';
import type { Config, ConfigBasics, ConfigIssue, FleetDocument, LoadResult } from '../config/load.js';
import { readFleetOnce } from '../config/fleet-once.js';
import { optionFix } from '../config/options.js';
import { WEAK_SHARED_SECRET_FIX, weakSharedSecret } from '../tokens/generate.js';
import { BackendClient } from '../backend/client.js';
import { DcosSecretStore, type DcosConfig } from '../secrets/dcos/index.js';
import { withoutOutageClause } from '../secrets/dcos/client.js';
import { asProxyError, fixFor } from '../errors.js';
import { silentLogger } from '../audit/logger.js';
import { createSecretStore } from '../app.js';
import { addToolConfigOptions, resolveConfig, resolveToolConfig } from './serve.js';
import { fleetReadFix } from './tool-fleet.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** Passed, but with a weakness to fix (a short shared secret): shown as WARN, not counted as a failure. */
  warn?: boolean;
  detail: string;
  /** What to do about a failure or a warning. */
  fix?: string;
}

export interface DoctorInput {
  config?: Readonly<Config>;
  problems: string[];
  /** The same problems with the option each is about (from loadConfig): the fix then names that option. */
  issues?: ConfigIssue[];
  /** Where dockerd looks for spec files (tests point it elsewhere). */
  specDir?: string;
  /** Where dockerd looks for plugin sockets. */
  pluginDir?: string;
  /** Largest clock skew tolerated against DC/OS, in seconds. */
  maxSkewSec?: number;
  now?: () => number;
  /** This host's name, in the name of the references probe (default os.hostname()). */
  hostname?: string;
  /** Where the socket and the backend are when the configuration has problems: they are checked anyway. */
  basics?: ConfigBasics;
  /**
   * How serve builds the configuration with the fleet document (resolveConfig with it): the document is
   * then checked the way serve applies it. Without it, only its reading is checked.
   */
  fleetBuild?: (fleet: FleetDocument) => LoadResult | Promise<LoadResult>;
}

/** `doctor`: its options (every serve option, and where the installed configuration is), and its action. */
export function registerDoctorCommand(program: Command, addServeOptions: (c: Command) => Command): Command {
  return addToolConfigOptions(
    addServeOptions(
      program
        .command('doctor')
        .description(
          'check this node: configuration, keys, plugin socket, backend, DC/OS login, fleet document, clock skew, base path, volume references (exit 1 on any failure)',
        ),
    ),
  ).action(async (flags: Record<string, unknown>) => {
    const { config, problems, issues, basics, sources } = await resolveToolConfig(flags, 'doctor');
    const fleetBuild = (doc: FleetDocument) => resolveConfig(sources.flags, sources.env, doc);
    const checks = await runDoctor({ config, problems, issues, basics, fleetBuild });
    process.stdout.write(formatDoctor(checks));
    process.exitCode = checks.some((c) => !c.ok) ? 1 : 0;
  });
}

/** The checks as doctor prints them: one line each (ok, WARN or FAIL), the fix below a failure or a warning, then the count. */
export function formatDoctor(checks: readonly DoctorCheck[]): string {
  let out = '';
  for (const c of checks) {
    out += `${!c.ok ? 'FAIL' : c.warn ? 'WARN' : 'ok  '} ${c.name.padEnd(24)} ${c.detail}\n`;
    if ((!c.ok || c.warn) && c.fix) out += `     ${''.padEnd(24)} fix: ${c.fix}\n`;
  }
  const failed = checks.filter((c) => !c.ok).length;
  const warned = checks.filter((c) => c.ok && c.warn).length;
  const warnings = warned ? `, ${warned} warning(s)` : '';
  return out + (failed ? `\n${failed} check(s) failed${warnings}\n` : `\nall checks passed${warnings}\n`);
}

/**
 * Checks an operator runs on an agent before (or instead of) reading logs: each one says what it
 * looked at, and on failure what to change.
 */
export async function runDoctor(input: DoctorInput): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);
  if (!input.config) {
    const issues: ConfigIssue[] = input.issues ?? input.problems.map((text) => ({ text }));
    for (const i of issues) add({ name: 'configuration', ok: false, detail: i.text, fix: optionFix(i.option) });
    // What needs no valid configuration is still checked: the plugin socket's folder, and pxd.
    const b = input.basics;
    if (b) {
      const shown = checks.length;
      await checkSocket(b, input, add);
      if (b.backend) await checkBackend({ backend: b.backend, backendUrl: b.backendUrl }, add);
      else add({ name: 'backend', ok: true, detail: 'not checked: the backend setting itself has a problem (above)' });
      if (b.withoutFile) {
        for (const c of checks.slice(shown))
          c.detail += ' (the YAML file could not be used: checked with the flags, environment and defaults)';
      }
    }
    return checks;
  }
  const config = input.config;
  add({ name: 'configuration', ok: true, detail: `valid${config.configFile ? ` (${config.configFile} with flags and environment)` : ''}` });
  for (const i of config.verifier.issuers) {
    const keys = [
      i.sharedSecret && 'shared secret',
      i.rsaPublicKeyPem && 'RSA public key',
      i.ecdsaPublicKeyPem && 'ECDSA public key',
      (i.jwksUrl || i.oidcDiscovery) && 'JWKS',
    ].filter(Boolean);
    // loadConfig imported each key with the verifier's own importer: what it passed, the verifier takes.
    const detail = `${i.name}: ${keys.join(', ')} loaded and accepted by the verifier's key checks`;
    // A short shared secret is accepted (pxd accepts it) but weak: a warning, not a failure.
    const weak = i.sharedSecret !== undefined ? weakSharedSecret(i.sharedSecret) : undefined;
    add(
      weak
        ? { name: 'issuer keys', ok: true, warn: true, detail: `${detail}, but ${weak}`, fix: WEAK_SHARED_SECRET_FIX }
        : { name: 'issuer keys', ok: true, detail },
    );
  }

  await checkSocket(config, input, add);
  await checkBackend(config, add);
  if (config.secrets.kind === 'dcos') await checkDcos(config, input, add);
  else {
    await checkFileSecrets(config, add);
    add({
      name: REFERENCES_CHECK,
      ok: true,
      detail:
        'not checked: the cluster-wide record of -o token_secret references needs the DC/OS store; with file: secrets ' +
        "only this agent's state file remembers them (docs/usage.md)",
    });
  }
  return checks;
}

/** A DC/OS error as doctor reports it: it made one attempt, just now, so how long the store has been failing says nothing. */
export const oneAttempt = withoutOutageClause;

async function checkSocket(config: Pick<Config, 'socket'>, input: DoctorInput, add: (c: DoctorCheck) => void): Promise<void> {
  const dir = path.dirname(config.socket);
  try {
    // The folder may not exist yet (the proxy creates it): the nearest existing one must be writable.
    let existing = dir;
    while (
      !(await fsp.stat(existing).then(
        (s) => s.isDirectory(),
        () => false,
      )) &&
      existing !== '/'
    )
      existing = path.dirname(existing);
    await fsp.access(existing, fsc.W_OK);
    const live = await new Promise<boolean>((r) => {
      const c = net.connect(config.socket, () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    add({
      name: 'plugin socket',
      ok: true,
      detail: `${existing === dir ? dir : `${existing} (where ${dir} will be created)`} is writable${live ? `; a plugin already answers on ${config.socket}` : ''}`,
    });
  } catch (e) {
    add({
      name: 'plugin socket',
      ok: false,
      detail: `cannot create ${config.socket} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      fix: `run as root or choose --socket in a writable folder`,
    });
  }
  const pluginDir = input.pluginDir ?? '/run/docker/plugins';
  const specDir = input.specDir ?? '/etc/docker/plugins';
  const name = path.basename(config.socket, '.sock');
  if (path.dirname(config.socket) === pluginDir) {
    add({ name: 'discoverable by dockerd', ok: true, detail: `dockerd finds ${config.socket} as the driver "${name}"` });
    return;
  }
  const specs = await fsp.readdir(specDir).catch(() => [] as string[]);
  for (const f of specs.filter((f) => f.endsWith('.spec') || f.endsWith('.json'))) {
    const text = await fsp.readFile(path.join(specDir, f), 'utf8').catch(() => '');
    if (text.includes(config.socket)) {
      add({ name: 'discoverable by dockerd', ok: true, detail: `${path.join(specDir, f)} points dockerd at ${config.socket}` });
      return;
    }
  }
  add({
    name: 'discoverable by dockerd',
    ok: false,
    detail: `${config.socket} is neither in ${pluginDir} nor named by a spec file in ${specDir}`,
    fix: `use --socket ${pluginDir}/pxd-auth.sock, or write "unix://${config.socket}" to ${specDir}/pxd-auth.spec`,
  });
}

async function checkBackend(config: Pick<Config, 'backend' | 'backendUrl'>, add: (c: DoctorCheck) => void): Promise<void> {
  if (config.backend.kind === 'local') {
    add({ name: 'backend', ok: true, detail: `built-in local driver in ${config.backend.dir} (started with the proxy)` });
    return;
  }
  const client = new BackendClient(config.backend.socketPath, config.backendUrl);
  try {
    const reply = await client.call('Plugin.Activate', {}, 5_000);
    const ok =
      reply.status === 200 && Array.isArray(reply.json?.Implements) && (reply.json!.Implements as unknown[]).includes('VolumeDriver');
    add(
      ok
        ? { name: 'backend', ok, detail: `${config.backendUrl} answers Activate as a volume driver` }
        : {
            name: 'backend',
            ok,
            detail: `${config.backendUrl} answered Activate with HTTP ${reply.status} but not as a volume driver`,
            fix: 'point --backend at the pxd plugin socket',
          },
    );
  } catch (e) {
    add({ name: 'backend', ok: false, detail: asProxyError(e).message, fix: 'start pxd (Portworx) on this node, or correct --backend' });
  } finally {
    await client.close();
  }
}

async function checkFileSecrets(config: Readonly<Config>, add: (c: DoctorCheck) => void): Promise<void> {
  const store = createSecretStore(config, silentLogger());
  const ok = await store.ready();
  add(
    ok
      ? { name: 'secret store', ok, detail: `${store.description} is readable` }
      : {
          name: 'secret store',
          ok,
          detail: `${store.description} is not a readable folder`,
          fix: 'create the folder or correct --secrets file:<dir>',
        },
  );
  await store.close();
}

async function checkDcos(config: Readonly<Config>, input: DoctorInput, add: (c: DoctorCheck) => void): Promise<void> {
  if (config.secrets.kind !== 'dcos') return;
  const dcos = config.secrets.dcos;
  const store = new DcosSecretStore(dcos);
  const uid = dcos.login.uid;
  try {
    const token = await store.auth.token();
    add({
      name: 'DC/OS reachable',
      ok: true,
      detail: `${dcos.url} answers over TLS${dcos.caFile ? ` verified with ${dcos.caFile}` : dcos.insecure ? ' (NOT verified: --dcos-insecure)' : ' verified with the default trust store'}`,
    });
    add({ name: 'DC/OS login', ok: true, detail: `logged in as ${uid} (${dcos.login.kind})` });
    await checkFleet(config, store, uid, input, add);
    await checkSkewAndBase(config, dcos, token, uid, input, add);
    await checkReferences(config, store, uid, input, add);
  } catch (e) {
    const err = asProxyError(e);
    const name = err.code === 'SECRET_STORE_LOGIN_FAILED' ? 'DC/OS login' : 'DC/OS reachable';
    add({ name, ok: false, detail: `${err.code}: ${oneAttempt(err.message)}`, fix: fixFor(err.code, { uid, url: dcos.url }) });
  } finally {
    await store.close();
  }
}

async function checkSkewAndBase(
  config: Readonly<Config>,
  dcos: DcosConfig,
  token: string,
  uid: string,
  input: DoctorInput,
  add: (c: DoctorCheck) => void,
): Promise<void> {
  const agent = new Agent({ connect: { ca: dcos.caPem, rejectUnauthorized: !dcos.insecure } });
  const now = input.now ?? Date.now;
  try {
    const base = config.secretsBasePath;
    const folder = base ? base.split('/').map(encodeURIComponent).join('/') : '';
    const t0 = now();
    const res = await request(`${dcos.url.replace(/\/+$/, '')}/secrets/v1/secret/default/${folder}?list=true`, {
      dispatcher: agent,
      headers: { authorization: `token=${token}`, accept: 'application/json' },
      headersTimeout: dcos.timeoutSec * 1000,
      bodyTimeout: dcos.timeoutSec * 1000,
    });
    await res.body.dump();
    const date = res.headers.date;
    if (typeof date === 'string') {
      const skew = Math.round((Date.parse(date) - (t0 + now()) / 2) / 1000);
      const max = input.maxSkewSec ?? 30;
      add(
        Math.abs(skew) <= max
          ? { name: 'clock skew', ok: true, detail: `this host and DC/OS agree within ${Math.abs(skew)} s` }
          : {
              name: 'clock skew',
              ok: false,
              detail: `this host is ${Math.abs(skew)} s ${skew > 0 ? 'behind' : 'ahead of'} DC/OS: tokens may look expired or not yet valid`,
              fix: 'run chrony or ntpd on this host',
            },
      );
    }
    const shown = base ? `/${base}` : '/';
    if (res.statusCode === 200) add({ name: 'secret base path', ok: true, detail: `${uid} can list ${shown}` });
    else if (res.statusCode === 403) {
      // The documented grant is read only (docs/dcos-permissions.md): a refused list is no fault.
      add({
        name: 'secret base path',
        ok: true,
        detail:
          `not checked: ${uid} may not list ${shown} (HTTP 403). The proxy only needs dcos:secrets:default:${base ? `/${base}/*` : '/*'} read; ` +
          `listing needs dcos:secrets:list:default:${shown} read, which only this check uses`,
      });
    } else
      add({
        name: 'secret base path',
        ok: false,
        detail: `listing ${shown} answered HTTP ${res.statusCode}`,
        fix: 'check the Secret Store (sealed? see dcos security secrets list /)',
      });
  } catch (e) {
    add({
      name: 'secret base path',
      ok: false,
      detail: `could not list the base path (${(e as Error).message})`,
      fix: 'see docs/troubleshooting.md',
    });
  } finally {
    await agent.close();
  }
}

const FLEET_CHECK = 'fleet document';

/**
 * The fleet document (--fleet-config), read once as serve reads it and built with this agent's
 * configuration as serve builds it: its version, or why serve would not apply it. Never its text.
 */
async function checkFleet(
  config: Readonly<Config>,
  store: DcosSecretStore,
  uid: string,
  input: DoctorInput,
  add: (c: DoctorCheck) => void,
): Promise<void> {
  const docPath = config.fleetConfig;
  if (!docPath) return;
  const build = input.fleetBuild;
  const f = await readFleetOnce(docPath, store, build ?? (() => ({ problems: [], issues: [] })));
  switch (f.state) {
    case 'absent':
      add({
        name: FLEET_CHECK,
        ok: true,
        warn: true,
        detail: `there is no document at ${docPath} (HTTP 404): every agent falls back to its YAML file's policy, issuers and volumeSecrets`,
        fix: `create it: dcos security secrets create -f fleet.yaml ${docPath} (docs/install.md)`,
      });
      return;
    case 'unreadable': {
      const code = f.error.code;
      add({
        name: FLEET_CHECK,
        ok: false,
        detail: `cannot read ${docPath}: ${code}: ${oneAttempt(f.error.message)}`,
        fix: fleetReadFix(f, { uid, url: store.config.url }),
      });
      return;
    }
    case 'refused':
      if (!build) {
        add({ name: FLEET_CHECK, ok: true, detail: `${docPath} version ${f.version} read (not built with this configuration)` });
        return;
      }
      add({
        name: FLEET_CHECK,
        ok: false,
        detail: `${docPath} version ${f.version} does not build with this agent's configuration: ${f.problems.join('; ')}. serve refuses it and keeps the configuration in force`,
        fix: `correct the document, then: dcos security secrets update -f fleet.yaml ${docPath}`,
      });
      return;
    case 'built':
      add({
        name: FLEET_CHECK,
        ok: true,
        detail: `${docPath} version ${f.version} read and built with this agent's configuration: its policy, issuers and volumeSecrets are the ones serve applies`,
      });
  }
}

const REFERENCES_CHECK = 'volume references';

/**
 * The probe record of `doctor` in the references folder. Its name is one no volume can have (volume
 * names hold only [0-9A-Za-z_-], never a dot), and one per account and host: doctors run at once on
 * several agents never meet, and a probe an interrupted run left behind is cleaned up by the next run
 * on the same host.
 */
export function referencesProbePath(folder: string, uid: string, hostname: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63) || '-';
  return `${folder}/.doctor-${safe(uid)}-${safe(hostname)}`;
}

/**
 * The grant the cluster's volume references need (`full` on the folder: create at Create, read on
 * other agents, delete at Remove), proven with the store's own calls: a probe record created, read
 * back and deleted. A 403 names the one action that was refused.
 */
async function checkReferences(
  config: Readonly<Config>,
  store: DcosSecretStore,
  uid: string,
  input: DoctorInput,
  add: (c: DoctorCheck) => void,
): Promise<void> {
  const folder = config.referencesPath;
  if (!folder) {
    add({
      name: REFERENCES_CHECK,
      ok: true,
      detail:
        'not checked: --references-path is none, so a -o token_secret reference is remembered only by the agent ' +
        'that created the volume (docs/usage.md)',
    });
    return;
  }
  const probe = referencesProbePath(folder, uid, input.hostname ?? os.hostname());
  const rid = `dcos:secrets:default:/${folder}/*`;
  const grant = `dcos security org users grant ${uid} '${rid}' full`;
  const value = JSON.stringify({ probe: 'pxd-auth-proxy doctor', createdAt: new Date().toISOString() });
  let step: 'create' | 'read' | 'delete' = 'create';
  let present = false;
  const fail = (detail: string, fix?: string): void => add({ name: REFERENCES_CHECK, ok: false, detail, ...(fix ? { fix } : {}) });
  try {
    if ((await store.createRecord(probe, value)) === 'exists') {
      // An earlier run on this host left its probe behind (interrupted, or refused the delete).
      present = true;
      step = 'delete';
      await store.deleteRecord(probe);
      present = false;
      step = 'create';
      if ((await store.createRecord(probe, value)) === 'exists') {
        fail(`another doctor on this host probes ${probe} at the same time; run it again`);
        return;
      }
    }
    present = true;
    step = 'read';
    const read = await store.readRecord(probe);
    step = 'delete';
    await store.deleteRecord(probe);
    present = false;
    if (read?.value !== value) {
      fail(
        `the probe record ${probe} was created but ${read ? 'read back with another value' : 'not found when read back'}; run doctor again`,
      );
      return;
    }
    add({
      name: REFERENCES_CHECK,
      ok: true,
      detail: `${uid} can create, read and delete the records under /${folder} (probe ${probe} created, read back and deleted)`,
    });
  } catch (e) {
    const err = asProxyError(e);
    if (present && step !== 'delete') {
      present = (await store.deleteRecord(probe).catch(() => 'failed')) === 'failed';
    }
    const left = present
      ? `; the probe record ${probe} is left behind (harmless: no volume has that name): the next doctor run deletes it once the grant is in place, or dcos security secrets delete ${probe}`
      : '';
    if (err.code === 'SECRET_FORBIDDEN') {
      fail(
        `${uid} may not ${step} records under /${folder}: missing ${rid} ${step} (HTTP 403 for the probe record ${probe}). ` +
          `The cluster's volume references need create, read and delete there: without them a Create with -o token_secret is refused, ` +
          `and other agents cannot mount or remove such volumes${left}`,
        grant,
      );
    } else {
      fail(`${err.code}: ${oneAttempt(err.message)}${left}`, fixFor(err.code, { uid, url: store.config.url }));
    }
  }
}
