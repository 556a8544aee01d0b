import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ProxyError } from '../errors.js';
import { carriesSecret, redact } from '../redact.js';
import { parseName } from '../volume-name/index.js';
import { removeDeadTempFiles, writeFileAtomic } from '../lib/atomic-file.js';

/**
 * The small durable record of the volumes the proxy has seen, and of token references given as
 * `-o token_secret=...` (or `--mount ...,volume-opt=token_secret=...`). Docker sends options to Create
 * only, so a later Mount or Remove of `mnt1` carries nothing but the name: this file is how the proxy
 * still knows which secret holds the token. Knowing which volumes exist also lets Get answer while
 * the backend is briefly unreachable (an Err from Get makes dockerd forget a volume).
 * It holds secret *paths*, never secret values: a Docker name that carries any secret by the rule of
 * src/redact.ts (a raw token `token=<jwt>,name=v2`, an encryption passphrase `secret_key=...`, a JWT)
 * is keyed by its SHA-256 and recorded redacted, and never listed in clear.
 *
 * Names seen only through Get are recorded only when the proxy's strict parser accepts them, and only
 * up to a bound: Get is unauthenticated, and every new name would otherwise be one more entry.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the folder) and serialized; a failed write
 * leaves both the file and the in-memory view as they were.
 */

export interface VolumeRef {
  /** Docker name, for the reader of the file (redacted when it carries a secret). */
  name: string;
  /** Secret holding the token, when the volume was created with `-o token_secret=...`. */
  secretPath?: string;
  createdAt: string;
}

interface StateFile {
  version: 1;
  volumes: Record<string, VolumeRef>;
}

export interface StateLimits {
  /** Entries beyond which names seen through Get are no longer recorded (Create's always are). */
  maxLearned?: number;
}

/** Enough for every volume of a large cluster; bounds a file rewritten on each change. */
export const DEFAULT_MAX_LEARNED = 4096;

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
  private readonly maxLearned: number;
  private fullReported = false;

  private constructor(
    readonly file: string,
    initial: Map<string, VolumeRef>,
    limits: StateLimits = {},
  ) {
    this.volumes = initial;
    this.maxLearned = limits.maxLearned ?? DEFAULT_MAX_LEARNED;
  }

  static async open(file: string, limits: StateLimits = {}): Promise<StateLoadResult> {
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await removeDeadTempFiles(file);
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { store: new StateStore(file, new Map(), limits) };
      throw e;
    }
    try {
      const parsed = JSON.parse(text) as StateFile;
      if (parsed?.version !== 1 || typeof parsed.volumes !== 'object' || parsed.volumes === null) {
        throw new Error('unknown state file layout');
      }
      const map = new Map<string, VolumeRef>();
      let cleaned = false;
      for (const [k, v] of Object.entries(parsed.volumes)) {
        if (!v || typeof v !== 'object') continue;
        const secretPath = typeof v.secretPath === 'string' ? v.secretPath : undefined;
        // Names a Get recorded before the parser check: dropped (a reference is only ever recorded on Create).
        if (secretPath === undefined && !k.startsWith('sha256:') && !parses(k)) {
          cleaned = true;
          continue;
        }
        // A file written before the rule covered every secret (secret_key=...) may hold one in clear:
        // such an entry moves under the hash of its name, and the file is rewritten below.
        const key = k.startsWith('sha256:') ? k : StateStore.keyOf(k);
        const shown = redact(typeof v.name === 'string' ? v.name : k);
        if (key !== k || shown !== v.name) cleaned = true;
        const ref: VolumeRef = { name: shown, createdAt: String(v.createdAt ?? '') };
        if (secretPath !== undefined) ref.secretPath = secretPath;
        map.set(key, ref);
      }
      const store = new StateStore(file, map, limits);
      // Best effort: a read-only disk must not stop the proxy; the next write rewrites the file anyway.
      if (cleaned) await store.update(() => undefined).catch(() => undefined);
      return { store };
    } catch {
      // Never overwrite what we cannot read: keep it beside, for the operator.
      const aside = `${file}.unreadable-${Date.now()}`;
      await fsp.rename(file, aside);
      return { store: new StateStore(file, new Map(), limits), movedAside: aside };
    }
  }

  /** The key a Docker name is stored under: itself, or a hash when it carries any secret. */
  static keyOf(name: string): string {
    return carriesSecret(name) || name.startsWith('sha256:') ? `sha256:${createHash('sha256').update(name).digest('hex')}` : name;
  }

  get(name: string): VolumeRef | undefined {
    return this.volumes.get(StateStore.keyOf(name));
  }

  /**
   * Docker names stored in clear, for List. A name that carries a secret is only known by its hash and
   * is never listed: List then shows pxd's short name for that volume.
   */
  *clearNames(): IterableIterator<string> {
    for (const k of this.volumes.keys()) if (!k.startsWith('sha256:') && !carriesSecret(k)) yield k;
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
      const ref: VolumeRef = { name: redact(name), createdAt: current?.createdAt ?? new Date().toISOString() };
      if (next !== undefined) ref.secretPath = next;
      m.set(key, ref);
    });
  }

  /**
   * Note that a volume exists (seen through a successful Get). Best effort: never throws, and a
   * burst of new names (dockerd restoring every volume at once) costs one write, not one each.
   * Get is unauthenticated and pxd reads names loosely, so a name the strict parser rejects is not
   * recorded (`name=v,,x`, `xname=v`: pxd finds a volume, the proxy would refuse to Create, Mount or
   * Remove it), nor any name once the file holds `maxLearned` entries.
   */
  learn(name: string, onError?: (e: unknown) => void): void {
    if (typeof name !== 'string') return;
    const key = StateStore.keyOf(name);
    if (this.volumes.has(key) || this.pendingLearn.has(key) || !parses(name)) return;
    if (this.volumes.size + this.pendingLearn.size >= this.maxLearned) {
      if (!this.fullReported) {
        this.fullReported = true;
        onError?.(
          new Error(
            `the state file holds ${this.volumes.size} entries, the most kept for names seen only through Get; further such names are not recorded`,
          ),
        );
      }
      return;
    }
    this.pendingLearn.set(key, redact(name));
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
    try {
      await writeFileAtomic(this.file, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    } catch (e) {
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

/** Whether the proxy's strict parser accepts `name` (a bare name always; an inline spec if well formed). */
function parses(name: string): boolean {
  try {
    parseName(name);
    return true;
  } catch {
    return false;
  }
}
