/**
 * The proxy installed from the shipped plugin/ files the way docs/install.md ("systemd") says: the
 * YAML and env examples copied into an /etc/pxd-auth-proxy folder and edited, and the two units read
 * for what systemd would do with them — ListenStream/SocketMode of the .socket unit, ExecStart and
 * EnvironmentFile of the .service unit, Restart=always. No systemd runs here, so a small supervisor
 * plays its part: it holds the socket (so it outlives the proxy's restarts, as a socket unit does)
 * and starts the service's command with the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './proxy-process.js';

export const PLUGIN_DIR = path.join(REPO_ROOT, 'plugin');
/** Where `npm install -g` puts the program, as the unit's ExecStart names it. */
const INSTALLED_BIN = '/usr/local/bin/pxd-auth-proxy';
const ETC = '/etc/pxd-auth-proxy';

/** `Key=value` lines of one section of a unit file. */
export function unitSection(file: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      current = head[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (current !== section || eq < 0) continue;
    const key = line.slice(0, eq).trim();
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** An EnvironmentFile: KEY=value lines, comments and blanks ignored. */
export function readEnvironmentFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export interface InstallOptions {
  /** Stands for `/` of the agent: etc/pxd-auth-proxy is made under it. */
  root: string;
  /** Files the operator puts in /etc/pxd-auth-proxy (install step 3): name → content. */
  files: Record<string, string>;
  /** The operator's edits of pxd-auth-proxy.env (DC/OS login, and here the test's paths). */
  env: Record<string, string>;
  logFile: string;
}

export interface Installed {
  socket: string;
  socketMode: number;
  etc: string;
  supervisor: ChildProcess;
  /** Restarts of the service so far (the supervisor's Restart=always). */
  log(): string;
  stop(): Promise<void>;
}

/** Holds the socket like a .socket unit and (re)starts the service command like Restart=always. */
const SUPERVISOR = String.raw`
import os, signal, socket, subprocess, sys, time
path, mode, log_path = sys.argv[1], int(sys.argv[2], 8), sys.argv[3]
argv = sys.argv[4:]
old = os.umask(0o177)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(128)
os.umask(old)
os.chmod(path, mode)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
log = open(log_path, 'ab', buffering=0)
state = {'child': None, 'stopping': False}
def pre():
    os.environ['LISTEN_FDS'] = '1'
    os.environ['LISTEN_PID'] = str(os.getpid())
def start():
    state['child'] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(3,), preexec_fn=pre)
    log.write(('[supervisor] started %d\n' % state['child'].pid).encode())
def stop(signum, frame):
    state['stopping'] = True
    if state['child'] and state['child'].poll() is None:
        state['child'].send_signal(signal.SIGTERM)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
start()
while True:
    code = state['child'].wait()
    log.write(('[supervisor] exited %s\n' % code).encode())
    if state['stopping']:
        break
    time.sleep(0.3)
    start()
os.unlink(path)
`;

export async function installFromPluginFiles(o: InstallOptions): Promise<Installed> {
  const etc = path.join(o.root, 'etc', 'pxd-auth-proxy');
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  const rewrite = (text: string) => text.split(`${ETC}/`).join(`${etc}/`);
  // Step 3: the examples, with the folder they name moved under the test's root.
  writeFileSync(path.join(etc, 'pxd-auth-proxy.yaml'), rewrite(readFileSync(path.join(PLUGIN_DIR, 'pxd-auth-proxy.yaml'), 'utf8')));
  const envFile = path.join(etc, 'pxd-auth-proxy.env');
  copyFileSync(path.join(PLUGIN_DIR, 'pxd-auth-proxy.env'), envFile);
  writeFileSync(
    envFile,
    rewrite(readFileSync(envFile, 'utf8')) +
      Object.entries(o.env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    { mode: 0o600 },
  );
  for (const [name, content] of Object.entries(o.files)) writeFileSync(path.join(etc, name), content, { mode: 0o600 });

  // Step 4: what systemd does with the units.
  const sock = unitSection(path.join(PLUGIN_DIR, 'systemd', 'pxd-auth-proxy.socket'), 'Socket');
  const svc = unitSection(path.join(PLUGIN_DIR, 'systemd', 'pxd-auth-proxy.service'), 'Service');
  const socket = sock.get('ListenStream')![0]!;
  const socketMode = parseInt(sock.get('SocketMode')![0]!, 8);
  const execStart = rewrite(svc.get('ExecStart')![0]!).split(/\s+/);
  if (execStart[0] !== INSTALLED_BIN) throw new Error(`ExecStart runs ${execStart[0]}, not ${INSTALLED_BIN}`);
  const command = [process.execPath, path.join(REPO_ROOT, 'dist', 'bin', 'pxd-auth-proxy.js'), ...execStart.slice(1)];
  const envFiles = (svc.get('EnvironmentFile') ?? []).map((f) => rewrite(f.replace(/^-/, '')));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const f of envFiles) Object.assign(env, readEnvironmentFile(f));

  mkdirSync(path.dirname(socket), { recursive: true });
  const supervisor = spawn('python3', ['-c', SUPERVISOR, socket, socketMode.toString(8), o.logFile, ...command], { env, stdio: 'ignore' });
  const exited = new Promise<void>((r) => supervisor.once('exit', () => r()));
  return {
    socket,
    socketMode,
    etc,
    supervisor,
    log: () => {
      try {
        return readFileSync(o.logFile, 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      if (supervisor.exitCode === null && supervisor.signalCode === null) supervisor.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (supervisor.exitCode === null && supervisor.signalCode === null) supervisor.kill('SIGKILL');
    },
  };
}
