import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { jwtExpiryMs, SecretCache, type SecretLoader } from '../../../src/secrets/cache.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function jwt(exp: number): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ exp })}.sig`;
}

const down = () => new ProxyError('SECRET_STORE_UNAVAILABLE', 'down');

function setup(opts: { ttlMs?: number; maxStaleMs?: number; maxEntries?: number } = {}) {
  let now = 1_000_000;
  const calls: string[] = [];
  let impl: SecretLoader = async (path) => `value-of-${path}`;
  const cache = new SecretCache(
    (path, signal) => {
      calls.push(path);
      return impl(path, signal);
    },
    { ttlMs: opts.ttlMs ?? 60_000, maxStaleMs: opts.maxStaleMs ?? 300_000, maxEntries: opts.maxEntries ?? 100, now: () => now },
  );
  return {
    cache,
    calls,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    loader: (f: SecretLoader) => {
      impl = f;
    },
  };
}

describe('SecretCache', () => {
  it('serves within the TTL and fetches again after it', async () => {
    const t = setup();
    expect(await t.cache.get('a')).toEqual({ value: 'value-of-a' });
    t.advance(59_999);
    expect(await t.cache.get('a')).toEqual({ value: 'value-of-a' });
    t.advance(1);
    await t.cache.get('a');
    expect(t.calls).toEqual(['a', 'a']);
    expect(t.cache.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  it('peek answers a fresh value without loading, and nothing otherwise', async () => {
    const t = setup();
    expect(t.cache.peek('a')).toBeUndefined();
    expect(t.calls).toEqual([]);
    await t.cache.get('a');
    expect(t.cache.peek('a')).toEqual({ value: 'value-of-a' });
    expect(t.cache.stats()).toMatchObject({ hits: 1, misses: 1 });
    t.advance(60_000); // no longer fresh: the caller must get() (which reloads or serves stale)
    expect(t.cache.peek('a')).toBeUndefined();
    expect(t.calls).toEqual(['a']);
  });

  it('is single-flight per path: 100 concurrent gets, one load', async () => {
    const t = setup();
    const d = deferred<string>();
    t.loader(() => d.promise);
    const all = Promise.all(Array.from({ length: 100 }, () => t.cache.get('p')));
    d.resolve('v');
    expect((await all).every((r) => r.value === 'v')).toBe(true);
    expect(t.calls).toEqual(['p']);
    expect(t.cache.stats()).toMatchObject({ misses: 1, inflightJoins: 99 });
  });

  it('does not cache failures', async () => {
    const t = setup();
    t.loader(async () => {
      throw down();
    });
    await expect(t.cache.get('p')).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
    await expect(t.cache.get('p')).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
    expect(t.calls).toHaveLength(2);
    expect(t.cache.stats()).toMatchObject({ errors: 2, size: 0 });
  });

  it('serves stale while the store fails, up to max-stale past the TTL', async () => {
    const t = setup({ ttlMs: 60_000, maxStaleMs: 300_000 });
    await t.cache.get('p');
    t.loader(async () => {
      throw down();
    });
    t.advance(60_000);
    expect(await t.cache.get('p')).toEqual({ value: 'value-of-p', stale: true });
    t.advance(299_999);
    expect(await t.cache.get('p')).toEqual({ value: 'value-of-p', stale: true });
    t.advance(1);
    await expect(t.cache.get('p')).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
    expect(t.cache.stats().stale).toBe(2);
  });

  it.each(['SECRET_NOT_FOUND', 'SECRET_FORBIDDEN', 'SECRET_NOT_TEXT', 'SECRET_EMPTY'] as const)(
    'never serves stale after %s, and drops the entry',
    async (code) => {
      const t = setup();
      await t.cache.get('p');
      t.advance(61_000);
      t.loader(async () => {
        throw new ProxyError(code, 'no', { secretPath: 'p' });
      });
      await expect(t.cache.get('p')).rejects.toMatchObject({ code });
      t.loader(async () => {
        throw down();
      });
      await expect(t.cache.get('p')).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
    },
  );

  it('never serves a JWT past its exp, fresh or stale', async () => {
    const t = setup({ ttlMs: 60_000, maxStaleMs: 300_000 });
    const exp = Math.floor(t.now() / 1000) + 30; // expires before the TTL ends
    t.loader(async () => jwt(exp));
    await t.cache.get('p');
    t.advance(29_000);
    await t.cache.get('p');
    expect(t.calls).toHaveLength(1);
    t.advance(1_000);
    t.loader(async () => {
      throw down();
    });
    await expect(t.cache.get('p')).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
  });

  it('hands on an already expired token but does not cache it', async () => {
    const t = setup();
    const old = jwt(Math.floor(t.now() / 1000) - 10);
    t.loader(async () => old);
    expect(await t.cache.get('p')).toEqual({ value: old });
    await t.cache.get('p');
    expect(t.calls).toHaveLength(2);
  });

  it('sequence guard: a slow load started before invalidate() never overwrites the newer value', async () => {
    const t = setup();
    const slow = deferred<string>();
    t.loader(() => slow.promise);
    const first = t.cache.get('p');
    t.cache.invalidate('p');
    t.loader(async () => 'new');
    expect(await t.cache.get('p')).toEqual({ value: 'new' });
    slow.resolve('old');
    expect(await first).toEqual({ value: 'old' }); // its own waiter gets it…
    expect(await t.cache.get('p')).toEqual({ value: 'new' }); // …the cache keeps the newer one
    expect(t.calls).toHaveLength(2);
  });

  it('sequence guard: a slow load that ends after invalidate() is not stored', async () => {
    const t = setup();
    const slow = deferred<string>();
    t.loader(() => slow.promise);
    const first = t.cache.get('p');
    t.cache.invalidate('p');
    slow.resolve('old');
    await first;
    t.loader(async () => 'new');
    expect(await t.cache.get('p')).toEqual({ value: 'new' });
  });

  it('a caller that gives up does not cancel the shared load', async () => {
    const t = setup();
    const d = deferred<string>();
    let loadSignal: AbortSignal | undefined;
    t.loader((_p, signal) => {
      loadSignal = signal;
      return d.promise;
    });
    const ac = new AbortController();
    const impatient = t.cache.get('p', ac.signal);
    const patient = t.cache.get('p');
    ac.abort();
    await expect(impatient).rejects.toMatchObject({ code: 'SECRET_STORE_TIMEOUT', details: { secretPath: 'p' } });
    expect(loadSignal?.aborted).toBe(false);
    d.resolve('v');
    expect(await patient).toEqual({ value: 'v' });
    expect(t.cache.stats().size).toBe(1);
  });

  it('a caller whose signal is already aborted gets no stale value either', async () => {
    const t = setup();
    await t.cache.get('p');
    t.advance(61_000);
    const ac = new AbortController();
    ac.abort();
    await expect(t.cache.get('p', ac.signal)).rejects.toMatchObject({ code: 'SECRET_STORE_TIMEOUT' });
  });

  it('is bounded (LRU)', async () => {
    const t = setup({ maxEntries: 3 });
    for (const p of ['a', 'b', 'c', 'd']) await t.cache.get(p);
    expect(t.cache.stats().size).toBe(3);
    await t.cache.get('a');
    expect(t.calls).toEqual(['a', 'b', 'c', 'd', 'a']);
  });

  it('ttl 0 always asks the store but still serves stale on failure', async () => {
    const t = setup({ ttlMs: 0, maxStaleMs: 10_000 });
    await t.cache.get('p');
    await t.cache.get('p');
    expect(t.calls).toHaveLength(2);
    t.loader(async () => {
      throw new ProxyError('SECRET_STORE_TIMEOUT', 'slow');
    });
    expect(await t.cache.get('p')).toEqual({ value: 'value-of-p', stale: true });
  });

  it('a loader that throws synchronously is a failed load, not a crash', async () => {
    const t = setup();
    t.loader(() => {
      throw down();
    });
    await expect(t.cache.get('p')).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
  });
});

describe('jwtExpiryMs', () => {
  it('reads exp without verifying, and ignores what is not a JWT', () => {
    expect(jwtExpiryMs(jwt(1234))).toBe(1_234_000);
    expect(jwtExpiryMs('not-a-jwt')).toBeUndefined();
    expect(jwtExpiryMs('a.b.c')).toBeUndefined();
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect(jwtExpiryMs(`${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.s`)).toBeUndefined();
    expect(jwtExpiryMs(`${b64({ alg: 'none' })}.${b64({ exp: '12' })}.s`)).toBeUndefined();
  });
});
