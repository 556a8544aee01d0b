/**
 * Docker's `Opts` (`-o k=v`, `--volumeopts`): `null` without options, else an object of strings.
 */
import { ProxyError } from '../errors.js';
import { DEFAULT_MAX_TOKEN_LENGTH, type NameLimits } from './parse.js';
import { quote } from './serialize.js';
import { TOKEN_KEY } from './types.js';

/** Validates Opts into an ordered map. Throws only ProxyError (OPTS_INVALID, TOKEN_TOO_LARGE). */
export function parseOpts(opts: unknown, limits: Pick<NameLimits, 'maxTokenLength'> = {}): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (opts === null || opts === undefined) return out;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    const kind = describeType(opts);
    throw new ProxyError('OPTS_INVALID', `the volume options must be an object of strings, not ${kind}`);
  }
  let entries: Array<[string, unknown]>;
  try {
    entries = Object.entries(opts);
  } catch (e) {
    // Only reachable with exotic objects (never from JSON); keep the contract: ProxyError only.
    throw new ProxyError('OPTS_INVALID', 'the volume options could not be read', {}, { cause: e });
  }
  const maxToken = limits.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  for (const [key, value] of entries) {
    if (key === '') {
      throw new ProxyError('OPTS_INVALID', 'a volume option has an empty key');
    }
    if (typeof value !== 'string') {
      throw new ProxyError('OPTS_INVALID', `volume option ${quote(key)} must be a string, not ${describeType(value)}`);
    }
    if (key === TOKEN_KEY && value.length > maxToken) {
      throw new ProxyError('TOKEN_TOO_LARGE', `the token option is ${value.length} characters long; at most ${maxToken} are accepted`);
    }
    out.set(key, value);
  }
  return out;
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' || t === 'undefined' ? `an ${t}` : `a ${t}`;
}
