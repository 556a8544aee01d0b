/**
 * Anchored glob where `*` matches any run of characters (including none) and every other character
 * matches itself literally. Iterative with single-star backtracking: O(pattern × text), no RegExp.
 * Used for volume-name patterns by policy bindings and by the configured volume → secret map.
 */
export function globMatch(pattern: string, text: string): boolean {
  const p = Array.from(pattern);
  const t = Array.from(text);
  let pi = 0;
  let ti = 0;
  let starP = -1;
  let starT = 0;
  while (ti < t.length) {
    if (pi < p.length && p[pi] === '*') {
      starP = pi++;
      starT = ti;
    } else if (pi < p.length && p[pi] === t[ti]) {
      pi++;
      ti++;
    } else if (starP !== -1) {
      pi = starP + 1;
      ti = ++starT;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}
