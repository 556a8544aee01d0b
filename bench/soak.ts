/**
 * The soak: many requests over 32 connections through the real proxy (unix socket, pxd double
 * behind it, the DC/OS double as its secret store) mixing valid, expired, forged and wrong-tenant
 * tokens across 20 tenants, while DC/OS flaps down and up every second. An oracle that knows each
 * token's kind judges every answer:
 *   - wrong allow: a request that had to be refused got a success;
 *   - wrong deny: a valid request refused while DC/OS was up (the stale-if-error cache must also
 *     carry valid requests through the outages; those are counted apart);
 *   - wrong reason: a refusal with another code than the one the token's kind calls for.
 * It also scans every log line for every token, signature, secret value and the DC/OS password,
 * and compares heapUsed after a full GC at 10 % and at 100 % of the run.
 *
 *   tsx bench/soak.ts [requests]      (npm run bench:hardening runs it with 50,000)
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Pool } from 'undici';
import { startDcosDouble, type DcosDouble } from '../test/doubles/dcos/server.js';
import { makeFixture, PASSWORD, USER } from '../test/integration/dcos/helpers.js';
import { startStack, type Stack } from '../test/helpers/stack.js';
import { SHARED_SECRET, userClaims } from '../test/helpers/tokens.js';
import { hmacJwt, leaks, needlesOf, nowSec, percentile, writeFigures } from '../test/hardening/helpers.js';

/** dockerd's mount IDs are 64 lowercase hex characters; the proxy refuses any other. */
const MOUNT_IDS = [0, 1, 2, 3].map((i) => createHash('sha256').update(`c${i}`).digest('hex'));

export interface SoakOptions {
  requests: number;
  connections?: number;
  tenants?: number;
  /** DC/OS toggles down/up this often (ms); 0 = never. */
  flapMs?: number;
  log?: (line: string) => void;
}

type Kind =
  'valid-mount' | 'valid-get' | 'bad-token-get' | 'expired-inline' | 'forged-inline' | 'expired-secret' | 'forged-secret' | 'wrong-tenant';

/** Weights of the mix (out of 100). */
const MIX: Array<[Kind, number]> = [
  ['valid-mount', 34],
  ['valid-get', 14],
  ['bad-token-get', 6],
  ['expired-inline', 10],
  ['forged-inline', 10],
  ['expired-secret', 5],
  ['forged-secret', 5],
  ['wrong-tenant', 16],
];
const EXPECTED_DENY: Partial<Record<Kind, string>> = {
  'expired-inline': 'TOKEN_EXPIRED',
  'forged-inline': 'TOKEN_SIGNATURE_INVALID',
  'expired-secret': 'TOKEN_EXPIRED',
  'forged-secret': 'TOKEN_SIGNATURE_INVALID',
  'wrong-tenant': 'POLICY_BINDING_DENIED',
};
const STORE_DOWN_CODES = ['SECRET_STORE_UNAVAILABLE', 'SECRET_STORE_TIMEOUT'];

export interface SoakResult {
  requests: number;
  connections: number;
  tenants: number;
  secrets: number;
  durationMs: number;
  requestsPerSecond: number;
  byKind: Record<string, number>;
  allowed: number;
  denied: number;
  denyReasons: Record<string, number>;
  wrongAllows: number;
  wrongDenies: number;
  wrongReasons: number;
  validDeniedDuringFlaps: number;
  dcosFlaps: number;
  dcosDownMs: number;
  staleServed: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  heapMiB: { at10: number; at100: number; growth: number };
  logLines: number;
  leaks: number;
  forwardedMounts: number;
  examples: string[];
}

function gcFunction(): () => void {
  v8.setFlagsFromString('--expose_gc');
  return vm.runInNewContext('gc') as () => void;
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const N = opts.requests;
  const C = opts.connections ?? 32;
  const T = opts.tenants ?? 20;
  const flapMs = opts.flapMs ?? 1_000;
  const log = opts.log ?? (() => undefined);
  const gc = gcFunction();
  const pad = (i: number) => `t${String(i).padStart(2, '0')}`;

  // ---- tokens and secrets
  const now = nowSec();
  const valid: string[] = [];
  const expired: string[] = [];
  const forged: string[] = [];
  const secrets: Record<string, string> = {};
  for (let i = 0; i < T; i++) {
    const c = userClaims(pad(i));
    valid.push(hmacJwt({ alg: 'HS256' }, { ...c, iat: now, exp: now + 3600 }, SHARED_SECRET));
    expired.push(hmacJwt({ alg: 'HS256' }, { ...c, iat: now - 7200, exp: now - 3600 }, SHARED_SECRET));
    forged.push(
      hmacJwt(
        { alg: 'HS256' },
        { ...c, roles: ['system.admin'], groups: ['*'], iat: now, exp: now + 3600 },
        `forger-${i}-not-the-real-secret`,
      ),
    );
    secrets[`pwx/tenants/${pad(i)}/token`] = valid[i]!;
  }
  const badSecretTenants = Math.min(5, T);
  for (let i = 0; i < badSecretTenants; i++) {
    secrets[`pwx/tenants/${pad(i)}/expired`] = expired[i]!;
    secrets[`pwx/tenants/${pad(i)}/forged`] = forged[i]!;
  }

  // ---- the doubles and the proxy
  const fx = makeFixture();
  const dcos: DcosDouble = await startDcosDouble({
    tls: fx.pki,
    users: { [USER]: PASSWORD },
    grants: { [USER]: ['dcos:secrets:default:/pwx/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
    secrets,
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-soak-'));
  const yaml = path.join(dir, 'policy.yaml');
  writeFileSync(
    yaml,
    [
      'policy:',
      '  bindings:',
      ...Array.from({ length: T }, (_, i) => `    - { secretPrefix: pwx/tenants/${pad(i)}, volumes: ["${pad(i)}-*"] }`),
      '',
    ].join('\n'),
  );
  const stack: Stack = await startStack({
    flags: {
      config: yaml,
      secrets: 'dcos',
      dcosUrl: dcos.url,
      dcosCaFile: fx.pki.ca.certFile,
      dcosUsername: USER,
      dcosPasswordFile: fx.file('password', PASSWORD),
      dcosTimeout: 2,
      secretCacheTtl: 1,
      secretMaxStale: 60,
      backendTimeout: 10,
    },
  });
  const pool = new Pool('http://localhost', { socketPath: stack.socket, connections: C, pipelining: 1, keepAliveTimeout: 60_000 });
  const call = async (endpoint: string, body: unknown): Promise<{ status: number; json: any; text: string }> => {
    const res = await pool.request({
      path: `/${endpoint}`,
      method: 'POST',
      headers: { accept: 'application/vnd.docker.plugins.v1.2+json' },
      body: JSON.stringify(body) + '\n',
    });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, text };
  };

  const needles = new Set<string>([PASSWORD]);
  for (const t of [...valid, ...expired, ...forged]) for (const n of needlesOf(t)) needles.add(n);
  let logLines = 0;
  let leakCount = 0;
  let forwardedMounts = 0;
  const examples: string[] = [];
  /** Scan the log lines written so far and drop them (the proxy's own memory is what is measured). */
  const drain = (): void => {
    const lines = stack.logs.splice(0);
    logLines += lines.length;
    // DC/OS auth tokens are secrets too; they are known once issued.
    for (const t of dcos.issuedTokens()) for (const n of needlesOf(t)) needles.add(n);
    const found = leaks(lines.join(''), needles);
    leakCount += found.length;
    if (found.length && examples.length < 5) examples.push(`leak: ${found[0]}`);
    const reqs = stack.pxd.requests.splice(0);
    for (const r of reqs) if (r.endpoint === '/VolumeDriver.Mount') forwardedMounts++;
    dcos.requests.length = 0;
  };

  const results = {
    byKind: {} as Record<string, number>,
    denyReasons: {} as Record<string, number>,
    allowed: 0,
    denied: 0,
    wrongAllows: 0,
    wrongDenies: 0,
    wrongReasons: 0,
    validDeniedDuringFlaps: 0,
  };
  const latencies = new Float64Array(N);
  let flapGen = 0;
  let flaps = 0;
  let downSince = 0;
  let downMs = 0;
  let lastToggle = 0;
  let flapper: NodeJS.Timeout | undefined;
  let staleBefore: number;

  try {
    // ---- set-up while DC/OS is up: volumes exist, every valid secret has been read once.
    for (let i = 0; i < T; i++) {
      for (const v of [0, 1]) {
        const r = await call('VolumeDriver.Create', { Name: `token_secret=pwx/tenants/${pad(i)}/token,name=${pad(i)}-v${v}` });
        if (r.json?.Err !== '') throw new Error(`soak set-up: create ${pad(i)}-v${v} failed: ${r.text}`);
      }
    }
    drain();
    staleBefore = stack.proxy.secrets.stats?.()?.stale ?? 0;

    // ---- the run
    let seq = 0;
    let rng = 0x9e3779b9;
    const random = (): number => {
      // xorshift32: a reproducible mix.
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return (rng >>> 0) / 0x100000000;
    };
    const pickKind = (): Kind => {
      let x = random() * 100;
      for (const [k, w] of MIX) if ((x -= w) < 0) return k;
      return 'valid-mount';
    };
    const one = async (): Promise<void> => {
      const id = seq++;
      const kind = pickKind();
      const i = Math.floor(random() * T);
      const j = (i + 1 + Math.floor(random() * (T - 1))) % T; // another tenant
      const b = Math.floor(random() * badSecretTenants);
      const vol = `${pad(i)}-v${id & 1}`;
      let endpoint = 'VolumeDriver.Mount';
      let body: Record<string, unknown>;
      switch (kind) {
        case 'valid-mount':
          body = { Name: `token_secret=pwx/tenants/${pad(i)}/token,name=${vol}`, ID: MOUNT_IDS[id % 4]! };
          break;
        case 'valid-get':
          endpoint = 'VolumeDriver.Get';
          body = { Name: `token_secret=pwx/tenants/${pad(i)}/token,name=${vol}` };
          break;
        case 'bad-token-get':
          endpoint = 'VolumeDriver.Get';
          body = { Name: `token=${id & 1 ? forged[i] : expired[i]},name=${vol}` };
          break;
        case 'expired-inline':
          body = { Name: `token=${expired[i]},name=${vol}`, ID: MOUNT_IDS[0]! };
          break;
        case 'forged-inline':
          body = { Name: `token=${forged[i]},name=${vol}`, ID: MOUNT_IDS[0]! };
          break;
        case 'expired-secret':
          body = { Name: `token_secret=pwx/tenants/${pad(b)}/expired,name=${pad(b)}-v0`, ID: MOUNT_IDS[0]! };
          break;
        case 'forged-secret':
          body = { Name: `token_secret=pwx/tenants/${pad(b)}/forged,name=${pad(b)}-v0`, ID: MOUNT_IDS[0]! };
          break;
        case 'wrong-tenant':
          body = { Name: `token_secret=pwx/tenants/${pad(i)}/token,name=${pad(j)}-v0`, ID: MOUNT_IDS[0]! };
          break;
      }
      const gen0 = flapGen;
      const up0 = !dcos.down;
      const calm0 = performance.now() - lastToggle > 250;
      const t0 = performance.now();
      const r = await call(endpoint, body);
      latencies[id] = performance.now() - t0;
      const stableUp = up0 && calm0 && gen0 === flapGen && !dcos.down;
      results.byKind[kind] = (results.byKind[kind] ?? 0) + 1;
      const err = typeof r.json?.Err === 'string' ? (r.json.Err as string) : undefined;
      const ok =
        r.status === 200 &&
        err === '' &&
        (endpoint === 'VolumeDriver.Get'
          ? r.json?.Volume?.Name === body.Name
          : r.json?.Mountpoint === `${stack.mountsRoot}/${vol}${MOUNT_IDS[id % 4]}`);
      const code = err ? (/^pxd-auth ([A-Z_]+): /.exec(err)?.[1] ?? 'OTHER') : undefined;
      const expected = EXPECTED_DENY[kind];
      if (ok) results.allowed++;
      else {
        results.denied++;
        results.denyReasons[code ?? 'NO_ERR'] = (results.denyReasons[code ?? 'NO_ERR'] ?? 0) + 1;
      }
      const note = (what: string) => {
        if (examples.length < 8) examples.push(`${what}: ${kind} ${endpoint} → ${r.text.slice(0, 200)}`);
      };
      if (expected) {
        if (ok) {
          results.wrongAllows++;
          note('wrong allow');
        } else {
          const acceptable = [expected, ...((kind === 'expired-secret' || kind === 'forged-secret') && !stableUp ? STORE_DOWN_CODES : [])];
          if (!code || !acceptable.includes(code)) {
            results.wrongReasons++;
            note('wrong reason');
          }
        }
      } else if (!ok) {
        if (stableUp) {
          results.wrongDenies++;
          note('wrong deny');
        } else results.validDeniedDuringFlaps++;
      }
    };

    if (flapMs > 0) {
      flapper = setInterval(() => {
        flapGen++;
        flaps++;
        lastToggle = performance.now();
        if (dcos.down) {
          downMs += Date.now() - downSince;
          dcos.down = false;
        } else {
          downSince = Date.now();
          dcos.down = true;
        }
      }, flapMs);
    }
    const started = performance.now();
    const runUntil = async (target: number): Promise<void> => {
      const worker = async (): Promise<void> => {
        while (seq < target) {
          await one();
          if (seq % 2_000 === 0) drain();
        }
      };
      await Promise.all(Array.from({ length: C }, worker));
    };
    const tenth = Math.max(1, Math.floor(N / 10));
    await runUntil(tenth);
    drain();
    gc();
    const heap10 = process.memoryUsage().heapUsed;
    log(`soak: ${tenth} requests, heap ${(heap10 / 2 ** 20).toFixed(1)} MiB`);
    await runUntil(N);
    const durationMs = performance.now() - started;
    if (flapper) clearInterval(flapper);
    if (dcos.down) {
      downMs += Date.now() - downSince;
      dcos.down = false;
    }
    drain();
    gc();
    const heap100 = process.memoryUsage().heapUsed;
    log(`soak: ${N} requests, heap ${(heap100 / 2 ** 20).toFixed(1)} MiB`);

    const sorted = Array.from(latencies).sort((a, b) => a - b);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const mib = (x: number) => Math.round((x / 2 ** 20) * 10) / 10;
    return {
      requests: N,
      connections: C,
      tenants: T,
      secrets: Object.keys(secrets).length,
      durationMs: Math.round(durationMs),
      requestsPerSecond: Math.round((N / durationMs) * 1000),
      byKind: results.byKind,
      allowed: results.allowed,
      denied: results.denied,
      denyReasons: results.denyReasons,
      wrongAllows: results.wrongAllows,
      wrongDenies: results.wrongDenies,
      wrongReasons: results.wrongReasons,
      validDeniedDuringFlaps: results.validDeniedDuringFlaps,
      dcosFlaps: flaps,
      dcosDownMs: downMs,
      staleServed: (stack.proxy.secrets.stats?.()?.stale ?? 0) - staleBefore,
      latencyMs: {
        p50: r3(percentile(sorted, 50)),
        p90: r3(percentile(sorted, 90)),
        p99: r3(percentile(sorted, 99)),
        max: r3(sorted[sorted.length - 1] ?? 0),
      },
      heapMiB: { at10: mib(heap10), at100: mib(heap100), growth: mib(heap100 - heap10) },
      logLines,
      leaks: leakCount,
      forwardedMounts,
      examples,
    };
  } finally {
    if (flapper) clearInterval(flapper);
    dcos.down = false;
    await pool.close();
    await stack.close();
    await dcos.close();
    fx.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSoak(r: SoakResult): string {
  return [
    `soak: ${r.requests} requests over ${r.connections} connections in ${(r.durationMs / 1000).toFixed(1)} s (${r.requestsPerSecond}/s), ${r.tenants} tenants, ${r.secrets} secrets`,
    `  DC/OS flapped ${r.dcosFlaps} times (down ${(r.dcosDownMs / 1000).toFixed(1)} s in all); stale reads served: ${r.staleServed}`,
    `  allowed ${r.allowed}, denied ${r.denied} ${JSON.stringify(r.denyReasons)}`,
    `  wrong allows ${r.wrongAllows}, wrong denies ${r.wrongDenies}, wrong reasons ${r.wrongReasons}, valid denied during flaps ${r.validDeniedDuringFlaps}`,
    `  latency p50 ${r.latencyMs.p50} ms, p90 ${r.latencyMs.p90} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    `  heap after GC: ${r.heapMiB.at10} MiB at 10 %, ${r.heapMiB.at100} MiB at 100 % (${r.heapMiB.growth >= 0 ? '+' : ''}${r.heapMiB.growth} MiB)`,
    `  log lines scanned ${r.logLines}, leaks ${r.leaks}`,
    ...r.examples.map((e) => `  ! ${e}`),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 50_000);
  const r = await runSoak({ requests: n, log: (l) => process.stdout.write(`${l}\n`) });
  process.stdout.write(`${formatSoak(r)}\n`);
  writeFigures('benchSoak', r);
}
