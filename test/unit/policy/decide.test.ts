import { describe, expect, it } from 'vitest';

import { decide, PXD_DEFAULT_ROLES } from '../../../src/policy/index.js';
import type { Operation, PolicyConfig, PolicyInput } from '../../../src/policy/types.js';

const OPS: Operation[] = ['create', 'remove', 'mount'];
const cfg = (bindings: PolicyConfig['bindings'] = [], roles = PXD_DEFAULT_ROLES): PolicyConfig => ({ roles, bindings });
const input = (over: Partial<PolicyInput>): PolicyInput => ({ operation: 'create', volumeName: 'vol1', roles: [], ...over });

describe('PXD_DEFAULT_ROLES', () => {
  it('mirrors pxd for the three plugin operations', () => {
    expect(PXD_DEFAULT_ROLES).toEqual({
      'system.admin': ['create', 'remove', 'mount'],
      'system.user': ['create', 'remove', 'mount'],
      'system.view': [],
      'system.guest': [],
    });
    expect(Object.isFrozen(PXD_DEFAULT_ROLES)).toBe(true);
  });
});

describe('decide: roles', () => {
  it.each(OPS)('system.admin and system.user may %s', (operation) => {
    expect(decide(cfg(), input({ operation, roles: ['system.admin'] }))).toEqual({
      allow: true,
      reason: 'ROLE_ALLOWED',
      role: 'system.admin',
    });
    expect(decide(cfg(), input({ operation, roles: ['system.user'] }))).toEqual({
      allow: true,
      reason: 'ROLE_ALLOWED',
      role: 'system.user',
    });
  });

  it.each(OPS)('system.view may not %s', (operation) => {
    expect(decide(cfg(), input({ operation, roles: ['system.view'] }))).toEqual({
      allow: false,
      code: 'POLICY_ROLE_DENIED',
      message: `role system.view may not ${operation} volumes`,
    });
  });

  it('allows when any role grants the operation, reporting the first granting role', () => {
    expect(decide(cfg(), input({ roles: ['system.view', 'foo', 'system.user'] }))).toEqual({
      allow: true,
      reason: 'ROLE_ALLOWED',
      role: 'system.user',
    });
  });

  it('lists several roles (deduplicated) in a denial', () => {
    expect(decide(cfg(), input({ operation: 'mount', roles: ['system.view', 'foo', 'system.view'] }))).toEqual({
      allow: false,
      code: 'POLICY_ROLE_DENIED',
      message: 'roles system.view, foo may not mount volumes',
    });
  });

  it('explains a token without roles', () => {
    expect(decide(cfg(), input({ roles: [] }))).toEqual({
      allow: false,
      code: 'POLICY_ROLE_DENIED',
      message: 'the token has no roles; create needs one of: system.admin, system.user',
    });
    const custom = cfg([], { ops: ['mount'] });
    expect(decide(custom, input({ operation: 'remove' }))).toMatchObject({
      message: 'the token has no roles; no configured role may remove volumes',
    });
  });

  it('uses a custom role table and ignores prototype names', () => {
    const custom = cfg([], { 'team.deployer': ['create', 'mount'] });
    expect(decide(custom, input({ roles: ['team.deployer'] }))).toMatchObject({ allow: true, role: 'team.deployer' });
    expect(decide(custom, input({ operation: 'remove', roles: ['team.deployer'] }))).toMatchObject({
      allow: false,
      message: 'role team.deployer may not remove volumes',
    });
    expect(decide(custom, input({ roles: ['system.admin'] }))).toMatchObject({ allow: false, code: 'POLICY_ROLE_DENIED' });
    for (const r of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(decide(custom, input({ roles: [r] }))).toMatchObject({ allow: false, code: 'POLICY_ROLE_DENIED' });
    }
  });

  it('the role check comes before bindings', () => {
    const c = cfg([{ secretPrefix: 'pwx/secrets/tenant-a', volumes: ['a-*'] }]);
    expect(decide(c, input({ roles: ['system.view'], volumeName: 'b-vol', secretPath: 'pwx/secrets/tenant-a/token' }))).toMatchObject({
      code: 'POLICY_ROLE_DENIED',
    });
  });
});

describe('decide: bindings', () => {
  const tenantA = { secretPrefix: 'pwx/secrets/tenant-a', volumes: ['a-*', 'shared-a'] };
  const tenantAOps = { secretPrefix: 'pwx/secrets/tenant-a/ops', volumes: ['ops-*'] };
  const all = { secretPrefix: 'pwx/secrets', volumes: ['*'] };
  const c = cfg([all, tenantA, tenantAOps]);
  const user = (volumeName: string, secretPath?: string, operation: Operation = 'create'): PolicyInput =>
    input({ roles: ['system.user'], volumeName, secretPath, operation });

  it('restricts a covered secret to its patterns', () => {
    expect(decide(c, user('a-vol', 'pwx/secrets/tenant-a/token'))).toEqual({
      allow: true,
      reason: 'ROLE_ALLOWED',
      role: 'system.user',
      binding: tenantA,
    });
    expect(decide(c, user('shared-a', 'pwx/secrets/tenant-a/token'))).toMatchObject({ allow: true, binding: tenantA });
    expect(decide(c, user('b-vol', 'pwx/secrets/tenant-a/token', 'mount'))).toEqual({
      allow: false,
      code: 'POLICY_BINDING_DENIED',
      message: 'secret pwx/secrets/tenant-a/token may only be used for volumes a-*, shared-a (not "b-vol")',
    });
  });

  it('the longest covering prefix wins', () => {
    expect(decide(c, user('ops-1', 'pwx/secrets/tenant-a/ops/token'))).toMatchObject({ allow: true, binding: tenantAOps });
    expect(decide(c, user('a-vol', 'pwx/secrets/tenant-a/ops/token'))).toEqual({
      allow: false,
      code: 'POLICY_BINDING_DENIED',
      message: 'secret pwx/secrets/tenant-a/ops/token may only be used for volumes ops-* (not "a-vol")',
    });
    expect(decide(c, user('anything', 'pwx/secrets/tenant-b/token'))).toMatchObject({ allow: true, binding: all });
  });

  it('matches whole path segments only, and the prefix itself', () => {
    const only = cfg([tenantA]);
    // tenant-ab is not under tenant-a
    expect(decide(only, user('b-vol', 'pwx/secrets/tenant-ab/token'))).toEqual({
      allow: true,
      reason: 'ROLE_ALLOWED',
      role: 'system.user',
    });
    expect(decide(only, user('b-vol', 'pwx/secrets/tenant-a'))).toMatchObject({ code: 'POLICY_BINDING_DENIED' });
    expect(decide(cfg([{ secretPrefix: '/pwx/secrets/tenant-a/', volumes: ['a-*'] }]), user('b', '/pwx/secrets/tenant-a/t'))).toMatchObject(
      {
        message: 'secret pwx/secrets/tenant-a/t may only be used for volumes a-* (not "b")',
      },
    );
  });

  it('merges bindings with the same prefix', () => {
    const twin = cfg([
      { secretPrefix: 'p/t', volumes: ['x-*'] },
      { secretPrefix: 'p/t/', volumes: ['y-*', 'x-*'] },
    ]);
    expect(decide(twin, user('y-1', 'p/t/s'))).toMatchObject({ allow: true, binding: { volumes: ['y-*', 'x-*'] } });
    expect(decide(twin, user('z', 'p/t/s'))).toMatchObject({ message: 'secret p/t/s may only be used for volumes x-*, y-* (not "z")' });
  });

  it('a binding without patterns forbids every volume', () => {
    expect(decide(cfg([{ secretPrefix: 'p', volumes: [] }]), user('v', 'p/s'))).toMatchObject({
      code: 'POLICY_BINDING_DENIED',
      message: 'secret p/s may not be used for any volume (not "v")',
    });
  });

  it('inline tokens are not subject to bindings', () => {
    expect(decide(c, user('b-vol'))).toEqual({ allow: true, reason: 'ROLE_ALLOWED', role: 'system.user' });
  });

  it('an empty prefix covers every secret', () => {
    expect(decide(cfg([{ secretPrefix: '', volumes: ['z*'] }]), user('a', 'x/y'))).toMatchObject({ code: 'POLICY_BINDING_DENIED' });
  });
});

describe('decide: volume patterns', () => {
  const match = (pattern: string, name: string): boolean =>
    decide(cfg([{ secretPrefix: 's', volumes: [pattern] }]), input({ roles: ['system.admin'], volumeName: name, secretPath: 's/t' })).allow;

  it.each([
    ['a-*', 'a-', true],
    ['a-*', 'a-vol', true],
    ['a-*', 'xa-vol', false],
    ['*-a', 'vol-a', true],
    ['*-a', 'vol-ab', false],
    ['*', '', true],
    ['*', 'anything', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbYcZ', false],
    ['a*b*c', 'acb', false],
    ['**', 'x', true],
    ['exact', 'exact', true],
    ['exact', 'exact2', false],
    ['exact', 'Exact', false],
    // regex metacharacters are literal
    ['my.vol', 'my.vol', true],
    ['my.vol', 'myXvol', false],
    ['a+', 'a+', true],
    ['a+', 'aa', false],
    ['v?', 'v?', true],
    ['v?', 'vx', false],
    ['[ab]', 'a', false],
    ['[ab]', '[ab]', true],
    ['a|b', 'a', false],
    ['(x)', '(x)', true],
    ['^a$', 'a', false],
    ['^a$', '^a$', true],
    ['a\\d', 'a1', false],
    ['a\\d', 'a\\d', true],
    ['d.*', 'd.x', true],
    ['d.*', 'dx', false],
    ['vol-é*', 'vol-été', true],
  ])('pattern %j vs %j → %s', (pattern, name, expected) => {
    expect(match(pattern, name)).toBe(expected);
  });

  it('stays fast on adversarial patterns', () => {
    const start = performance.now();
    expect(match(`${'*a'.repeat(50)}b`, 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
