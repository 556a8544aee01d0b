/**
 * Resolving a `token_secret` reference to a secret-store path. It follows pxd's rules (a leading
 * `/` means an absolute DC/OS path; `token_secret_namespace` is joined as `ns/path`) but, unlike
 * pxd, keeps `-` and `.` and refuses anything that could address another path: empty, `.` or `..`
 * segments, and any character outside [A-Za-z0-9_.-] (encoded dots, NUL, newline, backslash,
 * look-alike slashes such as U+2215 or U+FF0F).
 */
import { ProxyError } from '../errors.js';
import { describeChar, firstBadChar, quote } from './serialize.js';

export const MAX_SECRET_PATH_LENGTH = 1024;

const SEGMENT_CHAR_RE = /^[A-Za-z0-9_.-]$/;
/** The start of a JWT (`eyJ` is base64url for `{"`): header and payload, dot-separated. */
const JWT_LIKE_RE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/;

export interface SecretPathInput {
  /** `token_secret` as given (verbatim). */
  path: string;
  /** `token_secret_namespace` as given, if any. */
  namespace?: string;
  /** The configured base path all secrets must live under; empty/undefined = no base. */
  basePath?: string;
}

interface Normalized {
  absolute: boolean;
  segments: string[];
}

function invalid(message: string): ProxyError {
  return new ProxyError('SECRET_PATH_INVALID', message);
}

/** Drops exactly one leading and one trailing `/` (as pxd does), then checks every segment. */
function normalize(value: unknown, what: string): Normalized {
  if (typeof value !== 'string') throw invalid(`${what} is not a string`);
  // pxd takes `-o token_secret=<jwt>` as the token itself, so users pass tokens here. A token
  // is refused before any check that would quote it, and never sent to a store as a path.
  if (JWT_LIKE_RE.test(value)) {
    throw invalid(
      `${what} holds a token (a JWT), not a secret path; store the token in the secret store and give its path, or pass the JWT itself as the inline token option`,
    );
  }
  if (value.length > MAX_SECRET_PATH_LENGTH) {
    throw invalid(`${what} is ${value.length} characters long; at most ${MAX_SECRET_PATH_LENGTH} are accepted`);
  }
  const absolute = value.startsWith('/');
  let s = absolute ? value.slice(1) : value;
  if (s.endsWith('/')) s = s.slice(0, -1);
  if (s === '') throw invalid(`${what} is empty`);
  return { absolute, segments: checkSegments(s.split('/'), value, what, SEGMENT_CHAR_RE) };
}

/**
 * The segments of a resolved secret path (no leading or trailing `/`), checked again where it leaves
 * the proxy: the DC/OS client percent-encodes each segment into a URL, so only the shape matters
 * there (no empty, `.` or `..` segment, which a URL would collapse into another path).
 */
export function secretPathSegments(path: string): string[] {
  if (path === '') throw invalid('the secret path is empty');
  return checkSegments(path.split('/'), path, 'secret path');
}

/** The one segment rule: none empty, none `.` or `..`, and (with `chars`) every character in that class. */
function checkSegments(segments: string[], value: string, what: string, chars?: RegExp): string[] {
  segments.forEach((seg, i) => {
    // Quoted only for a message: quoting costs more than the checks.
    const at = (): string => `${what} ${quote(value)}`;
    if (seg === '') {
      throw invalid(`${at()} has an empty segment (segment ${i + 1}: "//" or a doubled leading/trailing slash)`);
    }
    if (seg === '.' || seg === '..') {
      throw invalid(`${at()} has a "${seg}" segment (segment ${i + 1}); secret paths cannot refer to other folders`);
    }
    const bad = chars && firstBadChar(seg, chars);
    if (bad) {
      throw invalid(
        `${at()} contains ${describeChar(bad.ch)} in segment ${i + 1}; path segments may only hold letters, digits, "_", "." and "-"`,
      );
    }
  });
  return segments;
}

/** true when `segments` starts with all of `prefix`, whole segments only. */
function startsWith(segments: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= segments.length && prefix.every((p, i) => segments[i] === p);
}

/**
 * The secret path to read, without leading/trailing slash. Throws SECRET_PATH_INVALID or
 * SECRET_PATH_OUTSIDE_BASE (ProxyError only).
 */
export function resolveSecretPath(input: SecretPathInput): string {
  const path = normalize(input.path, 'token_secret');

  let segments = path.segments;
  if (input.namespace !== undefined) {
    const ns = normalize(input.namespace, 'token_secret_namespace');
    if (path.absolute) {
      throw invalid('token_secret_namespace cannot be combined with an absolute token_secret (one starting with "/")');
    }
    segments = [...ns.segments, ...path.segments];
  }

  // "/" as a base means the whole store: the same as no base.
  const rawBase = input.basePath ?? '';
  const base = rawBase === '' || rawBase === '/' ? [] : normalize(rawBase, 'the secret base path').segments;
  if (base.length > 0) {
    // "Under the base" means strictly below it: the base folder itself is not a secret.
    const under = segments.length > base.length && startsWith(segments, base);
    if (path.absolute) {
      if (!under) {
        const shown = `/${segments.join('/')}`;
        const baseShown = `/${base.join('/')}`;
        throw new ProxyError(
          'SECRET_PATH_OUTSIDE_BASE',
          `token_secret ${quote(shown)} is not under the allowed base path ${quote(baseShown)}; use a path below it, or a relative path`,
          { secretPath: segments.join('/') },
        );
      }
    } else if (!under) {
      // A relative path already spelled with the base is used as is, not joined twice.
      segments = [...base, ...segments];
    }
  }

  const result = segments.join('/');
  if (result.length > MAX_SECRET_PATH_LENGTH) {
    throw invalid(`the resolved token_secret path is ${result.length} characters long; at most ${MAX_SECRET_PATH_LENGTH} are accepted`);
  }
  return result;
}
