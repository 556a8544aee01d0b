import type { Logger } from 'pino';
import { ProxyError, asProxyError, type ErrorCode } from '../errors.js';
import { decodeBody, type Endpoint, type PluginRequest } from '../plugin/protocol.js';
import {
  parseName,
  parseOpts,
  assertExpressibleForPxd,
  createSpec,
  mountSpec,
  forwardedBody,
  redactName,
  PXD_VOLUME_REFERENCE_KEYS,
  type ParsedName,
  type ForwardedBody,
  type PxdOperation,
} from '../volume-name/index.js';
import { resolveToken, type ResolvedToken } from '../tokens/resolve.js';
import { describeSource, type TokenSource, type VerifiedToken } from '../tokens/types.js';
import { decide } from '../policy/decide.js';
import type { Operation, PolicyConfig } from '../policy/types.js';
import type { SecretStore } from '../secrets/types.js';
import type { BackendClient, BackendReply } from '../backend/client.js';
import { backendRefusal, badReply, checkMountpoint, replyErr, unsafeMountpoint } from '../backend/replies.js';
import type { StateStore } from '../state/store.js';
import { audit } from '../audit/audit.js';
import { scrubDeep } from '../audit/scrub.js';

export interface Verifier {
  verify(token: string, ctx?: { source?: TokenSource }): Promise<VerifiedToken>;
}

/** Counters the admin listener exposes; all optional so the proxy runs without them. */
export interface ProxyObserver {
  request?(endpoint: Endpoint, outcome: string, seconds: number): void;
  decision?(operation: Operation, decision: Verdict, reason: string): void;
  backend?(endpoint: Endpoint, outcome: string, seconds: number): void;
}

export interface ProxySettings {
  mountsRoot: string;
  backendTimeoutMs: number;
  secretsBasePath?: string;
  /** Overrides the backend's Capabilities scope. */
  scope?: 'global' | 'local';
  policy: PolicyConfig;
  volumeSecrets?: ReadonlyArray<{ volumes: readonly string[]; secretPath: string }>;
}

export interface ProxyDeps {
  settings: ProxySettings;
  verifier: Verifier;
  secrets: SecretStore;
  backend: BackendClient;
  state: StateStore;
  logger: Logger;
  observer?: ProxyObserver;
  now?: () => number;
}

type Reply = Record<string, unknown>;

/** Shaped like a JWT for the read-back done before a token is resolved; never sent anywhere. */
const TRIAL_TOKEN = 'eyJ0.eyJ0.c2ln';

const OPERATION: Partial<Record<Endpoint, Operation & PxdOperation>> = {
  'VolumeDriver.Create': 'create',
  'VolumeDriver.Remove': 'remove',
  'VolumeDriver.Mount': 'mount',
};

/** Docker gives Create and Mount 2 minutes and the rest 1: finish well inside, with a clear Err. */
function budgetMs(endpoint: Endpoint): number {
  return endpoint === 'VolumeDriver.Create' || endpoint === 'VolumeDriver.Mount' ? 110_000 : 55_000;
}

/**
 * request → parse → resolve → verify → decide → forward → sanitize reply.
 * Only Create, Remove and Mount are authenticated. Get, Path, List, Unmount, Capabilities and
 * Activate go through whatever the state of the secret store or of any token: an Err from Get
 * makes dockerd forget the volume.
 */
export class VolumeProxy {
  private readonly now: () => number;

  constructor(private readonly deps: ProxyDeps) {
    this.now = deps.now ?? Date.now;
  }

  async handle(endpoint: Endpoint, body: Buffer): Promise<Reply> {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const req = decodeBody(endpoint, body);
      const reply = await this.dispatch(endpoint, req);
      if (typeof reply.Err === 'string' && reply.Err !== '') outcome = 'backend_err';
      return reply;
    } catch (e) {
      const err = asProxyError(e);
      outcome = err.code;
      if (err.code === 'INTERNAL') this.deps.logger.error({ endpoint, err: e }, 'internal error');
      else if (!OPERATION[endpoint]) this.deps.logger.warn({ endpoint, code: err.code, msg: err.message }, `${endpoint} failed`);
      return { Err: err.toDockerText() };
    } finally {
      this.deps.observer?.request?.(endpoint, outcome, (performance.now() - started) / 1000);
    }
  }

  private async dispatch(endpoint: Endpoint, req: PluginRequest | undefined): Promise<Reply> {
    switch (endpoint) {
      case 'Plugin.Activate':
        // Answered here: dockerd activates once per lifetime and dvdcli on every run, and neither
        // should fail because pxd is still starting.
        return { Implements: ['VolumeDriver'] };
      case 'VolumeDriver.Capabilities':
        return this.capabilities();
      case 'VolumeDriver.List':
        return this.list();
      case 'VolumeDriver.Get':
        return this.get(req!);
      case 'VolumeDriver.Path':
        return this.path(req!);
      case 'VolumeDriver.Unmount':
        return this.unmount(req!);
      case 'VolumeDriver.Create':
      case 'VolumeDriver.Remove':
      case 'VolumeDriver.Mount':
        return this.authenticated(endpoint, req!);
    }
  }

  // ---- pass-through calls -------------------------------------------------------------------

  private async forward(endpoint: Endpoint, body: unknown, deadline: number): Promise<BackendReply> {
    const remaining = Math.max(1_000, Math.min(this.deps.settings.backendTimeoutMs, deadline - this.now()));
    const t0 = performance.now();
    let outcome = 'ok';
    try {
      return await this.deps.backend.call(endpoint, body, remaining);
    } catch (e) {
      outcome = asProxyError(e).code;
      throw e;
    } finally {
      this.deps.observer?.backend?.(endpoint, outcome, (performance.now() - t0) / 1000);
    }
  }

  private async capabilities(): Promise<Reply> {
    if (this.deps.settings.scope) return { Capabilities: { Scope: this.deps.settings.scope } };
    const reply = await this.forward('VolumeDriver.Capabilities', {}, this.now() + budgetMs('VolumeDriver.Capabilities'));
    const caps = reply.json?.Capabilities as { Scope?: unknown } | undefined;
    const scope = caps?.Scope === 'global' || caps?.Scope === 'local' ? caps.Scope : undefined;
    if (reply.status !== 200 || !scope) {
      const err = this.passErr('Capabilities', reply);
      if (err) return { Err: err };
      throw badReply(this.deps.backend.label, 'Capabilities', reply);
    }
    return { Capabilities: { Scope: scope } };
  }

  private async list(): Promise<Reply> {
    const reply = await this.forward('VolumeDriver.List', {}, this.now() + budgetMs('VolumeDriver.List'));
    const err = this.passErr('List', reply);
    if (err) return { Err: err };
    const vols = reply.json?.Volumes;
    if (vols !== undefined && vols !== null && !Array.isArray(vols)) throw badReply(this.deps.backend.label, 'List', reply);
    // pxd lists short names (myvol1); Docker can only use the names it was given
    // (token_secret=...,name=myvol1), so those are listed where the proxy knows them.
    const dockerNames = this.dockerNamesByVolume();
    const out: Array<{ Name: string; Mountpoint: string }> = [];
    for (const v of (vols as unknown[] | null | undefined) ?? []) {
      if (!v || typeof v !== 'object' || typeof (v as Reply).Name !== 'string') continue;
      const name = (v as Reply).Name as string;
      const mp = this.displayMountpoint(name, (v as Reply).Mountpoint);
      for (const n of dockerNames.get(name) ?? [redactName(name)]) out.push({ Name: n, Mountpoint: mp });
    }
    return { Volumes: out, Err: '' };
  }

  /** pxd volume name → the Docker names (in clear) the proxy has seen for it. */
  private dockerNamesByVolume(): Map<string, string[]> {
    const map = new Map<string, string[]>();
    for (const n of this.deps.state.clearNames()) {
      let vol = n;
      try {
        vol = parseName(n).volumeName;
      } catch {
        // A name pxd cannot read as a spec is its own volume name.
      }
      map.set(vol, [...(map.get(vol) ?? []), n]);
    }
    return map;
  }

  /**
   * The Name pxd gets on an unauthenticated call. pxd finds `name=` with an unanchored leftmost match,
   * so `sharedv4_svc_name=abc,...,name=real` would read `abc`: an inline spec is sent as `name=<volume>`
   * (pxd needs nothing else there). Anything that does not parse goes as it came: these calls are
   * never refused for the shape of a name.
   */
  private backendName(raw: string): string {
    try {
      const parsed = parseName(raw);
      return parsed.inline ? `name=${parsed.volumeName}` : raw;
    } catch {
      return raw;
    }
  }

  /** Get must echo the requested Name (Docker uses the Name Get returns) and never fail for auth reasons. */
  private async get(req: PluginRequest): Promise<Reply> {
    let reply: BackendReply;
    try {
      reply = await this.forward('VolumeDriver.Get', { Name: this.backendName(req.Name) }, this.now() + budgetMs('VolumeDriver.Get'));
      this.passErr('Get', reply);
    } catch (e) {
      const err = asProxyError(e);
      // Backend briefly away (or babbling): a volume we know exists must not be reported absent (dockerd
      // would drop it from its records on restart). Unknown names get the error.
      if ((err.code === 'BACKEND_UNREACHABLE' || err.code === 'BACKEND_TIMEOUT' || err.code === 'BACKEND_BAD_REPLY') && this.deps.state.get(req.Name)) {
        return this.getFromState(req.Name, err.code);
      }
      throw err;
    }
    // pxd answers HTTP 500 "Driver is initializing" while it starts, which is when dockerd restores
    // its volumes with Get: a known volume is not absent because pxd is not ready yet.
    if (reply.status !== 200 && this.deps.state.get(req.Name)) return this.getFromState(req.Name, `HTTP ${reply.status}`);
    const err = replyErr(reply);
    if (err) return { Err: err };
    const vol = reply.json?.Volume as Reply | undefined;
    if (!vol || typeof vol !== 'object') throw badReply(this.deps.backend.label, 'Get', reply);
    if (typeof vol.Name === 'string' && vol.Name !== req.Name) {
      this.deps.logger.debug({ asked: redactName(req.Name), got: redactName(vol.Name) }, 'backend Get answered another Name; echoing the requested one');
    }
    const out: Reply = { Name: req.Name, Mountpoint: this.displayMountpoint(req.Name, vol.Mountpoint) };
    if (typeof vol.CreatedAt === 'string') out.CreatedAt = vol.CreatedAt;
    if (vol.Status && typeof vol.Status === 'object') out.Status = scrubDeep(vol.Status);
    this.deps.state.learn(req.Name, (e) => this.deps.logger.warn({ err: e }, 'could not record a known volume'));
    return { Volume: out, Err: '' };
  }

  private getFromState(name: string, why: string): Reply {
    this.deps.logger.warn({ volume: redactName(name), why }, 'backend unavailable: answering Get for a known volume from state');
    return { Volume: { Name: name, Mountpoint: '' }, Err: '' };
  }

  private async path(req: PluginRequest): Promise<Reply> {
    const reply = await this.forward('VolumeDriver.Path', { Name: this.backendName(req.Name) }, this.now() + budgetMs('VolumeDriver.Path'));
    const err = this.passErr('Path', reply);
    if (err) return { Err: err };
    // An empty Mountpoint without an Err is as dangerous here as on Mount (pxd says "volume not mounted").
    const mp = reply.json?.Mountpoint;
    const why = checkMountpoint(mp, this.deps.settings.mountsRoot);
    if (why) throw unsafeMountpoint(redactName(req.Name), mp, why, this.deps.settings.mountsRoot, this.deps.backend.label);
    return { Mountpoint: mp, Err: '' };
  }

  private async unmount(req: PluginRequest): Promise<Reply> {
    const body: Reply = { Name: this.backendName(req.Name) };
    if (req.ID !== undefined) body.ID = req.ID;
    const reply = await this.forward('VolumeDriver.Unmount', body, this.now() + budgetMs('VolumeDriver.Unmount'));
    if (reply.status === 200 && !reply.json) throw badReply(this.deps.backend.label, 'Unmount', reply);
    return { Err: replyErr(reply) };
  }

  /** The Err of a pass-through reply. A 200 that is not JSON is no plugin reply: never relayed to Docker as an Err text. */
  private passErr(endpoint: string, reply: BackendReply): string {
    if (reply.status === 200 && !reply.json) throw badReply(this.deps.backend.label, endpoint, reply);
    return replyErr(reply);
  }

  /** For Get and List a bad mountpoint is blanked (never an Err there); Mount and Path refuse it. */
  private displayMountpoint(name: string, mp: unknown): string {
    if (mp === undefined || mp === null || mp === '') return '';
    const why = checkMountpoint(mp, this.deps.settings.mountsRoot);
    if (!why) return mp as string;
    this.deps.logger.warn({ volume: redactName(name), why }, 'backend reported an unsafe mountpoint; hiding it');
    return '';
  }

  // ---- authenticated calls ------------------------------------------------------------------

  private async authenticated(endpoint: Endpoint, req: PluginRequest): Promise<Reply> {
    const operation = OPERATION[endpoint]!;
    const started = this.now();
    const deadline = started + budgetMs(endpoint);
    const t0 = performance.now();
    let parsed: ParsedName | undefined;
    let token: ResolvedToken | undefined;
    let verified: VerifiedToken | undefined;
    let forwarded = false;
    try {
      parsed = parseName(req.Name);
      assertExpressibleForPxd(parsed);
      const opts = endpoint === 'VolumeDriver.Create' ? parseOpts(req.Opts) : new Map<string, string>();
      // What pxd is asked to do besides authenticating: Create's spec, Mount's passphrase, nothing for Remove.
      const spec = endpoint === 'VolumeDriver.Create' ? createSpec(parsed, opts) : endpoint === 'VolumeDriver.Mount' ? mountSpec(parsed) : new Map<string, string>();
      // Refuse what pxd could not read back before any secret is read (a stand-in token; the real
      // one is read back again below). A Create by an inline name must also make a Mount that works.
      const trial = { volume: parsed.volumeName, token: TRIAL_TOKEN };
      forwardedBody(operation, { ...trial, spec });
      if (endpoint === 'VolumeDriver.Create' && parsed.inline) forwardedBody('mount', { ...trial, spec: mountSpec(parsed) });
      token = await this.resolveToken(parsed, opts, req.Name, operation, deadline);
      verified = await this.verify(token);
      const decision = decide(this.deps.settings.policy, {
        operation,
        volumeName: parsed.volumeName,
        roles: verified.roles,
        secretPath: 'secretPath' in token.source ? token.source.secretPath : undefined,
        references: PXD_VOLUME_REFERENCE_KEYS.filter((k) => spec.has(k)).map((k) => ({ option: k, volumeName: spec.get(k)! })),
      });
      if (!decision.allow) {
        throw new ProxyError(decision.code, `${decision.message} (${describeSource(token.source)}, user ${verified.username})`, { volume: parsed.volumeName });
      }
      // Built, then read back as pxd will read it: forwarded only if pxd sees what was checked.
      const body = forwardedBody(operation, { volume: parsed.volumeName, token: token.value, spec }, endpoint === 'VolumeDriver.Mount' ? req.ID : undefined);
      // A reference given with -o token_secret exists only in this request (Docker sends options to
      // Create only): it is on disk before pxd creates anything, or the Create is refused.
      const undo = endpoint === 'VolumeDriver.Create' && token.source.kind === 'opts-secret' ? await this.recordReference(req.Name, token.source.secretPath) : undefined;
      forwarded = true;
      let reply: Reply;
      try {
        reply = await this.forwardAuthenticated(endpoint, body, parsed, verified.username, deadline);
      } catch (e) {
        await undo?.();
        throw e;
      }
      // Done at pxd: the rest of the state is bookkeeping (List's names), never a reason to report failure.
      if (endpoint === 'VolumeDriver.Create') await this.bestEffort(this.deps.state.remember(req.Name));
      if (endpoint === 'VolumeDriver.Remove') await this.bestEffort(this.deps.state.forget(req.Name, ...(this.dockerNamesByVolume().get(parsed.volumeName) ?? [])));
      this.record(operation, parsed, token, verified, 'allow', 'ROLE_ALLOWED', t0, undefined, undefined, true);
      return reply;
    } catch (e) {
      const err = asProxyError(e);
      const volume = parsed?.volumeName ?? redactName(req.Name).slice(0, 200);
      this.record(operation, parsed, token, verified, verdictOf(err.code), err.code, t0, err.message, volume, forwarded);
      throw err;
    }
  }

  /** Record `secretPath` for `name`; the function returned puts back what was there before. */
  private async recordReference(name: string, secretPath: string): Promise<() => Promise<void>> {
    const previous = this.deps.state.get(name);
    await this.deps.state.remember(name, secretPath);
    return () =>
      this.bestEffort(
        previous ? this.deps.state.remember(name, previous.secretPath ?? null) : this.deps.state.forget(name),
        'the state file could not be put back after pxd refused the Create; it may name a reference for a volume that does not exist',
      );
  }

  private async bestEffort(write: Promise<void>, why = 'the state file was not updated; the request itself was done'): Promise<void> {
    await write.catch((e) => {
      const err = asProxyError(e);
      this.deps.logger.warn({ code: err.code, msg: err.message }, why);
    });
  }

  private async resolveToken(parsed: ParsedName, opts: ReadonlyMap<string, string>, dockerName: string, operation: Operation, deadline: number): Promise<ResolvedToken> {
    const token = await resolveToken(
      { secrets: this.deps.secrets, state: this.deps.state, basePath: this.deps.settings.secretsBasePath, volumeSecrets: this.deps.settings.volumeSecrets },
      parsed,
      opts,
      dockerName,
      operation,
      Math.max(1_000, Math.min(45_000, deadline - this.now() - 10_000)),
    );
    if (token.stale && 'secretPath' in token.source) {
      this.deps.logger.warn({ secretPath: token.source.secretPath }, 'secret store failing: using the cached token (stale-if-error)');
    }
    return token;
  }

  private async verify(token: ResolvedToken): Promise<VerifiedToken> {
    try {
      return await this.deps.verifier.verify(token.value, { source: token.source });
    } catch (e) {
      // A token that fails must not stay cached as good: re-read the secret next time.
      if ('secretPath' in token.source) this.deps.secrets.invalidate?.(token.source.secretPath);
      throw e;
    }
  }

  private async forwardAuthenticated(endpoint: Endpoint, body: ForwardedBody, parsed: ParsedName, username: string, deadline: number): Promise<Reply> {
    const reply = await this.forward(endpoint, body, deadline);
    const operation = OPERATION[endpoint]!;
    const refused = reply.status !== 200 || !reply.json || (typeof reply.json.Err === 'string' && reply.json.Err !== '');
    if (refused) {
      if (reply.status === 200 && !reply.json) throw badReply(this.deps.backend.label, endpoint, reply);
      throw backendRefusal(operation, parsed.volumeName, username, this.deps.backend.label, reply);
    }
    if (endpoint !== 'VolumeDriver.Mount') return { Err: '' };
    const mp = reply.json!.Mountpoint;
    const why = checkMountpoint(mp, this.deps.settings.mountsRoot);
    if (why) {
      // pxd did mount: undo it (best effort) so nothing stays attached for a container that never starts.
      const undo: Reply = { Name: `name=${parsed.volumeName}` };
      if (body.ID !== undefined) undo.ID = body.ID;
      await this.forward('VolumeDriver.Unmount', undo, deadline).catch((e) => this.deps.logger.warn({ volume: parsed.volumeName, err: asProxyError(e).message }, 'could not undo the refused mount'));
      throw unsafeMountpoint(parsed.volumeName, mp, why, this.deps.settings.mountsRoot, this.deps.backend.label);
    }
    return { Mountpoint: mp, Err: '' };
  }

  private record(
    operation: Operation,
    parsed: ParsedName | undefined,
    token: ResolvedToken | undefined,
    verified: VerifiedToken | undefined,
    decision: Verdict,
    reason: ErrorCode | 'ROLE_ALLOWED',
    t0: number,
    message?: string,
    volume?: string,
    forwarded = false,
  ): void {
    this.deps.observer?.decision?.(operation, decision, reason);
    audit(this.deps.logger, {
      operation,
      volume: volume ?? parsed?.volumeName ?? '',
      subject: verified?.username,
      issuer: verified?.issuer,
      roles: verified?.roles,
      secretPath: token && 'secretPath' in token.source ? token.source.secretPath : undefined,
      tokenSource: token?.source.kind,
      decision,
      reason,
      forwarded,
      latencyMs: Math.round((performance.now() - t0) * 10) / 10,
      message,
    });
  }
}

/**
 * allow: the operation was done. deny: refused, by the proxy (token, policy, bad input) or by pxd.
 * error: it could not be decided or done (a store or pxd unreachable, state not written).
 */
export type Verdict = 'allow' | 'deny' | 'error';

const FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BACKEND_UNREACHABLE',
  'BACKEND_TIMEOUT',
  'BACKEND_BAD_REPLY',
  'SECRET_STORE_UNAVAILABLE',
  'SECRET_STORE_TIMEOUT',
  'SECRET_STORE_LOGIN_FAILED',
  'SECRET_STORE_TLS',
  'STATE_WRITE_FAILED',
  'INTERNAL',
]);

function verdictOf(code: ErrorCode): Verdict {
  return FAILURES.has(code) ? 'error' : 'deny';
}
