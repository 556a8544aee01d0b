/**
 * Arrows only point down: a module imports from its own unit and from units on lower rows, never from
 * a unit on its own row or above. A unit is a folder of src/ (`tokens`, `secrets`, ...) or a file at
 * its top (`app`, `errors`). Type-only imports count too: a type is a dependency of the reader.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** Top to bottom: the CLI knows everything, the bottom row knows nothing of the rest. */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['cli'],
  // The admin listener is started by the CLI next to the app, and observes the proxy.
  ['admin'],
  ['app'],
  ['config', 'proxy'],
  // The embedded local driver is a plugin server of its own that verifies tokens.
  ['backend'],
  // Peers: verifying a token and deciding on it know nothing of each other (the proxy joins them).
  ['tokens', 'policy'],
  // Token resolution reads secret stores and the state file.
  ['plugin', 'secrets', 'state', 'audit'],
  ['volume-name'],
  ['errors'],
  // Import nothing from src/ outside their own unit.
  ['redact', 'operations', 'lib'],
];

const RANK = new Map(LAYERS.flatMap((row, i) => row.map((unit) => [unit, i] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** `tokens/verify.ts` → `tokens`; `errors.ts` → `errors`. */
function unitOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? rel[0]! : rel[0]!.replace(/\.[jt]s$/, '');
}

/** Relative specifiers of static imports and re-exports (`from '...'`, `import '...'`) and of `import('...')`. */
function relativeImports(text: string): string[] {
  const specs = [...text.matchAll(/\bfrom\s+'(\.[^']*)'|\bimport\s+'(\.[^']*)'|\bimport\(\s*'(\.[^']*)'\s*\)/g)];
  return specs.map((m) => (m[1] ?? m[2] ?? m[3])!);
}

const FILES = sourceFiles(SRC);
const EDGES = FILES.flatMap((file) =>
  relativeImports(readFileSync(file, 'utf8')).map((spec) => ({
    from: unitOf(file),
    to: unitOf(path.resolve(path.dirname(file), spec)),
    where: `${path.relative(SRC, file)} → ${spec}`,
  })),
);

describe('dependency direction', () => {
  it('reads the imports of src/', () => {
    expect(FILES.length).toBeGreaterThan(30);
    expect(EDGES.filter((e) => e.from === 'tokens' && e.to === 'errors').length).toBeGreaterThan(0);
  });

  it('places every unit of src/ in the layer table', () => {
    expect([...new Set(FILES.map(unitOf))].filter((u) => !RANK.has(u)).sort()).toEqual([]);
  });

  it('has no import of a unit on the same row or above', () => {
    const wrong = EDGES.filter((e) => e.from !== e.to && !(RANK.get(e.to)! > RANK.get(e.from)!)).map((e) => e.where);
    expect(wrong).toEqual([]);
  });
});
