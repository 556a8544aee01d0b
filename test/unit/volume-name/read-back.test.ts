/**
 * Read back what is forwarded, as pxd reads it. The property tests judge the proxy's forwards with the
 * pxd double's own parser (test/doubles/pxd/spec.ts, written from spec_handler.go), never with the
 * proxy's read-back module, so the proof does not lean on the code it proves.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProxyError } from '../../../src/errors.js';
import {
  assertPxdReadsAsChecked,
  createSpec,
  forwardedBody,
  mountSpec,
  parseName,
  parseOpts,
  readNameAsPxd,
  readRequestAsPxd,
  PXD_NAME_KEY_TABLE,
  type ForwardedBody,
} from '../../../src/volume-name/index.js';
import { TOKEN_RE, getVal, specFromString } from '../../doubles/pxd/spec.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ';

function refusal(fn: () => unknown): ProxyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProxyError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('readNameAsPxd: pxd finds keys anywhere', () => {
  it('finds secure= inside another option value, leftmost first', () => {
    const r = readNameAsPxd('token_secret=t,zz=secure=false,secure=true,name=a-sec');
    expect(r.name).toBe('a-sec');
    expect(r.spec.get('secure')?.value).toBe('false');
  });

  it('finds size= inside block_size=', () => {
    const r = readNameAsPxd('block_size=4096,name=a-bs');
    expect(r.spec.get('size')?.value).toBe('4096');
    expect(r.spec.get('block_size')?.value).toBe('4096');
  });

  it('cuts a value at the first character outside its class, and reads name= inside sharedv4_svc_name=', () => {
    expect(readNameAsPxd('zones=us-east-1a,name=v').spec.get('zones')?.value).toBe('us');
    expect(readNameAsPxd('sharedv4_svc_name=abc,name=real').name).toBe('abc');
  });

  it('reads rack only without racks, and nothing at all without name=', () => {
    expect(readNameAsPxd('racks=a,rack=b,name=v').spec.has('rack')).toBe(false);
    expect(readNameAsPxd('rack=b,name=v').spec.get('rack')?.value).toBe('b');
    expect(readNameAsPxd('size=10,repl=3').spec.size).toBe(0);
  });
});

describe('assertPxdReadsAsChecked', () => {
  const checked = {
    volume: 'a-sec',
    token: JWT,
    spec: new Map([
      ['zz', 'secure=false'],
      ['secure', 'true'],
    ]),
  };

  it('refuses the inline form the proxy used to send, naming the option and where pxd found it', () => {
    const body = { Name: `name=a-sec,token=${JWT},zz=secure=false,secure=true` };
    const err = refusal(() => assertPxdReadsAsChecked('create', body, checked));
    expect(err.code).toBe('PXD_READS_DIFFERENTLY');
    expect(err.message).toContain('"secure"');
    expect(err.message).toContain('inside the value of option "zz"');
  });

  it('refuses block_size= read as size=', () => {
    const body = { Name: `name=a-bs,token=${JWT},block_size=4096` };
    const err = refusal(() =>
      assertPxdReadsAsChecked('create', body, { volume: 'a-bs', token: JWT, spec: new Map([['block_size', '4096']]) }),
    );
    expect(err.message).toMatch(/"size"=.*did not check/);
  });

  it('refuses a token pxd would not read whole, or one it would take from a secret instead', () => {
    const cut = refusal(() =>
      assertPxdReadsAsChecked('mount', { Name: 'name=v,token=a.b.c d' }, { volume: 'v', token: 'a.b.c d', spec: new Map() }),
    );
    expect(cut.message).toContain('another token');
    expect(cut.message).not.toContain('a.b.c');
    const secret = refusal(() =>
      assertPxdReadsAsChecked('mount', { Name: 'name=v,token_secret=x' }, { volume: 'v', token: JWT, spec: new Map() }),
    );
    expect(secret.message).toContain('from a secret reference');
  });

  it('never shows a secret_key value', () => {
    const err = refusal(() =>
      assertPxdReadsAsChecked(
        'mount',
        { Name: `name=v,token=${JWT},secret_key=hunter2-pass` },
        { volume: 'v', token: JWT, spec: new Map() },
      ),
    );
    expect(err.message).not.toContain('hunter2');
  });

  it('reads Opts only without name=, and never for Mount', () => {
    const create = readRequestAsPxd('create', { Name: 'v', Opts: { secure: 'true', token: JWT } });
    expect(create.token).toEqual({ from: 'opts-token', value: JWT });
    expect([...create.spec]).toEqual([['secure', 'true']]);
    expect(readRequestAsPxd('create', { Name: `name=v,token=${JWT}`, Opts: { secure: 'true' } }).spec.size).toBe(0);
    expect(readRequestAsPxd('mount', { Name: 'v', Opts: { token: JWT } }).token).toBeUndefined();
  });
});

describe('createSpec and forwardedBody', () => {
  it('sends Create as a plain name with the options in Opts, as pxd would have read them from the name', () => {
    const parsed = parseName('token_secret=t,nodes=a;b,mount_options=ro;x:y,zz=secure=false,secure=true,name=v1');
    const spec = createSpec(parsed, parseOpts({ size: '10G', token_secret: 'ignored' }));
    const body = forwardedBody('create', { volume: 'v1', token: JWT, spec });
    expect(body).toEqual({
      Name: 'v1',
      Opts: { nodes: 'a,b', mount_options: 'ro,x=y', zz: 'secure=false', secure: 'true', size: '10G', token: JWT },
    });
  });

  it('sends Mount with the token and the passphrase in the name, and refuses a passphrase pxd would cut', () => {
    const parsed = parseName('token_secret=t,secret_key=pass.word,repl=3,name=v1');
    expect(forwardedBody('mount', { volume: 'v1', token: JWT, spec: mountSpec(parsed) }, 'f'.repeat(64))).toEqual({
      Name: `name=v1,token=${JWT},secret_key=pass.word`,
      ID: 'f'.repeat(64),
    });
    const bad = parseName('token_secret=t,secret_key=pass word!,name=v1');
    const err = refusal(() => forwardedBody('mount', { volume: 'v1', token: JWT, spec: mountSpec(bad) }));
    expect(err.code).toBe('PXD_READS_DIFFERENTLY');
    expect(err.message).not.toContain('pass word');
  });

  it('refuses an option given twice with two values, rack with racks, and -o name', () => {
    const parsed = parseName('token_secret=t,repl=3,name=v1');
    expect(refusal(() => createSpec(parsed, parseOpts({ repl: '2' }))).code).toBe('OPTS_INVALID');
    expect(createSpec(parsed, parseOpts({ repl: '3' })).get('repl')).toBe('3');
    expect(refusal(() => createSpec(parseName('rack=a,racks=b,name=v'), new Map())).code).toBe('OPTS_INVALID');
    expect(refusal(() => createSpec(parseName('v'), parseOpts({ name: 'w' }))).code).toBe('OPTS_INVALID');
  });
});

// ---- properties, judged by the pxd double's parser ------------------------------------------------

const PXD_KEYS = [
  'size',
  'block_size',
  'secure',
  'secret_key',
  'repl',
  'fs',
  'nodes',
  'parent',
  'zones',
  'racks',
  'rack',
  'snap_schedule',
  'mount_options',
  'io_profile',
  'shared',
  'sharedv4',
  'name',
  'token',
  'token_secret',
  'labels',
  'zz',
  'sharedv4_svc_name',
];
const fragment = fc.oneof(
  fc.constantFrom(...PXD_KEYS.map((k) => `${k}=`)),
  fc.constantFrom('a', 'Z', '9', '-', '_', '.', ';', ':', '#', '@', '/', '=', 'true', 'false', '4096', JWT),
);
const value = fc.array(fragment, { minLength: 1, maxLength: 5 }).map((p) => p.join('').replaceAll(',', ''));
const options = fc.uniqueArray(fc.tuple(fc.constantFrom(...PXD_KEYS), value), { selector: ([k]) => k, maxLength: 6 });

/** What the double (pxd) reads from a forwarded body: volume, token, and the spec map it applies. */
function doubleReading(
  operation: 'create' | 'mount' | 'remove',
  body: ForwardedBody,
): { volume: string; token?: string; spec: Record<string, string> } {
  const np = specFromString(body.Name);
  const opts = operation === 'mount' ? {} : (body.Opts ?? {});
  const token = getVal(TOKEN_RE, body.Name) ?? opts.token;
  if (np.parsed && np.spec) return { volume: np.name, token, spec: { ...np.spec.spec, ...np.spec.labels } };
  const spec: Record<string, string> = {};
  if (operation === 'create') for (const [k, v] of Object.entries(opts)) if (k !== 'token') spec[k] = v;
  return { volume: np.name, token, spec };
}

describe('properties: for any request the proxy forwards, pxd reads what the proxy checked', () => {
  it('Create, by an inline name with -o options', () => {
    let forwarded = 0;
    fc.assert(
      fc.property(options, options, fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), (inline, dashO, vol) => {
        const raw = [...inline.filter(([k]) => k !== 'name'), ['name', vol]].map(([k, v]) => `${k}=${v}`).join(',');
        let body: ForwardedBody;
        let spec: Map<string, string>;
        try {
          const parsed = parseName(raw);
          spec = createSpec(parsed, parseOpts(Object.fromEntries(dashO)));
          body = forwardedBody('create', { volume: parsed.volumeName, token: JWT, spec });
        } catch (e) {
          if (e instanceof ProxyError) return;
          throw e;
        }
        forwarded++;
        const pxd = doubleReading('create', body);
        expect(pxd.volume).toBe(vol);
        expect(pxd.token).toBe(JWT);
        expect(new Map(Object.entries(pxd.spec))).toEqual(spec);
      }),
      { numRuns: 1500 },
    );
    expect(forwarded).toBeGreaterThan(100);
  });

  it('Mount and Remove, by an inline name', () => {
    let forwarded = 0;
    fc.assert(
      fc.property(
        options,
        fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/),
        fc.constantFrom('mount' as const, 'remove' as const),
        (inline, vol, op) => {
          const raw = [...inline.filter(([k]) => k !== 'name'), ['name', vol]].map(([k, v]) => `${k}=${v}`).join(',');
          let body: ForwardedBody;
          let spec: Map<string, string>;
          try {
            const parsed = parseName(raw);
            spec = op === 'mount' ? mountSpec(parsed) : new Map();
            body = forwardedBody(op, { volume: parsed.volumeName, token: JWT, spec }, op === 'mount' ? '0'.repeat(64) : undefined);
          } catch (e) {
            if (e instanceof ProxyError) return;
            throw e;
          }
          forwarded++;
          const pxd = doubleReading(op, body);
          expect(pxd.volume).toBe(vol);
          expect(pxd.token).toBe(JWT);
          expect(pxd.spec).toEqual(Object.fromEntries(spec));
        },
      ),
      { numRuns: 1000 },
    );
    expect(forwarded).toBeGreaterThan(100);
  });
});

describe("properties: readNameAsPxd is pxd's unanchored leftmost regex per key", () => {
  // The regexes as spec_handler.go writes them, run over the whole Name: the reference the one-pass reader must equal.
  const naive = (name: string) => {
    const get = (re: RegExp) => {
      const m = re.exec(name);
      return m ? { value: m[1]!, at: m.index } : undefined;
    };
    const spec = new Map<string, { value: string; at: number }>();
    const vol = get(/name=([0-9A-Za-z_-]+)/);
    if (vol) {
      for (const [key, cls] of PXD_NAME_KEY_TABLE) {
        if (key === 'rack' && spec.has('racks')) continue;
        const v = get(new RegExp(`${key}=(${cls})`));
        if (v) spec.set(key, v);
      }
    }
    return {
      name: vol?.value,
      token: get(/token=([A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]+\.?[A-Za-z0-9\-_.+/=]+)/),
      tokenSecret: get(/token_secret=\/*([0-9A-Za-z_/]+)/),
      tokenSecretNamespace: get(/token_secret_namespace=\/*([0-9A-Za-z_/]+)/),
      spec,
    };
  };

  it('for any string built from keys, values and separators', () => {
    const piece = fc.oneof(
      fc.constantFrom(...PXD_NAME_KEY_TABLE.map(([k]) => `${k}=`), 'name=', 'token=', 'token_secret=', 'token_secret_namespace=', 'xname='),
      fc.constantFrom('a', 'Z', '9', '-', '_', '.', ',', '/', '//', ';', ':', '#', '@', '=', '+', 'auto', JWT),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const name = parts.join('');
        const got = readNameAsPxd(name);
        const want = naive(name);
        expect(got.name).toEqual(want.name);
        expect(got.token).toEqual(want.token);
        expect(got.tokenSecret).toEqual(want.tokenSecret);
        expect(got.tokenSecretNamespace).toEqual(want.tokenSecretNamespace);
        expect(got.spec).toEqual(want.spec);
      }),
      { numRuns: 3000 },
    );
  });
});
