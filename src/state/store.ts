import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ProxyError } from '../errors.js';
import { redactName } from '../volume-name/index.js';

/**
 * The small durable record of the volumes the proxy has seen, and of token references given as
 * `-o token_secret=...` (or `--mount ...,volume-opt=token_secret=...`). Docker sends options to Create
 * only, so a later Mount or Remove of `mnt1` carries nothing but the name: this file is how the proxy
 * still knows which secret holds the token. Knowing which volumes exist also lets Get answer while
 * the backend is briefly unreachable (an Err from Get makes dockerd forget a volume).
 * It holds secret *paths*, never secret values: a Docker name that carries a raw token
 * (`token=<jwt>,name=v2`) is keyed by its SHA-256 and recorded with the token redacted.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the folder) and serialized; a failed write
 * leaves both the file and the in-memory view as they were.
 */

export interface VolumeRef {
  /** Docker name, for the reader of the file (redacted when it carries a token). */
  name: string;
  /** Secret holding the token, when the volume was created with `-o token_secret=...`. */
  secretPath?: string;
  createdAt: string;
}

interface StateFile {
  version: 1;
  volumes: Record<string, VolumeRef>;
}

export interface StateLoadResult {
  store: StateStore;
  /** Set when an unreadable file was moved aside (the caller logs it loudly). */
  movedAside?: string;
}

export class StateStore {
  private volumes: Map<string, VolumeRef>;
  private chain: Promise<void> = Promise.resolve();
  /** key → name as shown in the file, waiting for the next coalesced write. */
  private readonly pendingLearn = new Map<string, string>();
  private learnQueued = false;

  private constructor(
    readonly file: string,
    initial: Map<string, VolumeRef>,
  ) {
    this.volumes = initial;
  }

  static async open(file: string): Promise<StateLoadResult> {
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await removeDeadTempFiles(file);
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { store: new StateStore(file, new Map()) };
      throw e;
    }
    try {
      const parsed = JSON.parse(text) as StateFile;
      if (parsed?.version !== 1 || typeof parsed.volumes !== 'object' || parsed.volumes === null) {
        throw new Error('unknown state file layout');
      }
      const map = new Map<string, VolumeRef>();
      for (const [k, v] of Object.entries(parsed.volumes)) {
        if (!v || typeof v !== 'object') continue;
        const ref: VolumeRef = { name: typeof v.name === 'string' ? v.name : k, createdAt: String(v.createdAt ?? '') };
        if (typeof v.secretPath === 'string') ref.secretPath = v.secretPath;
        map.set(k, ref);
      }
      return { store: new StateStore(file, map) };
    } catch {
      // Never overwrite what we cannot read: keep it beside, for the operator.
      const aside = `${file}.unreadable-${Date.now()}`;
      await fsp.rename(file, aside);
      return { store: new StateStore(file, new Map()), movedAside: aside };
    }
  }

  /** The key a Docker name is stored under: itself, or a hash when it carries token material. */
  static keyOf(name: string): string {
    return redactName(name) === name ? name : `sha256:${createHash('sha256').update(name).digest('hex')}`;
  }

  get(name: string): VolumeRef | undefined {
    return this.volumes.get(StateStore.keyOf(name));
  }

  /** Docker names stored in clear (those with token material are only known by their hash). */
  *clearNames(): IterableIterator<string> {
    for (const k of this.volumes.keys()) if (!k.startsWith('sha256:')) yield k;
  }

  get size(): number {
    return this.volumes.size;
  }

  /**
   * Durably record a volume and its token reference: a path sets it, null clears it, and none keeps
   * the one recorded (a Create repeated without options must not lose it: Docker sends them once).
   */
  remember(name: string, secretPath?: string | null): Promise<void> {
    const key = StateStore.keyOf(name);
    const current = this.volumes.get(key);
    const next = secretPath === undefined ? current?.secretPath : (secretPath ?? undefined);
    if (current && current.secretPath === next) return Promise.resolve();
    return this.update((m) => {
      const ref: VolumeRef = { name: redactName(name), createdAt: current?.createdAt ?? new Date().toISOString() };
      if (next !== undefined) ref.secretPath = next;
      m.set(key, ref);
    });
  }

  /**
   * Note that a volume exists (seen through a successful Get). Best effort: never throws, and a
   * burst of new names (dockerd restoring every volume at once) costs one write, not one each.
   */
  learn(name: string, onError?: (e: unknown) => void): void {
    const key = StateStore.keyOf(name);
    if (this.volumes.has(key)) return;
    this.pendingLearn.set(key, redactName(name));
    if (this.learnQueued) return;
    this.learnQueued = true;
    this.update((m) => {
      this.learnQueued = false;
      for (const [k, shown] of this.pendingLearn) if (!m.has(k)) m.set(k, { name: shown, createdAt: new Date().toISOString() });
      this.pendingLearn.clear();
    }).catch((e) => onError?.(e));
  }

  /** Forget Docker names (all the names one volume was known by, on Remove). */
  forget(...names: string[]): Promise<void> {
    const keys = names.map((n) => StateStore.keyOf(n));
    for (const k of keys) this.pendingLearn.delete(k);
    if (!keys.some((k) => this.volumes.has(k))) return Promise.resolve();
    return this.update((m) => {
      for (const k of keys) m.delete(k);
    });
  }

  /** Resolves once every queued write has finished (tests, shutdown). */
  flush(): Promise<void> {
    return this.chain;
  }

  private update(mutate: (m: Map<string, VolumeRef>) => void): Promise<void> {
    const run = async (): Promise<void> => {
      const next = new Map(this.volumes);
      mutate(next);
      await this.write(next);
      this.volumes = next;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async write(map: Map<string, VolumeRef>): Promise<void> {
    const body: StateFile = { version: 1, volumes: Object.fromEntries(map) };
    const tmp = `${this.file}.tmp-${process.pid}`;
    try {
      const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
      try {
        await fh.writeFile(JSON.stringify(body, null, 2) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
      const dir = await fsp.open(path.dirname(this.file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      const code = (e as NodeJS.ErrnoException).code ?? 'unknown';
      throw new ProxyError(
        'STATE_WRITE_FAILED',
        `could not write the state file ${this.file} (${code}); the previous state is kept. Free space or fix permissions, then retry`,
        {},
        { cause: e },
      );
    }
  }
}

/**
 * A crash mid-write (SIGKILL, power loss) leaves `<file>.tmp-<pid>` behind. It is never read, but it
 * must not pile up: remove those of processes that are gone (a live one may be writing right now).
 */
async function removeDeadTempFiles(file: string): Promise<void> {
  const prefix = `${path.basename(file)}.tmp-`;
  const names = await fsp.readdir(path.dirname(file)).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(name.slice(prefix.length));
    if (!name.startsWith(prefix) || !Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await fsp.rm(path.join(path.dirname(file), name), { force: true }).catch(() => undefined);
  }
}
