import type { ProxyObserver } from '../proxy/volume-proxy.js';

/** Events held while the metrics are not loaded yet: a few hundred ms of traffic at most. */
const MAX_HELD = 10_000;

/**
 * The proxy's observer while the admin listener starts. express and prom-client cost about a fifth
 * of the start-up (bench/README.md) and serve nothing the plugin socket needs, so they are loaded
 * after the socket listens. Calls that arrive before then are held and replayed, so /metrics counts
 * every request from the first.
 */
export class DeferredObserver implements Required<ProxyObserver> {
  private target: ProxyObserver | undefined;
  private held: Array<(t: ProxyObserver) => void> = [];
  /** Events dropped because more than MAX_HELD arrived before attach(). */
  dropped = 0;

  request(...a: Parameters<Required<ProxyObserver>['request']>): void {
    if (this.target) this.target.request?.(...a);
    else this.hold((t) => t.request?.(...a));
  }

  decision(...a: Parameters<Required<ProxyObserver>['decision']>): void {
    if (this.target) this.target.decision?.(...a);
    else this.hold((t) => t.decision?.(...a));
  }

  backend(...a: Parameters<Required<ProxyObserver>['backend']>): void {
    if (this.target) this.target.backend?.(...a);
    else this.hold((t) => t.backend?.(...a));
  }

  /** From now on every call goes to `target`; the held ones are replayed first, in order. */
  attach(target: ProxyObserver): void {
    const held = this.held;
    this.held = [];
    for (const replay of held) replay(target);
    this.target = target;
  }

  private hold(replay: (t: ProxyObserver) => void): void {
    if (this.held.length < MAX_HELD) this.held.push(replay);
    else this.dropped++;
  }
}
