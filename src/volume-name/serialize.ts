/**
 * Rendering Names for pxd, and rendering untrusted text safely for messages and logs.
 */
import { ProxyError } from '../errors.js';
import {
  NAME_KEY,
  PXD_NAME_RE,
  TOKEN_KEY,
  TOKEN_SECRET_KEY,
  TOKEN_SECRET_NAMESPACE_KEY,
  type ParsedName,
} from './types.js';
import { pxdReadableOrder } from './pxd-values.js';

/** Inline option keys: pxd's keys are all lowercase `[a-z0-9_]`. */
export const KEY_RE = /^[a-z0-9_]+$/;

/** Keys the proxy consumes itself: never forwarded as written by the user. */
const PROXY_KEYS: ReadonlySet<string> = new Set([NAME_KEY, TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY]);

/** Longest piece of user text quoted in a message. */
const QUOTE_MAX = 80;

/** `k=v,k=v`. Refuses what would not read back as the same options (a `,` in a value, an odd key). */
export function serializeOptions(options: ReadonlyArray<readonly [string, string]>): string {
  return options
    .map(([key, value]) => {
      if (!KEY_RE.test(key)) {
        throw new ProxyError(
          'OPTS_INVALID',
          `option ${quote(key)} cannot be written into the volume name: option keys must be lowercase [a-z0-9_]`,
        );
      }
      if (value.includes(',')) {
        throw new ProxyError(
          'OPTS_INVALID',
          `the value of option "${key}" contains ",", which cannot be expressed inside the volume name (commas separate options)`,
        );
      }
      return `${key}=${value}`;
    })
    .join(',');
}

/**
 * The Name sent to pxd on Create/Remove/Mount.
 *
 * pxd finds each key with an unanchored regex and the leftmost match wins, so `name=` goes first
 * (otherwise `sharedv4_svc_name=abc,name=real` reads as `abc`) and `token=` second (nothing before
 * it can then contain `token=`). The user's token keys are dropped: the proxy has resolved them.
 * `extra` carries Opts to merge, because pxd ignores Opts entirely once the Name holds `name=`.
 */
export function forwardNameForPxd(parsed: ParsedName, token: string, extra?: ReadonlyMap<string, string>): string {
  // Defensive: callers run assertExpressibleForPxd first, but never emit a name pxd would cut short.
  if (!PXD_NAME_RE.test(parsed.volumeName)) {
    throw new ProxyError(
      'NAME_UNSUPPORTED',
      `the volume name ${quote(parsed.volumeName)} cannot be sent to pxd: its name= only accepts [0-9A-Za-z_-]`,
    );
  }
  // The token is never quoted; a ',' would end it early inside the Name.
  if (token === '' || token.includes(',')) {
    throw new ProxyError('TOKEN_MALFORMED', 'the token is empty or contains "," and cannot be sent inside the volume name');
  }

  // The user's options, then the Opts to merge; name= and token= are written by hand below.
  const rest: Array<readonly [string, string]> = [];
  const present = new Set<string>();
  for (const [key, value] of parsed.options) {
    present.add(key);
    if (!PROXY_KEYS.has(key)) rest.push([key, value]);
  }
  for (const [key, value] of extra ?? []) {
    if (present.has(key) || PROXY_KEYS.has(key)) continue;
    present.add(key);
    rest.push([key, value]);
  }
  // serializeOptions checks the user's options; its messages can never include the token.
  const tail = serializeOptions(pxdReadableOrder(rest));
  return `${NAME_KEY}=${parsed.volumeName},${TOKEN_KEY}=${token}${tail === '' ? '' : `,${tail}`}`;
}

/** A value after `token=` (pxd's match is unanchored, so any `...token=` counts); stops at delimiters. */
const TOKEN_VALUE_RE = /token=[^,\s"'`;&<>\\]*/gi;
/** Maximal runs of the characters a JWT (or pxd's token class) can contain. */
const JWT_CHARS_RUN_RE = /[A-Za-z0-9_\-.+/=]+/g;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const B64URL_CHAR_RE = /^[A-Za-z0-9_-]$/;
/** A JWT header is base64url JSON (`{"` → `eyJ`) and at least ~19 characters. */
const JWT_HEADER_MIN = 12;
/** For JWT-like strings without `eyJ`: two long base64url parts then a third one. */
const GENERIC_PART_MIN = 16;

/**
 * Replaces token values and JWT-looking substrings with `***`, keeping the rest readable.
 * Works on any string (logs, error messages) and never throws. Linear time: no backtracking
 * regex runs over attacker-sized input.
 */
export function redactName(raw: string): string {
  let s: string;
  try {
    s = typeof raw === 'string' ? raw : String(raw);
  } catch {
    return '***';
  }
  s = s.replace(TOKEN_VALUE_RE, (m) => `${m.slice(0, 'token='.length)}***`);
  return s.replace(JWT_CHARS_RUN_RE, redactRun);
}

/** Redacts from the start of the first JWT-looking part of a run to the end of the run. */
function redactRun(run: string): string {
  if (!run.includes('.')) return run;
  const parts = run.split('.');
  let offset = 0;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    // Only the base64url tail of the part can start a JWT (the run may glue other text before it).
    const tailStart = b64urlTailStart(part);
    const tail = part.slice(tailStart);
    // `eyJ...` followed by a dot: the start of a JWT header.
    const at = tail.indexOf('eyJ');
    if (at >= 0 && tail.length - at >= JWT_HEADER_MIN) {
      return `${run.slice(0, offset + tailStart + at)}***`;
    }
    const next = parts[i + 1]!;
    if (i + 2 < parts.length && tail.length >= GENERIC_PART_MIN && next.length >= GENERIC_PART_MIN && B64URL_RE.test(next)) {
      return `${run.slice(0, offset + tailStart)}***`;
    }
    offset += part.length + 1;
  }
  return run;
}

/** Index where the trailing run of base64url characters of `s` begins. */
function b64urlTailStart(s: string): number {
  let i = s.length;
  while (i > 0 && B64URL_CHAR_RE.test(s[i - 1]!)) i--;
  return i;
}

/**
 * User text for a message: token-redacted, truncated, and reduced to printable ASCII (anything
 * else becomes `\u{...}`) so control, bidi or look-alike characters cannot disguise the message.
 */
export function quote(value: string, max = QUOTE_MAX): string {
  const redacted = redactName(value);
  let out = '';
  let count = 0;
  for (const ch of redacted) {
    if (count >= max) return `"${out}..."`;
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0x20 && cp <= 0x7e) out += ch;
    else out += `\\u{${cp.toString(16).toUpperCase().padStart(4, '0')}}`;
    count++;
  }
  return `"${out}"`;
}

const CHAR_NAMES: Readonly<Record<number, string>> = {
  0x00: 'a NUL',
  0x09: 'a tab',
  0x0a: 'a newline',
  0x0d: 'a carriage return',
  0x20: 'a space',
};

/** `"." (U+002E)`, `a newline (U+000A)`, `U+2215`: never prints a control or look-alike character. */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const u = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = CHAR_NAMES[cp];
  if (name !== undefined) return `${name} (${u})`;
  if (cp > 0x20 && cp < 0x7f) return `"${ch}" (${u})`;
  return `the character ${u}`;
}

/** The first character of `s` not matching the one-character class `allowed`, with its 1-based position. */
export function firstBadChar(s: string, allowed: RegExp): { ch: string; position: number } | undefined {
  // The usual answer, "none", from one test of the whole string rather than one per character.
  if (wholeOf(allowed).test(s)) return undefined;
  let position = 0;
  for (const ch of s) {
    position++;
    if (!allowed.test(ch)) return { ch, position };
  }
  return undefined;
}

/** `^[class]$` (one character) → `^[class]*$` (a whole string of them). */
const WHOLE = new WeakMap<RegExp, RegExp>();
function wholeOf(oneChar: RegExp): RegExp {
  let whole = WHOLE.get(oneChar);
  if (!whole) {
    const m = /^\^(\[.*\])\$$/.exec(oneChar.source);
    // A pattern of another shape never matches here, so every character is tested on its own.
    whole = m ? new RegExp(`^${m[1]}*$`, oneChar.flags) : /(?!)/;
    WHOLE.set(oneChar, whole);
  }
  return whole;
}
