/**
 * Rewrites the configuration reference tables of README.md and docs/configuration.md from the option
 * table (src/config/options.ts), between `<!-- config-reference:start -->` and `<!-- config-reference:end -->`.
 *
 *   npm run docs:reference
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReferenceMarkdown } from '../src/config/reference.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const START = '<!-- config-reference:start -->\n';
const END = '\n<!-- config-reference:end -->';

for (const file of ['README.md', 'docs/configuration.md']) {
  const full = path.join(ROOT, file);
  const text = readFileSync(full, 'utf8');
  const [before, rest] = text.split(START);
  if (rest === undefined) throw new Error(`${file} has no ${START.trim()} marker`);
  const after = rest.split(END)[1];
  if (after === undefined) throw new Error(`${file} has no ${END.trim()} marker`);
  writeFileSync(full, `${before}${START}${configReferenceMarkdown()}${END}${after}`);
  process.stdout.write(`${file}: configuration reference rewritten\n`);
}
