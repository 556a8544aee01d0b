import { ProxyError, asProxyError } from '../errors.js';
import { resolveSecretPath, type ParsedName } from '../volume-name/index.js';
import { TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY } from '../volume-name/types.js';
import type { TokenSource } from './types.js';
import type { SecretStore } from '../secrets/types.js';
import type { StateStore } from '../state/store.js';
import type { Operation } from '../operations.js';
import { globMatch } from '../lib/glob.js';

/** A token found for an authenticated call. `value` is the raw JWT: it goes to the verifier and pxd, nowhere else. */
export interface ResolvedToken {
  value: string;
  source: TokenSource;
  /** The secret store served a cached value while failing (stale-if-error). */
  stale?: boolean;
}

export type SecretSource = Extract<TokenSource, { secretPath: string }>;

export interface ResolverDeps {
  secrets: SecretStore;
  state: Pick<StateStore, 'get'>;
  basePath?: string;
  /** The configuration's volumeSecrets: last in precedence. */
  volumeSecrets?: ReadonlyArray<{ volumes: readonly string[]; secretPath: string }>;
}

/**
 * Where the token of a request comes from, in pxd's precedence: `token` in the Name, `token` in Opts,
 * `token_secret` in the Name, `token_secret` in Opts — then the state file, which remembers a
 * reference given with `-o token_secret` at Create on this agent (Docker sends options to Create only),
 * then the configuration's volumeSecrets, which every agent shares.
 */
export function findTokenSource(
  deps: Pick<ResolverDeps, 'state' | 'basePath' | 'volumeSecrets'>,
  parsed: ParsedName,
  opts: ReadonlyMap<string, string>,
  dockerName: string,
  operation: Operation,
): { value: string; source: TokenSource } | { source: SecretSource } {
  if (parsed.token !== undefined) return { value: parsed.token, source: { kind: 'name-token' } };
  const optToken = opts.get(TOKEN_KEY);
  if (optToken !== undefined) return { value: optToken, source: { kind: 'opts-token' } };
  const base = deps.basePath;
  if (parsed.tokenSecret !== undefined) {
    return { source: { kind: 'name-secret', secretPath: resolveSecretPath({ path: parsed.tokenSecret, namespace: parsed.tokenSecretNamespace, basePath: base }) } };
  }
  const optSecret = opts.get(TOKEN_SECRET_KEY);
  if (optSecret !== undefined) {
    return { source: { kind: 'opts-secret', secretPath: resolveSecretPath({ path: optSecret, namespace: opts.get(TOKEN_SECRET_NAMESPACE_KEY), basePath: base }) } };
  }
  const ref = deps.state.get(dockerName)?.secretPath;
  if (ref !== undefined) return { source: { kind: 'state-secret', secretPath: ref } };
  const configured = deps.volumeSecrets?.find((v) => v.volumes.some((p) => globMatch(p, parsed.volumeName)));
  if (configured) return { source: { kind: 'config-secret', secretPath: configured.secretPath } };
  const hint =
    operation === 'create'
      ? `give token_secret=<path> in the name (token_secret=pwx/secrets/me,name=${parsed.volumeName}) or with -o token_secret=<path>`
      : `Docker sends options only on create and no reference to this volume is recorded on this node: name it token_secret=<path>,name=${parsed.volumeName}, or map it in volumeSecrets`;
  throw new ProxyError('TOKEN_MISSING', `no token for ${operation} of volume ${parsed.volumeName}: ${hint}`, { volume: parsed.volumeName });
}

/** Find the token source and, for a secret, read it. Secret-store errors name the operation and volume. */
export async function resolveToken(
  deps: ResolverDeps,
  parsed: ParsedName,
  opts: ReadonlyMap<string, string>,
  dockerName: string,
  operation: Operation,
  /** Longest wait for the secret store (default 45 s). */
  timeoutMs = 45_000,
): Promise<ResolvedToken> {
  const found = findTokenSource(deps, parsed, opts, dockerName, operation);
  if ('value' in found) return found;
  const { source } = found;
  // A fresh cached token costs no timer and no signal.
  const hit = deps.secrets.peek?.(source.secretPath);
  if (hit) return { value: hit.value, source };
  // A controller and a cleared timer rather than AbortSignal.timeout(), which stays alive (with the
  // cache's listener on it) until it fires.
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException('secret read timed out', 'TimeoutError')), timeoutMs);
  try {
    const read = await deps.secrets.read(source.secretPath, ac.signal);
    return { value: read.value, source, stale: read.stale };
  } catch (e) {
    const err = asProxyError(e, 'SECRET_STORE_UNAVAILABLE');
    throw new ProxyError(err.code, `${operation} of volume ${parsed.volumeName}: ${err.message}`, { ...err.details, volume: parsed.volumeName, secretPath: source.secretPath }, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
