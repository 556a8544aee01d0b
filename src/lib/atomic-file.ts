/**
 * Replacing a file so that a reader, or the next start after a crash or a power loss, finds the old
 * content or the new one, never a part: write `<file>.tmp-<pid>`, fsync it, rename it over the file,
 * fsync the folder (without that the rename itself may be lost). The one copy: the state file and the
 * embedded driver's volume list both write through here.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of a newly created file. Default 0o600: what the proxy writes is nobody else's business. */
  mode?: number;
}

/**
 * Write `data` to `file` atomically and durably. On failure the temporary file is removed (when it is
 * a file) and the error is thrown as it came (`code` tells ENOSPC from EACCES); `file` is untouched.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempFileOf(file);
  try {
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, options.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    const dir = await fsp.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/**
 * A crash mid-write (SIGKILL, power loss) leaves `<file>.tmp-<pid>` behind. It is never read, but it
 * must not pile up: remove those of processes that are gone (a live one may be writing right now).
 */
export async function removeDeadTempFiles(file: string): Promise<void> {
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

function tempFileOf(file: string): string {
  return `${file}.tmp-${process.pid}`;
}
