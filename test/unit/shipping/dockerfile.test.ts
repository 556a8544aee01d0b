/**
 * Dockerfile and .dockerignore: two stages, a runtime stage without dev dependencies or npm installs,
 * a HEALTHCHECK on the admin listener the default command turns on, and a build context that holds
 * what the Dockerfile copies and nothing else.
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

const all = instructions(readRepo('Dockerfile'));
const froms = all.filter((i) => i.op === 'FROM');
const runtimeStart = all.indexOf(froms[froms.length - 1]!);
const runtime = all.slice(runtimeStart);

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage, both on node:20-bookworm-slim', () => {
    expect(froms.map((f) => f.args)).toEqual(['node:20-bookworm-slim AS build', 'node:20-bookworm-slim AS runtime']);
  });

  it('builds with npm ci and keeps production dependencies only', () => {
    const build = all
      .slice(0, runtimeStart)
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(build).toMatch(/npm ci\b/);
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm prune --omit=dev/);
  });

  it('installs nothing with npm in the runtime stage and copies only dist, production node_modules, package files and plugin/', () => {
    for (const i of runtime.filter((x) => x.op === 'RUN')) expect(i.args, `line ${i.line}`).not.toMatch(/\bnpm\s+(i|ci|install|add)\b/);
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toEqual([
      '--from=build /src/package.json /src/package-lock.json ./',
      '--from=build /src/node_modules ./node_modules',
      '--from=build /src/dist ./dist',
      'plugin ./plugin',
    ]);
  });

  it('runs node on the compiled CLI, serving with the admin listener the HEALTHCHECK calls', () => {
    const last = (op: string) => runtime.filter((i) => i.op === op).pop()?.args;
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['node', '/app/dist/bin/pxd-auth-proxy.js']);
    const cmd = JSON.parse(last('CMD')!) as string[];
    expect(cmd).toEqual(['serve', '--admin-listen', '127.0.0.1:9102']);
    const health = last('HEALTHCHECK')!;
    expect(health).toContain(`http://${cmd[2]}/healthz`);
    // The slim image has no curl or wget: node makes the call.
    const probe = JSON.parse(health.slice(health.indexOf('CMD') + 3).trim()) as string[];
    expect(probe[0]).toBe('node');
    expect(probe.join(' ')).not.toMatch(/curl|wget/);
    // Root on purpose (the socket folder and pxd's socket are root's); say so in the file.
    expect(last('USER')).toBe('root');
    expect(readRepo('Dockerfile')).toMatch(/Runs as root, on purpose/);
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
    const sources = all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect([...new Set(sources)].sort()).toEqual([...allowed].sort());
    for (const s of sources) expect(existsSync(repoPath(s)), s).toBe(true);
  });
});
