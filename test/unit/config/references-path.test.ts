import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

const base = { secrets: 'dcos', jwtIssuer: 'p', jwtSharedSecret: 'a-shared-secret-of-some-length', dcosUsername: 'u' };

describe('--references-path', () => {
  it('is refused where it overlaps the secrets base path: records are not tokens, and the account holds full there', () => {
    for (const referencesPath of ['pwx/secrets', 'pwx/secrets/refs', 'pwx']) {
      const { problems } = loadConfig({
        flags: { ...base, secretsBasePath: 'pwx/secrets', referencesPath },
        env: { DCOS_SECRETS_PASSWORD: 'pw' },
      });
      expect(problems.join('\n')).toMatch(/--references-path: .* overlaps the secrets base path pwx\/secrets/);
    }
  });

  it('defaults to pxd-auth-proxy/volumes with the DC/OS store, and none turns it off', () => {
    const on = loadConfig({ flags: { ...base, secretsBasePath: 'pwx/secrets' }, env: { DCOS_SECRETS_PASSWORD: 'pw' } });
    expect(on.problems).toEqual([]);
    expect(on.config!.referencesPath).toBe('pxd-auth-proxy/volumes');
    const off = loadConfig({
      flags: { ...base, secretsBasePath: 'pwx/secrets', referencesPath: 'none' },
      env: { DCOS_SECRETS_PASSWORD: 'pw' },
    });
    expect(off.config!.referencesPath).toBeUndefined();
  });
});
