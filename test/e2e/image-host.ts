/**
 * A private "agent" for the image test: a mount namespace of its own in which /run/docker/plugins is
 * a folder of the test (bind-mounted), and a dockerd on overlay2 started in it.
 *
 * The container runs as docs/install.md says, with `-v /run/docker/plugins:/run/docker/plugins`: dockerd
 * resolves that source in its own mount namespace, so the proxy's socket appears in the test's folder,
 * next to the pxd double's pxd.sock, and the host's /run/docker/plugins is never touched. As in
 * agent-namespace.ts, the holder (`unshare --mount --propagation private`) mounts a tmpfs on /run (never
 * removed, so no other suite's rmdir can detach it) and masks /etc/docker/plugins when it exists; dockerd's
 * key file goes to the test's folder (`deprecated-key-path`), not /etc/docker. Everything vanishes with
 * the namespace; the data root is a folder of the test, removed at the end.
 *
 * overlay2, not vfs: a cold build needs 0.4 to 0.9 GB and about 15 s there, against 4 GB and 55 s.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon, Dockerd, which, type E2eTools } from './dockerd.js';

const HOLDER_SCRIPT = String.raw`
set -eu
umask 022
plugins="$1"
mount -t tmpfs -o mode=0755,size=64m pxa-e2e-image-run /run
mkdir -p /run/docker/plugins /run/containerd /run/lock
mount --bind "$plugins" /run/docker/plugins
if [ -d /etc/docker/plugins ]; then
  mount -t tmpfs -o mode=0755,size=1m pxa-e2e-image-plugins /etc/docker/plugins
fi
echo "namespace ready"
exec sleep infinity
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ImageHost {
  /** The agent's /run/docker/plugins, as this process sees it. */
  readonly pluginDir: string;
  private holder: Daemon | undefined;
  docker: Dockerd | undefined;
  storageDriver: 'overlay2' | 'vfs' | undefined;
  readonly notes: string[] = [];

  constructor(
    readonly dir: string,
    readonly tools: Pick<E2eTools, 'dockerd' | 'docker'>,
  ) {
    this.pluginDir = path.join(dir, 'plugins');
    mkdirSync(this.pluginDir, { recursive: true, mode: 0o755 });
  }

  get holderPid(): number | undefined {
    return this.holder?.pid;
  }

  async start(timeoutMs = 10_000): Promise<Dockerd> {
    const unshare = which('unshare');
    const nsenter = which('nsenter');
    if (!unshare || !nsenter) throw new Error('unshare and nsenter (util-linux) are needed');
    const h = new Daemon(
      'image namespace',
      unshare,
      ['--mount', '--propagation', 'private', 'sh', '-c', HOLDER_SCRIPT, 'holder', this.pluginDir],
      path.join(this.dir, 'namespace.log'),
      { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    );
    this.holder = h;
    const deadline = Date.now() + timeoutMs;
    while (!h.log().includes('namespace ready')) {
      if (!h.running) throw new Error(`the namespace holder ${h.describeExit()}: ${h.log().trim()}`);
      if (Date.now() > deadline) throw new Error(`the namespace was not ready within ${timeoutMs} ms: ${h.log().trim()}`);
      await sleep(20);
    }
    const dockerDir = path.join(this.dir, 'docker');
    mkdirSync(dockerDir, { recursive: true });
    const configFile = path.join(dockerDir, 'daemon.json');
    writeFileSync(configFile, JSON.stringify({ 'deprecated-key-path': path.join(dockerDir, 'key.json') }) + '\n');
    const launcher = [nsenter, `--mount=/proc/${h.pid}/ns/mnt`, '--'];
    // Dockerd passes --storage-driver=vfs; the later flag wins.
    this.docker = new Dockerd(dockerDir, this.tools, { launcher, extraArgs: ['--config-file', configFile, '--storage-driver=overlay2'] });
    try {
      await this.docker.start(60_000);
      this.storageDriver = 'overlay2';
    } catch (e) {
      // A file system overlay2 cannot stack on (overlayfs itself, in some CI containers): vfs, slower.
      await this.docker.stop();
      this.notes.push(`overlay2 did not start (${(e as Error).message.split('\n')[0]}); using vfs`);
      this.docker = new Dockerd(dockerDir, this.tools, { launcher, extraArgs: ['--config-file', configFile] });
      await this.docker.start(60_000);
      this.storageDriver = 'vfs';
    }
    return this.docker;
  }

  /** dockerd (and its containerd), then the holder. Returns notes on what did not go cleanly. */
  async stop(): Promise<string[]> {
    const notes: string[] = [];
    if (this.docker) notes.push(...(await this.docker.stop()));
    if (this.holder) {
      const r = await this.holder.stop(5_000);
      if (r !== 'exited') notes.push(`the image namespace holder (pid ${this.holder.pid}) was ${r}`);
      this.holder = undefined;
    }
    return notes;
  }
}
