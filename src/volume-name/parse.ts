/**
 * The volume-name tokenizer. Docker passes the Name verbatim (an inline spec such as
 * `token_secret=pwx/secrets/user1-token,repl=3,name=myvol1`, or a bare name). Unlike pxd's
 * unanchored per-key regexes, this reads the Name strictly, piece by piece, so the proxy and the
 * user agree on what every option is.
 */
import { ProxyError } from '../errors.js';
import { KEY_RE, describeChar, firstBadChar, quote } from './serialize.js';
import { NAME_KEY, TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY, type ParsedName } from './types.js';

export interface NameLimits {
  /** Longest volume name accepted for pxd (default 191: 255 minus the 64 hex ID pxd appends to the mount dir). */
  maxNameLength?: number;
  /** Longest inline/Opts token accepted (default 16384). */
  maxTokenLength?: number;
}

export const DEFAULT_MAX_NAME_LENGTH = 191;
export const DEFAULT_MAX_TOKEN_LENGTH = 16384;

const PXD_NAME_CHAR_RE = /^[0-9A-Za-z_-]$/;

/**
 * Parses a Docker volume Name. A Name without `=` is a bare name and is accepted whatever it holds
 * (Get/List/Path/Unmount pass it through); a Name with `=` must be a well-formed inline spec holding
 * `name=`. Throws only ProxyError; messages never contain a token.
 */
export function parseName(raw: string, limits: NameLimits = {}): ParsedName {
  if (typeof raw !== 'string') {
    throw new ProxyError('NAME_INVALID', 'the volume name is not a string');
  }
  if (!raw.includes('=')) {
    return { raw, inline: false, volumeName: raw, options: [] };
  }
  const maxToken = limits.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;

  const options: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  const pieces = raw.split(',');
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    // Name the position, and the previous key, rather than quoting values (which may be tokens).
    const at = (): string => {
      const previous = options[i - 1]?.[0];
      return `option ${i + 1} of ${pieces.length}${previous === undefined ? '' : ` (after "${previous}")`}`;
    };
    if (piece === '') {
      const why = i === 0 ? 'a leading comma' : i === pieces.length - 1 ? 'a trailing comma' : 'two commas in a row';
      throw new ProxyError('NAME_INVALID', `${at()} in the volume name is empty (${why}); write options as key=value,key=value`);
    }
    const eq = piece.indexOf('=');
    if (eq < 0) {
      throw new ProxyError(
        'NAME_INVALID',
        `${at()} in the volume name has no "="; inline options are key=value separated by commas, and values cannot contain ","`,
      );
    }
    // Split at the first '=': values may hold '=' (base64 padding).
    const key = piece.slice(0, eq);
    const value = piece.slice(eq + 1);
    if (!KEY_RE.test(key)) {
      throw new ProxyError(
        'NAME_INVALID',
        `${at()} in the volume name has the key ${quote(key)}; option keys are lowercase letters, digits and "_" (e.g. size, repl, token_secret, name)`,
      );
    }
    if (value === '') {
      throw new ProxyError('NAME_INVALID', `option "${key}" in the volume name has an empty value`);
    }
    if (seen.has(key)) {
      throw new ProxyError('NAME_DUPLICATE_KEY', `option "${key}" is given twice in the volume name`);
    }
    if (key === TOKEN_KEY && value.length > maxToken) {
      throw new ProxyError(
        'TOKEN_TOO_LARGE',
        `the inline token in the volume name is ${value.length} characters long; at most ${maxToken} are accepted`,
      );
    }
    seen.add(key);
    options.push([key, value]);
  }

  const get = (k: string): string | undefined => options.find(([key]) => key === k)?.[1];
  const volumeName = get(NAME_KEY);
  if (volumeName === undefined) {
    throw new ProxyError(
      'NAME_INVALID',
      'the volume name has inline options but no name=<volume>; add name=<volume> (pxd would otherwise use the whole string, options and token included, as the volume name)',
    );
  }
  const bad = firstBadChar(volumeName, PXD_NAME_CHAR_RE);
  if (bad) {
    const cut = volumeName.slice(0, volumeName.indexOf(bad.ch));
    throw new ProxyError(
      'NAME_UNSUPPORTED',
      `the name= value ${quote(volumeName)} contains ${describeChar(bad.ch)} at position ${bad.position}; ` +
        `pxd reads only [0-9A-Za-z_-] after name= and would ${cut === '' ? 'find no volume name' : `take the volume name to be ${quote(cut)}`}`,
      { volume: quote(volumeName).slice(1, -1) },
    );
  }

  const parsed: ParsedName = { raw, inline: true, volumeName, options };
  const token = get(TOKEN_KEY);
  const tokenSecret = get(TOKEN_SECRET_KEY);
  const tokenSecretNamespace = get(TOKEN_SECRET_NAMESPACE_KEY);
  if (token !== undefined) parsed.token = token;
  if (tokenSecret !== undefined) parsed.tokenSecret = tokenSecret;
  if (tokenSecretNamespace !== undefined) parsed.tokenSecretNamespace = tokenSecretNamespace;
  return parsed;
}

/**
 * For Create/Remove/Mount: the proxy must send `name=<volume>,token=...`, so the volume name has to
 * be something pxd's `name=([0-9A-Za-z_-]+)` reads whole, and short enough for pxd's mount dir.
 */
export function assertExpressibleForPxd(parsed: ParsedName, limits: NameLimits = {}): void {
  const maxName = limits.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  const name = parsed.volumeName;
  if (name === '') {
    throw new ProxyError('NAME_UNSUPPORTED', 'the volume name is empty', { volume: '' });
  }
  const bad = firstBadChar(name, PXD_NAME_CHAR_RE);
  if (bad || name.length > maxName) {
    const details = { volume: quote(name).slice(1, -1) };
    if (bad) {
      throw new ProxyError(
        'NAME_UNSUPPORTED',
        `the volume name ${quote(name)} contains ${describeChar(bad.ch)} at position ${bad.position}; ` +
          "to authenticate it the proxy must send name=<volume>,token=... to pxd, and pxd's name= only accepts [0-9A-Za-z_-]",
        details,
      );
    }
    throw new ProxyError(
      'NAME_UNSUPPORTED',
      `the volume name is ${name.length} characters long; at most ${maxName} are accepted ` +
        '(pxd appends a 64-character ID to it for the mount directory, whose name is limited to 255)',
      details,
    );
  }
}
