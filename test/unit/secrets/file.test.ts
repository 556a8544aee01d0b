import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { FileSecretStore, type FileSecretStoreOptions, type FileStoreFs } from '../../../src/secrets/file.js';

const ADMIN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.admin-signature-never-shown';
const TENANT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZW5hbnQtYSJ9.tenant-signature';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'pxa-file-store-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function put(rel: string, value: string): string {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, value);
  return file;
}
function link(rel: string, target: string): void {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  symlinkSync(target, path.join(root, rel));
}

async function refusal(p: Promise<unknown>): Promise<ProxyError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProxyError);
  return e as ProxyError;
}

/** Node's fs, each call counted (the FileHandle's own fstat/read/close are the open's). */
function countingFs() {
  const calls = { stat: 0, realpath: 0, readlink: 0, open: 0 };
  let beforeOpen: (() => void) | undefined;
  const fs: FileStoreFs = {
    stat: (p) => (calls.stat++, fsp.stat(p)),
    realpath: (p) => (calls.realpath++, fsp.realpath(p)),
    readlink: (p) => (calls.readlink++, fsp.readlink(p)),
    open: (p, flags) => {
      calls.open++;
      beforeOpen?.();
      return fsp.open(p, flags);
    },
  };
  const total = () => calls.stat + calls.realpath + calls.readlink + calls.open;
  return { fs, calls, total, onOpen: (f: (() => void) | undefined) => (beforeOpen = f) };
}

/** A clock a minute ahead: the files just written are not "racy" (see RACY_MS in file.ts). */
const later = () => Date.now() + 60_000;
const store = (opts: FileSecretStoreOptions = {}) => new FileSecretStore(root, { now: later, ...opts });

describe('FileSecretStore: the base path is a boundary, symlinks included', () => {
  beforeEach(() => {
    put('pwx/outside/x', ADMIN);
    put('pwx/secrets/tenant-a/tok', TENANT);
  });

  it('refuses a symlinked folder that leads out of the base path (issue 12 §4)', async () => {
    link('pwx/secrets/tenant-a/lnk', '../../outside');
    const s = store({ basePath: 'pwx/secrets' });
    const e = await refusal(s.read('pwx/secrets/tenant-a/lnk/x'));
    expect(e.code).toBe('SECRET_PATH_OUTSIDE_BASE');
    expect(e.message).toContain('pwx/secrets/tenant-a/lnk/x');
    expect(e.message).not.toContain(ADMIN);
    expect(JSON.stringify(e.details)).not.toContain(ADMIN);
  });

  it('refuses a symlinked file that leads out of the base path, even inside the store root', async () => {
    link('pwx/secrets/tenant-a/admin', '../../outside/x');
    const e = await refusal(store({ basePath: '/pwx/secrets/' }).read('pwx/secrets/tenant-a/admin'));
    expect(e.code).toBe('SECRET_PATH_OUTSIDE_BASE');
    expect(e.message).not.toContain(ADMIN);
  });

  it('refuses a path spelled outside the base path without touching the disk', async () => {
    const c = countingFs();
    const e = await refusal(store({ basePath: 'pwx/secrets', fs: c.fs }).read('pwx/outside/x'));
    expect(e.code).toBe('SECRET_PATH_OUTSIDE_BASE');
    expect(c.total()).toBe(0);
  });

  it('follows symlinks that stay inside the base path', async () => {
    link('pwx/secrets/tenant-b/alias', '../tenant-a/tok');
    link('pwx/secrets/tenant-c', 'tenant-a');
    const s = store({ basePath: 'pwx/secrets' });
    await expect(s.read('pwx/secrets/tenant-b/alias')).resolves.toEqual({ value: TENANT });
    await expect(s.read('pwx/secrets/tenant-c/tok')).resolves.toEqual({ value: TENANT });
  });

  it('takes the base path by its real path when the base itself is a symlink', async () => {
    put('elsewhere/secrets/t', TENANT);
    link('pwx/linked', '../elsewhere/secrets');
    await expect(store({ basePath: 'pwx/linked' }).read('pwx/linked/t')).resolves.toEqual({ value: TENANT });
  });

  it('without a base path, the store root is the boundary (as before)', async () => {
    link('pwx/secrets/tenant-a/lnk', '../../outside');
    const s = store();
    await expect(s.read('pwx/secrets/tenant-a/lnk/x')).resolves.toEqual({ value: ADMIN });
    const outside = mkdtempSync(path.join(os.tmpdir(), 'pxa-file-outside-'));
    try {
      writeFileSync(path.join(outside, 'x'), ADMIN);
      link('pwx/secrets/tenant-a/out', outside);
      const e = await refusal(s.read('pwx/secrets/tenant-a/out/x'));
      expect(e.code).toBe('SECRET_NOT_FOUND');
      expect(e.message).toContain('resolves outside');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a symlink swapped to lead outside after its value was cached', async () => {
    put('pwx/secrets/tenant-a/real/x', TENANT);
    link('pwx/secrets/tenant-a/lnk', 'real');
    const c = countingFs();
    const s = store({ basePath: 'pwx/secrets', fs: c.fs });
    await expect(s.read('pwx/secrets/tenant-a/lnk/x')).resolves.toEqual({ value: TENANT });
    await expect(s.read('pwx/secrets/tenant-a/lnk/x')).resolves.toEqual({ value: TENANT });
    unlinkSync(path.join(root, 'pwx/secrets/tenant-a/lnk'));
    link('pwx/secrets/tenant-a/lnk', '../../outside');
    const e = await refusal(s.read('pwx/secrets/tenant-a/lnk/x'));
    expect(e.code).toBe('SECRET_PATH_OUTSIDE_BASE');
    // And the refusal is not cached as a success either way: it stays refused.
    expect((await refusal(s.read('pwx/secrets/tenant-a/lnk/x'))).code).toBe('SECRET_PATH_OUTSIDE_BASE');
  });

  it('checks the file actually opened: a folder swapped for a symlink between realpath and open is caught', async () => {
    put('pwx/secrets/tenant-a/d/x', TENANT);
    const c = countingFs();
    const s = store({ basePath: 'pwx/secrets', fs: c.fs });
    c.onOpen(() => {
      // The race: realpath saw a plain folder; by the open it leads outside.
      renameSync(path.join(root, 'pwx/secrets/tenant-a/d'), path.join(root, 'pwx/secrets/tenant-a/d-old'));
      link('pwx/secrets/tenant-a/d', '../../outside');
    });
    const e = await refusal(s.read('pwx/secrets/tenant-a/d/x'));
    expect(e.code).toBe('SECRET_PATH_OUTSIDE_BASE');
    expect(e.message).not.toContain(ADMIN);
  });

  it('without /proc, checks that the path still leads, inside, to the file opened', async () => {
    put('pwx/secrets/tenant-a/d/x', TENANT);
    const c = countingFs();
    const noProc: FileStoreFs = { ...c.fs, readlink: () => Promise.reject(Object.assign(new Error('no /proc'), { code: 'ENOENT' })) };
    const s = store({ basePath: 'pwx/secrets', fs: noProc });
    await expect(s.read('pwx/secrets/tenant-a/tok')).resolves.toEqual({ value: TENANT });
    c.onOpen(() => {
      renameSync(path.join(root, 'pwx/secrets/tenant-a/d'), path.join(root, 'pwx/secrets/tenant-a/d-old'));
      link('pwx/secrets/tenant-a/d', '../../outside');
    });
    expect((await refusal(s.read('pwx/secrets/tenant-a/d/x'))).code).toBe('SECRET_PATH_OUTSIDE_BASE');
  });

  it('refuses a base path that is not below the store folder', () => {
    expect(() => new FileSecretStore(root, { basePath: '../elsewhere' })).toThrow(RangeError);
  });
});

describe('FileSecretStore: cache', () => {
  const P = 'pwx/secrets/tok';

  it('an unchanged file costs one stat per read, and nothing else', async () => {
    put(P, TENANT);
    const c = countingFs();
    const s = store({ basePath: 'pwx/secrets', fs: c.fs });
    await expect(s.read(P)).resolves.toEqual({ value: TENANT });
    const first = c.total();
    expect(c.calls.open).toBe(1);
    for (let i = 1; i <= 5; i++) {
      await expect(s.read(P)).resolves.toEqual({ value: TENANT });
      expect(c.total() - first).toBe(i);
      expect(c.calls.stat).toBe(i);
    }
    expect(c.calls.open).toBe(1);
    expect(s.stats()).toMatchObject({ hits: 5, misses: 1 });
  });

  it('re-reads a file whose content changed (other size)', async () => {
    const file = put(P, TENANT);
    const c = countingFs();
    const s = store({ fs: c.fs });
    await s.read(P);
    writeFileSync(file, ADMIN);
    await expect(s.read(P)).resolves.toEqual({ value: ADMIN });
    expect(c.calls.open).toBe(2);
  });

  it('re-reads a file replaced by another of the same size (rename: a new inode)', async () => {
    const file = put(P, 'a'.repeat(40));
    const c = countingFs();
    const s = store({ fs: c.fs });
    await s.read(P);
    put('pwx/secrets/.tok.new', 'b'.repeat(40));
    renameSync(path.join(root, 'pwx/secrets/.tok.new'), file);
    await expect(s.read(P)).resolves.toEqual({ value: 'b'.repeat(40) });
    expect(c.calls.open).toBe(2);
  });

  it('re-reads a same-size rewrite made within the same timestamp tick as the read', async () => {
    // The real clock: the file was just written, so an equal stat proves nothing yet.
    const file = put(P, 'a'.repeat(40));
    const s = new FileSecretStore(root);
    await s.read(P);
    writeFileSync(file, 'b'.repeat(40));
    await expect(s.read(P)).resolves.toEqual({ value: 'b'.repeat(40) });
  });

  it('re-reads when a symlink is pointed at another file (inside)', async () => {
    put('pwx/secrets/one', 'one-token');
    put('pwx/secrets/two', 'two-token');
    link(P, 'one');
    const s = store();
    await expect(s.read(P)).resolves.toEqual({ value: 'one-token' });
    unlinkSync(path.join(root, P));
    link(P, 'two');
    await expect(s.read(P)).resolves.toEqual({ value: 'two-token' });
  });

  it('does not cache errors, and never serves the old value after one', async () => {
    const file = put(P, TENANT);
    const s = store();
    await s.read(P);
    unlinkSync(file);
    expect((await refusal(s.read(P))).code).toBe('SECRET_NOT_FOUND');
    expect((await refusal(s.read(P))).code).toBe('SECRET_NOT_FOUND');
    put(P, ADMIN);
    await expect(s.read(P)).resolves.toEqual({ value: ADMIN });
    writeFileSync(file, '   ');
    expect((await refusal(s.read(P))).code).toBe('SECRET_EMPTY');
  });

  it('shares one stat, or one read, among concurrent reads of a path', async () => {
    put(P, TENANT);
    const c = countingFs();
    const s = store({ fs: c.fs });
    const cold = await Promise.all(Array.from({ length: 20 }, () => s.read(P)));
    expect(cold.every((r) => r.value === TENANT)).toBe(true);
    expect(c.calls.open).toBe(1);
    const before = c.total();
    const warm = await Promise.all(Array.from({ length: 20 }, () => s.read(P)));
    expect(warm.every((r) => r.value === TENANT)).toBe(true);
    expect(c.total() - before).toBe(1);
  });

  it('is bounded (LRU)', async () => {
    for (const n of ['a', 'b', 'c']) put(`pwx/secrets/${n}`, `token-${n}`);
    const c = countingFs();
    const s = store({ fs: c.fs, maxEntries: 2 });
    for (const n of ['a', 'b', 'c']) await s.read(`pwx/secrets/${n}`);
    expect(c.calls.open).toBe(3);
    await s.read('pwx/secrets/c');
    expect(c.calls.open).toBe(3);
    await s.read('pwx/secrets/a'); // evicted
    expect(c.calls.open).toBe(4);
  });

  it('reads again after invalidate(), and a read in flight then does not store its value', async () => {
    put(P, TENANT);
    const c = countingFs();
    const s = store({ fs: c.fs });
    await s.read(P);
    s.invalidate(P);
    await s.read(P);
    expect(c.calls.open).toBe(2);
    s.invalidate(P);
    const inflight = s.read(P); // a whole read in flight…
    s.invalidate(P);
    await expect(inflight).resolves.toEqual({ value: TENANT });
    expect(c.calls.open).toBe(3);
    await s.read(P); // …kept nothing
    expect(c.calls.open).toBe(4);
  });

  it('a caller that gives up gets SECRET_STORE_TIMEOUT; the read goes on for the others', async () => {
    put(P, TENANT);
    const s = store();
    const ac = new AbortController();
    const gone = s.read(P, ac.signal);
    const stays = s.read(P);
    ac.abort(new DOMException('t', 'TimeoutError'));
    expect((await refusal(gone)).code).toBe('SECRET_STORE_TIMEOUT');
    await expect(stays).resolves.toEqual({ value: TENANT });
  });

  it('refuses a FIFO at once instead of blocking on it', async () => {
    try {
      mkdirSync(path.join(root, 'pwx/secrets'), { recursive: true });
      execFileSync('mkfifo', [path.join(root, P)]);
    } catch {
      return; // no mkfifo here
    }
    expect((await refusal(store().read(P))).code).toBe('SECRET_NOT_FOUND');
  });

  it('refuses a file over 1 MiB', async () => {
    put(P, 'x'.repeat(1024 * 1024 + 1));
    expect((await refusal(store().read(P))).code).toBe('SECRET_NOT_TEXT');
  });
});
