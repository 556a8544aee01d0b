/**
 * How pxd reads a request: the one place that knows pxd's key table.
 *
 * pxd (openstorage api/server/docker.go, api/spec/spec_handler.go) does not tokenize a Name. Each key
 * it knows is found with its own unanchored regex over the whole Name, the leftmost match wins, and
 * the value is whatever that key's character class takes from there. So `size=` is found inside
 * `block_size=`, `secure=` inside any other value, and a value is cut at the first character outside
 * its class. Only when the Name holds no `name=` is the spec taken from Opts, which is an exact map.
 *
 * The proxy never trusts its own rendering of a request: it reads what it is about to forward back
 * through this module, as pxd will, and refuses to forward unless both readings agree.
 */
import { ProxyError } from '../errors.js';
import type { Operation } from '../operations.js';
import { SECRET_KEYS } from '../redact.js';
import { quote } from './serialize.js';
import { NAME_KEY, TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY } from './types.js';

/**
 * Every key SpecOptsFromString reads from a Name, in its order, with the value class of its regex
 * (spec_handler.go; the classes are RE2's, which read the same in JavaScript: `+-=` in createoptions
 * is the range U+002B..U+003D, commas included, as in Go).
 */
export const PXD_NAME_KEY_TABLE: ReadonlyArray<readonly [key: string, valueClass: string]> = [
  ['size', '[0-9A-Za-z]+'],
  ['nodes', '[A-Za-z0-9\\-_;]+'],
  ['parent', '[A-Za-z]+'],
  ['scale', '[0-9]+'],
  ['fs', '[0-9A-Za-z]+'],
  ['block_size', '[0-9]+'],
  ['queue_depth', '[0-9]+'],
  ['repl', '[0-9]+'],
  ['io_priority', '[A-Za-z]+'],
  ['shared', '[A-Za-z]+'],
  ['journal', '[A-Za-z]+'],
  ['sharedv4', '[A-Za-z]+'],
  ['cascaded', '[A-Za-z]+'],
  ['sticky', '[A-Za-z]+'],
  ['secure', '[A-Za-z]+'],
  ['secret_key', '[0-9A-Za-z_@./#&+\\-]+'],
  ['zones', '[A-Za-z]+'],
  ['racks', '[A-Za-z]+'],
  ['rack', '[A-Za-z]+'],
  ['aggregation_level', '[0-9]+|auto'],
  ['compressed', '[A-Za-z]+'],
  ['snap_schedule', '[A-Za-z0-9:;@=#]+'],
  ['io_profile', '[0-9A-Za-z_\\-]+'],
  ['nearsync', '[A-Za-z]+'],
  ['nearsync_replication_strategy', '[A-Za-z]+'],
  ['async_io', '[A-Za-z]+'],
  ['early_ack', '[A-Za-z]+'],
  ['force_unsupported_fs_type', '[A-Za-z]+'],
  ['nodiscard', '[A-Za-z]+'],
  ['auto_fstrim', '[A-Za-z]+'],
  ['storagepolicy', '[0-9A-Za-z_\\-]+'],
  ['export', '[A-Za-z]+'],
  ['export_options', '[A-Za-z]+'],
  ['proxy_endpoint', '[0-9A-Za-z_@:./#&+\\-]+'],
  ['proxy_nfs_subpath', '[A-Za-z]+'],
  ['proxy_nfs_exportpath', '[A-Za-z]+'],
  ['proxy_s3_bucket', '[A-Za-z]+'],
  ['mount_options', '[A-Za-z0-9:;@=#]+'],
  ['sharedv4_mount_options', '[A-Za-z0-9:;@=#]+'],
  ['cow_ondemand', '[A-Za-z]+'],
  ['direct_io', '[A-Za-z]+'],
  ['proxy_write', '[A-Za-z]+'],
  ['sharedv4_svc_type', '[A-Za-z]+'],
  ['sharedv4_external_access', '[A-Za-z]+'],
  ['sharedv4_failover_strategy', '[A-Za-z]+'],
  ['fastpath', '[A-Za-z]+'],
  ['winshare', '[A-Za-z]+'],
  ['readahead', '[A-Za-z]+'],
  ['io_throttle_rd_iops', '[0-9]+'],
  ['io_throttle_wr_iops', '[0-9]+'],
  ['io_throttle_rd_bw', '[0-9]+'],
  ['io_throttle_wr_bw', '[0-9]+'],
  ['createoptions', '[0-9A-Za-z_@:./#&+-=]+'],
];

/** The keys pxd reads outside the spec: the volume name and where the token comes from. */
const NAME_VALUE = '[0-9A-Za-z_-]+';
const TOKEN_VALUE = '[A-Za-z0-9\\-_=]+\\.[A-Za-z0-9\\-_=]+\\.?[A-Za-z0-9\\-_.+/=]+';
/** pxd drops leading `/` of a secret path (`=/*(...)`). */
const SECRET_PATH_VALUE = '[0-9A-Za-z_/]+';

interface KeyReader {
  key: string;
  /** `(class)` anchored where a `key=` ends: pxd's unanchored `key=(class)`, tried at each `=`. */
  value: RegExp;
  /** The whole value matches the class: pxd would read it back entire. */
  whole: RegExp;
  valueClass: string;
}

function reader(key: string, valueClass: string, lead = ''): KeyReader {
  return { key, value: new RegExp(`${lead}(${valueClass})`, 'y'), whole: new RegExp(`^(?:${valueClass})$`), valueClass };
}

const READERS: readonly KeyReader[] = PXD_NAME_KEY_TABLE.map(([key, valueClass]) => reader(key, valueClass));
const NAME_READER = reader('name', NAME_VALUE);
const TOKEN_READER = reader('token', TOKEN_VALUE);
const TOKEN_SECRET_READER = reader('token_secret', SECRET_PATH_VALUE, '\\/*');
const TOKEN_SECRET_NAMESPACE_READER = reader('token_secret_namespace', SECRET_PATH_VALUE, '\\/*');

const READER_BY_KEY: ReadonlyMap<string, KeyReader> = new Map(READERS.map((r) => [r.key, r]));

/** Keys pxd reads from a Name into the spec. */
export const PXD_NAME_SPEC_KEYS: ReadonlySet<string> = new Set(READERS.map((r) => r.key));

/**
 * Options that name another pxd volume: `parent` makes Create a clone of it (docker.go create →
 * SdkVolumeClone{ParentId}). Every volume a request touches passes the same policy as its own name.
 */
export const PXD_VOLUME_REFERENCE_KEYS: readonly string[] = ['parent'];

/** Keys whose value is never shown (token, openstorage's SpecPassphrase `secret_key`, ...): src/redact.ts decides. */
export const PXD_SECRET_VALUE_KEYS: ReadonlySet<string> = new Set(SECRET_KEYS);

/**
 * pxd's rewrite of a value read from a Name into the Opts form UpdateSpecFromOpts takes
 * (`nodes=a;b` → `a,b`, `mount_options=k1;k2:v2` → `k1,k2=v2`, `snap_schedule=...#...` → `...,...`).
 */
export function nameValueToOptsValue(key: string, value: string): string {
  switch (key) {
    case 'nodes':
      return value.replaceAll(';', ',');
    case 'snap_schedule':
      return value.replaceAll('#', ',');
    case 'mount_options':
    case 'sharedv4_mount_options':
      return value.replaceAll(':', '=').replaceAll(';', ',');
    default:
      return value;
  }
}

/** A value pxd found in a Name, and where (the index of its `key=`). */
export interface FoundValue {
  value: string;
  at: number;
}

/** What pxd reads from a Name alone. */
export interface PxdNameReading {
  /** The `name=` capture; undefined when the Name holds none (pxd then takes the whole Name as the volume name). */
  name?: string;
  token?: FoundValue;
  tokenSecret?: FoundValue;
  tokenSecretNamespace?: FoundValue;
  /** SpecOptsFromString's map, raw (before pxd's rewrites); empty when there is no `name=`. */
  spec: Map<string, FoundValue>;
}

/**
 * pxd's leftmost match of `key=(class)`: the first `=` (in `eqs`, ascending) that ends the text `key`
 * and is followed by at least one character of the class. The same answer as running the unanchored
 * regex over the whole Name, from one pass over its few `=` instead of one scan per key.
 */
function find(r: KeyReader, name: string, eqs: readonly number[]): FoundValue | undefined {
  for (const eq of eqs) {
    const at = eq - r.key.length;
    if (at < 0 || !name.startsWith(r.key, at)) continue;
    r.value.lastIndex = eq + 1;
    const m = r.value.exec(name);
    if (m) return { value: m[1]!, at };
  }
  return undefined;
}

/** SpecOptsFromString, GetTokenFromString and GetTokenSecretContextFromString over one Name. */
export function readNameAsPxd(name: string): PxdNameReading {
  const reading: PxdNameReading = { spec: new Map() };
  const eqs: number[] = [];
  for (let i = name.indexOf('='); i >= 0; i = name.indexOf('=', i + 1)) eqs.push(i);
  const token = find(TOKEN_READER, name, eqs);
  if (token) reading.token = token;
  const secret = find(TOKEN_SECRET_READER, name, eqs);
  if (secret) reading.tokenSecret = secret;
  const ns = find(TOKEN_SECRET_NAMESPACE_READER, name, eqs);
  if (ns) reading.tokenSecretNamespace = ns;
  const vol = find(NAME_READER, name, eqs);
  if (!vol) return reading;
  reading.name = vol.value;
  for (const r of READERS) {
    // `rack` is read only when `racks` is not there.
    if (r.key === 'rack' && reading.spec.has('racks')) continue;
    const v = find(r, name, eqs);
    if (v) reading.spec.set(r.key, v);
  }
  return reading;
}

/** A request as forwarded to pxd. */
export interface ForwardedBody {
  Name: string;
  Opts?: Record<string, string>;
  ID?: string;
}

/** The calls pxd reads a token from (the same three the proxy authorises). */
export type PxdOperation = Operation;

/** What pxd does with a request, in the terms the proxy checked. */
export interface PxdRequestReading {
  volume: string;
  /** Where pxd takes its token from, and the token it would send to its auth layer. */
  token: { from: 'name-token' | 'opts-token' | 'name-secret' | 'opts-secret-as-token'; value: string } | undefined;
  /** The spec options pxd applies, in Opts form (after its rewrites), labels included. */
  spec: Map<string, string>;
  /** Where each spec option was found, for messages. */
  foundAt: Map<string, number>;
}

/**
 * docker.go's reading of a Create, Remove or Mount: the volume name, the token by pxd's precedence
 * (Mount has no Opts), and for Create the spec: from the Name when it holds `name=`, else from Opts.
 */
export function readRequestAsPxd(operation: PxdOperation, body: ForwardedBody): PxdRequestReading {
  const fromName = readNameAsPxd(body.Name);
  const opts = operation === 'mount' ? {} : (body.Opts ?? {});
  let token: PxdRequestReading['token'];
  if (fromName.token) token = { from: 'name-token', value: fromName.token.value };
  else if (typeof opts[TOKEN_KEY] === 'string' && opts[TOKEN_KEY] !== '') token = { from: 'opts-token', value: opts[TOKEN_KEY] };
  else if (fromName.tokenSecret) token = { from: 'name-secret', value: fromName.tokenSecret.value };
  else if (typeof opts[TOKEN_SECRET_KEY] === 'string' && opts[TOKEN_SECRET_KEY] !== '')
    token = { from: 'opts-secret-as-token', value: opts[TOKEN_SECRET_KEY] };

  const spec = new Map<string, string>();
  const foundAt = new Map<string, number>();
  if (fromName.name !== undefined) {
    for (const [key, found] of fromName.spec) {
      spec.set(key, nameValueToOptsValue(key, found.value));
      foundAt.set(key, found.at);
    }
  } else if (operation === 'create') {
    for (const [key, value] of Object.entries(opts)) if (key !== TOKEN_KEY) spec.set(key, value);
  }
  return { volume: fromName.name ?? body.Name, token, spec, foundAt };
}

/** What the proxy checked and means pxd to do. */
export interface CheckedRequest {
  volume: string;
  token: string;
  /** The spec options, in Opts form. */
  spec: ReadonlyMap<string, string>;
}

/** A value for a message: never the value of a key pxd keeps secret. */
function shownValue(key: string, value: string): string {
  return PXD_SECRET_VALUE_KEYS.has(key) ? '(hidden)' : quote(value, 40);
}

/** The option of the Name in which index `at` falls, for messages (`inside the value of "zz"`). */
function whereIn(name: string, at: number | undefined): string {
  if (at === undefined) return '';
  const start = name.lastIndexOf(',', at) + 1;
  const eq = name.indexOf('=', start);
  const owner = eq > start ? name.slice(start, eq) : '';
  return at > start && owner !== '' ? ` (found inside the value of option ${quote(owner, 40)})` : '';
}

/**
 * Refuses to forward unless pxd reads `body` as `checked`: the same volume, the same token, the same
 * value for every option, and nothing else. The code is PXD_READS_DIFFERENTLY; the message names the
 * option. Values of secret keys and tokens are never shown.
 */
export function assertPxdReadsAsChecked(operation: PxdOperation, body: ForwardedBody, checked: CheckedRequest): void {
  const reading = readRequestAsPxd(operation, body);
  const refuse = (what: string): never => {
    throw new ProxyError('PXD_READS_DIFFERENTLY', `${what}; the request was not forwarded`, { volume: checked.volume });
  };
  if (reading.volume !== checked.volume) {
    refuse(`pxd would read the volume name as ${quote(reading.volume, 60)}, not ${quote(checked.volume, 60)}`);
  }
  if (!reading.token) refuse('pxd would find no token in the request');
  if (reading.token!.from === 'name-secret' || reading.token!.from === 'opts-secret-as-token') {
    refuse('pxd would take the token from a secret reference, not from the token the proxy verified');
  }
  if (reading.token!.value !== checked.token) refuse('pxd would read another token than the one the proxy verified');
  // A second way to a token (token_secret) that pxd would not use is still more than was checked.
  if (readNameAsPxd(body.Name).tokenSecret) refuse('pxd would also find a token_secret= in the forwarded name');
  // First what pxd reads that differs or was never checked (it names where pxd found it), then what it misses.
  for (const [key, value] of reading.spec) {
    const want = checked.spec.get(key);
    if (want === value) continue;
    const where = whereIn(body.Name, reading.foundAt.get(key));
    if (want === undefined)
      refuse(`pxd would read option ${quote(key, 40)}=${shownValue(key, value)}, which the proxy did not check${where}`);
    const reader = READER_BY_KEY.get(key);
    const cut = reader && !reader.whole.test(want!) ? ` (pxd reads ${key} in a volume name as ${reader.valueClass})` : '';
    refuse(`pxd would read option ${quote(key, 40)} as ${shownValue(key, value)}, not ${shownValue(key, want!)}${cut}${where}`);
  }
  for (const key of checked.spec.keys()) {
    if (!reading.spec.has(key)) refuse(`pxd would not read option ${quote(key, 40)}`);
  }
}

/** The class pxd reads `key` with inside a Name, or undefined for a key pxd does not read there. */
export function pxdNameValueClass(key: string): { valueClass: string; reads: (value: string) => boolean } | undefined {
  const r = READER_BY_KEY.get(key);
  return r ? { valueClass: r.valueClass, reads: (v) => r.whole.test(v) } : undefined;
}

/** The keys that name the proxy's own inputs and never reach pxd as written. */
export const PROXY_KEYS: ReadonlySet<string> = new Set([NAME_KEY, TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY]);
