import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { configReferenceMarkdown } from '../../../src/config/reference.js';
import { SERVE_OPTIONS } from '../../../src/config/options.js';

describe('README configuration reference', () => {
  it('is the table generated from the option definitions', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const between = readme.split('<!-- config-reference:start -->\n')[1]!.split('\n<!-- config-reference:end -->')[0]!;
    expect(between).toBe(configReferenceMarkdown());
    for (const o of SERVE_OPTIONS) expect(readme).toContain(o.flag);
  });

  it('shows the two set-up commands', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });
});
