/**
 * One "agent" of a cluster on this machine: a mount namespace of its own in which a dockerd and its
 * pxd-auth proxy run, so that two daemons each find their own plugin under the same driver name.
 *
 * dockerd always scans /run/docker/plugins for plugin sockets and /etc/docker/plugins for spec files,
 * whatever its --exec-root (docker-volume-plugin.md). A holder process (`unshare --mount
 * --propagation private`) makes a new mount namespace and, in it only:
 *   - mounts a fresh tmpfs on /run, with /run/docker/plugins and /run/containerd in it: the plugin socket,
 *     containerd's shim sockets (/run/containerd/s) and whatever else dockerd puts in /run stay in the
 *     namespace and vanish with it. /run itself is the mount point because it is never removed: a folder
 *     such as /run/docker could be rmdir'ed by another suite's cleanup in the host namespace, and since
 *     Linux 3.18 that silently detaches the mount in every other namespace.
 *   - mounts a tmpfs on /etc/docker/plugins when that folder exists on the host (when it does not, no spec
 *     file can be found there either).
 * then sleeps. The proxy and dockerd are started with `nsenter --mount=/proc/<holder>/ns/mnt --`, which
 * execs them (their pid is the one we started and later kill). Everything else (/tmp with the pxd
 * double's mountpoints, the daemons' data and API sockets) is the same file system in every namespace.
 * This process reaches the namespace's files through /proc/<holder>/root. The namespace lives until the
 * holder and every process in it have exited; nothing is left on the host.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Daemon, which } from './dockerd.js';

const HOLDER_SCRIPT = String.raw`
set -eu
umask 022
mount -t tmpfs -o mode=0755,size=64m pxa-e2e-agent-run /run
mkdir -p /run/docker/plugins /run/containerd /run/lock
if [ -d /etc/docker/plugins ]; then
  mount -t tmpfs -o mode=0755,size=1m pxa-e2e-agent-plugins /etc/docker/plugins
  echo "masked /etc/docker/plugins"
fi
echo "namespace ready"
exec sleep infinity
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AgentNamespace {
  private holder: Daemon | undefined;
  readonly logFile: string;

  constructor(
    readonly name: string,
    readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.logFile = path.join(dir, 'namespace.log');
  }

  /** The holder's pid: the namespace is /proc/<pid>/ns/mnt. */
  get pid(): number {
    if (!this.holder) throw new Error(`agent ${this.name}: its namespace is not started`);
    return this.holder.pid;
  }

  async start(timeoutMs = 10_000): Promise<void> {
    const unshare = which('unshare');
    if (!unshare) throw new Error('unshare (util-linux) is not installed');
    if (!which('nsenter')) throw new Error('nsenter (util-linux) is not installed');
    const h = new Daemon(
      `namespace ${this.name}`,
      unshare,
      ['--mount', '--propagation', 'private', 'sh', '-c', HOLDER_SCRIPT],
      this.logFile,
      {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      },
    );
    this.holder = h;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (h.log().includes('namespace ready')) return;
      if (!h.running) throw new Error(`agent ${this.name}: the namespace holder ${h.describeExit()}: ${h.log().trim()}`);
      await sleep(20);
    }
    throw new Error(`agent ${this.name}: the namespace was not ready within ${timeoutMs} ms: ${h.log().trim()}`);
  }

  /** Prefix of a command that runs in this namespace: nsenter execs it, so its pid is the one spawned. */
  launcher(): string[] {
    return [which('nsenter') ?? 'nsenter', `--mount=/proc/${this.pid}/ns/mnt`, '--'];
  }

  /** A path as the namespace sees it, reachable from the host namespace. */
  hostPath(p: string): string {
    return `/proc/${this.pid}${path.posix.join('/root', p)}`;
  }

  /** What the holder printed (which folders it masked). */
  log(): string {
    return this.holder?.log() ?? '';
  }

  /** Stop the holder by pid; the namespace goes once the processes started in it are gone too. */
  async stop(): Promise<string[]> {
    const h = this.holder;
    if (!h) return [];
    const r = await h.stop(5_000);
    this.holder = undefined;
    return r === 'exited' ? [] : [`the namespace holder of agent ${this.name} (pid ${h.pid}) was ${r}`];
  }
}
