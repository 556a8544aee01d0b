/**
 * The one redaction rule: what is secret, for every use the proxy has of untrusted or sensitive text
 * (log lines and their fields, error texts sent to Docker, volume names in the state file and in List,
 * user text quoted in messages). Everything else derives from here: `scrub`/`scrubDeep`
 * (src/audit/scrub.ts), `redactName`/`quote` (src/volume-name/serialize.ts), the state file's keys
 * (src/state/store.ts). This module imports nothing, so any layer can use it.
 *
 * Secret is:
 *  - the value of an inline key that holds a secret: `token=` (a JWT) and `secret_key=` (pxd's
 *    encryption passphrase, openstorage's SpecPassphrase), plus the generic `password=` and
 *    `passphrase=`. pxd finds each key with an UNANCHORED regex (`xsecret_key=abc` and
 *    `mount_options=secret_key=abc` both give pxd the passphrase `abc`), so the key is matched wherever
 *    it occurs, not only at a word boundary, and in any case. The value runs to the next `,`: that is
 *    where the proxy's own parser ends a value (a space, a quote or a `;` can be part of a passphrase
 *    sent to pxd in Opts), and pxd's value classes exclude `,`, so whatever pxd reads is inside. In
 *    free text this may hide more than the secret (up to the next comma), never less;
 *  - any JWT-looking run (`eyJ...` header followed by a dot, or three long base64url parts);
 *  - in objects, the whole value of a field whose name ends in token, password, passphrase,
 *    secret_key / secretKey or authorization (any case), whatever it holds.
 *
 * Every function here is linear in its input and never throws.
 */

export const REDACTED = '***';

/**
 * Inline keys whose values are secret. Of the keys pxd reads from a Name (openstorage
 * api/spec/spec_handler.go), only `token` and `secret_key` hold secrets; `token_secret` and
 * `token_secret_namespace` hold a secret's *path*, which is not secret.
 */
export const SECRET_KEYS: readonly string[] = ['token', 'secret_key', 'password', 'passphrase'];

/** `<key>=<value>` anywhere (unanchored, as pxd reads it); the value stops at `,`. */
const SECRET_KV_RE = new RegExp(`(${SECRET_KEYS.join('|')})=[^,]+`, 'gi');

/** Field names censored whatever they hold (at any depth of a logged object). */
const SECRET_FIELD_RE = /(?:token|pass[-_]?word|pass[-_]?phrase|secret[-_]?key|authorization)$/i;
/** Last letters of those names, lower case: most keys are ruled out without a regex. */
const SECRET_FIELD_LAST: ReadonlySet<number> = new Set(['n', 'd', 'e', 'y'].map((c) => c.charCodeAt(0)));

/** Maximal runs of the characters a JWT (or pxd's token class) can contain. */
const JWT_CHARS_RUN_RE = /[A-Za-z0-9_\-.+/=]+/g;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const B64URL_CHAR_RE = /^[A-Za-z0-9_-]$/;
/** A JWT header is base64url JSON (`{"` → `eyJ`) and at least ~19 characters. */
const JWT_HEADER_MIN = 12;
/** For JWT-like strings without `eyJ`: two long base64url parts then a third one. */
const GENERIC_PART_MIN = 16;

/**
 * Text with every secret replaced by `***` (`token=***,name=v`, `secret_key=***`, a bare JWT → `***`),
 * the rest kept readable. Accepts anything (a non-string is first turned into text).
 */
export function redact(text: string): string {
  let s: string;
  try {
    s = typeof text === 'string' ? text : String(text);
  } catch {
    return REDACTED;
  }
  if (s.length === 0) return s;
  if (s.includes('=')) s = s.replace(SECRET_KV_RE, (_m, key: string) => `${key}=${REDACTED}`);
  if (mayHoldJwt(s)) s = s.replace(JWT_CHARS_RUN_RE, redactRun);
  return s;
}

/** Whether `text` holds anything `redact` would hide (such a volume name is never stored in clear). */
export function carriesSecret(text: string): boolean {
  return typeof text === 'string' && redact(text) !== text;
}

/** Answers for the field names seen so far: log lines use a few dozen; bounded, as a backend's Status sets keys too. */
const FIELD_VERDICTS = new Map<string, boolean>();
const FIELD_VERDICTS_MAX = 1024;

/** Whether a field of that name is censored whatever it holds. */
export function isSecretField(key: string): boolean {
  // Most keys end in another letter: no lookup for them (every field of every log line comes here).
  const last = key.charCodeAt(key.length - 1) | 0x20;
  if (!SECRET_FIELD_LAST.has(last)) return false;
  let verdict = FIELD_VERDICTS.get(key);
  if (verdict === undefined) {
    verdict = SECRET_FIELD_RE.test(key);
    if (FIELD_VERDICTS.size < FIELD_VERDICTS_MAX) FIELD_VERDICTS.set(key, verdict);
  }
  return verdict;
}

/**
 * `redact` over the string leaves of a value, and whole values of secret fields (bounded depth; logs
 * are small). The input is never changed: a level that needs a change is copied, and a clean value is
 * returned as it is (every log line goes through here, audit lines on the hot path included).
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: redact(value.message) };
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const s = redactDeep(v, depth + 1);
      if (s !== v) (copy ??= value.slice())[i] = s;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    const v = (value as Record<string, unknown>)[k];
    const s = isSecretField(k) && v !== undefined && v !== null ? REDACTED : redactDeep(v, depth + 1);
    if (s !== v) (copy ??= ownFields(value))[k] = s;
  }
  return copy ?? value;
}

function ownFields(value: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in value) if (Object.hasOwn(value, k)) out[k] = (value as Record<string, unknown>)[k];
  return out;
}

/** A JWT-looking run needs `eyJ` and a dot, or two dots: most text is ruled out without a scan. */
function mayHoldJwt(s: string): boolean {
  const dot = s.indexOf('.');
  if (dot < 0) return false;
  return s.includes('eyJ') || s.indexOf('.', dot + 1) >= 0;
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
      return `${run.slice(0, offset + tailStart + at)}${REDACTED}`;
    }
    const next = parts[i + 1]!;
    if (i + 2 < parts.length && tail.length >= GENERIC_PART_MIN && next.length >= GENERIC_PART_MIN && B64URL_RE.test(next)) {
      return `${run.slice(0, offset + tailStart)}${REDACTED}`;
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
