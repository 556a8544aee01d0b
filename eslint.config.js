// `npm run lint`: eslint for mistakes, Prettier (.prettierrc.json) for layout. eslint-config-prettier
// turns off every eslint rule about layout, so that the two never disagree.
//
// typescript-eslint's `recommended` rules need no type information: a lint of the whole tree takes
// seconds on two cores, and `tsc` (npm run typecheck, the build) already checks the types.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default defineConfig(
  {
    // Built, installed or generated; the rest of the tree (src, test, bench, scripts, the configs) is linted.
    ignores: ['dist/', 'coverage/', 'node_modules/', '.pxd-auth/'],
  },
  // A disable comment that no longer disables anything is an error: it would hide the next real finding.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // An unused argument that a signature requires is named `_x`; anything else unused goes.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Whether a rethrown error keeps its `cause` is decided at each site: pino prints a cause's message
      // and stack, and parse errors may quote key material or tokens (see tokens/keys.ts, tokens/verify.ts).
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      // Tests and benchmarks read parsed JSON replies along any path (`reply.json.Volume.Mountpoint`).
      '@typescript-eslint/no-explicit-any': 'off',
      // Tests assert that messages hold no control characters, with a regular expression of them.
      'no-control-regex': 'off',
    },
  },
  prettier,
);
