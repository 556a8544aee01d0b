/**
 * Renders test/hardening/figures.json (written by the hardening suites and by bench/run.ts) as the
 * `## Figures` section of docs/security.md, between `<!-- figures:start -->` and
 * `<!-- figures:end -->`. Nothing else of the file is touched: without the markers they are added at
 * the end of the Figures section (the section is added at the end of the file if it is missing).
 *
 *   tsx bench/figures.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIGURES_JSON = path.join(ROOT, 'test', 'hardening', 'figures.json');
export const SECURITY_MD = path.join(ROOT, 'docs', 'security.md');
const START = '<!-- figures:start -->';
const END = '<!-- figures:end -->';

type Figures = Record<string, any>;

const n = (x: unknown): string => (typeof x === 'number' ? x.toLocaleString('en-US') : '—');
const ms = (x: unknown): string => (typeof x === 'number' ? `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms` : '—');

function soakRow(label: string, s: any): string {
  if (!s) return `| ${label} | not run yet |`;
  return (
    `| ${label} | ${n(s.requests)} requests over ${s.connections} connections in ${(s.durationMs / 1000).toFixed(1)} s ` +
    `(${n(s.requestsPerSecond)}/s), ${s.tenants} tenants, ${s.secrets} secrets; DC/OS flapped ${s.dcosFlaps} times ` +
    `(down ${(s.dcosDownMs / 1000).toFixed(0)} s), ${n(s.staleServed)} stale reads served; ` +
    `**${n(s.wrongAllows)} wrong allows, ${n(s.wrongDenies)} wrong denies, ${n(s.wrongReasons)} wrong reasons**, ` +
    `${n(s.validDeniedDuringFlaps)} valid requests denied during outages; ${n(s.allowed)} allowed, ${n(s.denied)} denied; ` +
    `latency p50 ${ms(s.latencyMs.p50)}, p99 ${ms(s.latencyMs.p99)} (32 in flight, everything in one process); ` +
    `heap after GC ${s.heapMiB.at10} → ${s.heapMiB.at100} MiB (${s.heapMiB.growth >= 0 ? '+' : ''}${s.heapMiB.growth}) from 10 % to 100 %; ` +
    `${n(s.logLines)} log lines scanned, ${n(s.leaks)} leaks |`
  );
}

export function renderFigures(f: Figures): string {
  const out: string[] = [];
  const h = f.hostile;
  const z = f.fuzz;
  const faults = f.faults;
  out.push(
    "Generated from the suites' own output by `npm run bench:hardening`: it runs the hardening suites with",
    '`PXA_RECORD_FIGURES=1` (they write `test/hardening/figures.json`), adds the 50,000-request soak, and',
    'renders this section (`bench/figures.ts`). Speed and memory: `npm run bench` (bench/README.md).',
    '',
    '| what | figure |',
    '|---|---|',
  );
  if (h) {
    out.push(
      `| hostile inputs (hostile.test.ts) | **${n(h.casesTried)} cases tried, ${n(h.casesPassed)} refused** with the exact code and message, ` +
        `${n(h.distinctCodes)} distinct codes; none forwarded to pxd, none crashed the proxy, no token or signature in any reply or log line; ` +
        `${n(h.readsOutsideBase)} secret reads outside the base path; ${n(h.jkuFetches)} fetches of jku/x5u/kid URLs |`,
    );
  }
  if (z) {
    out.push(
      `| property-based fuzzing over the socket (fuzz.test.ts) | ${n(z.nameRuns)} names, ${n(z.bodyRuns)} bodies, ${n(z.roundTripRuns)} round trips of valid names; ` +
        `${n(z.replies)} replies all JSON with a string Err or a success shape; ${n(z.authenticatedForwardsChecked)} authenticated forwards, ` +
        `${n(z.forwardsWithValidatedToken)} with a validated name and token; ${n(z.readsOutsideBase)} of ${n(z.secretReads)} secret reads outside the base path |`,
    );
  }
  if (faults)
    out.push(
      `| faults (faults.test.ts) | **${n(faults.faultsSurvived)} of ${n(faults.faultsTried)} survived**: right answer to Docker, right log line, recovery without a restart |`,
    );
  out.push(soakRow('soak in the test suite (soak.test.ts)', f.soak));
  out.push(soakRow('soak (npm run bench:hardening)', f.benchSoak));
  if (faults?.faults?.length) {
    out.push(
      '',
      'Faults, with the answer Docker got and the log line that says what happened:',
      '',
      '| fault | answer to Docker | log line |',
      '|---|---|---|',
    );
    for (const x of faults.faults) {
      const answer = String(x.answer)
        .replace(/\/tmp\/[^ )"]+/g, '…')
        .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:…')
        .replace(/\|/g, '\\|');
      const code = /^pxd-auth ([A-Z_]+)/.exec(answer)?.[1];
      out.push(`| ${x.fault} | ${code ? `\`${code}\`` : answer} | ${String(x.logLine).replace(/\|/g, '\\|')} |`);
    }
  }
  if (h?.byCode) {
    out.push('', 'Hostile cases by the code they were refused with:', '');
    out.push(
      Object.entries(h.byCode as Record<string, number>)
        .sort((a, b) => b[1] - a[1])
        .map(([code, count]) => `\`${code}\` ${count}`)
        .join(' · '),
    );
  }
  return out.join('\n');
}

/** Put `body` between the markers of the Figures section, leaving everything else as it is. */
export function spliceFigures(doc: string | undefined, body: string): string {
  const block = `${START}\n${body}\n${END}`;
  if (doc === undefined || doc.trim() === '') return `## Figures\n\n${block}\n`;
  const s = doc.indexOf(START);
  const e = doc.indexOf(END);
  if (s >= 0 && e > s) return doc.slice(0, s) + block + doc.slice(e + END.length);
  const heading = /^## Figures[ \t]*$/m.exec(doc);
  if (!heading) return `${doc.replace(/\n*$/, '\n')}\n## Figures\n\n${block}\n`;
  // End of the Figures section: the next heading of level 1 or 2, or the end of the file.
  const after = heading.index + heading[0].length;
  const next = /^#{1,2} /m.exec(doc.slice(after));
  const cut = next ? after + next.index : doc.length;
  const section = doc.slice(0, cut).replace(/\n*$/, '');
  return `${section}\n\n${block}\n${next ? '\n' : ''}${doc.slice(cut)}`;
}

export function writeFiguresSection(jsonFile = FIGURES_JSON, mdFile = SECURITY_MD): string {
  const figures = JSON.parse(readFileSync(jsonFile, 'utf8')) as Figures;
  const body = renderFigures(figures);
  const doc = existsSync(mdFile) ? readFileSync(mdFile, 'utf8') : undefined;
  writeFileSync(mdFile, spliceFigures(doc, body));
  return body;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFiguresSection();
  process.stdout.write(`figures rendered into ${path.relative(process.cwd(), SECURITY_MD)}\n`);
}
