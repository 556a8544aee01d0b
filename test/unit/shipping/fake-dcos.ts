/**
 * A stand-in for the DC/OS CLI with the Enterprise CLI, for the shell scripts that drive it: it keeps
 * accounts, secrets and grants in a folder, answers like the real CLI (a create of something that exists
 * fails with "already exists", a read of something absent fails), logs every call, and can be told to
 * fail its Nth change (DCOS_FAIL_AT=N) as a dropped connection would, changing nothing.
 *
 * The commands it knows are those of docs/dcos-permissions.md and plugin/dcos/setup-service-account.sh.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoPath } from './files.js';

/** The stand-in itself: a bash script beside this file. */
export const FAKE_DCOS = repoPath('test/unit/shipping/fake-dcos.sh');

export interface FakeDcos {
  /** The folder the script runs in (and HOME). */
  cwd: string;
  bin: string;
  state: string;
  log: string;
  /** The environment that puts the stand-in first on PATH. */
  env: Record<string, string>;
}

export function fakeDcos(cwd: string): FakeDcos {
  const bin = path.join(cwd, 'bin');
  const state = path.join(cwd, 'dcos-state');
  mkdirSync(bin, { recursive: true });
  mkdirSync(state, { recursive: true });
  copyFileSync(FAKE_DCOS, path.join(bin, 'dcos'));
  chmodSync(path.join(bin, 'dcos'), 0o755);
  const log = path.join(cwd, 'dcos.log');
  writeFileSync(log, '');
  return { cwd, bin, state, log, env: { PATH: `${bin}:${process.env.PATH}`, HOME: cwd, DCOS_LOG: log, DCOS_STATE: state } };
}

/** The calls logged so far, one line each (arguments joined by spaces). */
export function calls(fake: FakeDcos): string[] {
  return readFileSync(fake.log, 'utf8').split('\n').filter(Boolean);
}

export interface DcosState {
  /** account id → its public key */
  accounts: Record<string, string>;
  /** secret path → value */
  secrets: Record<string, string>;
  /** "uid rid action", sorted */
  grants: string[];
}

function walk(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    const r = rel ? `${rel}/${f}` : f;
    return statSync(p).isDirectory() ? walk(p, r) : [r];
  });
}

export function dcosState(fake: FakeDcos): DcosState {
  const accounts = Object.fromEntries(
    walk(path.join(fake.state, 'accounts')).map((a) => [a, readFileSync(path.join(fake.state, 'accounts', a), 'utf8')]),
  );
  const secrets = Object.fromEntries(
    walk(path.join(fake.state, 'secrets')).map((s) => [s, readFileSync(path.join(fake.state, 'secrets', s), 'utf8')]),
  );
  const grantsFile = path.join(fake.state, 'grants');
  const grants = existsSync(grantsFile) ? readFileSync(grantsFile, 'utf8').split('\n').filter(Boolean).sort() : [];
  return { accounts, secrets, grants };
}

/** Run a script (bash) with the stand-in on PATH. */
export function runWithFake(
  fake: FakeDcos,
  script: string,
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [script], { cwd: fake.cwd, env: { ...fake.env, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
