/**
 * docs/: every error code has a troubleshooting section, the configuration reference is the generated
 * table, every relative link and anchor resolves, and every shipped file under plugin/ is documented.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '../../../src/errors.js';
import { configReferenceMarkdown } from '../../../src/config/reference.js';
import { readRepo, repoPath } from './files.js';

const DOCS = readdirSync(repoPath('docs'))
  .filter((f) => f.endsWith('.md'))
  .sort();

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function withoutCode(md: string): string {
  return md.replace(/^```[\s\S]*?^```/gm, '');
}

function anchors(md: string): Set<string> {
  return new Set(
    withoutCode(md)
      .split('\n')
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => slug(l.replace(/^#+ /, ''))),
  );
}

function listFiles(rel: string): string[] {
  return readdirSync(repoPath(rel)).flatMap((f) => {
    const p = `${rel}/${f}`;
    return statSync(repoPath(p)).isDirectory() ? listFiles(p) : [p];
  });
}

describe('docs/troubleshooting.md', () => {
  const md = readRepo('docs/troubleshooting.md');
  const codeHeadings = [...md.matchAll(/^#{2,4} `([A-Z][A-Z0-9_]*)`$/gm)].map((m) => m[1]!);

  it('has a section for every error code, with a fix', () => {
    const missing = Object.keys(ERROR_CODES).filter((c) => !codeHeadings.includes(c));
    expect(missing).toEqual([]);
    for (const code of Object.keys(ERROR_CODES)) {
      const section = md.split(new RegExp(`^#{2,4} \`${code}\`$`, 'm'))[1]!.split(/^#{2,4} /m)[0]!;
      expect(section, code).toMatch(/\*\*Fix:\*\*/);
    }
  });

  it('has no section for a code that does not exist', () => {
    expect(codeHeadings.filter((c) => !Object.hasOwn(ERROR_CODES, c))).toEqual([]);
    expect(new Set(codeHeadings).size).toBe(codeHeadings.length);
  });

  it('shows how to find denials in the audit log', () => {
    expect(md).toContain(`journalctl -u pxd-auth-proxy | grep '"audit":true' | grep '"decision":"deny"'`);
  });
});

describe('docs/configuration.md', () => {
  it('embeds the reference table generated from the option definitions', () => {
    const md = readRepo('docs/configuration.md');
    const between = md.split('<!-- config-reference:start -->\n')[1]!.split('\n<!-- config-reference:end -->')[0]!;
    expect(between).toBe(configReferenceMarkdown());
  });
});

describe('docs/security.md', () => {
  it('keeps the section the hardening suite fills', () => {
    expect(readRepo('docs/security.md')).toMatch(/^## Figures$/m);
  });
});

describe('docs links', () => {
  it.each(DOCS)('%s: every relative link and anchor resolves', (name) => {
    const md = readRepo(`docs/${name}`);
    const broken: string[] = [];
    for (const m of withoutCode(md).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file === '' ? repoPath(`docs/${name}`) : path.resolve(repoPath('docs'), file);
      if (!existsSync(resolved)) {
        broken.push(target);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md')) {
        const rel = path.relative(repoPath(''), resolved);
        if (!anchors(readRepo(rel)).has(anchor)) broken.push(target);
      }
    }
    expect(broken).toEqual([]);
  });

  it('document every shipped file under plugin/', () => {
    const all = DOCS.map((d) => readRepo(`docs/${d}`)).join('\n');
    const undocumented = listFiles('plugin').filter((f) => !all.includes(f) && !all.includes(path.basename(f)));
    expect(undocumented).toEqual([]);
  });

  it('link the example Marathon apps from usage.md', () => {
    const md = readRepo('docs/usage.md');
    expect(md).toContain('(marathon/app-docker.json)');
    expect(md).toContain('(marathon/app-ucr.json)');
  });
});

describe('docker commands shown in the docs', () => {
  it('every --mount type=volume names its target (docker refuses it otherwise: "target is required")', () => {
    const files = [
      'README.md',
      ...readdirSync(repoPath('docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const missing: string[] = [];
    for (const f of files) {
      for (const m of readRepo(f).matchAll(/--mount[ =](\S+)/g)) {
        const spec = m[1]!;
        if (/(^|,)type=volume(,|$)/.test(spec) && !/(^|,)(target|destination|dst)=/.test(spec)) missing.push(`${f}: ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
