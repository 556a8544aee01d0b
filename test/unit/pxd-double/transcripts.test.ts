/**
 * Replays the real-osd wire transcripts (copied byte for byte from /work/shared/spec/pxd-transcripts into
 * ./transcripts) against the pxd test double, plus the double's fault switches and a few source-derived
 * behaviours. JWT placeholders (`eyJhbGciO…<JWT>`) are replaced with freshly signed tokens per step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { startPxdDouble, type PxdDouble, type PxdDoubleOptions } from '../../doubles/pxd/server.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TRANSCRIPTS = path.join(HERE, 'transcripts');
const ISSUER = 'openstorage.io';
const SECRET = 'mysecret';
const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

// ------------------------------------------------------------------ HTTP over the unix socket
interface Res {
  status: number;
  statusText: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(socketPath: string, method: string, urlPath: string, body?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: ACCEPT };
    if (body !== undefined || method === 'POST') headers['Content-Length'] = String(Buffer.byteLength(body ?? ''));
    const req = http.request({ socketPath, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body ?? '');
  });
}

const post = (d: PxdDouble, ep: string, body: unknown): Promise<Res> =>
  send(d.socketPath, 'POST', `/VolumeDriver.${ep}`, typeof body === 'string' ? body : JSON.stringify(body));

// ------------------------------------------------------------------ tokens
const nowSec = (): number => Math.floor(Date.now() / 1000);

async function sign(claims: Record<string, unknown>, opts: { secret?: string; header?: Record<string, unknown> } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(opts.header ?? {}) })
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

function user(sub: string, roles: string[] | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    sub: `id/${sub}`,
    iss: ISSUER,
    email: `${sub}@example.com`,
    name: `User ${sub}`,
    iat: nowSec() - 5,
    exp: nowSec() + 86400,
  };
  if (roles) c.roles = roles;
  return { ...c, ...extra };
}

const T: Record<string, string> = {};

beforeAll(async () => {
  // the transcript's own user1 (see the JWT echoed back in transcript-mount's second Get)
  T.user1 = await sign({ ...user('user1', ['system.user'], { name: 'User One', groups: ['group1'] }) });
  T.user2 = await sign(user('user2', ['system.user']));
  T.viewer = await sign(user('viewer', ['system.view']));
  T.admin = await sign(user('admin', ['system.admin'], { groups: ['*'] }));
  T.noroles = await sign(user('noroles', undefined));
  T.badsig = await sign(user('user1', ['system.user']), { secret: 'not-the-secret' });
  T.otheriss = await sign(user('user1', ['system.user'], { iss: 'other.issuer' }));
  T.expired = await sign(user('user1', ['system.user'], { iat: nowSec() - 100, exp: nowSec() - 10 }));
});

// ------------------------------------------------------------------ transcript parsing
interface Step {
  title: string;
  method: string;
  path: string;
  reqBody: string | undefined;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: string;
}

function parseTranscript(file: string): Step[] {
  const text = fs.readFileSync(path.join(TRANSCRIPTS, file), 'utf8');
  return text
    .split(/^### /m)
    .slice(1)
    .map((section) => {
      let rest = section;
      const take = (): string => {
        const m = /\r?\n/.exec(rest);
        if (!m) {
          const all = rest;
          rest = '';
          return all;
        }
        const line = rest.slice(0, m.index);
        rest = rest.slice(m.index + m[0].length);
        return line;
      };
      const title = take();
      const [method, p] = title.split(' ') as [string, string];
      let reqBody: string | undefined;
      let line = take();
      if (line.startsWith('request body: ')) {
        reqBody = line.slice('request body: '.length);
        line = take();
      }
      const sm = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(line);
      if (!sm) throw new Error(`bad status line in ${file}: ${line}`);
      const headers: Array<[string, string]> = [];
      for (line = take(); line !== ''; line = take()) {
        const i = line.indexOf(': ');
        headers.push([line.slice(0, i), line.slice(i + 2)]);
      }
      // what remains is the body plus the blank separator line
      let body = rest;
      if (body.endsWith('\n\n')) body = body.slice(0, -1);
      else if (body === '\n') body = '';
      return { title, method, path: p, reqBody, status: Number(sm[1]), statusText: sm[2] as string, headers, body };
    });
}

const PLACEHOLDER = /eyJhbGciO…<JWT>(?:…<JWT>)*/g;
/** a placeholder, or a literal JWT as echoed in transcript-mount's second Get */
const PLACEHOLDER_OR_JWT = /eyJhbGciO…<JWT>(?:…<JWT>)*|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

interface StepPlan {
  /** token names for the request's placeholders, in order */
  tokens?: string[];
  /** token names for placeholders / literal JWTs in the expected reply (default: `tokens`) */
  resTokens?: string[];
  /** further rewriting of the expected body (e.g. the volume uuid) */
  expect?: (body: string, d: PxdDouble) => string;
  /** checks on the double after the step */
  after?: (d: PxdDouble) => void;
}

async function replay(d: PxdDouble, file: string, plan: Record<number, StepPlan>): Promise<number> {
  const steps = parseTranscript(file);
  for (const k of Object.keys(plan)) expect(Number(k)).toBeLessThanOrEqual(steps.length);
  for (const [i, step] of steps.entries()) {
    const n = i + 1;
    const p = plan[n] ?? {};
    const label = `${file} step ${n}: ${step.title} ${step.reqBody ?? '(no body)'}`;

    let reqTok = 0;
    const reqBody = step.reqBody?.replace(PLACEHOLDER, () => {
      const t = T[p.tokens?.[reqTok++] ?? ''];
      if (!t) throw new Error(`${label}: no token planned for placeholder ${reqTok}`);
      return t;
    });
    if ((p.tokens?.length ?? 0) !== reqTok) throw new Error(`${label}: planned ${p.tokens?.length} tokens, used ${reqTok}`);

    let resTok = 0;
    const resNames = p.resTokens ?? p.tokens ?? [];
    let expected = step.body.replace(PLACEHOLDER_OR_JWT, () => T[resNames[resTok++] ?? ''] ?? '?');
    if (p.expect) expected = p.expect(expected, d);
    const untouched = expected === step.body;

    const res = await send(d.socketPath, step.method, step.path, reqBody);

    expect(res.status, label).toBe(step.status);
    expect(res.statusText, label).toBe(step.statusText);
    expect(res.body, label).toBe(expected);

    // headers that matter: same values, same relative order, nothing extra among them
    const names = ['Date', 'Content-Length', 'Content-Type', 'X-Content-Type-Options'];
    const wantNames = step.headers.map(([h]) => h).filter((h) => names.includes(h));
    const gotNames: string[] = [];
    for (let j = 0; j < res.rawHeaders.length; j += 2) {
      const h = res.rawHeaders[j] as string;
      if (names.includes(h)) gotNames.push(h);
    }
    expect(gotNames, `${label}: header order`).toEqual(wantNames);
    for (const [h, v] of step.headers) {
      const got = res.headers[h.toLowerCase()];
      if (h === 'Date') expect(String(got), label).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      else if (h === 'Content-Length') {
        expect(got, label).toBe(String(Buffer.byteLength(expected)));
        if (untouched) expect(got, `${label}: transcript length`).toBe(v);
      } else expect(got, label).toBe(v);
    }
    p.after?.(d);
  }
  return steps.length;
}

// ------------------------------------------------------------------ doubles
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pxd-double-'));
let sockN = 0;
const doubles: PxdDouble[] = [];

async function start(o: Partial<PxdDoubleOptions> = {}, withAuth = true): Promise<PxdDouble> {
  const d = await startPxdDouble({
    socketPath: path.join(tmp, `pxd${++sockN}.sock`),
    ...(withAuth ? { auth: { issuers: [{ name: ISSUER, sharedSecret: SECRET }] } } : {}),
    ...o,
  });
  doubles.push(d);
  return d;
}

afterAll(async () => {
  await Promise.all(doubles.map((d) => d.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ------------------------------------------------------------------ the transcripts
describe('pxd double replays the real osd transcripts', () => {
  // create → mount → remove-badtokens were recorded in sequence on one osd
  let d: PxdDouble;
  beforeAll(async () => {
    d = await start();
  });

  it('transcript-create.txt', async () => {
    const steps = await replay(d, 'transcript-create.txt', {
      3: { tokens: ['user1'] },
      4: { tokens: ['user1'] },
      5: { tokens: ['user1'] },
      6: {
        tokens: ['user1'],
        after: (x) => {
          // Name had name=: Opts (size 5G, repl 3) ignored entirely
          const v = x.volumes.get('vol3');
          expect(v?.size).toBe(3 * 1024 ** 3);
          expect(v?.haLevel).toBe(1);
          expect(v?.spec).toEqual({ size: '3G' });
        },
      },
      7: { tokens: ['viewer'] },
      8: { tokens: ['user2'] },
      9: { tokens: ['user1'] },
      10: { tokens: ['user1'] },
    });
    expect(steps).toBe(11);
    expect([...d.volumes.keys()]).toEqual(['vol1', 'vol2', 'vol3']);
    expect(d.volumes.get('vol1')?.owner).toBe('id/user1');
    expect(d.volumes.get('vol1')?.haLevel).toBe(2);
    expect(d.lastToken('Create')).toBe(T.user1);
  });

  it('transcript-mount.txt', async () => {
    const steps = await replay(d, 'transcript-mount.txt', {
      2: { tokens: ['user1'] },
      6: {
        tokens: ['user2'],
        expect: (b, x) => b.replace('7dfd97d6-495f-4e42-b8b1-64b2b19c1f19', x.volumes.get('vol1')?.id ?? '?'),
        after: (x) => expect(x.lastToken('/VolumeDriver.Mount')).toBe(T.user2),
      },
      7: {
        tokens: ['user1'],
        after: (x) => {
          expect(x.lastToken('Mount')).toBe(T.user1);
          expect([...(x.volumes.get('vol1')?.mounts ?? [])]).toEqual(['abc123']);
        },
      },
      11: { after: (x) => expect(x.volumes.get('vol1')?.mounts.size).toBe(0) },
      14: { tokens: ['user1'] },
    });
    expect(steps).toBe(14);
  });

  it('transcript-remove-badtokens.txt', async () => {
    const steps = await replay(d, 'transcript-remove-badtokens.txt', {
      2: { tokens: ['user2'] },
      3: { tokens: ['user2'] },
      4: { tokens: ['user1'] },
      5: { tokens: ['user1'] },
      6: { tokens: ['user1'] },
      7: { tokens: ['badsig'] },
      8: { tokens: ['otheriss'] },
      9: { tokens: ['expired'] },
      13: { after: (x) => expect(x.lastToken('Create')).toBe('pwx/secrets/user1-token') },
      14: {
        tokens: ['user1'],
        after: (x) => {
          // pxd's bug: the Opts token_secret was used as the token; it also became a label
          expect(x.lastToken('Create')).toBe(T.user1);
          expect(x.volumes.get('myvol5')?.labels).toEqual({ token_secret: T.user1, foo: 'bar' });
        },
      },
      18: { tokens: ['user1'] },
    });
    expect(steps).toBe(18);
    expect([...d.volumes.keys()]).toEqual(['vol1', 'myvol5']);
  });

  it('transcript-misc.txt (fresh osd)', async () => {
    d.reset();
    const steps = await replay(d, 'transcript-misc.txt', {
      4: { tokens: ['user1'] },
      5: { tokens: ['user1'] },
      6: { tokens: ['user1'] },
      7: { tokens: ['user1'] },
      8: { resTokens: ['user1'] },
    });
    expect(steps).toBe(8);
    // no name= in the Name: the whole Name is the volume name, the spec comes from Opts
    const [v] = [...d.volumes.values()];
    expect(v?.name).toBe(`token=${T.user1},size=1G,repl=2`);
    expect(v?.size).toBe(2 * 1024 ** 3);
  });

  it('transcript-noauth.txt (auth off)', async () => {
    const na = await start({}, false);
    const steps = await replay(na, 'transcript-noauth.txt', {
      3: { tokens: ['user1'] },
      5: { after: (x) => expect(x.lastToken('Mount')).toBeUndefined() },
    });
    expect(steps).toBe(8);
    expect(na.volumes.get('v2')?.owner).toBeUndefined();
  });

  it('transcript-token-secret.txt (pxd with a secret store)', async () => {
    const store: Record<string, string> = {
      'pwx/secrets/user1': T.user1 as string,
      'pwx/secrets/user1_token': T.user1 as string,
      'ns1/tok': T.user1 as string,
      'pwx/secrets/jsonsecret': JSON.stringify({ token: T.user1 }),
    };
    const ts = await start({ secrets: (k) => store[k] });
    let lookups = 0;
    const steps = await replay(ts, 'transcript-token-secret.txt', {
      1: { after: (x) => expect(x.secretLookups).toEqual(['pwx/secrets/user1']) },
      2: { after: (x) => expect(x.secretLookups.at(-1)).toBe('pwx/secrets/user1_token') },
      3: { after: (x) => expect(x.secretLookups.at(-1)).toBe('ns1/tok') },
      5: { after: (x) => expect(x.secretLookups.at(-1)).toBe('pwx/secrets/missing') },
      6: { after: (x) => (lookups = x.secretLookups.length) },
      // an Opts token beats token_secret in the Name: the secret is never fetched
      7: { tokens: ['user1'], after: (x) => expect(x.secretLookups.length).toBe(lookups) },
      8: { after: (x) => expect(x.lastToken('Mount')).toBe(T.user1) },
      14: { after: (x) => expect(x.lastToken('Mount')).toBeUndefined() },
    });
    expect(steps).toBe(16);
    expect(ts.volumes.get('myvol1')?.labels).toEqual({});
  });
});

// ------------------------------------------------------------------ behaviour beyond the transcripts
describe('pxd double: auth details (from pxd.md and the openstorage source)', () => {
  let d: PxdDouble;
  beforeAll(async () => {
    d = await start();
  });

  const err = async (ep: string, body: unknown): Promise<string> => {
    const r = await post(d, ep, body);
    expect(r.status).toBe(200);
    return (JSON.parse(r.body) as { Err: string }).Err;
  };
  const unauthIss = 'rpc error: code = Unauthenticated desc = Unable to obtain token issuer from authorization token';
  const denied = 'rpc error: code = PermissionDenied desc = Unable to authenticate token';

  it('a token with no roles authenticates but is denied, printing its (empty) roles', async () => {
    expect(await err('Create', { Name: `token=${T.noroles},name=nr,size=1G` })).toBe(
      'rpc error: code = PermissionDenied desc = Access to /openstorage.api.OpenStorageVolume/Create denied: ' +
        'rpc error: code = PermissionDenied desc = Access denied to roles: []',
    );
    // Remove's first SDK call is EnumerateWithFilters
    expect(await err('Remove', { Name: `token=${T.noroles},name=nr` })).toBe(
      'rpc error: code = PermissionDenied desc = Access to /openstorage.api.OpenStorageVolume/EnumerateWithFilters denied: ' +
        'rpc error: code = PermissionDenied desc = Access denied to roles: []',
    );
  });

  it('rejects tokens pxd would reject', async () => {
    const bad = async (claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string> =>
      err('Create', { Name: `token=${await sign(claims, { header })},name=b,size=1G` });
    expect(await bad(user('u', ['system.user'], { iat: nowSec() + 60 }))).toBe(denied); // future iat
    expect(await bad(user('u', ['system.user'], { nbf: nowSec() + 60 }))).toBe(denied);
    expect(await bad(user('u', ['system.user'], { exp: nowSec() }))).toBe(denied); // no leeway
    for (const c of ['sub', 'exp', 'iat', 'name', 'email']) {
      const claims = user('u', ['system.user']);
      delete claims[c];
      expect(await bad(claims), `missing ${c}`).toBe(denied);
    }
    expect(await bad(user('u', ['system.user'], { sub: '' }))).toBe(denied); // empty username claim
    expect(await bad(user('u', ['system.user'], { exp: 'tomorrow' }))).toBe(denied);
    // Claims are json.Unmarshal'ed before the issuer is read: a type error there is "no issuer".
    expect(await bad(user('u', ['system.user'], { roles: 'system.admin' }))).toBe(unauthIss);
    expect(await bad(user('u', ['system.user'], { groups: [1] }))).toBe(unauthIss);
    expect(await bad({ ...user('u', ['system.user']), iss: '' })).toBe(unauthIss);
    // alg none
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify(user('u', ['system.admin'])),
    ).toString('base64url')}.sig`;
    expect(await err('Create', { Name: 'v', Opts: { token: none, size: '1G' } })).toBe(denied);
    // no token at all, and a token that is not a JWT
    expect(await err('Create', { Name: 'v', Opts: { size: '1G' } })).toBe(unauthIss);
    expect(await err('Create', { Name: 'v', Opts: { token: 'a.b', size: '1G' } })).toBe(unauthIss);
    expect(d.volumes.size).toBe(0);
  });

  it('checks RS256 / ES256 against the configured keys, one key per algorithm family', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const k = await start({
      auth: {
        issuers: [
          { name: 'rsa.issuer', rsaPublicKeyPem: await exportSPKI(rsa.publicKey) },
          { name: 'ec.issuer', ecdsaPublicKeyPem: await exportSPKI(ec.publicKey), sharedSecret: SECRET },
        ],
      },
    });
    const rs = await new SignJWT(user('r', ['system.user'], { iss: 'rsa.issuer' }))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(rsa.privateKey);
    const es = await new SignJWT(user('e', ['system.user'], { iss: 'ec.issuer' })).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey);
    const hsForRsa = await sign(user('h', ['system.user'], { iss: 'rsa.issuer' }));
    const e = async (tok: string, name: string): Promise<string> =>
      (JSON.parse((await post(k, 'Create', { Name: `token=${tok},name=${name},size=1G` })).body) as { Err: string }).Err;
    expect(await e(rs, 'r1')).toBe('');
    expect(await e(es, 'e1')).toBe('');
    expect(await e(hsForRsa, 'h1')).toBe(denied); // that issuer has no shared secret
    expect(k.volumes.get('r1')?.owner).toBe('id/r');
  });

  it('usernameClaim selects the owner; group "*" is an ownership admin', async () => {
    const k = await start({ auth: { issuers: [{ name: ISSUER, sharedSecret: SECRET }], usernameClaim: 'email' } });
    expect((await post(k, 'Create', { Name: `token=${T.user1},name=o1,size=1G` })).body).toBe('{"Err":""}\n');
    expect(k.volumes.get('o1')?.owner).toBe('user1@example.com');
    const mounted = await post(k, 'Mount', { Name: `token=${T.admin},name=o1`, ID: 'z' });
    expect(mounted.status).toBe(200);
    expect((await post(k, 'Remove', { Name: `token=${T.user2},name=o1` })).body).toBe('{"Err":"Cannot locate volume with name o1"}\n');
    expect((await post(k, 'Remove', { Name: `token=${T.admin},name=o1` })).body).toBe('{"Err":""}\n');
  });

  it('system.view may look but not mount (Attach is refused, as 200 JSON)', async () => {
    await post(d, 'Create', { Name: `token=${T.user1},name=pub,size=1G` });
    const r = await post(d, 'Mount', { Name: `token=${T.viewer},name=pub`, ID: 'x' });
    // the viewer is not the owner, so Inspect already refuses (400 text)
    expect(r.status).toBe(400);
    expect(r.body).toBe(`rpc error: code = PermissionDenied desc = Access denied to volume ${d.volumes.get('pub')?.id}\n`);
    // a public volume (no owner, as when created with auth off) is readable by everyone, so the viewer
    // gets past Inspect and is refused at Attach — as a 200 JSON Err this time
    await post(d, 'Create', { Name: `token=${T.user1},name=open,size=1G` });
    const open = d.volumes.get('open');
    if (open) open.owner = undefined;
    const r2 = await post(d, 'Mount', { Name: `token=${T.viewer},name=open`, ID: 'x' });
    expect(r2.status).toBe(200);
    expect(r2.body).toBe(
      '{"Err":"rpc error: code = PermissionDenied desc = Access to /openstorage.api.OpenStorageMountAttach/Attach denied: ' +
        'rpc error: code = PermissionDenied desc = Access denied to roles: [system.view]"}\n',
    );
  });
});

describe('pxd double: decoding and naming quirks', () => {
  let d: PxdDouble;
  beforeAll(async () => {
    d = await start({}, false);
  });

  it('decodes like Go: case-insensitive fields, first value only, Go error texts', async () => {
    expect((await post(d, 'Create', '{"name":"ci","opts":{"size":"1G"}} trailing')).body).toBe('{"Err":""}\n');
    expect(d.volumes.has('ci')).toBe(true);
    const r = await post(d, 'Get', '{"Name":5}');
    expect(r.status).toBe(400);
    expect(r.body).toBe(
      'Unable to decode JSON payload:json: cannot unmarshal number into Go struct field volumeRequest.Name of type string\n',
    );
    expect((await post(d, 'Get', '{"Name":"ci"')).body).toBe('Unable to decode JSON payload:unexpected EOF\n');
    expect((await post(d, 'Get', '[]')).body).toBe(
      'Unable to decode JSON payload:json: cannot unmarshal array into Go value of type server.volumeRequest\n',
    );
    expect((await post(d, 'Path', '{"Name":"ci",}')).body).toBe(
      "Unable to decode JSON payload:invalid character '}' looking for beginning of object key string\n",
    );
    // List, Capabilities and Activate never read the body
    expect((await post(d, 'List', '')).status).toBe(200);
    expect((await send(d.socketPath, 'POST', '/Plugin.Activate', '')).body).toBe('{"Implements":["VolumeDriver"]}\n');
    expect((await post(d, 'Capabilities', '')).body).toBe('{"Capabilities":{"Scope":"global"}}\n');
  });

  it('parses the Name with unanchored regexes, leftmost match wins', async () => {
    await post(d, 'Create', { Name: 'sharedv4_svc_name=abc,name=real,size=1G' });
    expect(d.volumes.has('abc')).toBe(true);
    await post(d, 'Create', { Name: 'name=my.vol,size=1G' });
    expect(d.volumes.has('my')).toBe(true);
    // an invalid inline spec: pxd falls back to Opts and Get answers the short name
    expect((await post(d, 'Create', { Name: 'name=sz,size=abc', Opts: { size: '2G' } })).body).toBe('{"Err":""}\n');
    expect(d.volumes.get('sz')?.size).toBe(2 * 1024 ** 3);
    expect((await post(d, 'Get', { Name: 'name=sz,size=abc' })).body).toBe('{"Volume":{"Name":"sz","Mountpoint":""}}\n');
    // Go's JSON encoder escapes HTML characters
    await post(d, 'Create', { Name: 'a<b>&c', Opts: { size: '1' } });
    expect(d.volumes.get('a<b>&c')?.size).toBe(1024 ** 3); // a bare number is GiB
    expect((await post(d, 'Get', { Name: 'a<b>&c' })).body).toBe('{"Volume":{"Name":"a\\u003cb\\u003e\\u0026c","Mountpoint":""}}\n');
  });

  it('reproduces: Remove with an empty Name removes the first visible volume', async () => {
    const first = [...d.volumes.keys()][0];
    expect((await post(d, 'Remove', { Name: '' })).body).toBe('{"Err":""}\n');
    expect(d.volumes.has(first as string)).toBe(false);
  });

  it('answers 404, 405 and /status like Go', async () => {
    const r = await send(d.socketPath, 'GET', '/status');
    expect(r.body).toBe('osd plugin 0.3\n');
    expect((await send(d.socketPath, 'PUT', '/VolumeDriver.Get', '{}')).status).toBe(405);
    const nf = await send(d.socketPath, 'GET', '/nope');
    expect([nf.status, nf.body, nf.headers['x-content-type-options']]).toEqual([404, '404 page not found\n', 'nosniff']);
  });
});

describe('pxd double: fault switches and mount directories', () => {
  it('delay, garbage, reset, down, mountpoint and getName overrides', async () => {
    const d = await start({}, false);
    await post(d, 'Create', { Name: 'f1', Opts: { size: '1G' } });

    d.faults.delayMs = 150;
    const t0 = Date.now();
    expect((await post(d, 'Get', { Name: 'f1' })).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    d.faults.delayMs = 0;

    d.faults.garbage = true;
    const g = await post(d, 'Get', { Name: 'f1' });
    expect(g.status).toBe(200);
    expect(() => JSON.parse(g.body)).toThrow();
    d.faults.garbage = false;

    d.faults.reset = true;
    const before = d.requests.length;
    await expect(post(d, 'Mount', { Name: 'f1', ID: 'r' })).rejects.toThrow();
    expect(d.requests.length).toBe(before + 1); // it was received and logged...
    expect(d.volumes.get('f1')?.mounts.size).toBe(0); // ...but never processed
    d.faults.reset = false;

    d.faults.down = true;
    await expect(post(d, 'Get', { Name: 'f1' })).rejects.toThrow();
    d.faults.down = false;

    for (const mp of ['relative/x', '', '/etc']) {
      d.faults.mountpoint = mp;
      const m = await post(d, 'Mount', { Name: 'f1', ID: 'm' });
      expect(m.body).toBe(`{"Mountpoint":${JSON.stringify(mp)},"Err":""}\n`);
      expect((await post(d, 'Path', { Name: 'f1' })).body).toBe(`{"Mountpoint":${JSON.stringify(mp)},"Err":""}\n`);
    }
    d.faults.getName = 'other';
    expect((await post(d, 'Get', { Name: 'f1' })).body).toBe('{"Volume":{"Name":"other","Mountpoint":"/var/lib/osd/mounts/f1m/.data"}}\n');
    expect(d.requests.at(-1)).toMatchObject({ endpoint: '/VolumeDriver.Get', body: '{"Name":"f1"}', parsed: { Name: 'f1' } });

    d.reset();
    expect(d.faults).toEqual({});
    expect(d.volumes.size).toBe(0);
    expect(d.requests.length).toBe(0);
  });

  it('creates mount directories under mountsRoot when makeMountDirs is set (and never outside it)', async () => {
    const root = fs.mkdtempSync(path.join(tmp, 'mounts-'));
    const d = await start({ mountsRoot: root, makeMountDirs: true, defaultSize: '1G' }, false);
    expect((await post(d, 'Create', { Name: 'md', Opts: null })).body).toBe('{"Err":""}\n'); // defaultSize
    const m = await post(d, 'Mount', { Name: 'md', ID: 'abc' });
    expect(m.body).toBe(`{"Mountpoint":"${root}/mdabc","Err":""}\n`);
    expect(fs.statSync(path.join(root, 'mdabc')).isDirectory()).toBe(true);
    // dvdcli's ID-less mount
    expect((await post(d, 'Mount', { Name: 'md' })).body).toBe(`{"Mountpoint":"${root}/md","Err":""}\n`);
    expect(fs.statSync(path.join(root, 'md')).isDirectory()).toBe(true);

    // pxd's path.Join lets a name climb out of the root: the Mountpoint says so, but no directory is made
    await post(d, 'Create', { Name: '../escape', Opts: { size: '1G' } });
    const esc = await post(d, 'Mount', { Name: '../escape', ID: 'x' });
    expect(esc.body).toBe(`{"Mountpoint":"${path.dirname(root)}/escapex","Err":""}\n`);
    expect(fs.existsSync(path.join(path.dirname(root), 'escapex'))).toBe(false);
  });
});
