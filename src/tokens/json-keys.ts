/**
 * The object keys of a JWT header or payload, checked the way pxd's Go decoder would see them.
 *
 * JSON.parse (and so jose) keeps the last of two equal keys without a word, and Go's encoding/json,
 * decoding the payload into pxd's Claims struct, matches a key to a field exactly first and then
 * case-insensitively (`fields.byExactName`, then `fields.byFoldedName[foldName(key)]`, decode.go), the
 * last match winning. A signed payload `{"sub":"id/eve","SUB":"id/alice"}` is eve for us and alice for
 * pxd. This scanner finds, in one linear pass over the exact JSON text:
 *   - a key given twice in any object, at any depth (compared after unescaping: `"s\u0075b"` is `"sub"`;
 *     lone surrogates become U+FFFD, as Go's decoder makes them),
 *   - optionally, two top-level keys equal under Go's case folding,
 *   - nesting deeper than a bound (the scanner keeps its own stack: no recursion).
 *
 * Go's folding (encoding/json fold.go since Go 1.21; bytes.EqualFold / equalFoldRight before): ASCII
 * letters fold to one case, any other rune to the smallest rune of its unicode.SimpleFold orbit, i.e.
 * Unicode simple case folding (CaseFolding.txt C+S). So the Kelvin sign K (U+212A) equals `k`, the long
 * s ſ (U+017F) equals `s` (`"ſub"` is `sub` to pxd), µ/Μ/μ are one letter, and the dotless ı (U+0131)
 * and dotted İ (U+0130) fold only to themselves. JavaScript's case-insensitive Unicode regular
 * expressions (`/iu`) compare by the same simple folding; they check every non-ASCII fold below.
 *
 * The text is JSON that JSON.parse has accepted; anything this scanner does not expect is reported as a
 * syntax problem all the same.
 */

export type JsonKeyProblem =
  /** `key` appears twice in one object; `within` names the top-level key it is nested under, if any. */
  | { kind: 'duplicate'; key: string; within?: string }
  /** Two distinct top-level keys that Go's case folding makes equal, in the order they appear. */
  | { kind: 'fold'; first: string; second: string }
  | { kind: 'depth'; limit: number }
  | { kind: 'syntax' };

export interface JsonKeyOptions {
  /** Also refuse top-level keys equal under Go's case folding (a JWT payload). */
  foldTopLevel: boolean;
  /** Objects and arrays nested deeper than this are a problem (the top-level object is depth 1). */
  maxDepth: number;
}

interface Frame {
  object: boolean;
  /** Objects: the next string is a key (after `{` or `,`). */
  expectKey: boolean;
  keys?: Set<string>;
  /** Top-level object with folding: folded key → the key as first seen. */
  folded?: Map<string, string>;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The first problem of the keys of `text`, or undefined. Linear in the length of `text`. */
export function findJsonKeyProblem(text: string, opts: JsonKeyOptions): JsonKeyProblem | undefined {
  const stack: Frame[] = [];
  const foldCache = new Map<number, string>();
  let topKey: string | undefined;
  let seenRoot = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x20: // space
      case 0x09: // \t
      case 0x0a: // \n
      case 0x0d: // \r
      case 0x3a: // :  (keys are told apart by position: after `{` or `,` in an object)
        i++;
        break;
      case 0x7b: // {
      case 0x5b: {
        // [
        if (stack.length === 0) {
          if (seenRoot) return { kind: 'syntax' };
          seenRoot = true;
        }
        if (stack.length >= opts.maxDepth) return { kind: 'depth', limit: opts.maxDepth };
        const object = c === 0x7b;
        const frame: Frame = { object, expectKey: object };
        if (object) frame.keys = new Set();
        if (object && stack.length === 0 && opts.foldTopLevel) frame.folded = new Map();
        stack.push(frame);
        i++;
        break;
      }
      case 0x7d: // }
      case 0x5d: {
        // ]
        const frame = stack.pop();
        if (!frame || frame.object !== (c === 0x7d)) return { kind: 'syntax' };
        i++;
        break;
      }
      case 0x2c: {
        // ,
        const frame = stack[stack.length - 1];
        if (!frame) return { kind: 'syntax' };
        if (frame.object) frame.expectKey = true;
        i++;
        break;
      }
      case 0x22: {
        // "
        const end = stringEnd(text, i);
        if (end < 0) return { kind: 'syntax' };
        const frame = stack[stack.length - 1];
        if (frame?.object && frame.expectKey) {
          frame.expectKey = false;
          const key = decodeKey(text.slice(i, end));
          if (key === undefined) return { kind: 'syntax' };
          const keys = frame.keys as Set<string>;
          if (keys.has(key)) return stack.length === 1 ? { kind: 'duplicate', key } : { kind: 'duplicate', key, within: topKey };
          keys.add(key);
          if (frame.folded) {
            const f = goFold(key, foldCache);
            const first = frame.folded.get(f);
            if (first !== undefined) return { kind: 'fold', first, second: key };
            frame.folded.set(f, key);
          }
          if (stack.length === 1) topKey = key;
        } else if (stack.length === 0) {
          if (seenRoot) return { kind: 'syntax' };
          seenRoot = true;
        }
        i = end;
        break;
      }
      default:
        // A number or a literal: skip to the next delimiter.
        if (stack.length === 0) {
          if (seenRoot) return { kind: 'syntax' };
          seenRoot = true;
        }
        i++;
        while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
        break;
    }
  }
  return stack.length === 0 && seenRoot ? undefined : { kind: 'syntax' };
}

/** Index just past the closing quote of the string starting at `start` (a `"`), or -1. */
function stringEnd(text: string, start: number): number {
  const n = text.length;
  let i = start + 1;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x5c)
      i += 2; // a backslash escapes the next character (\uXXXX: its hex digits are plain)
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return -1;
}

/** The key as a decoder sees it: unescaped, lone surrogates replaced by U+FFFD (as Go does). */
function decodeKey(literal: string): string | undefined {
  try {
    const key: unknown = JSON.parse(literal);
    return typeof key === 'string' ? key.replace(LONE_SURROGATE, '\uFFFD') : undefined;
  } catch {
    return undefined;
  }
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x3a || c === 0x22;
}

/**
 * A key folded so that goFold(a) === goFold(b) exactly when Go's encoding/json takes a and b for the
 * same field name (Unicode simple case folding, code point by code point).
 */
export function goFold(key: string, cache: Map<number, string> = new Map()): string {
  let out = '';
  for (const ch of key) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x80) {
      out += cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 0x20) : ch;
      continue;
    }
    let f = cache.get(cp);
    if (f === undefined) {
      f = foldRune(ch);
      cache.set(cp, f);
    }
    out += f;
  }
  return out;
}

/**
 * Letters that simple folding makes one (CaseFolding.txt `S` lines of Unicode 14+) while both case
 * mappings of each are several code points, so that neither candidate below reaches the other. An
 * exhaustive comparison of this fold with `/iu` over all code points finds no other such pair.
 */
const FOLD_PAIRS: Readonly<Record<string, string>> = Object.freeze({
  '\u1FD3': '\u0390', // ΐ GREEK SMALL LETTER IOTA WITH DIALYTIKA AND OXIA → ... AND TONOS
  '\u1FE3': '\u03B0', // ΰ GREEK SMALL LETTER UPSILON WITH DIALYTIKA AND OXIA → ... AND TONOS
  '\uFB05': '\uFB06', // ﬅ LATIN SMALL LIGATURE LONG S T → ﬆ LATIN SMALL LIGATURE ST
});

/**
 * One representative of the simple case folding class of `ch`: the lower case of its upper case (K,
 * ſ, ς, ϑ, µ... all reach the lower case letter of their class) when that is one code point of the same
 * class, else its lower case on the same terms, else itself. The `/iu` test keeps out what full case
 * mapping adds to simple folding (ı upper-cases to I, but ı and i are not one letter to Go).
 */
function foldRune(ch: string): string {
  const pair = FOLD_PAIRS[ch];
  if (pair !== undefined) return pair;
  const same = new RegExp(`^\\u{${(ch.codePointAt(0) as number).toString(16)}}$`, 'iu');
  for (const candidate of [ch.toUpperCase().toLowerCase(), ch.toLowerCase()]) {
    if (candidate !== ch && [...candidate].length === 1 && same.test(candidate)) return candidate;
  }
  return ch;
}
