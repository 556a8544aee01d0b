/**
 * Value-level redaction. A field path cannot catch `token=eyJ...` inside a volume name or a backend's
 * error text: every string that may carry user or backend data goes through `scrub` before it reaches
 * a log line or a reply.
 */

// Three base64url parts (the last may be empty, as pxd's own token regex allows).
const JWT_RE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_\-+/=]*/g;
// `token=<anything up to a separator>` as in an inline volume spec or an Authorization header.
const TOKEN_KV_RE = /\b(token|password|secret_key)=([^,\s"';&]+)/gi;

const REDACTED = '***';

/** Fields censored whatever they hold (at any depth of a log object), compared in lower case. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['token', 'password', 'authorization']);
const SECRET_FIELD_LENGTHS: ReadonlySet<number> = new Set([...SECRET_FIELDS].map((f) => f.length));

function isSecretField(key: string): boolean {
  // Most keys differ in length: no lower-cased copy of every key of every log line.
  return SECRET_FIELD_LENGTHS.has(key.length) && SECRET_FIELDS.has(key.toLowerCase());
}

export function scrub(text: string): string {
  if (text.length === 0) return text;
  let out = text;
  if (out.includes('eyJ')) out = out.replace(JWT_RE, REDACTED);
  if (out.includes('=')) out = out.replace(TOKEN_KV_RE, (_m, k: string) => `${k}=${REDACTED}`);
  return out;
}

/**
 * Deep-scrub the string leaves of a log object (bounded depth; logs are small). The input is never
 * changed: a level that needs a change is copied, and a clean object is returned as it is (every
 * log line goes through here, audit lines on the hot path included).
 */
export function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: scrub(value.message) };
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const s = scrubDeep(v, depth + 1);
      if (s !== v) (copy ??= value.slice())[i] = s;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    const v = (value as Record<string, unknown>)[k];
    const s = isSecretField(k) && v !== undefined && v !== null ? REDACTED : scrubDeep(v, depth + 1);
    if (s !== v) (copy ??= ownFields(value))[k] = s;
  }
  return copy ?? value;
}

function ownFields(value: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in value) if (Object.hasOwn(value, k)) out[k] = (value as Record<string, unknown>)[k];
  return out;
}
