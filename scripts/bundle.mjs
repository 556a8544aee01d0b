// The shipped program: dist/bin/pxd-auth-proxy.js, one ESM file (plus the chunks loaded on demand)
// bundled by esbuild from tsc's output in dist/.
//
// Why: resolving and reading the ~400 files of the unbundled program and its dependencies was the
// largest single cost of start-up. Spawn-to-Activate fell by about a third (bench/README.md). The
// code is tsc's, type-checked; names are kept, so stack traces still say which function failed.
//
// Kept outside the bundle: pino and pino-pretty, because pino's transports (--log-pretty) start a
// worker thread from a file path inside pino's own folder. They load from node_modules as before.
import { rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

// The packages the bundle loads from node_modules at run time: the Dockerfile installs these, and only these.
const external = ['pino', 'pino-pretty'];

// Chunk names carry a hash: clear the last build's so none is left behind.
rmSync('dist/bin', { recursive: true, force: true });
await build({
  entryPoints: { 'pxd-auth-proxy': 'dist/cli/main.js' },
  outdir: 'dist/bin',
  // The admin listener (express, prom-client) is imported once the plugin socket listens: a chunk
  // of its own keeps it out of what start-up parses.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external,
  // The CommonJS dependencies (express, undici, yaml...) call require() for Node's own modules.
  banner: { js: "import { createRequire as __pxaCreateRequire } from 'node:module'; const require = __pxaCreateRequire(import.meta.url);" },
  // Whitespace and comments out. Not for size: a single non-Latin-1 character in a comment (undici
  // has some) makes V8 hold the whole 2.5 MB source as UTF-16, 7 MiB of heap instead of 3.
  minifyWhitespace: true,
  logLevel: 'warning',
});
writeFileSync('dist/bin/externals.json', `${JSON.stringify(external)}\n`);
