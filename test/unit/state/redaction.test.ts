/**
 * The state file never holds a secret in clear (issue 12, section 7), and names seen only through Get
 * are recorded only when the strict parser accepts them, up to a bound.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StateStore } from '../../../src/state/store.js';

const PASS = 'hunter2passphrase';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJpZC91c2VyMSJ9.JS4B6EvWsq3r6mu2B9cicE3uaMdIgxZcgf_4dY598l0';
const tmpFile = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'pxa-state-red-')), 'state.json');
const fileText = (file: string) => readFileSync(file, 'utf8');
const keysOf = (file: string) => Object.keys(JSON.parse(fileText(file)).volumes as object);

describe('StateStore: names that carry a secret', () => {
  const names = [
    `token_secret=pwx/secrets/u1,secret_key=${PASS},name=enc1`,
    `secret_key=${PASS},name=enc2`,
    `name=enc3,xsecret_key=${PASS}`,
    `name=enc4,token=${JWT}`,
  ];

  it('are keyed by their hash, written redacted, found again, and never listed in clear', async () => {
    const file = tmpFile();
    const { store } = await StateStore.open(file);
    await store.remember(names[0]!, 'pwx/secrets/u1');
    for (const n of names.slice(1)) await store.remember(n);
    store.learn(`name=enc5,secret_key=${PASS}`);
    await store.flush();
    const text = fileText(file);
    expect(text).not.toContain(PASS);
    expect(text).not.toContain(JWT.split('.')[2]);
    expect(keysOf(file).every((k) => k.startsWith('sha256:'))).toBe(true);
    expect(text).toContain('secret_key=***');
    expect([...store.clearNames()]).toEqual([]);
    const reopened = (await StateStore.open(file)).store;
    expect(reopened.get(names[0]!)?.secretPath).toBe('pwx/secrets/u1');
    for (const n of names) expect(reopened.get(n)).toBeDefined();
    expect(reopened.get(`name=enc5,secret_key=${PASS}`)).toBeDefined();
    // Another passphrase is another name.
    expect(reopened.get(`secret_key=other-pass,name=enc2`)).toBeUndefined();
  });

  it('a file written in clear by an earlier version is rewritten under the hash on open', async () => {
    const file = tmpFile();
    const clear = names[0]!;
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        volumes: {
          [clear]: { name: clear, secretPath: 'pwx/secrets/u1', createdAt: '2024-01-01T00:00:00.000Z' },
          mnt1: { name: 'mnt1', createdAt: '2024-01-01T00:00:00.000Z' },
        },
      }),
    );
    const { store } = await StateStore.open(file);
    expect(fileText(file)).not.toContain(PASS);
    expect(store.get(clear)?.secretPath).toBe('pwx/secrets/u1');
    expect(store.get(clear)?.createdAt).toBe('2024-01-01T00:00:00.000Z');
    expect([...store.clearNames()]).toEqual(['mnt1']);
    // The hashed entries of a file written by this version are kept as they are.
    const again = (await StateStore.open(file)).store;
    expect(again.get(clear)?.secretPath).toBe('pwx/secrets/u1');
    expect(again.size).toBe(2);
  });
});

describe('StateStore.learn: what a Get may add', () => {
  const malformed = [
    'name=v1,,x', // an empty option
    'xname=v1', // no name= for the proxy (pxd reads v1 in it)
    'a=b', // inline options without name=
    'name=v1,size=1G,size=2G', // a key twice
    'name=v1,Size=1G', // a key the proxy does not accept
    'name=v1,size=', // an empty value
    'name=v1,', // a trailing comma
    'name=v 1', // a name pxd would cut short
  ];

  it('records nothing the strict parser rejects', async () => {
    const file = tmpFile();
    const { store } = await StateStore.open(file);
    for (const n of malformed) store.learn(n);
    for (let i = 0; i < 1000; i++) store.learn(`name=v1,,n${i}`);
    await store.flush();
    expect(store.size).toBe(0);
    store.learn('mnt1');
    store.learn('name=v1,size=1G');
    await store.flush();
    expect(keysOf(file).sort()).toEqual(['mnt1', 'name=v1,size=1G']);
  });

  it('stops recording past a bound, and says so once', async () => {
    const file = tmpFile();
    const { store } = await StateStore.open(file, { maxLearned: 10 });
    const errors: unknown[] = [];
    for (let i = 0; i < 50; i++) store.learn(`v${i}`, (e) => errors.push(e));
    await store.flush();
    expect(store.size).toBe(10);
    expect(keysOf(file)).toHaveLength(10);
    for (let i = 50; i < 60; i++) store.learn(`v${i}`, (e) => errors.push(e));
    await store.flush();
    expect(store.size).toBe(10);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/not recorded/);
    // A Create is always recorded: it is what Mount and Remove need.
    await store.remember('created', 'pwx/secrets/a');
    expect(store.get('created')?.secretPath).toBe('pwx/secrets/a');
  });

  it('has a default bound', async () => {
    const { store } = await StateStore.open(tmpFile());
    for (let i = 0; i < 5000; i++) store.learn(`v${i}`);
    await store.flush();
    expect(store.size).toBeLessThan(5000);
    expect(store.size).toBeGreaterThanOrEqual(1000);
  });

  it('drops, on open, names an earlier version learned that the parser rejects (never a recorded reference)', async () => {
    const file = tmpFile();
    const at = '2024-01-01T00:00:00.000Z';
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        volumes: {
          'name=v1,,x': { name: 'name=v1,,x', createdAt: at },
          'xname=v1': { name: 'xname=v1', createdAt: at },
          mnt1: { name: 'mnt1', createdAt: at },
          'token_secret=a/b,name=v2': { name: 'token_secret=a/b,name=v2', secretPath: 'a/b', createdAt: at },
        },
      }),
    );
    const { store } = await StateStore.open(file);
    expect([...store.clearNames()].sort()).toEqual(['mnt1', 'token_secret=a/b,name=v2']);
    expect(keysOf(file).sort()).toEqual(['mnt1', 'token_secret=a/b,name=v2']);
  });
});
