import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Integration tests bind unix sockets in their own temp dirs; e2e tests own a private dockerd.
    pool: 'forks',
    reporters: ['default', './test/reporters/summary.ts'],
  },
});
