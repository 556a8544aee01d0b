/**
 * The calls pxd answers without a token: Capabilities, List, Get, Path and Unmount. They go through
 * whatever the state of the secret store or of any token, and are never refused for the shape of a
 * name: an Err from Get makes dockerd forget the volume.
 */
import { asProxyError } from '../errors.js';
import type { Endpoint, PluginRequest } from '../plugin/protocol.js';
import { parseName, redactName } from '../volume-name/index.js';
import type { BackendReply } from '../backend/client.js';
import { badReply, checkMountpoint, replyErr, unsafeMountpoint } from '../backend/replies.js';
import { scrubDeep } from '../audit/scrub.js';
import { callBackend } from './backend-call.js';
import { dockerNamesByVolume } from './bookkeeping.js';
import { budgetMs, type ProxyDeps, type Reply } from './types.js';

export class PassThrough {
  private readonly now: () => number;

  constructor(private readonly deps: ProxyDeps) {
    this.now = deps.now ?? Date.now;
  }

  private call(endpoint: Endpoint, body: unknown, deadline: number): Promise<BackendReply> {
    return callBackend(this.deps, endpoint, body, deadline);
  }

  async capabilities(): Promise<Reply> {
    if (this.deps.settings.scope) return { Capabilities: { Scope: this.deps.settings.scope } };
    const reply = await this.call('VolumeDriver.Capabilities', {}, this.now() + budgetMs('VolumeDriver.Capabilities'));
    const caps = reply.json?.Capabilities as { Scope?: unknown } | undefined;
    const scope = caps?.Scope === 'global' || caps?.Scope === 'local' ? caps.Scope : undefined;
    if (reply.status !== 200 || !scope) {
      const err = this.passErr('Capabilities', reply);
      if (err) return { Err: err };
      throw badReply(this.deps.backend.label, 'Capabilities', reply);
    }
    return { Capabilities: { Scope: scope } };
  }

  async list(): Promise<Reply> {
    const reply = await this.call('VolumeDriver.List', {}, this.now() + budgetMs('VolumeDriver.List'));
    const err = this.passErr('List', reply);
    if (err) return { Err: err };
    const vols = reply.json?.Volumes;
    if (vols !== undefined && vols !== null && !Array.isArray(vols)) throw badReply(this.deps.backend.label, 'List', reply);
    // pxd lists short names (myvol1); Docker can only use the names it was given
    // (token_secret=...,name=myvol1), so those are listed where the proxy knows them.
    const dockerNames = dockerNamesByVolume(this.deps.state);
    const out: Array<{ Name: string; Mountpoint: string }> = [];
    for (const v of (vols as unknown[] | null | undefined) ?? []) {
      if (!v || typeof v !== 'object' || typeof (v as Reply).Name !== 'string') continue;
      const name = (v as Reply).Name as string;
      const mp = this.displayMountpoint(name, (v as Reply).Mountpoint);
      for (const n of dockerNames.get(name) ?? [redactName(name)]) out.push({ Name: n, Mountpoint: mp });
    }
    return { Volumes: out, Err: '' };
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
  async get(req: PluginRequest): Promise<Reply> {
    let reply: BackendReply;
    try {
      reply = await this.call('VolumeDriver.Get', { Name: this.backendName(req.Name) }, this.now() + budgetMs('VolumeDriver.Get'));
      this.passErr('Get', reply);
    } catch (e) {
      const err = asProxyError(e);
      // Backend briefly away (or babbling): a volume we know exists must not be reported absent (dockerd
      // would drop it from its records on restart). Unknown names get the error.
      if (
        (err.code === 'BACKEND_UNREACHABLE' || err.code === 'BACKEND_TIMEOUT' || err.code === 'BACKEND_BAD_REPLY') &&
        this.deps.state.get(req.Name)
      ) {
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
      this.deps.logger.debug(
        { asked: redactName(req.Name), got: redactName(vol.Name) },
        'backend Get answered another Name; echoing the requested one',
      );
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

  async path(req: PluginRequest): Promise<Reply> {
    const reply = await this.call('VolumeDriver.Path', { Name: this.backendName(req.Name) }, this.now() + budgetMs('VolumeDriver.Path'));
    const err = this.passErr('Path', reply);
    if (err) return { Err: err };
    // An empty Mountpoint without an Err is as dangerous here as on Mount (pxd says "volume not mounted").
    const mp = reply.json?.Mountpoint;
    const why = checkMountpoint(mp, this.deps.settings.mountsRoot);
    if (why) throw unsafeMountpoint(redactName(req.Name), mp, why, this.deps.settings.mountsRoot, this.deps.backend.label);
    return { Mountpoint: mp, Err: '' };
  }

  async unmount(req: PluginRequest): Promise<Reply> {
    const body: Reply = { Name: this.backendName(req.Name) };
    if (req.ID !== undefined) body.ID = req.ID;
    const reply = await this.call('VolumeDriver.Unmount', body, this.now() + budgetMs('VolumeDriver.Unmount'));
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
}
