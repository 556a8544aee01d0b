import { describe, expect, it } from 'vitest';

import { findJsonKeyProblem, goFold } from '../../../src/tokens/json-keys.js';

const PAYLOAD = { foldTopLevel: true, maxDepth: 8 };
const HEADER = { foldTopLevel: false, maxDepth: 8 };

describe('goFold: the case folding of Go encoding/json (Unicode simple folding)', () => {
  it.each([
    ['sub', 'SUB'],
    ['sub', 'sUb'],
    ['sub', '\u017fub'], // ſ LATIN SMALL LETTER LONG S
    ['SUB', '\u017fUB'],
    ['kid', '\u212aid'], // K KELVIN SIGN
    ['Kid', '\u212aID'],
    ['\u00e5', '\u212b'], // å, Å ANGSTROM SIGN
    ['\u00b5', '\u03bc'], // µ MICRO SIGN, μ
    ['\u00b5', '\u039c'],
    ['\u03c3', '\u03c2'], // σ, ς
    ['\u03a3', '\u03c2'],
    ['\u03b8', '\u03d1'], // θ, ϑ
    ['\u03f4', '\u03d1'], // ϴ, ϑ
    ['\u00df', '\u1e9e'], // ß, ẞ
    ['\u01c4', '\u01c5'], // Ǆ, ǅ
    ['\u0345', '\u1fbe'], // ypogegrammeni, prosgegrammeni
    ['\u13a0', '\uab70'], // Cherokee
    ['\u1c80', '\u0432'], // ᲀ CYRILLIC SMALL LETTER ROUNDED VE, в
    ['\ufb05', '\ufb06'], // ﬅ, ﬆ
    ['\u{10400}', '\u{10428}'], // Deseret, outside the BMP
  ])('%s ≡ %s', (a, b) => {
    expect(goFold(a)).toBe(goFold(b));
  });

  it.each([
    ['iss', '\u0131ss'], // ı folds only to itself
    ['iss', '\u0130ss'], // İ too
    ['ss', '\u00df'], // simple folding does not expand ß
    ['sub', 'sub_'],
    ['sub', 's\u0075\u0308b'],
  ])('%s ≢ %s', (a, b) => {
    expect(goFold(a)).not.toBe(goFold(b));
  });
});

describe('findJsonKeyProblem', () => {
  it('finds exact duplicates at any depth, after unescaping', () => {
    expect(findJsonKeyProblem('{"a":1,"a":2}', HEADER)).toEqual({ kind: 'duplicate', key: 'a' });
    expect(findJsonKeyProblem('{"sub":1,"s\\u0075b":2}', HEADER)).toEqual({ kind: 'duplicate', key: 'sub' });
    expect(findJsonKeyProblem('{"x":1,"o":{"k":1,"k":2}}', HEADER)).toEqual({ kind: 'duplicate', key: 'k', within: 'o' });
    expect(findJsonKeyProblem('{"o":[{"k":1},{"k":1,"j":[{},{"z":0,"z":0}]}]}', HEADER)).toEqual({
      kind: 'duplicate',
      key: 'z',
      within: 'o',
    });
    expect(findJsonKeyProblem('{"\\ud800":1,"\\udfff":2}', HEADER)).toEqual({ kind: 'duplicate', key: '\ufffd' });
    expect(findJsonKeyProblem('{"\\ufffd":1,"\\udfff":2}', HEADER)).toEqual({ kind: 'duplicate', key: '\ufffd' });
  });

  it('folds top-level keys only when asked, and only at the top level', () => {
    expect(findJsonKeyProblem('{"sub":1,"SUB":2}', PAYLOAD)).toEqual({ kind: 'fold', first: 'sub', second: 'SUB' });
    expect(findJsonKeyProblem('{"sub":1,"SUB":2}', HEADER)).toBeUndefined();
    expect(findJsonKeyProblem('{"o":{"sub":1,"SUB":2}}', PAYLOAD)).toBeUndefined();
    expect(findJsonKeyProblem('{"o":{"p":1},"O":2}', PAYLOAD)).toEqual({ kind: 'fold', first: 'o', second: 'O' });
  });

  it('sets nested keys apart from the keys around them', () => {
    expect(findJsonKeyProblem('{"a":{"b":1},"b":{"a":1},"c":[{"a":1},{"a":2}]}', PAYLOAD)).toBeUndefined();
  });

  it('takes no string value for a key', () => {
    expect(findJsonKeyProblem('{"a":"a","b":["a","a"],"c":"\\"a\\":1,\\\\","d":{"e":"d"}}', PAYLOAD)).toBeUndefined();
  });

  it('accepts whitespace, numbers and literals anywhere JSON does', () => {
    expect(findJsonKeyProblem(' {\n\t"a" : -1.5e+3 , "b":true,"c":null,"d":[false, 0 ,{}],"e":{ }}\r\n', PAYLOAD)).toBeUndefined();
  });

  it('bounds the depth', () => {
    expect(findJsonKeyProblem(`{"a":${'['.repeat(7)}${']'.repeat(7)}}`, PAYLOAD)).toBeUndefined();
    expect(findJsonKeyProblem(`{"a":${'['.repeat(8)}${']'.repeat(8)}}`, PAYLOAD)).toEqual({ kind: 'depth', limit: 8 });
    // A hostile depth stops the scan at the limit (no recursion, no stack overflow).
    expect(findJsonKeyProblem(`{"a":${'['.repeat(1_000_000)}`, PAYLOAD)).toEqual({ kind: 'depth', limit: 8 });
  });

  it('reports what it cannot read as a syntax problem', () => {
    for (const bad of ['', '{', '{"a":1}}', '{"a":1}{}', '{"a:1}', '[}', '{"a":1} 2']) {
      expect(findJsonKeyProblem(bad, PAYLOAD), bad).toEqual({ kind: 'syntax' });
    }
  });

  it('is linear: a megabyte of keys in well under a second or two', () => {
    const members: string[] = [];
    for (let i = 0; i < 60_000; i++) members.push(`"k\u00e9\u212a${i}":{"x${i}":[${i}]}`);
    const text = `{${members.join(',')}}`;
    const start = performance.now();
    expect(findJsonKeyProblem(text, { foldTopLevel: true, maxDepth: 64 })).toBeUndefined();
    expect(performance.now() - start).toBeLessThan(5_000);
  });
});
