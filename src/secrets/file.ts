import { constants as fsc, promises as fsp, stat as statCb, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { ProxyError } from '../errors.js';
import { raceAbort, SingleFlight } from '../lib/single-flight.js';
import { cancelledError } from './cache.js';
import { textValue } from './text.js';
import type { SecretRead, SecretStore, SecretStoreStats } from './types.js';

/** The fs calls the store makes (node:fs/promises by default); tests count them. */
export interface FileStoreFs {
  stat(p: string): Promise<Stats>;
  realpath(p: string): Promise<string>;
  readlink(p: string): Promise<string>;
  open(p: string, flags: number): Promise<FileHandle>;
}

export interface FileSecretStoreOptions {
  /** The secrets base path (`pwx/secrets`): no file outside the real `<dir>/<basePath>` is read, symlinks included. */
  basePath?: string;
  /** Files kept (LRU). Default 1000. */
  maxEntries?: number;
  /** Milliseconds since epoch, compared with file ctimes; tests move it. */
  now?: () => number;
  fs?: FileStoreFs;
}

const MAX_SIZE = 1024 * 1024;
/**
 * A file whose ctime is this close to the read is re-read next time: a change in the same timestamp
 * tick (coarse kernel clocks, 1–2 s on some filesystems) would leave its stat unchanged.
 */
const RACY_MS = 2000;
// Non-blocking so a FIFO cannot hold a pool thread; no controlling tty; never follow a last component
// that became a symlink after realpath.
const OPEN_FLAGS = fsc.O_RDONLY | (fsc.O_NONBLOCK ?? 0) | (fsc.O_NOCTTY ?? 0) | (fsc.O_NOFOLLOW ?? 0);

const nodeFs: FileStoreFs = {
  // The callback form costs a third less CPU than fsp.stat, and this is the one call of a cached read.
  stat: (p) => new Promise((resolve, reject) => statCb(p, (e, st) => (e ? reject(e) : resolve(st)))),
  realpath: (p) => fsp.realpath(p),
  readlink: (p) => fsp.readlink(p),
  open: (p, flags) => fsp.open(p, flags),
};

/** What one stat of the requested path must still show for the cached value to be served. */
interface Entry {
  read: SecretRead;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  /** Changed too close to the read to trust an equal stat: read again. */
  racy: boolean;
}

const sameFile = (st: Stats, e: Entry): boolean =>
  st.ino === e.ino && st.dev === e.dev && st.size === e.size && st.mtimeMs === e.mtimeMs && st.ctimeMs === e.ctimeMs && st.isFile();

/**
 * A folder of secrets: the secret `pwx/secrets/user1-token` is the file `<dir>/pwx/secrets/user1-token`.
 * Meant for the embedded default and for hosts that keep tokens on disk (mounted from a vault agent,
 * for example). Paths arrive already validated (no `..`, no empty segment).
 *
 * Boundary: a file is read only if its real path (symlinks in any component resolved) lies in the
 * real path of `<dir>/<basePath>` (of `<dir>` without a base path), and the file actually opened is
 * checked again through /proc/self/fd, so a symlink swapped between the check and the open is caught.
 *
 * Cache: a read value is kept with the stat of the file it came from. A later read costs one stat of
 * the requested path (which follows every symlink to the final file) and is served from the cache only
 * if that is still the same inode with the same size, mtime and ctime. A changed or replaced file, or a
 * symlink now leading to another file, differs there and is read again, boundary check included. What
 * one stat cannot see is which path leads to that same inode: a symlink swapped to another route to the
 * very file already read (a hard link, or the file renamed out of the base) still serves the bytes
 * already served from inside the base, and a write to the file then changes its stat and is re-checked.
 */
export class FileSecretStore implements SecretStore {
  readonly description: string;
  readonly #root: string;
  readonly #baseDir: string;
  readonly #basePath: string | undefined;
  readonly #fs: FileStoreFs;
  readonly #now: () => number;
  readonly #entries: LRUCache<string, Entry>;
  readonly #flights = new SingleFlight<SecretRead>();
  #procFd: boolean | undefined;
  readonly #stats = { hits: 0, misses: 0 };

  constructor(dir: string, options: FileSecretStoreOptions = {}) {
    this.#root = path.resolve(dir);
    const base = options.basePath?.replace(/^\/+|\/+$/g, '') || undefined;
    this.#basePath = base;
    this.#baseDir = base ? path.resolve(this.#root, base) : this.#root;
    if (!this.#baseDir.startsWith(this.#root + path.sep) && this.#baseDir !== this.#root)
      throw new RangeError(`secrets base path ${base} is not below ${this.#root}`);
    this.#fs = options.fs ?? nodeFs;
    this.#now = options.now ?? Date.now;
    this.#entries = new LRUCache<string, Entry>({ max: options.maxEntries ?? 1000 });
    this.description = `file:${this.#root}`;
  }

  read(secretPath: string, signal?: AbortSignal): Promise<SecretRead> {
    const file = path.resolve(this.#root, secretPath);
    if (!file.startsWith(this.#baseDir + path.sep)) {
      return Promise.reject(
        this.#basePath
          ? new ProxyError('SECRET_PATH_OUTSIDE_BASE', `secret ${secretPath} is outside the base path ${this.#basePath}`, { secretPath })
          : new ProxyError('SECRET_NOT_FOUND', `secret ${secretPath} is outside ${this.#root}`, { secretPath }),
      );
    }
    // Single-flight: concurrent reads of one path share its stat (or read).
    const flight = this.#flights.join(secretPath, (seq) => this.#load(secretPath, file, seq));
    return raceAbort(flight.promise, signal, (reason) => cancelledError(secretPath, reason));
  }

  async #load(secretPath: string, file: string, seq: number): Promise<SecretRead> {
    const entry = this.#entries.get(secretPath);
    try {
      if (entry && !entry.racy) {
        if (sameFile(await this.#fs.stat(file), entry)) {
          this.#stats.hits++;
          return entry.read;
        }
      }
      this.#stats.misses++;
      return await this.#readFresh(secretPath, file, seq);
    } catch (e) {
      // A failure never leaves the old value to be served.
      if (this.#entries.peek(secretPath) === entry) this.#entries.delete(secretPath);
      throw this.#error(e, secretPath, file);
    }
  }

  async #readFresh(secretPath: string, file: string, seq: number): Promise<SecretRead> {
    const t0 = this.#now();
    const baseReal = await this.#fs.realpath(this.#baseDir);
    const real = await this.#fs.realpath(file);
    this.#checkInside(real, baseReal, secretPath);
    const fh = await this.#fs.open(real, OPEN_FLAGS);
    let st: Stats;
    let buf: Buffer;
    try {
      await this.#checkOpened(fh, file, baseReal, secretPath);
      st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      if (st.size > MAX_SIZE) throw tooLarge(secretPath);
      buf = await readCapped(fh, st.size, secretPath);
    } finally {
      await fh.close().catch(() => undefined);
    }
    const read: SecretRead = Object.freeze({ value: textValue(buf, secretPath) });
    // Kept with the stat taken before the read (a write during it shows as a change next time),
    // unless invalidate() dropped this read meanwhile.
    if (this.#flights.isCurrent(secretPath, seq)) {
      this.#entries.set(secretPath, {
        read,
        dev: st.dev,
        ino: st.ino,
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        racy: st.ctimeMs >= t0 - RACY_MS,
      });
    }
    return read;
  }

  #checkInside(real: string, baseReal: string, secretPath: string): void {
    const prefix = baseReal.endsWith(path.sep) ? baseReal : baseReal + path.sep;
    if (real.startsWith(prefix)) return;
    if (this.#basePath) {
      throw new ProxyError(
        'SECRET_PATH_OUTSIDE_BASE',
        `secret ${secretPath} resolves outside the base path ${this.#basePath} (through a symlink)`,
        { secretPath },
      );
    }
    throw new ProxyError('SECRET_NOT_FOUND', `secret ${secretPath} resolves outside ${this.#root}`, { secretPath });
  }

  /** The file opened must be inside too: a component swapped for a symlink after realpath leads elsewhere. */
  async #checkOpened(fh: FileHandle, file: string, baseReal: string, secretPath: string): Promise<void> {
    if (this.#procFd !== false) {
      try {
        const opened = await this.#fs.readlink(`/proc/self/fd/${fh.fd}`);
        this.#procFd = true;
        this.#checkInside(opened, baseReal, secretPath);
        return;
      } catch (e) {
        if (e instanceof ProxyError || this.#procFd) throw e;
        this.#procFd = false;
      }
    }
    // No /proc: the path must still resolve, inside, to the inode opened (a narrower race remains).
    const again = await this.#fs.realpath(file);
    this.#checkInside(again, baseReal, secretPath);
    const [a, b] = await Promise.all([fh.stat(), this.#fs.stat(again)]);
    if (a.dev !== b.dev || a.ino !== b.ino) {
      throw new ProxyError('SECRET_STORE_UNAVAILABLE', `secret ${secretPath} changed while it was read: try again`, { secretPath });
    }
  }

  #error(e: unknown, secretPath: string, file: string): ProxyError {
    if (e instanceof ProxyError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'ELOOP') {
      return new ProxyError('SECRET_NOT_FOUND', `secret ${secretPath} was not found (no file ${file})`, { secretPath });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new ProxyError('SECRET_FORBIDDEN', `the proxy may not read secret ${secretPath}: grant read on ${file}`, { secretPath });
    }
    return new ProxyError('SECRET_STORE_UNAVAILABLE', `secret ${secretPath} could not be read (${code ?? 'error'})`, { secretPath });
  }

  /** Forget the value at `path`; a read in flight will not store its answer. */
  invalidate(secretPath: string): void {
    this.#flights.forget(secretPath);
    this.#entries.delete(secretPath);
  }

  stats(): SecretStoreStats {
    return { hits: this.#stats.hits, misses: this.#stats.misses, stale: 0 };
  }

  async ready(): Promise<boolean> {
    try {
      return (await fsp.stat(this.#root)).isDirectory();
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.#flights.clear();
    this.#entries.clear();
  }
}

function tooLarge(secretPath: string): ProxyError {
  return new ProxyError('SECRET_NOT_TEXT', `secret ${secretPath} is larger than 1 MiB: not a token`, { secretPath });
}

/** The whole file, refusing more than MAX_SIZE bytes even if it grew after its stat. */
async function readCapped(fh: FileHandle, sizeHint: number, secretPath: string): Promise<Buffer> {
  let buf = Buffer.alloc(Math.min(sizeHint, MAX_SIZE) + 1);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (n > MAX_SIZE) throw tooLarge(secretPath);
      const bigger = Buffer.alloc(Math.min(n * 2, MAX_SIZE + 1));
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) return buf.subarray(0, n);
    n += bytesRead;
  }
}
