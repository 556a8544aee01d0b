/**
 * Just enough of Go's encoding/json to answer like pxd's plugin server (openstorage api/server/docker.go):
 *  - a scanner that reports syntax errors with Go's wording (`invalid character 'o' in literal null
 *    (expecting 'u')`, `unexpected EOF`, `EOF`),
 *  - json.Decoder semantics (only the first value is read; whatever follows it is ignored) and
 *    json.Unmarshal semantics (only whitespace may follow),
 *  - decoding into pxd's request structs (case-insensitive field names, type errors worded like Go's
 *    UnmarshalTypeError),
 *  - an encoder for strings with Go's escaping (HTML-safe `\u003c`, `\u0026`, U+2028/2029, ...).
 *
 * Only the `not json` wording is confirmed by a transcript; the other messages follow Go's source and are
 * approximate in corner cases (non-ASCII offending bytes, exotic case folding).
 */

export type GoValue =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'num'; raw: string }
  | { t: 'str'; v: string }
  | { t: 'arr'; v: GoValue[] }
  | { t: 'obj'; v: Array<[string, GoValue]> };

export class GoJsonError extends Error {}

const EOF_MSG = 'EOF';
const UNEXPECTED_EOF = 'unexpected EOF';

/** Go's quoteChar(c byte) from encoding/json/scanner.go, applied to the first UTF-8 byte of `ch`. */
function quoteChar(ch: string): string {
  if (ch === "'") return "'\\''";
  if (ch === '"') return "'\"'";
  const cp = ch.codePointAt(0) ?? 0;
  // Go scans bytes: a non-ASCII character is reported by its first UTF-8 byte, seen as a rune U+00XX.
  const c = cp < 0x80 ? cp : (Buffer.from(ch, 'utf8')[0] ?? 0);
  const short: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 92: '\\\\' };
  const s = short[c];
  if (s !== undefined) return `'${s}'`;
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  if ((c >= 0x80 && c < 0xa0) || c === 0xad) return `'\\u00${c.toString(16).padStart(2, '0')}'`;
  return `'${String.fromCodePoint(c)}'`;
}

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

function isHex(ch: string | undefined): boolean {
  return ch !== undefined && /^[0-9a-fA-F]$/.test(ch);
}

class Scanner {
  i = 0;
  constructor(readonly s: string) {}

  private err(ch: string, context: string): never {
    throw new GoJsonError(`invalid character ${quoteChar(ch)} ${context}`);
  }

  private peek(): string | undefined {
    // Index by UTF-16 unit; surrogate pairs only ever occur inside strings, handled there.
    return this.s[this.i];
  }

  private next(): string {
    const ch = this.s[this.i];
    if (ch === undefined) throw new GoJsonError(UNEXPECTED_EOF);
    this.i++;
    return ch;
  }

  skipSpace(): void {
    while (isSpace(this.peek())) this.i++;
  }

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  value(): GoValue {
    this.skipSpace();
    const ch = this.next();
    switch (ch) {
      case '{':
        return this.object();
      case '[':
        return this.array();
      case '"':
        return { t: 'str', v: this.stringBody() };
      case 't':
        this.literal('true', 1);
        return { t: 'bool', v: true };
      case 'f':
        this.literal('false', 1);
        return { t: 'bool', v: false };
      case 'n':
        this.literal('null', 1);
        return { t: 'null' };
      default:
        if (ch === '-' || isDigit(ch)) return this.number(ch);
        return this.err(this.fullChar(ch), 'looking for beginning of value');
    }
  }

  /** The whole code point starting at the character just consumed (for error messages). */
  private fullChar(ch: string): string {
    const cp = this.s.codePointAt(this.i - 1);
    return cp === undefined ? ch : String.fromCodePoint(cp);
  }

  private literal(word: string, from: number): void {
    for (let k = from; k < word.length; k++) {
      const ch = this.next();
      const want = word[k] as string;
      if (ch !== want) this.err(this.fullChar(ch), `in literal ${word} (expecting '${want}')`);
    }
  }

  private number(first: string): GoValue {
    const start = this.i - 1;
    let ch: string | undefined = first;
    if (ch === '-') {
      ch = this.next();
      if (!isDigit(ch)) this.err(this.fullChar(ch), 'in numeric literal');
    }
    if (ch !== '0') {
      while (isDigit(this.peek())) this.i++;
    }
    if (this.peek() === '.') {
      this.i++;
      const d = this.next();
      if (!isDigit(d)) this.err(this.fullChar(d), 'after decimal point in numeric literal');
      while (isDigit(this.peek())) this.i++;
    }
    const e = this.peek();
    if (e === 'e' || e === 'E') {
      this.i++;
      let d = this.next();
      if (d === '+' || d === '-') d = this.next();
      if (!isDigit(d)) this.err(this.fullChar(d), 'in exponent of numeric literal');
      while (isDigit(this.peek())) this.i++;
    }
    return { t: 'num', raw: this.s.slice(start, this.i) };
  }

  private stringBody(): string {
    let out = '';
    for (;;) {
      const ch = this.next();
      if (ch === '"') return out;
      if (ch === '\\') {
        const e = this.next();
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            let hex = '';
            for (let k = 0; k < 4; k++) {
              const h = this.next();
              if (!isHex(h)) this.err(this.fullChar(h), 'in \\u hexadecimal character escape');
              hex += h;
            }
            out += String.fromCharCode(parseInt(hex, 16));
            break;
          }
          default:
            this.err(this.fullChar(e), 'in string escape code');
        }
        continue;
      }
      if (ch.charCodeAt(0) < 0x20) this.err(ch, 'in string literal');
      out += ch;
    }
  }

  private object(): GoValue {
    const members: Array<[string, GoValue]> = [];
    this.skipSpace();
    let ch = this.next();
    if (ch === '}') return { t: 'obj', v: members };
    for (;;) {
      if (ch !== '"') this.err(this.fullChar(ch), 'looking for beginning of object key string');
      const key = this.stringBody();
      this.skipSpace();
      ch = this.next();
      if (ch !== ':') this.err(this.fullChar(ch), 'after object key');
      members.push([key, this.value()]);
      this.skipSpace();
      ch = this.next();
      if (ch === '}') return { t: 'obj', v: members };
      if (ch !== ',') this.err(this.fullChar(ch), 'after object key:value pair');
      this.skipSpace();
      ch = this.next();
    }
  }

  private array(): GoValue {
    const items: GoValue[] = [];
    this.skipSpace();
    if (this.peek() === ']') {
      this.i++;
      return { t: 'arr', v: items };
    }
    for (;;) {
      items.push(this.value());
      this.skipSpace();
      const ch = this.next();
      if (ch === ']') return { t: 'arr', v: items };
      if (ch !== ',') this.err(this.fullChar(ch), 'after array element');
    }
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** Go strings hold bytes; lone surrogates (from `\ud800` escapes) become U+FFFD as Go does. */
function fixSurrogates(v: GoValue): GoValue {
  switch (v.t) {
    case 'str':
      return { t: 'str', v: wellFormed(v.v) };
    case 'arr':
      return { t: 'arr', v: v.v.map(fixSurrogates) };
    case 'obj':
      return { t: 'obj', v: v.v.map(([k, x]): [string, GoValue] => [wellFormed(k), fixSurrogates(x)]) };
    default:
      return v;
  }
}

/**
 * json.NewDecoder(body).Decode(&x): reads the first JSON value; bytes after it are never looked at.
 * Empty / whitespace-only input → `EOF`; a value cut short → `unexpected EOF`.
 */
export function goDecodeFirst(text: string): GoValue {
  const sc = new Scanner(text);
  sc.skipSpace();
  if (sc.atEnd()) throw new GoJsonError(EOF_MSG);
  return fixSurrogates(sc.value());
}

/** json.Unmarshal(data, &x): exactly one value, optionally surrounded by whitespace. */
export function goUnmarshal(text: string): GoValue {
  const sc = new Scanner(text);
  sc.skipSpace();
  if (sc.atEnd()) throw new GoJsonError(UNEXPECTED_EOF);
  const v = sc.value();
  sc.skipSpace();
  if (!sc.atEnd()) {
    const cp = text.codePointAt(sc.i) ?? 0;
    throw new GoJsonError(`invalid character ${quoteChar(String.fromCodePoint(cp))} after top-level value`);
  }
  return fixSurrogates(v);
}

export function kindOf(v: GoValue): string {
  switch (v.t) {
    case 'null':
      return 'null';
    case 'bool':
      return 'bool';
    case 'num':
      return 'number';
    case 'str':
      return 'string';
    case 'arr':
      return 'array';
    case 'obj':
      return 'object';
  }
}

/** Go matches JSON keys to struct fields exactly first, then case-insensitively (with its few special folds). */
function foldKey(s: string): string {
  return s
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
    .toLowerCase();
}

export function fieldFor(key: string, fields: readonly string[]): string | undefined {
  const exact = fields.find((f) => f === key);
  if (exact !== undefined) return exact;
  const k = foldKey(key);
  return fields.find((f) => foldKey(f) === k);
}

/** A JS rendering of a decoded value, for logs and assertions (numbers as JS numbers). */
export function toPlain(v: GoValue): unknown {
  switch (v.t) {
    case 'null':
      return null;
    case 'bool':
      return v.v;
    case 'num':
      return Number(v.raw);
    case 'str':
      return v.v;
    case 'arr':
      return v.v.map(toPlain);
    case 'obj': {
      const o: Record<string, unknown> = {};
      for (const [k, x] of v.v) o[k] = toPlain(x);
      return o;
    }
  }
}

export interface VolumeRequest {
  Name: string;
  Opts: Record<string, string> | null;
}

export interface MountRequest {
  Name: string;
  ID: string;
}

/**
 * Decode a body into pxd's `volumeRequest{Name string; Opts map[string]string}` the way
 * json.NewDecoder(r.Body).Decode(&request) does. Throws GoJsonError with Go's error text.
 */
export function decodeVolumeRequest(body: string): { req: VolumeRequest; raw: GoValue } {
  const raw = goDecodeFirst(body);
  const req: VolumeRequest = { Name: '', Opts: null };
  let firstErr: string | undefined;
  const save = (m: string): void => {
    firstErr ??= m;
  };
  if (raw.t === 'obj') {
    for (const [key, val] of raw.v) {
      const f = fieldFor(key, ['Name', 'Opts']);
      if (f === 'Name') {
        if (val.t === 'str') req.Name = val.v;
        else if (val.t !== 'null') save(`json: cannot unmarshal ${kindOf(val)} into Go struct field volumeRequest.Name of type string`);
      } else if (f === 'Opts') {
        if (val.t === 'null') req.Opts = null;
        else if (val.t === 'obj') {
          // Go reuses an existing map, so a repeated "Opts" key merges.
          const m: Record<string, string> = req.Opts ?? {};
          for (const [k, x] of val.v) {
            if (x.t === 'str') m[k] = x.v;
            else if (x.t === 'null') m[k] = '';
            else save(`json: cannot unmarshal ${kindOf(x)} into Go struct field volumeRequest.Opts of type string`);
          }
          req.Opts = m;
        } else save(`json: cannot unmarshal ${kindOf(val)} into Go struct field volumeRequest.Opts of type map[string]string`);
      }
    }
  } else if (raw.t !== 'null') {
    save(`json: cannot unmarshal ${kindOf(raw)} into Go value of type server.volumeRequest`);
  }
  if (firstErr !== undefined) throw new GoJsonError(firstErr);
  return { req, raw };
}

/** Same for `mountRequest{Name string; ID string}` (Mount and Unmount). */
export function decodeMountRequest(body: string): { req: MountRequest; raw: GoValue } {
  const raw = goDecodeFirst(body);
  const req: MountRequest = { Name: '', ID: '' };
  let firstErr: string | undefined;
  const save = (m: string): void => {
    firstErr ??= m;
  };
  if (raw.t === 'obj') {
    for (const [key, val] of raw.v) {
      const f = fieldFor(key, ['Name', 'ID']);
      if (f === undefined) continue;
      if (val.t === 'str') req[f as 'Name' | 'ID'] = val.v;
      else if (val.t !== 'null') save(`json: cannot unmarshal ${kindOf(val)} into Go struct field mountRequest.${f} of type string`);
    }
  } else if (raw.t !== 'null') {
    save(`json: cannot unmarshal ${kindOf(raw)} into Go value of type server.mountRequest`);
  }
  if (firstErr !== undefined) throw new GoJsonError(firstErr);
  return { req, raw };
}

/**
 * A Go-encoded JSON string (json.Encoder with its default SetEscapeHTML(true)).
 * `\b`/`\f` use the short forms of Go >= 1.22 (older Go wrote \u0008 / \u000c): a guess about pxd's Go.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '<':
        out += '\\u003c';
        continue;
      case '>':
        out += '\\u003e';
        continue;
      case '&':
        out += '\\u0026';
        continue;
      case '\u2028':
        out += '\\u2028';
        continue;
      case '\u2029':
        out += '\\u2029';
        continue;
    }
    if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}
