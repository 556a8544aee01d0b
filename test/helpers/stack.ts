import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/audit/logger.js';
import { RunningProxy, type StartOptions } from '../../src/app.js';
import { callPlugin } from './plugin-client.js';
import { ISSUER, SHARED_SECRET } from './tokens.js';

export interface Stack {
  dir: string;
  pxd: PxdDouble;
  proxy: RunningProxy;
  socket: string;
  mountsRoot: string;
  /** Every log line the proxy wrote (JSON text). */
  logs: string[];
  call: CallPluginBound;
  writeSecret(secretPath: string, value: string): void;
  close(): Promise<void>;
}

type CallPluginBound = (endpoint: string, body?: unknown, opts?: Parameters<typeof callPlugin>[3]) => ReturnType<typeof callPlugin>;

/** A proxy in front of the pxd double, each on a real unix socket in a fresh temp folder. */
export async function startStack(opts: { flags?: Record<string, unknown>; start?: StartOptions; dir?: string } = {}): Promise<Stack> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'pxa-'));
  const mountsRoot = path.join(dir, 'mounts');
  mkdirSync(mountsRoot, { recursive: true });
  const pxd = await startPxdDouble({
    socketPath: path.join(dir, 'pxd.sock'),
    auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
    mountsRoot,
    defaultSize: '1G',
  });
  const socket = path.join(dir, 'pxd-auth.sock');
  const { config, problems } = loadConfig({
    flags: {
      socket,
      backend: `unix://${path.join(dir, 'pxd.sock')}`,
      mountsRoot,
      secrets: `file:${path.join(dir, 'secrets')}`,
      stateDir: path.join(dir, 'state'),
      jwtIssuer: ISSUER,
      jwtSharedSecret: SHARED_SECRET,
      backendTimeout: 5,
      logLevel: 'debug',
      ...opts.flags,
    },
    env: {},
  });
  if (!config) throw new Error(`test config invalid: ${problems.join('; ')}`);
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  mkdirSync(path.join(dir, 'secrets'), { recursive: true });
  const proxy = await RunningProxy.start(config, logger, opts.start);
  return {
    dir,
    pxd,
    proxy,
    socket,
    mountsRoot,
    logs,
    call: (endpoint, body, o) => callPlugin(socket, endpoint, body, o),
    writeSecret(secretPath, value) {
      const file = path.join(dir, 'secrets', secretPath);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, value);
    },
    async close() {
      await proxy.close();
      await pxd.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
