/**
 * One redaction rule everywhere (issue 12, section 7), over the real plugin socket: pxd's encryption
 * passphrase (`secret_key=`) never reaches the state file, List, a log line or an error text, and a Get
 * of a name the strict parser rejects records nothing.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.js';
import { signHs256, userClaims, SHARED_SECRET } from '../helpers/tokens.js';

const PASS = 'hunter2passphrase';
let stack: Stack;
let token: string;

beforeEach(async () => {
  stack = await startStack();
  token = await signHs256(SHARED_SECRET, userClaims('user1'));
  stack.writeSecret('pwx/secrets/user1-token', token);
});

afterEach(async () => {
  await stack.close();
  rmSync(stack.dir, { recursive: true, force: true });
});

const stateText = () => readFileSync(path.join(stack.dir, 'state', 'state.json'), 'utf8');
const stateKeys = () => Object.keys(JSON.parse(stateText()).volumes as object);

describe('secret_key= (pxd encryption passphrase) in a Docker name', () => {
  it('never reaches the state file, List, the logs or an error text; Get echoes the requested Name', async () => {
    const name = `token_secret=pwx/secrets/user1-token,secret_key=${PASS},name=enc1`;
    const c = await stack.call('VolumeDriver.Create', { Name: name, Opts: {} });
    expect(c.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.has('enc1')).toBe(true);

    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json.Err).toBe('');
    // Docker keeps the Name Get returns: it must be the one it asked for (its own name, secret included).
    expect(g.json.Volume.Name).toBe(name);
    const { Name: _echoed, ...rest } = g.json.Volume as Record<string, unknown>;
    expect(JSON.stringify(rest)).not.toContain(PASS);

    // Names pxd echoes back (no name= for it, so the whole Name is its volume name) come back redacted.
    const unknown = await stack.call('VolumeDriver.Get', { Name: `xsecret_key=${PASS},size=1G` });
    expect(unknown.json.Err).toMatch(/xsecret_key=\*\*\*/);
    const p = await stack.call('VolumeDriver.Path', { Name: `name=nosuch,,secret_key=${PASS}` });
    expect(p.json.Err).toMatch(/cannot locate volume/);
    // A token secret that does not exist: an error about that name.
    const m = await stack.call('VolumeDriver.Mount', {
      Name: `token_secret=pwx/secrets/missing,secret_key=${PASS},name=enc1`,
      ID: 'c1'.repeat(32),
    });
    expect(m.json.Err).toMatch(/^pxd-auth SECRET_NOT_FOUND: mount of volume enc1/);

    const l = await stack.call('VolumeDriver.List', {});
    expect(l.json.Err).toBe('');
    // The Docker name cannot be listed without its passphrase: List shows pxd's short name instead.
    expect((l.json.Volumes as Array<{ Name: string }>).map((v) => v.Name)).toEqual(['enc1']);

    await stack.proxy.state.flush();
    const state = stateText();
    expect(state).not.toContain(PASS);
    expect(stack.proxy.state.get(name)).toBeDefined();
    expect(stateKeys().every((k) => k.startsWith('sha256:'))).toBe(true);

    for (const [what, text] of [
      ['state file', state],
      ['List', l.text],
      ['Get (beyond its Name)', JSON.stringify(rest)],
      ['error texts', [unknown.text, p.text, m.text].join('\n')],
      ['logs', stack.logs.join('')],
    ] as const) {
      expect(text, what).not.toContain(PASS);
      expect(text, what).not.toContain(token.split('.')[2]);
    }

    // The volume is still Docker's to remove under that name, and leaves nothing behind.
    const rm = await stack.call('VolumeDriver.Remove', { Name: name });
    expect(rm.json).toEqual({ Err: '' });
    await stack.proxy.state.flush();
    expect(stack.proxy.state.size).toBe(0);
    expect(stack.logs.join('')).not.toContain(PASS);
  });

  it('a reference given with -o token_secret is found again under the hashed name, for Mount and Remove', async () => {
    const name = `secret_key=${PASS},name=enc2`;
    const c = await stack.call('VolumeDriver.Create', { Name: name, Opts: { token_secret: 'pwx/secrets/user1-token' } });
    expect(c.json).toEqual({ Err: '' });
    await stack.proxy.state.flush();
    expect(stateText()).not.toContain(PASS);
    expect(stateKeys()).toHaveLength(1);
    expect(stateKeys()[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(stack.proxy.state.get(name)?.secretPath).toBe('pwx/secrets/user1-token');
    // Docker sends nothing but the name on Mount: the token comes from the reference recorded under the hash.
    const m = await stack.call('VolumeDriver.Mount', { Name: name, ID: 'c2'.repeat(32) });
    expect(m.json.Err).toBe('');
    expect(stack.pxd.lastToken('VolumeDriver.Mount')).toBe(token);
    expect((await stack.call('VolumeDriver.Unmount', { Name: name, ID: 'c2'.repeat(32) })).json).toEqual({ Err: '' });
    const l = await stack.call('VolumeDriver.List', {});
    expect(l.text).not.toContain(PASS);
    expect((await stack.call('VolumeDriver.Remove', { Name: name })).json).toEqual({ Err: '' });
    await stack.proxy.state.flush();
    expect(stack.proxy.state.size).toBe(0);
    expect(stack.logs.join('')).not.toContain(PASS);
  });
});

describe('Get of names the strict parser rejects', () => {
  it('1000 distinct malformed names that pxd answers add no state entry', async () => {
    const c = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=v1', Opts: {} });
    expect(c.json).toEqual({ Err: '' });
    await stack.proxy.state.flush();
    const before = stateKeys();
    expect(before).toHaveLength(1);

    const names: string[] = [];
    for (let i = 0; i < 1000; i++) {
      switch (i % 5) {
        case 0:
          names.push(`name=v1,,n${i}`); // an empty option: pxd still reads name=v1
          break;
        case 1:
          names.push(`xname=v1,n=${i}`); // no name= for the proxy; pxd's unanchored regex reads v1
          break;
        case 2:
          names.push(`name=v1,size=1G,size=${i}G`); // a key twice
          break;
        case 3:
          names.push(`name=v1,Bad${i}=x`); // a key the proxy does not accept
          break;
        default: {
          // `=` and no name= at all: pxd takes the whole string as the volume name; make it know one.
          const n = `a=b${i}`;
          stack.pxd.volumes.set(n, {
            id: randomUUID(),
            name: n,
            owner: undefined,
            spec: {},
            labels: {},
            size: 1 << 30,
            haLevel: 1,
            shared: false,
            mounts: new Set(),
            attachPaths: [],
            createdAt: new Date(),
          });
          names.push(n);
        }
      }
    }
    for (let i = 0; i < names.length; i += 25) {
      const batch = names.slice(i, i + 25);
      const replies = await Promise.all(batch.map((n) => stack.call('VolumeDriver.Get', { Name: n })));
      replies.forEach((r, j) => {
        // pxd answered: the Get succeeded, which is when the proxy would record the name.
        expect(r.json, batch[j]).toMatchObject({ Volume: { Name: batch[j] }, Err: '' });
      });
    }
    await stack.proxy.state.flush();
    expect(stack.proxy.state.size).toBe(1);
    expect(stateKeys()).toEqual(before);
    expect([...stack.proxy.state.clearNames()]).toEqual(['token_secret=pwx/secrets/user1-token,name=v1']);

    // A well-formed name pxd answers is still learned.
    const g = await stack.call('VolumeDriver.Get', { Name: 'name=v1,size=1G' });
    expect(g.json.Err).toBe('');
    await stack.proxy.state.flush();
    expect(stateKeys()).toContain('name=v1,size=1G');
  });
});
