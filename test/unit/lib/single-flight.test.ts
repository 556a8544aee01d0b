import { describe, expect, it } from 'vitest';
import { raceAbort, SingleFlight } from '../../../src/lib/single-flight.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('shares one run per key; a settled run is forgotten', async () => {
    const f = new SingleFlight<string>();
    const d = deferred<string>();
    let starts = 0;
    const start = () => {
      starts++;
      return d.promise;
    };
    const a = f.join('k', start);
    const b = f.join('k', start);
    expect([a.joined, b.joined, a.seq === b.seq, starts]).toEqual([false, true, true, 1]);
    expect(f.running('k')).toBe(a.promise);
    d.resolve('v');
    expect(await b.promise).toBe('v');
    expect(f.size).toBe(0);
    const c = f.join('k', () => Promise.resolve('w'));
    expect(c.joined).toBe(false);
    expect(c.seq).toBeGreaterThan(a.seq);
  });

  it('sequence guard: a forgotten run is no longer current, and does not remove its successor', async () => {
    const f = new SingleFlight<string>();
    const slow = deferred<string>();
    const a = f.join('k', () => slow.promise);
    expect(f.isCurrent('k', a.seq)).toBe(true);
    expect(f.forget('k')).toBe(true);
    expect(f.isCurrent('k', a.seq)).toBe(false);
    const fresh = deferred<string>();
    const b = f.join('k', () => fresh.promise);
    slow.resolve('old');
    await a.promise;
    expect(f.isCurrent('k', b.seq)).toBe(true);
    fresh.resolve('new');
    await b.promise;
    expect(f.size).toBe(0);
  });

  it('turns a synchronous throw into the run rejection, never an unhandled one', async () => {
    const f = new SingleFlight<string>();
    const a = f.join('k', () => {
      throw new Error('boom');
    });
    await expect(a.promise).rejects.toThrow('boom');
    f.join('other', () => Promise.reject(new Error('nobody waits'))); // must not fail the test run
    await new Promise((r) => setTimeout(r, 5));
  });
});

describe('raceAbort', () => {
  it('rejects the caller that gives up while the shared promise goes on', async () => {
    const d = deferred<string>();
    const ac = new AbortController();
    const waiting = raceAbort(d.promise, ac.signal, () => new Error('gave up'));
    ac.abort();
    await expect(waiting).rejects.toThrow('gave up');
    d.resolve('v');
    expect(await raceAbort(d.promise, undefined, () => new Error('x'))).toBe('v');
    const pre = new AbortController();
    pre.abort();
    await expect(raceAbort(d.promise, pre.signal, () => new Error('already'))).rejects.toThrow('already');
  });
});
