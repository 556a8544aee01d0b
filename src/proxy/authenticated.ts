/**
 * Create, Remove and Mount: parse → resolve → verify → decide → forward → sanitize. One Attempt
 * carries what each step learnt, for the next step and for the audit line written at the end.
 */
import { ProxyError, asProxyError, verdictOf, type ErrorCode } from '../errors.js';
import type { Endpoint, PluginRequest } from '../plugin/protocol.js';
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
import { describeSource, type VerifiedToken } from '../tokens/types.js';
import { decide } from '../policy/decide.js';
import type { Operation } from '../operations.js';
import { backendRefusal, badReply, checkMountpoint, unsafeMountpoint } from '../backend/replies.js';
import { audit } from '../audit/audit.js';
import { callBackend } from './backend-call.js';
import { Bookkeeping } from './bookkeeping.js';
import { AUTHENTICATED, budgetMs, type ProxyDeps, type Reply, type Verdict } from './types.js';

/** Shaped like a JWT for the read-back done before a token is resolved; never sent anywhere. */
const TRIAL_TOKEN = 'eyJ0.eyJ0.c2ln';

/** What one authenticated call has learnt so far. */
interface Attempt {
  readonly endpoint: Endpoint;
  readonly operation: Operation & PxdOperation;
  readonly req: PluginRequest;
  readonly deadline: number;
  /** performance.now() at the start, for the audit line's latency. */
  readonly t0: number;
  parsed?: ParsedName;
  /** What pxd is asked to do besides authenticating: Create's spec, Mount's passphrase, nothing for Remove. */
  spec?: Map<string, string>;
  token?: ResolvedToken;
  verified?: VerifiedToken;
  forwarded: boolean;
}

export class AuthenticatedPipeline {
  private readonly now: () => number;
  private readonly bookkeeping: Bookkeeping;

  constructor(private readonly deps: ProxyDeps) {
    this.now = deps.now ?? Date.now;
    this.bookkeeping = new Bookkeeping(deps);
  }

  async run(endpoint: Endpoint, req: PluginRequest): Promise<Reply> {
    const a: Attempt = {
      endpoint,
      operation: AUTHENTICATED[endpoint]!,
      req,
      deadline: this.now() + budgetMs(endpoint),
      t0: performance.now(),
      forwarded: false,
    };
    try {
      const opts = this.parse(a);
      const token = await this.resolve(a, opts);
      const verified = await this.verify(a, token);
      this.decide(a, token, verified);
      const reply = await this.forward(a, token, verified);
      this.record(a, 'allow', 'ROLE_ALLOWED');
      return reply;
    } catch (e) {
      const err = asProxyError(e);
      this.record(a, verdictOf(err.code), err.code, err.message);
      throw err;
    }
  }

  /** The name, the options and the spec; refuses what pxd could not read back before any secret is read. */
  private parse(a: Attempt): ReadonlyMap<string, string> {
    const parsed = parseName(a.req.Name);
    a.parsed = parsed;
    assertExpressibleForPxd(parsed);
    const opts = a.endpoint === 'VolumeDriver.Create' ? parseOpts(a.req.Opts) : new Map<string, string>();
    a.spec =
      a.endpoint === 'VolumeDriver.Create' ? createSpec(parsed, opts) : a.endpoint === 'VolumeDriver.Mount' ? mountSpec(parsed) : new Map();
    // A Create is read back before any secret is read (with a stand-in token; the real one is read
    // back again before forwarding), and by an inline name it must also make a Mount pxd can read.
    // Mount and Remove are read back once, with their token, in forward().
    if (a.endpoint === 'VolumeDriver.Create') {
      const trial = { volume: parsed.volumeName, token: TRIAL_TOKEN };
      forwardedBody('create', { ...trial, spec: a.spec });
      if (parsed.inline) forwardedBody('mount', { ...trial, spec: mountSpec(parsed) });
    }
    return opts;
  }

  private async resolve(a: Attempt, opts: ReadonlyMap<string, string>): Promise<ResolvedToken> {
    const { deps } = this;
    const token = await resolveToken(
      {
        secrets: deps.secrets,
        state: deps.state,
        basePath: deps.settings.secretsBasePath,
        volumeSecrets: deps.settings.volumeSecrets,
        ...(deps.registry ? { registry: deps.registry } : {}),
      },
      a.parsed!,
      opts,
      a.req.Name,
      a.operation,
      Math.max(1_000, Math.min(45_000, a.deadline - this.now() - 10_000)),
    );
    a.token = token;
    if (token.stale && 'secretPath' in token.source) {
      deps.logger.warn({ secretPath: token.source.secretPath }, 'secret store failing: using the cached token (stale-if-error)');
    }
    return token;
  }

  private async verify(a: Attempt, token: ResolvedToken): Promise<VerifiedToken> {
    try {
      a.verified = await this.deps.verifier.verify(token.value, { source: token.source });
      return a.verified;
    } catch (e) {
      // A token that fails must not stay cached as good: re-read the secret next time.
      if ('secretPath' in token.source) this.deps.secrets.invalidate?.(token.source.secretPath);
      throw e;
    }
  }

  /** Roles and bindings, for the volume and for every other volume the request names (a clone's parent). */
  private decide(a: Attempt, token: ResolvedToken, verified: VerifiedToken): void {
    const volumeName = a.parsed!.volumeName;
    const spec = a.spec!;
    const decision = decide(this.deps.settings.policy, {
      operation: a.operation,
      volumeName,
      roles: verified.roles,
      secretPath: 'secretPath' in token.source ? token.source.secretPath : undefined,
      references: PXD_VOLUME_REFERENCE_KEYS.filter((k) => spec.has(k)).map((k) => ({ option: k, volumeName: spec.get(k)! })),
    });
    if (!decision.allow) {
      throw new ProxyError(decision.code, `${decision.message} (${describeSource(token.source)}, user ${verified.username})`, {
        volume: volumeName,
      });
    }
  }

  /** Built, then read back as pxd will read it; sent only if pxd sees what was checked. */
  private async forward(a: Attempt, token: ResolvedToken, verified: VerifiedToken): Promise<Reply> {
    const parsed = a.parsed!;
    const body = forwardedBody(
      a.operation,
      { volume: parsed.volumeName, token: token.value, spec: a.spec! },
      a.endpoint === 'VolumeDriver.Mount' ? a.req.ID : undefined,
    );
    const undo = await this.bookkeeping.beforeForward(a.endpoint, a.req.Name, parsed.volumeName, token.source, verified.username);
    a.forwarded = true;
    let reply: Reply;
    try {
      reply = await this.sanitized(a, body, verified.username);
    } catch (e) {
      await undo?.();
      throw e;
    }
    await this.bookkeeping.afterDone(a.endpoint, a.req.Name, parsed.volumeName, token.source);
    return reply;
  }

  /** pxd's reply as Docker may see it: a refusal as a ProxyError, a Mount's mountpoint checked. */
  private async sanitized(a: Attempt, body: ForwardedBody, username: string): Promise<Reply> {
    const volume = a.parsed!.volumeName;
    const { label } = this.deps.backend;
    const reply = await callBackend(this.deps, a.endpoint, body, a.deadline);
    const refused = reply.status !== 200 || !reply.json || (typeof reply.json.Err === 'string' && reply.json.Err !== '');
    if (refused) {
      if (reply.status === 200 && !reply.json) throw badReply(label, a.endpoint, reply);
      throw backendRefusal(a.operation, volume, username, label, reply);
    }
    if (a.endpoint !== 'VolumeDriver.Mount') return { Err: '' };
    const mp = reply.json!.Mountpoint;
    const why = checkMountpoint(mp, this.deps.settings.mountsRoot);
    if (why) {
      // pxd did mount: undo it (best effort) so nothing stays attached for a container that never starts.
      const undo: Reply = { Name: `name=${volume}` };
      if (body.ID !== undefined) undo.ID = body.ID;
      await callBackend(this.deps, 'VolumeDriver.Unmount', undo, a.deadline).catch((e) =>
        this.deps.logger.warn({ volume, err: asProxyError(e).message }, 'could not undo the refused mount'),
      );
      throw unsafeMountpoint(volume, mp, why, this.deps.settings.mountsRoot, label);
    }
    return { Mountpoint: mp, Err: '' };
  }

  /** The decision's metric and audit line, from what the attempt learnt. */
  private record(a: Attempt, decision: Verdict, reason: ErrorCode | 'ROLE_ALLOWED', message?: string): void {
    this.deps.observer?.decision?.(a.operation, decision, reason);
    audit(this.deps.logger, {
      operation: a.operation,
      volume: a.parsed?.volumeName ?? redactName(a.req.Name).slice(0, 200),
      subject: a.verified?.username,
      issuer: a.verified?.issuer,
      roles: a.verified?.roles,
      secretPath: a.token && 'secretPath' in a.token.source ? a.token.source.secretPath : undefined,
      tokenSource: a.token?.source.kind,
      decision,
      reason,
      forwarded: a.forwarded,
      latencyMs: Math.round((performance.now() - a.t0) * 10) / 10,
      message,
    });
  }
}
