import { ProxyError, asProxyError, staleServableCodes } from '../errors.js';
import { resolveSecretPath, type ParsedName } from '../volume-name/index.js';
import { TOKEN_KEY, TOKEN_SECRET_KEY, TOKEN_SECRET_NAMESPACE_KEY } from '../volume-name/types.js';
import type { TokenSource } from './types.js';
import type { ReferenceRegistry, SecretStore } from '../secrets/types.js';
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
  /** The cluster's volume references (DC/OS); without it only this agent's state file remembers. */
  registry?: ReferenceRegistry;
  secrets: SecretStore;
  state: Pick<StateStore, 'get'>;
  basePath?: string;
  /** The configuration's volumeSecrets: last in precedence. */
  volumeSecrets?: ReadonlyArray<{ volumes: readonly string[]; secretPath: string }>;
}

/**
 * Where the token of a request comes from, in pxd's precedence: `token` in the Name, `token` in Opts,
 * `token_secret` in the Name, `token_secret` in Opts. A request that names none gets REMEMBERED: see
 * rememberedSource (the cluster's records, this agent's state file, the configuration's volumeSecrets).
 */
export function findTokenSource(
  deps: Pick<ResolverDeps, 'basePath'>,
  parsed: ParsedName,
  opts: ReadonlyMap<string, string>,
): { value: string; source: TokenSource } | { source: SecretSource } | typeof REMEMBERED {
  if (parsed.token !== undefined) return { value: parsed.token, source: { kind: 'name-token' } };
  const optToken = opts.get(TOKEN_KEY);
  if (optToken !== undefined) return { value: optToken, source: { kind: 'opts-token' } };
  const given = (kind: 'name-secret' | 'opts-secret', path: string, namespace: string | undefined): { source: SecretSource } => ({
    source: { kind, secretPath: resolveSecretPath({ path, namespace, basePath: deps.basePath }) },
  });
  if (parsed.tokenSecret !== undefined) return given('name-secret', parsed.tokenSecret, parsed.tokenSecretNamespace);
  const optSecret = opts.get(TOKEN_SECRET_KEY);
  if (optSecret !== undefined) return given('opts-secret', optSecret, opts.get(TOKEN_SECRET_NAMESPACE_KEY));
  return REMEMBERED;
}

/** findTokenSource's answer when the request names no token: look up what was remembered for the volume. */
export const REMEMBERED = Object.freeze({ remembered: true as const });

/**
 * The secret remembered for a volume whose request carries none (Docker sends options to Create
 * only): the cluster's record (any agent's Create) when the store keeps one, this agent's state file,
 * then the configuration's volumeSecrets. When the cluster's record cannot be read, a reference this
 * agent remembers may stand in for it (stale-if-error); otherwise the call fails naming DC/OS, and is
 * never forwarded with some other token.
 */
export async function rememberedSource(
  deps: Pick<ResolverDeps, 'state' | 'basePath' | 'volumeSecrets' | 'registry'>,
  parsed: ParsedName,
  dockerName: string,
  operation: Operation,
  signal?: AbortSignal,
): Promise<{ source: SecretSource; stale?: boolean }> {
  const volume = parsed.volumeName;
  const local = deps.state.get(dockerName)?.secretPath;
  if (deps.registry) {
    let found: Awaited<ReturnType<ReferenceRegistry['get']>>;
    try {
      found = await deps.registry.get(volume, signal);
    } catch (e) {
      const err = asProxyError(e, 'SECRET_STORE_UNAVAILABLE');
      if (local !== undefined && staleServableCodes().includes(err.code))
        return { source: { kind: 'state-secret', secretPath: local }, stale: true };
      throw new ProxyError(
        err.code,
        `${operation} of volume ${volume}: the cluster's record of its token secret (${deps.registry.description}) could not be read, and nothing else was tried: ${err.message}`,
        { ...err.details, volume },
        { cause: err },
      );
    }
    if (found) {
      // A shared record is checked like a token_secret: a path under the base path, nothing else.
      const secretPath = resolveSecretPath({ path: `/${found.reference.secretPath}`, basePath: deps.basePath });
      return { source: { kind: 'registry-secret', secretPath }, stale: found.stale };
    }
  }
  if (local !== undefined) return { source: { kind: 'state-secret', secretPath: local } };
  const configured = deps.volumeSecrets?.find((v) => v.volumes.some((p) => globMatch(p, volume)));
  if (configured) return { source: { kind: 'config-secret', secretPath: configured.secretPath } };
  const where = deps.registry ? 'in the cluster' : 'on this node';
  const hint =
    operation === 'create'
      ? `give token_secret=<path> in the name (token_secret=pwx/secrets/me,name=${volume}) or with -o token_secret=<path>`
      : `Docker sends options only on create and no reference to this volume is recorded ${where}: name it token_secret=<path>,name=${volume}, or map it in volumeSecrets`;
  throw new ProxyError('TOKEN_MISSING', `no token for ${operation} of volume ${volume}: ${hint}`, { volume });
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
  const found = findTokenSource(deps, parsed, opts);
  if ('value' in found) return found;
  let source: SecretSource;
  let staleReference = false;
  let ac: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  // A controller and a cleared timer rather than AbortSignal.timeout(), which stays alive (with the
  // cache's listener on it) until it fires.
  const signal = (): AbortSignal => {
    if (!ac) {
      ac = new AbortController();
      const c = ac;
      timer = setTimeout(() => c.abort(new DOMException('secret read timed out', 'TimeoutError')), timeoutMs);
    }
    return ac.signal;
  };
  try {
    if ('remembered' in found) {
      const r = await rememberedSource(deps, parsed, dockerName, operation, deps.registry ? signal() : undefined);
      source = r.source;
      staleReference = r.stale === true;
    } else source = found.source;
  } catch (e) {
    clearTimeout(timer);
    throw e;
  }
  // A fresh cached token costs no timer and no signal.
  const hit = deps.secrets.peek?.(source.secretPath);
  if (hit) {
    clearTimeout(timer);
    return { value: hit.value, source, ...(staleReference ? { stale: true } : {}) };
  }
  try {
    const read = await deps.secrets.read(source.secretPath, signal());
    return { value: read.value, source, stale: read.stale || staleReference };
  } catch (e) {
    const err = asProxyError(e, 'SECRET_STORE_UNAVAILABLE');
    throw new ProxyError(
      err.code,
      `${operation} of volume ${parsed.volumeName}: ${err.message}`,
      { ...err.details, volume: parsed.volumeName, secretPath: source.secretPath },
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}
