/**
 * The proxy as a real process (`node dist/bin/pxd-auth-proxy.js serve ...`), the way an operator runs it: its
 * own environment, its log in a file, stopped by pid with SIGTERM.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, socketAnswers } from './dockerd.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROXY_MAIN = path.join(REPO_ROOT, 'dist', 'bin', 'pxd-auth-proxy.js');

export interface ProxyProcessOptions {
  socket: string;
  /** unix socket of the backend (pxd, or something in front of it). */
  backendSocket: string;
  mountsRoot: string;
  stateDir: string;
  /** `dcos` or `file:<dir>`. */
  secrets: string;
  issuer: string;
  sharedSecretFile: string;
  logFile: string;
  /** Extra environment (DC/OS settings). */
  env?: Record<string, string>;
  extraArgs?: string[];
  /** A command that runs the proxy for us and execs it (its pid stays the proxy's), e.g. nsenter into a mount namespace. */
  launcher?: string[];
  /** Where this process sees the proxy's socket, when not at `socket` (the proxy runs in another mount namespace). */
  probeSocket?: string;
}

/** Settings that must come from this test only, never from the environment vitest was started in. */
const FOREIGN_ENV = /^(PXD_AUTH_|PORTWORX_|OPENSTORAGE_|DCOS_|LISTEN_FDS$|LISTEN_PID$|NODE_OPTIONS$)/;

export class ProxyProcess {
  daemon: Daemon | undefined;
  starts = 0;

  constructor(readonly opts: ProxyProcessOptions) {}

  args(): string[] {
    const o = this.opts;
    return [
      PROXY_MAIN,
      'serve',
      '--socket',
      o.socket,
      '--backend',
      `unix://${o.backendSocket}`,
      '--mounts-root',
      o.mountsRoot,
      '--secrets',
      o.secrets,
      '--state-dir',
      o.stateDir,
      '--jwt-issuer',
      o.issuer,
      '--jwt-shared-secret-file',
      o.sharedSecretFile,
      '--backend-timeout',
      '30',
      '--log-level',
      'debug',
      ...(o.extraArgs ?? []),
    ];
  }

  async start(timeoutMs = 20_000): Promise<void> {
    if (!existsSync(PROXY_MAIN)) throw new Error(`${PROXY_MAIN} is missing: run \`npm run build\` first (npm test does it)`);
    if (this.daemon?.running) throw new Error('the proxy is already running');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!FOREIGN_ENV.test(k)) env[k] = v;
    Object.assign(env, this.opts.env ?? {});
    const [file, ...pre] = [...(this.opts.launcher ?? []), process.execPath];
    const d = new Daemon('pxd-auth-proxy', file!, [...pre, ...this.args()], this.opts.logFile, env);
    this.daemon = d;
    this.starts++;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!d.running) throw new Error(`the proxy ${d.describeExit()} before it listened; its log ends:\n${d.logTail()}`);
      if (d.log().includes('pxd-auth-proxy listening') && (await socketAnswers(this.opts.probeSocket ?? this.opts.socket))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the proxy did not listen on ${this.opts.socket} within ${timeoutMs} ms; its log ends:\n${d.logTail()}`);
  }

  /** SIGTERM (the proxy drains and exits), SIGKILL after a grace period. */
  async stop(graceMs = 15_000): Promise<string> {
    const d = this.daemon;
    if (!d) return 'not started';
    const r = await d.stop(graceMs);
    this.daemon = undefined;
    return `${r} (${d.describeExit()})`;
  }

  /** Everything the proxy wrote, across restarts. */
  log(): string {
    try {
      return readFileSync(this.opts.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
