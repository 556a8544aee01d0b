import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { SecretStore } from '../secrets/types.js';
import { WEAK_SHARED_SECRET_FIX, generateToken, parseAuthConfig, parseDuration, weakSharedSecret } from '../tokens/generate.js';
import { createSecretStore } from '../app.js';
import { silentLogger } from '../audit/logger.js';
import { StateStore } from '../state/store.js';
import { addToolConfigOptions, resolveConfig, resolveToolConfig } from './serve.js';
import { checkToken, type CheckInput } from './token-check.js';
import { fleetReadFix, readToolFleet, toolFleetPath, type FleetOnce } from './tool-fleet.js';
import type { ToolSources } from '../config/installed.js';
import { DcosSecretStore } from '../secrets/dcos/index.js';
import { oneAttempt } from './doctor.js';

/** The fleet document's line above the steps: whose policy, issuers and volumeSecrets judged the token. */
interface FleetLine {
  status: 'ok  ' | 'WARN' | 'FAIL';
  detail: string;
  fix?: string;
}

/** The account and the cluster, for a fix. */
interface DcosWho {
  uid: string;
  url: string;
}

const SERVE_REFUSES = 'serve refuses it and keeps the configuration in force (the last document it applied, or the YAML file)';

/** --secret / --volume: the verdict is serve's only with the document serve applies; without it there is none. */
function secretFleetLine(f: FleetOnce, who: DcosWho): FleetLine {
  switch (f.state) {
    case 'built':
      return {
        status: 'ok  ',
        detail: `${f.path} version ${f.version}: its policy, issuers and volumeSecrets judge, as serve applies them`,
      };
    case 'absent':
      return {
        status: 'ok  ',
        detail: `none at ${f.path}: the YAML file's policy, issuers and volumeSecrets judge, as serve applies them`,
      };
    case 'unreadable':
      return {
        status: 'FAIL',
        detail: `cannot read ${f.path}: ${f.error.code}: ${oneAttempt(f.error.message)}; serve's policy is in it, so no verdict`,
        fix: fleetReadFix(f, who),
      };
    case 'refused':
      return {
        status: 'FAIL',
        detail: `${f.path} version ${f.version} does not build with this agent's configuration (${f.problems.join('; ')}): ${SERVE_REFUSES}, so no verdict`,
        fix: `correct the document: dcos security secrets update -f fleet.yaml ${f.path}`,
      };
  }
}

/** --token reads no secret store unless this agent's DC/OS login is configured: then the document is read, else it says whose policy judged. */
function tokenFleetLine(docPath: string, read: { f: FleetOnce; who: DcosWho } | undefined): FleetLine {
  const f = read?.f;
  const local = "this verdict uses the local configuration's policy, issuers and volumeSecrets";
  if (!f) {
    return {
      status: 'WARN',
      detail:
        `${docPath} holds this cluster's policy and was not read (--token needs no DC/OS, and the DC/OS login here is not configured or incomplete): ` +
        `${local}; use --secret, or run where the DC/OS login is configured (the installed configuration, or --env-file)`,
    };
  }
  if (f.state === 'built' || f.state === 'absent') return secretFleetLine(f, read.who);
  if (f.state === 'unreadable') {
    return {
      status: 'WARN',
      detail: `${docPath} holds this cluster's policy and could not be read (${f.error.code}: ${oneAttempt(f.error.message)}): ${local}`,
      fix: fleetReadFix(f, read.who),
    };
  }
  return {
    status: 'WARN',
    detail: `${docPath} version ${f.version} does not build with this agent's configuration (${f.problems.join('; ')}): ${SERVE_REFUSES}; ${local}`,
  };
}

/** With --token: the document, when this agent's configuration with the secret store builds (its DC/OS login is set); else undefined. */
async function readFleetWithLogin(docPath: string, s: ToolSources): Promise<{ f: FleetOnce; who: DcosWho } | undefined> {
  if (s.problems.length) return undefined;
  const full = await resolveConfig(s.flags, s.env);
  if (!full.config || full.config.secrets.kind !== 'dcos' || full.config.fleetConfig !== docPath) return undefined;
  const store = new DcosSecretStore(full.config.secrets.dcos);
  try {
    const dcos = full.config.secrets.dcos;
    return { f: await readToolFleet(docPath, store, s), who: { uid: dcos.login.uid, url: dcos.url } };
  } finally {
    await store.close();
  }
}

/** What went wrong with a file an option names, in words (not a raw `ENOENT: no such file or directory, open ...`). */
function fileProblem(e: unknown, writing = false): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return writing ? 'its folder does not exist' : 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder, not a file';
  if (code === 'ENOTDIR') return 'a part of the path is not a folder';
  return (e as Error).message;
}

/** Read the file an option names; a failure names the option. */
async function readOptionFile(flag: string, file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`${flag} ${file}: ${fileProblem(e)}`);
  }
}

function configProblems(problems: string[]): Error {
  return new Error(`the configuration has problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** The store `token check --token` runs with: nothing reads it. */
const NO_SECRET_STORE: SecretStore = {
  description: '(none: the token was given with --token)',
  read: () => Promise.reject(new Error('token check --token reads no secret')),
  ready: () => Promise.resolve(true),
  close: () => Promise.resolve(),
};

export function registerTokenCommands(program: Command, addServeOptions: (c: Command) => Command): void {
  const token = program.command('token').description('make and check tokens');

  // Compatible with `pxctl auth token generate` / openstorage-sdk-auth.
  token
    .command('generate')
    .description('sign a token from a YAML auth config (name, email, sub, roles, groups), as pxctl auth token generate')
    .requiredOption('--auth-config <file>', 'YAML file with name, email, sub, roles, groups')
    .option('--issuer <iss>', 'issuer (iss claim)', 'openstorage.io')
    .option(
      '--shared-secret <secret>',
      'HS256 key [env PORTWORX_AUTH_SHARED_SECRET, PORTWORX_AUTH_JWT_SHAREDSECRET, OPENSTORAGE_AUTH_SHAREDSECRET]',
    )
    .option('--rsa-private-keyfile <file>', 'RSA private key (PEM): RS256')
    .option('--ecdsa-private-keyfile <file>', 'ECDSA private key (PEM): ES256/384/512 by curve')
    .option('--token-duration <d>', 'lifetime, ^[0-9]+(s|m|h|d|y)$ (d = 24h, y = 365d)', '1d')
    .option('--output <file>', 'write the token to this file (mode 0600) instead of stdout')
    .action(async (o: Record<string, string | undefined>) => {
      const claims = parseAuthConfig(await readOptionFile('--auth-config', o.authConfig!));
      const durationSec = parseDuration(o.tokenDuration!);
      const env = process.env;
      const shared =
        o.sharedSecret ?? env.PORTWORX_AUTH_SHARED_SECRET ?? env.PORTWORX_AUTH_JWT_SHAREDSECRET ?? env.OPENSTORAGE_AUTH_SHAREDSECRET;
      const given = [
        o.sharedSecret ?? (o.rsaPrivateKeyfile || o.ecdsaPrivateKeyfile ? undefined : shared),
        o.rsaPrivateKeyfile,
        o.ecdsaPrivateKeyfile,
      ].filter(Boolean);
      if (given.length !== 1) {
        throw new Error(
          'give exactly one key: --shared-secret (or PORTWORX_AUTH_SHARED_SECRET), --rsa-private-keyfile or --ecdsa-private-keyfile',
        );
      }
      // Accepted, as pxd accepts it, but said: the same rule as serve and doctor (never the secret itself).
      const weak = !o.rsaPrivateKeyfile && !o.ecdsaPrivateKeyfile ? weakSharedSecret(shared!) : undefined;
      if (weak) process.stderr.write(`pxd-auth-proxy: warning: ${weak}; ${WEAK_SHARED_SECRET_FIX}\n`);
      const key = o.rsaPrivateKeyfile
        ? { rsaPrivateKeyPem: await readOptionFile('--rsa-private-keyfile', o.rsaPrivateKeyfile) }
        : o.ecdsaPrivateKeyfile
          ? { ecdsaPrivateKeyPem: await readOptionFile('--ecdsa-private-keyfile', o.ecdsaPrivateKeyfile) }
          : { sharedSecret: shared! };
      const jwt = await generateToken({ claims, issuer: o.issuer!, key, durationSec });
      if (o.output) {
        await fsp.writeFile(o.output, jwt + '\n', { mode: 0o600 }).catch((e: unknown) => {
          throw new Error(`--output ${o.output}: ${fileProblem(e, true)}`);
        });
      } else process.stdout.write(jwt + '\n');
    });

  const check = token
    .command('check')
    .description('explain, step by step, whether the proxy would accept a token for an operation (the token is never printed)')
    .option('--token <jwt>', 'a raw token (prefer --secret: flags show in ps)')
    .option('--secret <path>', 'a token_secret path, read from the configured secret store')
    .option('--volume <name>', 'a volume name as Docker sends it (inline spec or short name from the state file)')
    .option('--op <operation>', 'create, mount or remove', 'mount');
  addToolConfigOptions(addServeOptions(check)).action(async (o: Record<string, unknown>) => {
    const sources = ['token', 'secret', 'volume'].filter((k) => o[k] !== undefined);
    if (sources.length !== 1) throw new Error('give exactly one of --token, --secret, --volume');
    const op = String(o.op);
    if (op !== 'create' && op !== 'mount' && op !== 'remove') throw new Error('--op must be create, mount or remove');
    // A raw token needs the issuers and the policy: not the secret store nor the state file. The fleet
    // document is read only when this agent's DC/OS login is configured; else one line says whose policy judged.
    let config: CheckInput['config'];
    let secrets: SecretStore;
    let state: CheckInput['state'];
    let fleet: FleetLine | undefined;
    const noState = { get: () => undefined };
    if (o.token !== undefined) {
      const r = await resolveToolConfig(o, 'token check', { secretStore: false });
      if (!r.config) throw configProblems(r.problems);
      config = r.config;
      secrets = NO_SECRET_STORE;
      state = noState;
      const docPath = toolFleetPath(r.sources);
      if (docPath !== undefined) {
        const f = await readFleetWithLogin(docPath, r.sources);
        fleet = tokenFleetLine(docPath, f);
        if (f?.f.state === 'built') config = f.f.config;
      }
    } else {
      const r = await resolveToolConfig(o, 'token check');
      if (!r.config) throw configProblems(r.problems);
      config = r.config;
      secrets = createSecretStore(r.config, silentLogger());
      if (r.config.fleetConfig && secrets instanceof DcosSecretStore) {
        const f = await readToolFleet(r.config.fleetConfig, secrets, r.sources).catch(async (e: unknown) => {
          await secrets.close();
          throw e;
        });
        fleet = secretFleetLine(f, { uid: secrets.config.login.uid, url: secrets.config.url });
        if (f.state === 'built') config = f.config;
      }
      state = (await StateStore.open(path.join(r.config.stateDir, 'state.json')).catch(() => ({ store: noState }))).store;
    }
    try {
      if (fleet) {
        process.stdout.write(`${fleet.status} ${'fleet document'.padEnd(21)} ${fleet.detail}\n`);
        if (fleet.fix) process.stdout.write(`     ${''.padEnd(21)} fix: ${fleet.fix}\n`);
        if (fleet.status === 'FAIL') {
          process.stdout.write(`\nnot checked: ${op} (serve judges with the fleet document)\n`);
          process.exitCode = 1;
          return;
        }
      }
      const { allowed, steps } = await checkToken({
        config,
        secrets,
        state,
        token: o.token as string | undefined,
        secret: o.secret as string | undefined,
        volume: o.volume as string | undefined,
        operation: op,
      });
      for (const s of steps) process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(21)} ${s.detail}\n`);
      process.stdout.write(allowed ? `\nallowed: ${op}\n` : `\ndenied: ${op}\n`);
      process.exitCode = allowed ? 0 : 1;
    } finally {
      await secrets.close();
    }
  });
}
