/**
 * Dockerfile and .dockerignore: a build stage on BASE_IMAGE and a runtime on RUNTIME_BASE_IMAGE (both build
 * arguments, pinnable by digest), a runtime without npm, yarn or dev dependencies, a HEALTHCHECK that finds
 * the admin listener as serve does, nothing the legacy builder of dockerd 20.10 refuses, and a build context
 * that holds what the Dockerfile copies and nothing else. test/e2e/image.e2e.test.ts builds and runs it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readRepo, repoPath } from './files.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions, with `\` continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf === '') start = i + 1;
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' ';
      return;
    }
    buf += line;
    const m = /^(\S+)\s+([\s\S]*)$/.exec(buf.trim());
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  });
  return out;
}

const text = readRepo('Dockerfile');
const all = instructions(text);
const froms = all.filter((i) => i.op === 'FROM');
const runtimeStart = all.indexOf(froms[froms.length - 1]!);
const runtime = all.slice(runtimeStart);
const buildStage = all.slice(all.indexOf(froms[0]!), runtimeStart);

describe('Dockerfile', () => {
  it('takes both bases as build arguments: node:20-bookworm-slim to build, debian:bookworm-slim to run', () => {
    const globalArgs = all.slice(0, all.indexOf(froms[0]!)).filter((i) => i.op === 'ARG');
    expect(globalArgs.map((a) => a.args)).toEqual(['BASE_IMAGE=node:20-bookworm-slim', 'RUNTIME_BASE_IMAGE=debian:bookworm-slim']);
    expect(froms.map((f) => f.args)).toEqual(['${BASE_IMAGE} AS build', '${RUNTIME_BASE_IMAGE} AS runtime']);
  });

  it('checks the registry before npm ci, with the optional build-ca.pem trusted in the build stage only', () => {
    const runs = buildStage.filter((i) => i.op === 'RUN').map((i) => i.args);
    const ci = runs.find((r) => /npm ci\b/.test(r))!;
    expect(ci).toMatch(/NODE_EXTRA_CA_CERTS=\/src\/build-ca\.pem/);
    expect(ci.indexOf('fetch(')).toBeGreaterThan(-1);
    expect(ci.indexOf('fetch(')).toBeLessThan(ci.indexOf('npm ci'));
    expect(runs.join('\n')).toMatch(/npm run build/);
    // The optional file is copied with a pattern, so that a context without it still builds.
    expect(buildStage.filter((i) => i.op === 'COPY').map((i) => i.args)).toContain('package.json package-lock.json build-ca.pe[m] ./');
    // Nothing in the runtime mentions it.
    for (const i of runtime) expect(i.args, `line ${i.line}`).not.toMatch(/build-ca|NODE_EXTRA_CA_CERTS/);
  });

  it('installs only the bundle’s externals, as scripts/bundle.mjs lists them in dist/bin/externals.json, from the lock, offline', () => {
    // The bundler writes the list it used; the Dockerfile reads that file, never a copy of the list.
    expect(readRepo('scripts/bundle.mjs')).toMatch(/external,[\s\S]*writeFileSync\('dist\/bin\/externals\.json'/);
    const install = buildStage.find((i) => i.op === 'RUN' && i.args.includes('/runtime'))!.args;
    expect(install).toMatch(/npm install --offline --omit=dev/);
    expect(install).toContain("const keep=require('/src/dist/bin/externals.json');");
    expect(install).not.toMatch(/'pino'/);
  });

  it('copies into the runtime only node, the bundle, the runtime packages, package.json and plugin/; runs no npm there', () => {
    for (const i of runtime.filter((x) => x.op === 'RUN')) expect(i.args, `line ${i.line}`).not.toMatch(/\bnpm\b/);
    expect(runtime.filter((i) => i.op === 'COPY').map((i) => i.args)).toEqual([
      '--from=build /usr/local/bin/node /usr/local/bin/node',
      '--from=build /src/package.json ./',
      '--from=build /runtime/node_modules ./node_modules',
      '--from=build /src/dist/bin ./dist/bin',
      'plugin ./plugin',
    ]);
  });

  it('serves with the admin listener in the environment, where the healthcheck command finds it', () => {
    const last = (op: string) => runtime.filter((i) => i.op === op).pop()?.args;
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['node', '/app/dist/bin/pxd-auth-proxy.js']);
    expect(JSON.parse(last('CMD')!)).toEqual(['serve']);
    expect(
      runtime
        .filter((i) => i.op === 'ENV')
        .map((i) => i.args)
        .join(' '),
    ).toMatch(/PXD_AUTH_ADMIN_LISTEN=127\.0\.0\.1:9102/);
    const health = last('HEALTHCHECK')!;
    expect(JSON.parse(health.slice(health.indexOf('CMD') + 3).trim())).toEqual(['node', '/app/dist/bin/pxd-auth-proxy.js', 'healthcheck']);
    // dockerd 20.10's builder refuses --start-interval; the legacy builder has no heredocs or RUN --mount.
    expect(health).not.toMatch(/--start-interval/);
    for (const i of all) expect(i.args, `line ${i.line}`).not.toMatch(/<<|--mount=/);
    expect(last('USER')).toBe('root');
    expect(text).toMatch(/Runs as root, on purpose/);
  });
});

describe('.dockerignore', () => {
  const patterns = readRepo('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('is an allow-list that re-includes exactly what the Dockerfile copies from the context', () => {
    expect(patterns[0]).toBe('*');
    const allowed = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const sources = all
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      // build-ca.pe[m]: the optional CA file, a pattern for build-ca.pem.
      .map((s) => s.replace('[m]', 'm'));
    expect([...new Set(sources)].sort()).toEqual([...allowed].sort());
    for (const s of sources.filter((x) => x !== 'build-ca.pem')) expect(existsSync(repoPath(s)), s).toBe(true);
  });
});
