import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configuredFleetPath, readFleetOnce } from '../../../src/config/fleet-once.js';
import { loadConfig, type FleetDocument } from '../../../src/config/load.js';
import { ProxyError } from '../../../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-fleet-once-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'fleet-once-shared-secret-never-quoted-42';
const flags = { jwtIssuer: 'portworx.com', jwtSharedSecret: 'a-shared-secret-of-at-least-32-bytes-0123', secrets: `file:${dir}` };
const build = (doc: FleetDocument) => loadConfig({ flags, env: {}, fleet: doc });
const store = (read: () => Promise<string | undefined>) => ({ readDocument: read });

describe('readFleetOnce', () => {
  it('builds the configuration with the document and gives its version', async () => {
    const text = 'policy:\n  strict: true\n';
    const f = await readFleetOnce(
      'p/fleet',
      store(async () => text),
      build,
    );
    expect(f).toMatchObject({
      state: 'built',
      path: 'p/fleet',
      name: 'fleet document p/fleet',
      version: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    expect(f.state === 'built' && f.config.policy.strict).toBe(true);
  });

  it('says absent for a 404, and unreadable with the error code for a failed read', async () => {
    expect(
      await readFleetOnce(
        'p/fleet',
        store(async () => undefined),
        build,
      ),
    ).toMatchObject({ state: 'absent' });
    const err = new ProxyError('SECRET_FORBIDDEN', 'forbidden', { secretPath: 'p/fleet' });
    const f = await readFleetOnce(
      'p/fleet',
      store(() => Promise.reject(err)),
      build,
    );
    expect(f).toMatchObject({ state: 'unreadable', error: { code: 'SECRET_FORBIDDEN' } });
  });

  it('refuses a document that does not build, naming keys and never quoting it', async () => {
    const text = `socket: /x.sock\nissuers:\n  - name: x\n    sharedSecret: ${SECRET}\n    bogus: 1\n`;
    const f = await readFleetOnce(
      'p/fleet',
      store(async () => text),
      build,
    );
    expect(f.state).toBe('refused');
    expect(JSON.stringify(f)).not.toContain(SECRET);
    expect(f.state === 'refused' && f.problems.join('\n')).toMatch(/fleet document p\/fleet: socket/);
  });
});

describe('configuredFleetPath', () => {
  it('reads the flag, then the environment, then the YAML file', () => {
    const yaml = path.join(dir, 'a.yaml');
    writeFileSync(yaml, 'fleetConfig: from/file\n');
    expect(configuredFleetPath({ flags: { config: yaml }, env: {} })).toBe('from/file');
    expect(configuredFleetPath({ flags: { config: yaml }, env: { PXD_AUTH_FLEET_CONFIG: 'from/env' } })).toBe('from/env');
    expect(configuredFleetPath({ flags: { config: yaml, fleetConfig: 'from/flag' }, env: { PXD_AUTH_FLEET_CONFIG: 'from/env' } })).toBe(
      'from/flag',
    );
    expect(configuredFleetPath({ flags: {}, env: {} })).toBeUndefined();
    expect(configuredFleetPath({ flags: { config: path.join(dir, 'missing.yaml') }, env: {} })).toBeUndefined();
  });
});
