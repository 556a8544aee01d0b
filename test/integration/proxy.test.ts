import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.js';
import { signHs256, userClaims, SHARED_SECRET, ISSUER } from '../helpers/tokens.js';
import { callPlugin, mountId } from '../helpers/plugin-client.js';
import { FileSecretStore } from '../../src/secrets/file.js';
import { ProxyError } from '../../src/errors.js';
import type { SecretStore } from '../../src/secrets/types.js';
import path from 'node:path';
import net from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** A file store that can be switched off, to stand for a secret store outage. */
class SwitchableStore implements SecretStore {
  down = false;
  reads = 0;
  constructor(private readonly inner: FileSecretStore) {}
  get description() {
    return 'switchable ' + this.inner.description;
  }
  async read(p: string) {
    this.reads++;
    if (this.down)
      throw new ProxyError('SECRET_STORE_UNAVAILABLE', 'DC/OS at https://master.mesos is unreachable (test outage)', { secretPath: p });
    return this.inner.read(p);
  }
  async ready() {
    return !this.down;
  }
  async close() {}
}

let stack: Stack;
let store: SwitchableStore;
const tokens = {} as Record<'user1' | 'user2' | 'viewer' | 'expired' | 'otherIssuer', string>;

beforeEach(async () => {
  // The store reads the stack's own secrets folder: start the stack first, then point the store at it.
  stack = await startStack();
  await stack.proxy.close();
  store = new SwitchableStore(new FileSecretStore(path.join(stack.dir, 'secrets')));
  await stack.pxd.close();
  stack = await startStack({ dir: stack.dir, start: { secrets: store } });
  tokens.user1 = await signHs256(SHARED_SECRET, userClaims('user1'));
  tokens.user2 = await signHs256(SHARED_SECRET, userClaims('user2'));
  tokens.viewer = await signHs256(SHARED_SECRET, userClaims('viewer', ['system.view']));
  tokens.expired = await signHs256(SHARED_SECRET, userClaims('user1'), { iatSec: 1_700_000_000, expSec: 1_700_003_600 });
  tokens.otherIssuer = await signHs256(SHARED_SECRET, { ...userClaims('user1'), iss: 'other.issuer' });
  stack.writeSecret('pwx/secrets/user1-token', tokens.user1 + '\n');
  stack.writeSecret('pwx/secrets/user2-token', tokens.user2);
  stack.writeSecret('pwx/secrets/viewer-token', tokens.viewer);
  stack.writeSecret('pwx/secrets/expired-token', tokens.expired);
  stack.writeSecret('pwx/secrets/other-issuer', tokens.otherIssuer);
  // A decoy where pxd's own parser would look: `user1-token` truncated at the dash.
  stack.writeSecret('pwx/secrets/user1', tokens.user2);
});

afterEach(async () => {
  await stack.close();
  rmSync(stack.dir, { recursive: true, force: true });
});

const forwarded = (endpoint: string) => stack.pxd.requests.filter((r) => r.endpoint.replace(/^\//, '') === endpoint);

function allOutput(replies: Array<{ text: string }>): string {
  return replies.map((r) => r.text).join('\n') + '\n' + stack.logs.join('');
}

function expectNoTokens(text: string) {
  for (const t of Object.values(tokens)) {
    expect(text).not.toContain(t);
    expect(text).not.toContain(t.split('.')[2]!);
  }
}

describe('protocol', () => {
  it('answers a request that carries no Host header at all', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const c = net.connect(stack.socket, () => c.end('POST /Plugin.Activate HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      let out = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => (out += d));
      c.on('end', () => resolve(out));
      c.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1.1 200/);
    expect(text).toContain('{"Implements":["VolumeDriver"]}');
  });

  it('answers Activate itself and forwards Capabilities', async () => {
    const a = await stack.call('Plugin.Activate');
    expect(a.status).toBe(200);
    expect(a.json).toEqual({ Implements: ['VolumeDriver'] });
    const c = await stack.call('VolumeDriver.Capabilities', {});
    expect(c.json).toEqual({ Capabilities: { Scope: 'global' } });
  });

  it('refuses an empty body on Create and Mount and forwards nothing', async () => {
    for (const ep of ['VolumeDriver.Create', 'VolumeDriver.Mount', 'VolumeDriver.Remove', 'VolumeDriver.Get']) {
      const r = await stack.call(ep, undefined, { raw: '' });
      expect(r.status).toBe(200);
      expect(r.json.Err).toMatch(/^pxd-auth BODY_EMPTY: .*empty body/);
    }
    expect(stack.pxd.requests).toHaveLength(0);
  });

  it('refuses non-JSON and wrongly shaped bodies with a clear Err', async () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /BODY_NOT_JSON/],
      ['null', /BODY_INVALID/],
      ['[]', /BODY_INVALID.*array/],
      ['"x"', /BODY_INVALID/],
      ['{"Name":5}', /BODY_INVALID.*"Name" as a string/],
      ['{"Name":""}', /BODY_INVALID.*empty "Name"/],
      ['{"Name":"a","Opts":[1]}', /OPTS_INVALID/],
    ];
    for (const [raw, re] of cases) {
      const r = await stack.call('VolumeDriver.Create', undefined, { raw });
      expect(r.json.Err, raw).toMatch(re);
    }
    expect(stack.pxd.requests).toHaveLength(0);
  });

  it('answers unknown endpoints with 404 and GET with 405, both as plugin errors', async () => {
    const r = await stack.call('VolumeDriver.Nope', {});
    expect(r.status).toBe(404);
    expect(r.json.Err).toMatch(/ENDPOINT_UNKNOWN/);
    const g = await stack.call('VolumeDriver.Create', undefined, { method: 'GET' });
    expect(g.status).toBe(405);
    expect(g.json.Err).toMatch(/METHOD_NOT_ALLOWED/);
  });

  it('accepts an empty body on List (a retried docker volume ls)', async () => {
    const r = await stack.call('VolumeDriver.List', undefined, { raw: '' });
    expect(r.json).toEqual({ Volumes: [], Err: '' });
  });
});

describe('token_secret in the name', () => {
  it('resolves a path with dashes whole and hands pxd the token: in Opts on Create, in the Name (name= first) on Mount and Remove', async () => {
    const name = 'token_secret=pwx/secrets/user1-token,repl=3,name=myvol1';
    const r = await stack.call('VolumeDriver.Create', { Name: name, Opts: null });
    expect(r.json).toEqual({ Err: '' });
    // Create goes as a plain Name with the spec and the token in Opts: pxd reads no option out of the Name.
    expect(forwarded('VolumeDriver.Create')[0]!.parsed).toEqual({ Name: 'myvol1', Opts: { repl: '3', token: tokens.user1 } });
    // The owner is user1 (the decoy at pwx/secrets/user1 belongs to user2).
    expect(stack.pxd.volumes.get('myvol1')!.owner).toBe('id/user1');
    expect(stack.pxd.volumes.get('myvol1')!.spec.repl).toBe('3');

    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json.Volume.Name).toBe(name);
    expect(g.json.Err).toBe('');

    const m = await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('c1') });
    expect(m.json).toEqual({ Mountpoint: `${stack.mountsRoot}/myvol1${mountId('c1')}`, Err: '' });
    expect(stack.pxd.lastToken('VolumeDriver.Mount')).toBe(tokens.user1);
    expect(forwarded('VolumeDriver.Mount')[0]!.parsed).toEqual({ Name: `name=myvol1,token=${tokens.user1}`, ID: mountId('c1') });

    const u = await stack.call('VolumeDriver.Unmount', { Name: name, ID: mountId('c1') });
    expect(u.json).toEqual({ Err: '' });
    // List shows the name Docker knows (and can remove with), not pxd's short one.
    const l = await stack.call('VolumeDriver.List', {});
    expect(l.json).toEqual({ Volumes: [{ Name: name, Mountpoint: '' }], Err: '' });
    const rm = await stack.call('VolumeDriver.Remove', { Name: name });
    expect(rm.json).toEqual({ Err: '' });
    expect((forwarded('VolumeDriver.Remove')[0]!.parsed as { Name: string }).Name).toBe(`name=myvol1,token=${tokens.user1}`);
    expect(stack.pxd.volumes.has('myvol1')).toBe(false);
    expect([...stack.proxy.state.clearNames()]).toEqual([]);
    expect((await stack.call('VolumeDriver.List', {})).json).toEqual({ Volumes: [], Err: '' });
    expectNoTokens(allOutput([r, g, m, u, l, rm]));
  });

  it('makes pxd read the same volume name on every endpoint (sharedv4_svc_name before name)', async () => {
    const name = 'sharedv4_svc_name=abc,token_secret=pwx/secrets/user1-token,name=real';
    const r = await stack.call('VolumeDriver.Create', { Name: name, Opts: {} });
    expect(r.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.has('real')).toBe(true);
    expect(stack.pxd.volumes.has('abc')).toBe(false);
    // pxd's leftmost match would read "abc" from the raw Name: Get, Path and Unmount must not send it raw.
    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json).toMatchObject({ Volume: { Name: name }, Err: '' });
    expect((await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('i') })).json.Err).toBe('');
    expect((await stack.call('VolumeDriver.Path', { Name: name })).json).toEqual({
      Mountpoint: `${stack.mountsRoot}/real${mountId('i')}/.data`,
      Err: '',
    });
    expect((await stack.call('VolumeDriver.Unmount', { Name: name, ID: mountId('i') })).json).toEqual({ Err: '' });
    expect([...stack.pxd.volumes.get('real')!.mounts]).toEqual([]);
    for (const r of stack.pxd.requests.filter((q) => /Get|Path|Unmount/.test(q.endpoint)))
      expect((r.parsed as { Name: string }).Name).toBe('name=real');
  });

  it('merges -o options with the inline ones into the Opts of a plain Name, which pxd then reads', async () => {
    const r = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=v5', Opts: { size: '3G' } });
    expect(r.json).toEqual({ Err: '' });
    expect(forwarded('VolumeDriver.Create')[0]!.parsed).toEqual({ Name: 'v5', Opts: { size: '3G', token: tokens.user1 } });
    expect(stack.pxd.volumes.get('v5')!.spec.size).toBe('3G');
  });

  it('joins token_secret_namespace as ns/path', async () => {
    stack.writeSecret('team-a/tok', tokens.user1);
    const r = await stack.call('VolumeDriver.Create', { Name: 'token_secret=tok,token_secret_namespace=team-a,name=nsvol' });
    expect(r.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.get('nsvol')!.owner).toBe('id/user1');
  });

  it('refuses paths that leave the secret tree, naming the problem, and forwards nothing', async () => {
    for (const [p, re] of [
      ['pwx/../etc/passwd', /SECRET_PATH_INVALID/],
      ['pwx//x', /SECRET_PATH_INVALID/],
      ['pwx/%2e%2e/x', /SECRET_PATH_INVALID/],
    ] as const) {
      const r = await stack.call('VolumeDriver.Create', { Name: `token_secret=${p},name=bad` });
      expect(r.json.Err, p).toMatch(re);
    }
    const dup = await stack.call('VolumeDriver.Create', { Name: 'token_secret=a,token_secret=b,name=bad' });
    expect(dup.json.Err).toMatch(/NAME_DUPLICATE_KEY.*token_secret/);
    expect(forwarded('VolumeDriver.Create')).toHaveLength(0);
    expect(store.reads).toBe(0);
  });
});

describe('-o token_secret and the state file', () => {
  it('creates with the reference in Opts and mounts the short name later, even after a restart', async () => {
    const c = await stack.call('VolumeDriver.Create', { Name: 'mnt1', Opts: { token_secret: 'pwx/secrets/user1-token', size: '2G' } });
    expect(c.json).toEqual({ Err: '' });
    const sent = forwarded('VolumeDriver.Create')[0]!.parsed as { Name: string; Opts: Record<string, string> };
    // A bare name keeps the user's options: the token travels in Opts, token_secret does not (pxd would store it as a label).
    expect(sent).toEqual({ Name: 'mnt1', Opts: { size: '2G', token: tokens.user1 } });
    expect(stack.pxd.volumes.get('mnt1')!.owner).toBe('id/user1');

    const m = await stack.call('VolumeDriver.Mount', { Name: 'mnt1', ID: mountId('a1') });
    expect(m.json).toEqual({ Mountpoint: `${stack.mountsRoot}/mnt1${mountId('a1')}`, Err: '' });
    expect((forwarded('VolumeDriver.Mount')[0]!.parsed as { Name: string }).Name).toBe(`name=mnt1,token=${tokens.user1}`);

    // Restart the proxy on the same state folder: the reference survives.
    const dir = stack.dir;
    await stack.proxy.close();
    await stack.pxd.close();
    const volumes = stack.pxd.volumes;
    stack = await startStack({ dir, start: { secrets: store } });
    for (const [k, v] of volumes) stack.pxd.volumes.set(k, v);
    const m2 = await stack.call('VolumeDriver.Mount', { Name: 'mnt1', ID: mountId('a2') });
    expect(m2.json).toEqual({ Mountpoint: `${stack.mountsRoot}/mnt1${mountId('a2')}`, Err: '' });
    // dvdcli mounts with no ID at all.
    const m3 = await stack.call('VolumeDriver.Mount', { Name: 'mnt1' });
    expect(m3.json).toEqual({ Mountpoint: `${stack.mountsRoot}/mnt1`, Err: '' });

    const rm = await stack.call('VolumeDriver.Remove', { Name: 'mnt1' });
    expect(rm.json).toEqual({ Err: '' });
    expect(stack.proxy.state.get('mnt1')).toBeUndefined();
  });

  it('keeps the reference when Create comes again without options (dockerd and dvdcli repeat it)', async () => {
    expect((await stack.call('VolumeDriver.Create', { Name: 'again1', Opts: { token_secret: 'pwx/secrets/user1-token' } })).json).toEqual({
      Err: '',
    });
    expect((await stack.call('VolumeDriver.Create', { Name: 'again1', Opts: null })).json).toEqual({ Err: '' });
    expect(stack.proxy.state.get('again1')?.secretPath).toBe('pwx/secrets/user1-token');
    expect((await stack.call('VolumeDriver.Mount', { Name: 'again1', ID: mountId('a') })).json).toEqual({
      Mountpoint: `${stack.mountsRoot}/again1${mountId('a')}`,
      Err: '',
    });
  });

  it('never retargets a volume: a Create naming another secret is refused before pxd, and the reference stays', async () => {
    expect((await stack.call('VolumeDriver.Create', { Name: 'own1', Opts: { token_secret: 'pwx/secrets/user1-token' } })).json).toEqual({
      Err: '',
    });
    const other = await stack.call('VolumeDriver.Create', { Name: 'own1', Opts: { token_secret: 'pwx/secrets/user2-token' } });
    expect(other.json.Err).toMatch(
      /^pxd-auth REFERENCE_CONFLICT: volume own1 is recorded on this node with token secret pwx\/secrets\/user1-token/,
    );
    expect(stack.proxy.state.get('own1')?.secretPath).toBe('pwx/secrets/user1-token');
    const refused = await stack.call('VolumeDriver.Create', { Name: 'own2', Opts: { token_secret: 'pwx/secrets/viewer-token' } });
    expect(refused.json.Err).toMatch(/POLICY_ROLE_DENIED/);
    expect(stack.proxy.state.get('own2')).toBeUndefined();
  });

  it('a state file that cannot be written refuses only what needs it: a -o token_secret Create, before pxd sees it', async () => {
    rmSync(path.join(stack.dir, 'state'), { recursive: true, force: true });
    const inline = 'token_secret=pwx/secrets/user1-token,name=sf1';
    expect((await stack.call('VolumeDriver.Create', { Name: inline })).json).toEqual({ Err: '' });
    expect((await stack.call('VolumeDriver.Remove', { Name: inline })).json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.has('sf1')).toBe(false);
    const bare = await stack.call('VolumeDriver.Create', { Name: 'sf2', Opts: { token_secret: 'pwx/secrets/user1-token' } });
    expect(bare.json.Err).toMatch(/^pxd-auth STATE_WRITE_FAILED: /);
    expect(stack.pxd.volumes.has('sf2')).toBe(false);
    expect(stack.logs.join('')).toMatch(/the state file was not updated; the request itself was done/);
  });

  it('refuses -o name=, which could make pxd name the volume differently', async () => {
    for (const name of ['mnt9', 'token_secret=pwx/secrets/user1-token,name=mnt9']) {
      const c = await stack.call('VolumeDriver.Create', { Name: name, Opts: { token_secret: 'pwx/secrets/user1-token', name: 'other' } });
      expect(c.json.Err, name).toMatch(/^pxd-auth OPTS_INVALID: -o name=/);
    }
    expect(forwarded('VolumeDriver.Create')).toHaveLength(0);
  });

  it('mounts a short name from volumeSecrets on a node that never saw its Create (UCR on another agent)', async () => {
    const yamlFile = path.join(stack.dir, 'shared.yaml');
    writeFileSync(yamlFile, 'volumeSecrets:\n  - volumes: ["ucr-*"]\n    tokenSecret: /pwx/secrets/user1-token\n');
    const dir = stack.dir;
    await stack.proxy.close();
    await stack.pxd.close();
    stack = await startStack({ dir, flags: { config: yamlFile }, start: { secrets: store } });
    // Created on "agent A" with dvdi/token_secret (Opts); this node's state then loses the reference.
    expect(
      (await stack.call('VolumeDriver.Create', { Name: 'ucr-data', Opts: { token_secret: 'pwx/secrets/user1-token', size: '1G' } })).json,
    ).toEqual({ Err: '' });
    await stack.proxy.state.forget('ucr-data');
    const m = await stack.call('VolumeDriver.Mount', { Name: 'ucr-data' });
    expect(m.json).toEqual({ Mountpoint: `${stack.mountsRoot}/ucr-data`, Err: '' });
    const audit = stack.logs
      .map((l) => JSON.parse(l))
      .filter((l) => l.audit && l.operation === 'mount')
      .at(-1);
    expect(audit).toMatchObject({ tokenSource: 'config-secret', secretPath: 'pwx/secrets/user1-token', decision: 'allow' });
    // Explicit references still win, and names outside the patterns get the precise error.
    const other = await stack.call('VolumeDriver.Mount', { Name: 'db-data', ID: mountId('x') });
    expect(other.json.Err).toMatch(/TOKEN_MISSING: .*or map it in volumeSecrets/);
  });

  it('explains a Mount of a short name with no known reference', async () => {
    const m = await stack.call('VolumeDriver.Mount', { Name: 'stranger', ID: mountId('x') });
    expect(m.json.Err).toMatch(/^pxd-auth TOKEN_MISSING: no token for mount of volume stranger: Docker sends options only on create/);
    expect(forwarded('VolumeDriver.Mount')).toHaveLength(0);
  });

  it('never writes a raw inline token to the state file, yet still knows the volume', async () => {
    const name = `token=${tokens.user1},name=rawtok`;
    expect((await stack.call('VolumeDriver.Create', { Name: name })).json).toEqual({ Err: '' });
    expect((await stack.call('VolumeDriver.Get', { Name: name })).json.Err).toBe('');
    await stack.proxy.state.flush();
    const file = readFileSync(path.join(stack.dir, 'state', 'state.json'), 'utf8');
    expect(file).not.toContain(tokens.user1.split('.')[2]!);
    expect(file).toContain('name=rawtok');
    await stack.pxd.close();
    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json).toEqual({ Volume: { Name: name, Mountpoint: '' }, Err: '' });
  });

  it('follows pxd precedence: a token in the Name wins over token_secret in Opts', async () => {
    const c = await stack.call('VolumeDriver.Create', {
      Name: `token=${tokens.user2},name=prec`,
      Opts: { token_secret: 'pwx/secrets/user1-token' },
    });
    expect(c.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.get('prec')!.owner).toBe('id/user2');
    expect(store.reads).toBe(0);
  });
});

describe('options pxd reads inside the Name', () => {
  it('passes values pxd would cut short inside a Name whole through Opts, inline or -o, on an inline Name and a plain name alike', async () => {
    // Create no longer carries options inside the Name: an inline nodes= and an -o zones reach pxd whole, in Opts.
    const typed = await stack.call('VolumeDriver.Create', {
      Name: 'token_secret=pwx/secrets/user1-token,nodes=node1.example.com,name=zn2',
    });
    expect(typed.json).toEqual({ Err: '' });
    expect(forwarded('VolumeDriver.Create')[0]!.parsed).toEqual({ Name: 'zn2', Opts: { nodes: 'node1.example.com', token: tokens.user1 } });
    expect(stack.pxd.volumes.get('zn2')!.spec.nodes).toBe('node1.example.com');
    const inline = await stack.call('VolumeDriver.Create', {
      Name: 'token_secret=pwx/secrets/user1-token,name=zn1',
      Opts: { zones: 'us-east-1a' },
    });
    expect(inline.json).toEqual({ Err: '' });
    expect(forwarded('VolumeDriver.Create')[1]!.parsed).toEqual({ Name: 'zn1', Opts: { zones: 'us-east-1a', token: tokens.user1 } });
    expect(stack.pxd.volumes.get('zn1')!.labels.zones).toBe('us-east-1a');
    const plain = await stack.call('VolumeDriver.Create', {
      Name: 'zn3',
      Opts: { token_secret: 'pwx/secrets/user1-token', zones: 'us-east-1a' },
    });
    expect(plain.json).toEqual({ Err: '' });
    expect(forwarded('VolumeDriver.Create')[2]!.parsed).toEqual({ Name: 'zn3', Opts: { zones: 'us-east-1a', token: tokens.user1 } });
    expect(stack.pxd.volumes.get('zn3')!.labels.zones).toBe('us-east-1a');
  });

  it('sends size and block_size as separate Opts on a plain Name, so pxd does not read the block size as the size', async () => {
    const c = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,block_size=4096,size=3G,name=bs1' });
    expect(c.json).toEqual({ Err: '' });
    const sent = forwarded('VolumeDriver.Create')[0]!.parsed as { Name: string; Opts: Record<string, string> };
    expect(sent).toEqual({ Name: 'bs1', Opts: { block_size: '4096', size: '3G', token: tokens.user1 } });
    expect(stack.pxd.volumes.get('bs1')!.spec).toMatchObject({ size: '3G', block_size: '4096' });
  });
});

describe('denials carry the precise reason', () => {
  it('expired, untrusted issuer, view role, missing secret, other user', async () => {
    const exp = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/expired-token,name=e1' });
    expect(exp.json.Err).toMatch(/^pxd-auth TOKEN_EXPIRED: token from secret pwx\/secrets\/expired-token expired 2023-11-14T23:13:20Z/);

    const iss = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/other-issuer,name=e2' });
    expect(iss.json.Err).toContain(`issuer "other.issuer" is not trusted (trusted: ${ISSUER})`);

    const view = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/viewer-token,name=e3' });
    expect(view.json.Err).toMatch(/POLICY_ROLE_DENIED: role system.view may not create volumes/);

    const missing = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/nope,name=e4' });
    expect(missing.json.Err).toMatch(/SECRET_NOT_FOUND: .*pwx\/secrets\/nope/);
    expect(forwarded('VolumeDriver.Create')).toHaveLength(0);

    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=owned' });
    const steal = await stack.call('VolumeDriver.Mount', { Name: 'token_secret=pwx/secrets/user2-token,name=owned', ID: mountId('z') });
    expect(steal.json.Err).toMatch(/BACKEND_DENIED: volume owned belongs to another user: id\/user2 may not use it/);
    const rm = await stack.call('VolumeDriver.Remove', { Name: 'token_secret=pwx/secrets/user2-token,name=owned' });
    expect(rm.json.Err).toMatch(/BACKEND_ERROR: volume owned was not found, or belongs to another user than id\/user2/);
    expect(stack.pxd.volumes.has('owned')).toBe(true);

    const audits = stack.logs.map((l) => JSON.parse(l)).filter((l) => l.audit);
    expect(audits.map((a) => a.reason)).toEqual(
      expect.arrayContaining([
        'TOKEN_EXPIRED',
        'TOKEN_ISSUER_UNTRUSTED',
        'POLICY_ROLE_DENIED',
        'SECRET_NOT_FOUND',
        'ROLE_ALLOWED',
        'BACKEND_DENIED',
      ]),
    );
    const denied = audits.find((a) => a.reason === 'POLICY_ROLE_DENIED');
    expect(denied).toMatchObject({
      operation: 'create',
      volume: 'e3',
      decision: 'deny',
      forwarded: false,
      subject: 'id/viewer',
      issuer: ISSUER,
      roles: ['system.view'],
      secretPath: 'pwx/secrets/viewer-token',
    });
    // pxd's refusals are denials too, marked as forwarded.
    expect(audits.find((a) => a.reason === 'BACKEND_ERROR')).toMatchObject({
      operation: 'remove',
      decision: 'deny',
      forwarded: true,
      subject: 'id/user2',
    });
    expect(audits.find((a) => a.reason === 'BACKEND_DENIED')).toMatchObject({ operation: 'mount', decision: 'deny', forwarded: true });
    expect(typeof denied.latencyMs).toBe('number');
    expectNoTokens(stack.logs.join(''));
  });
});

describe('a token given as token_secret', () => {
  it('is refused before any secret read, and never echoed to Docker or the log', async () => {
    const reads = store.reads;
    const replies = [
      await stack.call('VolumeDriver.Create', { Name: 'tsjwt1', Opts: { token_secret: tokens.user1 } }),
      await stack.call('VolumeDriver.Create', { Name: `token_secret=${tokens.user1},name=tsjwt2` }),
      await stack.call('VolumeDriver.Mount', { Name: `token_secret=${tokens.user1},name=tsjwt2`, ID: mountId('a') }),
      await stack.call('VolumeDriver.Remove', { Name: `token_secret=${tokens.user1},name=tsjwt2` }),
      await stack.call('VolumeDriver.Create', { Name: `token_secret=x,token_secret_namespace=${tokens.user1},name=tsjwt3` }),
    ];
    for (const r of replies)
      expect(r.json.Err).toMatch(/^pxd-auth SECRET_PATH_INVALID: token_secret(_namespace)? holds a token \(a JWT\), not a secret path/);
    expect(store.reads).toBe(reads);
    expect(forwarded('VolumeDriver.Create')).toHaveLength(0);
    expectNoTokens(allOutput(replies));
  });
});

describe('replies from the backend are checked', () => {
  it('refuses a relative, empty or escaping Mountpoint', async () => {
    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=mp' });
    for (const bad of ['relative/x', '', '/etc', `${stack.mountsRoot}/../etc`, stack.mountsRoot]) {
      stack.pxd.faults.mountpoint = bad;
      const m = await stack.call('VolumeDriver.Mount', { Name: 'token_secret=pwx/secrets/user1-token,name=mp', ID: mountId('q') });
      expect(m.json.Mountpoint, bad).toBeUndefined();
      expect(m.json.Err, bad).toMatch(/^pxd-auth MOUNTPOINT_INVALID: /);
      // The mount pxd made is undone: nothing stays attached for a container that never ran.
      const last = stack.pxd.requests.at(-1)!;
      expect(last.endpoint).toMatch(/Unmount$/);
      expect(last.parsed).toEqual({ Name: 'name=mp', ID: mountId('q') });
    }
    expect([...stack.pxd.volumes.get('mp')!.mounts]).toEqual([]);
  });

  it('refuses an empty Path mountpoint with no error from the backend', async () => {
    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=pe' });
    expect(
      (await stack.call('VolumeDriver.Mount', { Name: 'token_secret=pwx/secrets/user1-token,name=pe', ID: mountId('x') })).json.Err,
    ).toBe('');
    stack.pxd.faults.mountpoint = '';
    const p = await stack.call('VolumeDriver.Path', { Name: 'token_secret=pwx/secrets/user1-token,name=pe' });
    expect(p.json.Mountpoint).toBeUndefined();
    expect(p.json.Err).toMatch(/MOUNTPOINT_INVALID: .*it is empty/);
  });

  it('scrubs tokens out of a Get Status without breaking it', async () => {
    const name = 'token_secret=pwx/secrets/user1-token,name=st1';
    await stack.call('VolumeDriver.Create', { Name: name });
    stack.pxd.faults.getStatus = { note: `token=abc"def,name=x`, nested: { t: `see ${tokens.user2}` }, n: 3 };
    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json.Err).toBe('');
    expect(g.json.Volume.Status).toEqual({ note: 'token=***,name=x', nested: { t: 'see ***' }, n: 3 });
    expectNoTokens(g.text);
  });

  it('Get echoes the requested Name even when the backend answers another', async () => {
    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=echo' });
    stack.pxd.faults.getName = 'echo';
    const name = 'token_secret=pwx/secrets/user1-token,name=echo';
    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json.Volume.Name).toBe(name);
  });

  it('names the backend socket when it is unreachable, and keeps known volumes in Get', async () => {
    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=known' });
    await stack.pxd.close();
    const c = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=later' });
    expect(c.json.Err).toMatch(/BACKEND_UNREACHABLE: .*pxd\.sock is unreachable/);
    const g = await stack.call('VolumeDriver.Get', { Name: 'token_secret=pwx/secrets/user1-token,name=known' });
    expect(g.json).toEqual({ Volume: { Name: 'token_secret=pwx/secrets/user1-token,name=known', Mountpoint: '' }, Err: '' });
    const unknown = await stack.call('VolumeDriver.Get', { Name: 'never-seen' });
    expect(unknown.json.Err).toMatch(/BACKEND_UNREACHABLE/);
    const audit = stack.logs.map((l) => JSON.parse(l)).find((l) => l.audit && l.reason === 'BACKEND_UNREACHABLE');
    expect(audit).toMatchObject({ operation: 'create', volume: 'later', decision: 'error', forwarded: true });
  });
});

describe('while the secret store is down', () => {
  it('Get, List, Path and Unmount still work; Create says the store is unreachable', async () => {
    const name = 'token_secret=pwx/secrets/user1-token,name=sv';
    await stack.call('VolumeDriver.Create', { Name: name });
    expect((await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('m1') })).json.Err).toBe('');
    store.down = true;
    const g = await stack.call('VolumeDriver.Get', { Name: name });
    expect(g.json.Err).toBe('');
    expect(g.json.Volume.Name).toBe(name);
    const l = await stack.call('VolumeDriver.List', {});
    expect(l.json.Volumes).toEqual([{ Name: name, Mountpoint: `${stack.mountsRoot}/sv${mountId('m1')}/.data` }]);
    const p = await stack.call('VolumeDriver.Path', { Name: name });
    expect(p.json).toEqual({ Mountpoint: `${stack.mountsRoot}/sv${mountId('m1')}/.data`, Err: '' });
    const u = await stack.call('VolumeDriver.Unmount', { Name: name, ID: mountId('m1') });
    expect(u.json).toEqual({ Err: '' });
    const c = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=sv2' });
    expect(c.json.Err).toMatch(/SECRET_STORE_UNAVAILABLE: create of volume sv2: DC\/OS .* unreachable/);
  });
});

describe('while pxd is starting (HTTP 500 "Driver is initializing")', () => {
  it('Get answers for the volumes the proxy knows, so a restarting dockerd keeps them; unknown names get the error', async () => {
    const inline = 'token_secret=pwx/secrets/user1-token,name=init1';
    expect((await stack.call('VolumeDriver.Create', { Name: inline })).json.Err).toBe('');
    expect((await stack.call('VolumeDriver.Create', { Name: 'init2', Opts: { token_secret: 'pwx/secrets/user1-token' } })).json.Err).toBe(
      '',
    );
    stack.pxd.faults.initializing = true;
    for (const name of [inline, 'init2']) {
      const g = await stack.call('VolumeDriver.Get', { Name: name });
      expect(g.json).toEqual({ Volume: { Name: name, Mountpoint: '' }, Err: '' });
    }
    const unknown = await stack.call('VolumeDriver.Get', { Name: 'never-created' });
    expect(unknown.json.Err).toMatch(/Driver is initializing/);
    stack.pxd.faults.initializing = false;
  });
});

describe('connections', () => {
  it('serves a fresh connection per call (dvdcli) and keep-alive (dockerd) alike', async () => {
    const a = await callPlugin(stack.socket, 'Plugin.Activate', undefined, { freshConnection: true });
    const b = await callPlugin(stack.socket, 'VolumeDriver.List', {}, { freshConnection: false });
    expect(a.json.Implements).toEqual(['VolumeDriver']);
    expect(b.json.Err).toBe('');
  });
});

describe('concurrency', () => {
  it('passes a burst of slow Mounts to pxd all at once, as dockerd would send them without the proxy', async () => {
    // dockerd's plugin client has no limit on connections: 100 containers starting together reach
    // pxd together. A pool cap would queue them behind each other's (slow, real) Mounts.
    const created = await callPlugin(stack.socket, 'VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=burst1' });
    expect(created.json.Err).toBe('');
    let release!: () => void;
    stack.pxd.faults.hold = new Promise<void>((r) => (release = r));
    const n = 100;
    const replies = Promise.all(
      Array.from({ length: n }, (_, i) =>
        callPlugin(
          stack.socket,
          'VolumeDriver.Mount',
          { Name: 'token_secret=pwx/secrets/user1-token,name=burst1', ID: mountId(`c${i}`) },
          { freshConnection: true },
        ),
      ),
    );
    for (let i = 0; i < 1000 && stack.pxd.maxInFlight < n; i++) await new Promise((r) => setTimeout(r, 10));
    const atOnce = stack.pxd.maxInFlight;
    delete stack.pxd.faults.hold;
    release();
    expect((await replies).map((r) => r.json.Err)).toEqual(Array(n).fill(''));
    expect(atOnce).toBe(n);
  });
});
