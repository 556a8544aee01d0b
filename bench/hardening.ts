/**
 * `npm run bench:hardening`: the hardening suites (recording their figures), the 50,000-request soak,
 * then the Figures section of docs/security.md rendered from test/hardening/figures.json.
 * (Speed and memory are `npm run bench`: bench/perf.ts.)
 *
 *   npm run bench:hardening                          everything
 *   PXA_SOAK_REQUESTS=10000 npm run bench:hardening  a shorter soak
 */
import { spawnSync } from 'node:child_process';
import { writeFigures } from '../test/hardening/helpers.js';
import { writeFiguresSection } from './figures.js';
import { formatSoak, runSoak } from './soak.js';

const out = (l: string): void => void process.stdout.write(`${l}\n`);

// The hardening suites record their figures (hostile cases, fuzzing, faults, the shorter soak) first.
process.env.PXA_RECORD_FIGURES = '1';
out('running the hardening suites (npx vitest run test/hardening) to record their figures...');
const suites = spawnSync('npx', ['vitest', 'run', 'test/hardening'], { stdio: 'inherit', env: process.env });
if (suites.status !== 0) {
  out('the hardening suites failed: figures not rendered');
  process.exit(1);
}

const soak = await runSoak({
  requests: Number(process.env.PXA_SOAK_REQUESTS ?? 50_000),
  connections: 32,
  tenants: 20,
  flapMs: 1_000,
  log: out,
});
out(formatSoak(soak));
writeFigures('benchSoak', soak);
const bad = soak.wrongAllows + soak.wrongDenies + soak.wrongReasons + soak.leaks;

writeFiguresSection();
out('figures rendered into docs/security.md (## Figures)');
if (bad > 0) {
  out(`the soak found ${bad} wrong decision(s) or leak(s)`);
  process.exitCode = 1;
}
