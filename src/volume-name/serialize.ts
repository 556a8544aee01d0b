/**
 * Rendering Names for pxd, and rendering untrusted text safely for messages and logs.
 */
import { ProxyError } from '../errors.js';
import { redact } from '../redact.js';

/** Inline option keys: pxd's keys are all lowercase `[a-z0-9_]`. */
export const KEY_RE = /^[a-z0-9_]+$/;

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
 * A volume name (or any text) with its secrets replaced by `***`: the values of `token=`,
 * `secret_key=` and the other secret keys wherever they occur, and JWT-looking runs. The rule is
 * src/redact.ts, the same one the logs, error texts and the state file use. Never throws; linear time.
 */
export function redactName(raw: string): string {
  return redact(raw);
}

/**
 * User text for a message: redacted (src/redact.ts), truncated, and reduced to printable ASCII (anything
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
