import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StateStore } from '../../../src/state/store.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'pxa-state-'));

describe('StateStore', () => {
  it('persists references atomically and reloads them', async () => {
    const dir = tmp();
    const file = path.join(dir, 'state.json');
    const { store } = await StateStore.open(file);
    await store.remember('mnt1', 'pwx/secrets/user1-token');
    await store.remember('plain');
    const reopened = (await StateStore.open(file)).store;
    expect(reopened.get('mnt1')?.secretPath).toBe('pwx/secrets/user1-token');
    expect(reopened.get('plain')).toBeDefined();
    expect(reopened.get('plain')?.secretPath).toBeUndefined();
    await reopened.forget('mnt1');
    expect((await StateStore.open(file)).store.get('mnt1')).toBeUndefined();
    // No temp file is left behind.
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('keeps a recorded reference when a name is remembered again without one; null clears it', async () => {
    const file = path.join(tmp(), 'state.json');
    const { store } = await StateStore.open(file);
    await store.remember('mnt1', 'pwx/secrets/a');
    await store.remember('mnt1');
    expect((await StateStore.open(file)).store.get('mnt1')?.secretPath).toBe('pwx/secrets/a');
    await store.remember('mnt1', 'pwx/secrets/b');
    expect((await StateStore.open(file)).store.get('mnt1')?.secretPath).toBe('pwx/secrets/b');
    await store.remember('mnt1', null);
    const reopened = (await StateStore.open(file)).store;
    expect(reopened.get('mnt1')).toBeDefined();
    expect(reopened.get('mnt1')?.secretPath).toBeUndefined();
  });

  it('coalesces learned names into one write and never throws', async () => {
    const file = path.join(tmp(), 'state.json');
    const { store } = await StateStore.open(file);
    for (let i = 0; i < 50; i++) store.learn(`v${i}`);
    await store.flush();
    await store.flush();
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(parsed.volumes)).toHaveLength(50);
  });

  it('keeps the old state when a write fails, with a clear error', async () => {
    // Tests run as root, which ignores permissions: a store whose folder vanished cannot write either.
    const dir = tmp();
    const blocked = new (StateStore as any)(
      path.join(dir, 'missing-dir', 'state.json'),
      new Map([['a', { name: 'a', secretPath: 'p/a', createdAt: '' }]]),
    );
    await expect(blocked.remember('b', 'p/b')).rejects.toMatchObject({ code: 'STATE_WRITE_FAILED' });
    expect(blocked.get('b')).toBeUndefined();
    expect(blocked.get('a')?.secretPath).toBe('p/a');
    await expect(blocked.remember('b', 'p/b')).rejects.toThrow(/could not write the state file .*previous state is kept/);
  });

  it('moves an unreadable file aside instead of overwriting it', async () => {
    const dir = tmp();
    const file = path.join(dir, 'state.json');
    writeFileSync(file, '{ not json');
    const { store, movedAside } = await StateStore.open(file);
    expect(movedAside).toMatch(/state\.json\.unreadable-\d+$/);
    expect(readFileSync(movedAside!, 'utf8')).toBe('{ not json');
    expect(store.size).toBe(0);
  });
});
