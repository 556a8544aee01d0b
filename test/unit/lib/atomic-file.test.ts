import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeDeadTempFiles, writeFileAtomic } from '../../../src/lib/atomic-file.js';

const dirs: string[] = [];
function folder(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'pxa-atomic-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('replaces the file, 0600 by default, and leaves no temporary file', async () => {
    const dir = folder();
    const file = path.join(dir, 'state.json');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(readdirSync(dir)).toEqual(['state.json']);
    await writeFileAtomic(path.join(dir, 'b'), Buffer.from('x'));
    expect(statSync(path.join(dir, 'b')).mode & 0o777).toBe(0o600);
  });

  it('on failure throws the error as it came and keeps the old file', async () => {
    const dir = folder();
    const file = path.join(dir, 'state.json');
    writeFileSync(file, 'old');
    // A folder where the temporary file goes: the open fails.
    mkdirSync(`${file}.tmp-${process.pid}`);
    await expect(writeFileAtomic(file, 'new')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readFileSync(file, 'utf8')).toBe('old');
  });
});

describe('removeDeadTempFiles', () => {
  it('removes the temporary files of processes that are gone, and only those', async () => {
    const dir = folder();
    const file = path.join(dir, 'state.json');
    const dead = `${file}.tmp-2147483646`;
    const mine = `${file}.tmp-${process.pid}`;
    for (const f of [file, dead, mine, path.join(dir, 'other.tmp-2147483646')]) writeFileSync(f, '');
    await removeDeadTempFiles(file);
    expect(readdirSync(dir).sort()).toEqual(['other.tmp-2147483646', 'state.json', `state.json.tmp-${process.pid}`]);
  });
});
