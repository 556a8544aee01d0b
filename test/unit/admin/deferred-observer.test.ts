import { describe, expect, it } from 'vitest';
import { DeferredObserver } from '../../../src/admin/deferred-observer.js';
import type { ProxyObserver } from '../../../src/proxy/volume-proxy.js';

function recorder(): { calls: string[]; observer: Required<ProxyObserver> } {
  const calls: string[] = [];
  return {
    calls,
    observer: {
      request: (e, o, s) => calls.push(`request ${e} ${o} ${s}`),
      decision: (op, d, r) => calls.push(`decision ${op} ${d} ${r}`),
      backend: (e, o, s) => calls.push(`backend ${e} ${o} ${s}`),
    },
  };
}

describe('DeferredObserver', () => {
  it('replays what arrived before attach, in order, then passes calls straight through', () => {
    const d = new DeferredObserver();
    d.backend('VolumeDriver.Mount', 'ok', 0.001);
    d.decision('mount', 'allow', 'ROLE_ALLOWED');
    d.request('VolumeDriver.Mount', 'ok', 0.002);
    const r = recorder();
    d.attach(r.observer);
    expect(r.calls).toEqual([
      'backend VolumeDriver.Mount ok 0.001',
      'decision mount allow ROLE_ALLOWED',
      'request VolumeDriver.Mount ok 0.002',
    ]);
    d.request('VolumeDriver.Get', 'ok', 0.003);
    expect(r.calls.at(-1)).toBe('request VolumeDriver.Get ok 0.003');
    expect(r.calls).toHaveLength(4);
    expect(d.dropped).toBe(0);
  });

  it('holds a bounded number of events and counts the ones it drops', () => {
    const d = new DeferredObserver();
    for (let i = 0; i < 10_005; i++) d.request('VolumeDriver.Get', 'ok', i);
    const r = recorder();
    d.attach(r.observer);
    expect(r.calls).toHaveLength(10_000);
    expect(r.calls[0]).toBe('request VolumeDriver.Get ok 0');
    expect(d.dropped).toBe(5);
  });
});
