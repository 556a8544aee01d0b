/**
 * The Docker volume plugin's calls, answered: request → parse → resolve → verify → decide → forward
 * → sanitize reply for Create, Remove and Mount (authenticated.ts); Get, Path, List, Unmount and
 * Capabilities go to pxd without a token (pass-through.ts). Activate is answered here.
 */
import { asProxyError } from '../errors.js';
import { decodeBody, type Endpoint, type PluginRequest } from '../plugin/protocol.js';
import { AuthenticatedPipeline } from './authenticated.js';
import { PassThrough } from './pass-through.js';
import { AUTHENTICATED, type ProxyDeps, type Reply } from './types.js';

export type { ProxyDeps, ProxyObserver, ProxySettings, Verdict, Verifier } from './types.js';

export class VolumeProxy {
  private readonly passThrough: PassThrough;
  private readonly authenticated: AuthenticatedPipeline;

  constructor(private readonly deps: ProxyDeps) {
    this.passThrough = new PassThrough(deps);
    this.authenticated = new AuthenticatedPipeline(deps);
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
      // Authenticated calls have written their audit line; the others get a warning here.
      if (err.code === 'INTERNAL') this.deps.logger.error({ endpoint, err: e }, 'internal error');
      else if (!AUTHENTICATED[endpoint]) this.deps.logger.warn({ endpoint, code: err.code, detail: err.message }, `${endpoint} failed`);
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
        return this.passThrough.capabilities();
      case 'VolumeDriver.List':
        return this.passThrough.list();
      case 'VolumeDriver.Get':
        return this.passThrough.get(req!);
      case 'VolumeDriver.Path':
        return this.passThrough.path(req!);
      case 'VolumeDriver.Unmount':
        return this.passThrough.unmount(req!);
      case 'VolumeDriver.Create':
      case 'VolumeDriver.Remove':
      case 'VolumeDriver.Mount':
        return this.authenticated.run(endpoint, req!);
    }
  }
}
