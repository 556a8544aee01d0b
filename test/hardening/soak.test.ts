/**
 * The soak, at test-suite size (npm run bench:hardening runs the same harness with 50,000 requests):
 * 10,000 requests over 32 connections through the real proxy, valid / expired / forged /
 * wrong-tenant tokens across 20 tenants, DC/OS flapping down and up every second. See bench/soak.ts.
 */
import { describe, expect, it } from 'vitest';
import { formatSoak, runSoak, type SoakResult } from '../../bench/soak.js';
import { writeFigures } from './helpers.js';

const REQUESTS = Number(process.env.PXA_SOAK_REQUESTS ?? 10_000);

describe('soak', () => {
  it(`${REQUESTS} requests over 32 connections while DC/OS flaps: no wrong decision, no leak, flat memory`, async () => {
    const r: SoakResult = await runSoak({ requests: REQUESTS, connections: 32, tenants: 20, flapMs: 1_000 });
    process.stdout.write(`${formatSoak(r)}\n`);
    writeFigures('soak', r);

    expect(r.examples).toEqual([]);
    expect(r.wrongAllows).toBe(0);
    expect(r.wrongDenies).toBe(0);
    expect(r.wrongReasons).toBe(0);
    // Stale-if-error carried every valid request through the outages too.
    expect(r.validDeniedDuringFlaps).toBe(0);
    expect(r.leaks).toBe(0);

    // The run really mixed what it claims, and DC/OS really flapped under it.
    for (const kind of [
      'valid-mount',
      'valid-get',
      'bad-token-get',
      'expired-inline',
      'forged-inline',
      'expired-secret',
      'forged-secret',
      'wrong-tenant',
    ]) {
      expect(r.byKind[kind] ?? 0, kind).toBeGreaterThan(REQUESTS / 50);
    }
    for (const code of ['TOKEN_EXPIRED', 'TOKEN_SIGNATURE_INVALID', 'POLICY_BINDING_DENIED'])
      expect(r.denyReasons[code] ?? 0, code).toBeGreaterThan(0);
    expect(r.dcosFlaps).toBeGreaterThanOrEqual(2);
    expect(r.staleServed).toBeGreaterThan(0);
    expect(r.allowed + r.denied).toBe(REQUESTS);
    // Every allowed Mount reached pxd; no denied one did.
    expect(r.forwardedMounts).toBe(r.byKind['valid-mount']);
    expect(r.logLines).toBeGreaterThan(REQUESTS / 2);

    // Memory flat: heap after a full GC at 100 % within a modest margin of the one at 10 %.
    expect(r.heapMiB.growth).toBeLessThan(Math.max(8, r.heapMiB.at10 * 0.25));
  }, 120_000);
});
