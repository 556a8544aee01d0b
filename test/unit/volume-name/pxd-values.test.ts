import { describe, it, expect } from 'vitest';
import { assertReadableByPxd, forwardNameForPxd, parseName, pxdReadableOrder } from '../../../src/volume-name/index.js';
import { catchProxyError } from './helpers.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

describe('assertReadableByPxd', () => {
  it('accepts values pxd reads whole, and keys pxd does not read from a Name at all', () => {
    expect(() =>
      assertReadableByPxd(
        [['size', '10G'], ['repl', '3'], ['nodes', 'node-1;node_2'], ['io_profile', 'db_remote'], ['aggregation_level', 'auto'], ['labels', 'a.b/c d']],
        'opts',
      ),
    ).not.toThrow();
  });

  it('refuses a value pxd would cut short, saying where it came from and never quoting it', () => {
    const fromOpts = catchProxyError(() => assertReadableByPxd([['zones', 'us-east-1a']], 'opts'), 'OPTS_INVALID');
    expect(fromOpts.message).toMatch(/^-o zones: pxd reads zones inside a volume name as \[A-Za-z\]\+ and would cut this value short; .*plain name/);
    expect(fromOpts.message).not.toContain('us-east-1a');
    const inName = catchProxyError(() => assertReadableByPxd([['nodes', 'node1.example.com']], 'name'), 'NAME_UNSUPPORTED');
    expect(inName.message).toMatch(/^nodes= in the volume name: pxd reads nodes .* as \[A-Za-z0-9_;-\]\+/);
    const secret = catchProxyError(() => assertReadableByPxd([['secret_key', 'pass phrase!']], 'opts'), 'OPTS_INVALID');
    expect(secret.message).not.toContain('phrase');
  });
});

describe('pxdReadableOrder', () => {
  it('puts a key before the keys whose names end with it, and keeps the order otherwise', () => {
    expect(pxdReadableOrder([['block_size', '4096'], ['repl', '3'], ['size', '10G'], ['fs', 'ext4']] as const).map(([k]) => k)).toEqual([
      'fs', 'repl', 'size', 'block_size',
    ]);
  });

  it('so that pxd\'s unanchored size= finds the size, not the block size', () => {
    const fwd = forwardNameForPxd(parseName('block_size=4096,size=10G,name=v1'), JWT);
    expect(/size=([0-9A-Za-z]+)/.exec(fwd)?.[1]).toBe('10G');
    expect(/block_size=([0-9]+)/.exec(fwd)?.[1]).toBe('4096');
  });
});
