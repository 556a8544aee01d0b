/**
 * What the proxy sends pxd for an authenticated call, built from what it checked and read back as
 * pxd will read it (pxd-reading.ts) before it leaves.
 *
 * - Create goes as a plain Name with the spec and the token in Opts. pxd then reads no option out
 *   of the Name at all, and Opts is an exact map: no regex can find a key inside another's value,
 *   and no value is cut at a character outside its class. An inline spec's options are moved there
 *   in the form pxd would have given them (`nodes=a;b` → `a,b`).
 * - Mount must carry the token inside the Name (pxd's Mount reads nothing else), so it goes as
 *   `name=<volume>,token=<jwt>`, plus `secret_key=` when the Docker name holds one (pxd takes the
 *   passphrase for the attach from there). Remove goes the same way, without options.
 */
import { ProxyError } from '../errors.js';
import { quote } from './serialize.js';
import {
  PROXY_KEYS,
  assertPxdReadsAsChecked,
  nameValueToOptsValue,
  pxdNameValueClass,
  type CheckedRequest,
  type ForwardedBody,
  type PxdOperation,
} from './pxd-reading.js';
import { NAME_KEY, TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY, type ParsedName } from './types.js';

/** Keys the proxy reads itself from Opts: never forwarded as given. */
const PROXY_OPTS_KEYS: ReadonlySet<string> = new Set([TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY]);

/** Options pxd applies in an order Go's map iteration leaves to chance: one of each pair only. */
const EXCLUSIVE: ReadonlyArray<readonly [string, string]> = [
  ['rack', 'racks'],
  ['io_priority', 'priority_io'],
];

/**
 * The spec a Create asks pxd for, in Opts form: the inline options (rewritten as pxd reads them from
 * a Name) and the -o options, with the proxy's own keys taken out. Refuses an option given twice
 * with two values, and a pair pxd applies in random order.
 */
export function createSpec(parsed: ParsedName, opts: ReadonlyMap<string, string>): Map<string, string> {
  const spec = new Map<string, string>();
  const from = new Map<string, string>();
  for (const [key, value] of parsed.options) {
    if (PROXY_KEYS.has(key)) continue;
    spec.set(key, nameValueToOptsValue(key, value));
    from.set(key, `${key}= in the volume name`);
  }
  for (const [key, value] of opts) {
    if (key === NAME_KEY) {
      // The volume is the one given to docker: pxd could otherwise store another name than the one checked.
      throw new ProxyError(
        'OPTS_INVALID',
        `-o name=... is not accepted for volume ${parsed.volumeName}: the volume name is the one given to docker (--name)`,
        { volume: parsed.volumeName },
      );
    }
    if (PROXY_OPTS_KEYS.has(key)) continue;
    const inName = spec.get(key);
    if (inName !== undefined && inName !== value) {
      throw new ProxyError(
        'OPTS_INVALID',
        `option ${quote(key, 40)} is given both in the volume name and with -o, with different values; give it once`,
        { volume: parsed.volumeName },
      );
    }
    spec.set(key, value);
    from.set(key, `-o ${key}`);
  }
  for (const [a, b] of EXCLUSIVE) {
    if (spec.has(a) && spec.has(b)) {
      throw new ProxyError(
        'OPTS_INVALID',
        `${from.get(a)} and ${from.get(b)} are both given; pxd applies them in no fixed order, so give only one`,
        { volume: parsed.volumeName },
      );
    }
  }
  return spec;
}

/** The options a Mount of this Docker name carries to pxd: the passphrase, when the name holds one. */
export function mountSpec(parsed: ParsedName): Map<string, string> {
  const spec = new Map<string, string>();
  for (const [key, value] of parsed.options) if (key === 'secret_key') spec.set(key, value);
  return spec;
}

/**
 * The body for pxd, read back as pxd reads it: throws PXD_READS_DIFFERENTLY (naming the option)
 * unless pxd would see exactly `checked`.
 */
export function forwardedBody(operation: PxdOperation, checked: CheckedRequest, id?: string): ForwardedBody {
  // The token is never quoted; a ',' would end it early inside the Name.
  if (checked.token === '' || (operation !== 'create' && checked.token.includes(','))) {
    throw new ProxyError('TOKEN_MALFORMED', 'the token is empty or contains "," and cannot be sent inside the volume name', {
      volume: checked.volume,
    });
  }
  let body: ForwardedBody;
  if (operation === 'create') {
    body = { Name: checked.volume, Opts: { ...Object.fromEntries(checked.spec), [TOKEN_KEY]: checked.token } };
  } else {
    let name = `${NAME_KEY}=${checked.volume},${TOKEN_KEY}=${checked.token}`;
    for (const [key, value] of checked.spec) {
      const cls = pxdNameValueClass(key);
      if (!cls || !cls.reads(value)) {
        // Never quoted: secret_key is a passphrase.
        throw new ProxyError(
          'PXD_READS_DIFFERENTLY',
          `${key}= in the volume name: pxd reads it at ${operation} as ${cls?.valueClass ?? 'nothing'} and would cut this value short; give the volume a plain name and pass ${key} with -o instead`,
          { volume: checked.volume },
        );
      }
      name += `,${key}=${value}`;
    }
    body = { Name: name };
    if (id !== undefined) body.ID = id;
  }
  assertPxdReadsAsChecked(operation, body, checked);
  return body;
}
