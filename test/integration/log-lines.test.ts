import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { mountId } from '../helpers/plugin-client.js';
import { signHs256, userClaims, SHARED_SECRET } from '../helpers/tokens.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';
import { findJsonKeyProblem } from '../../src/tokens/json-keys.js';

/**
 * Issue 15 §3: no log line may carry a key twice. JSON.parse keeps the last of two equal keys, so a
 * second `msg` (or any other key) silently replaces the first in every log pipeline. This drives
 * successes and failures (bad names, missing and forbidden secrets, DC/OS down, sealed and failing,
 * a refused login, pxd down, resetting, answering garbage, initializing) through real stacks and
 * scans every line they wrote, as raw text, for a key given twice at any depth.
 */

/** The problems of one captured chunk: each line must be a JSON object with no key twice. */
export function logLineProblems(chunk: string): string[] {
  const problems: string[] = [];
  for (const line of chunk.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      problems.push(`not JSON: ${line}`);
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push(`not a JSON object: ${line}`);
      continue;
    }
    const p = findJsonKeyProblem(line, { foldTopLevel: false, maxDepth: 64 });
    if (p) problems.push(`${JSON.stringify(p)}: ${line}`);
  }
  return problems;
}

function expectCleanLines(logs: string[]): void {
  expect(logs.length).toBeGreaterThan(0);
  expect(logs.flatMap(logLineProblems)).toEqual([]);
}

describe('the log-line checker', () => {
  it('finds a key given twice, at the top level and nested, and passes clean lines', () => {
    expect(logLineProblems('{"level":"warn","msg":"a","code":"X","msg":"b"}\n')).toHaveLength(1);
    expect(logLineProblems('{"level":"warn","err":{"detail":"a","detail":"b"},"msg":"x"}\n')).toHaveLength(1);
    expect(logLineProblems('{"level":"warn","a":{"b":[{"c":1,"c":2}]}}')).toHaveLength(1);
    expect(logLineProblems('not json')).toHaveLength(1);
    expect(logLineProblems('{"level":"info","msg":"ok","detail":{"msg":"inner"}}\n{"level":"info"}\n')).toEqual([]);
  });
});

describe('every log line of a file-store stack', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => stack?.close());

  it('has no key twice, through successes and failures', async () => {
    stack.writeSecret('pwx/u1', await signHs256(SHARED_SECRET, userClaims('u1')));
    stack.writeSecret('pwx/view', await signHs256(SHARED_SECRET, userClaims('v', ['system.view'])));
    stack.writeSecret('pwx/junk', 'not-a-token');
    stack.writeSecret('pwx/expired', await signHs256(SHARED_SECRET, userClaims('old', ['system.user'], { exp: 1000 })));
    const name = 'token_secret=pwx/u1,name=l1';
    await stack.call('Plugin.Activate', {});
    await stack.call('VolumeDriver.Capabilities', {});
    await stack.call('VolumeDriver.Create', { Name: name, Opts: { size: '1G' } });
    await stack.call('VolumeDriver.Get', { Name: name });
    await stack.call('VolumeDriver.List', {});
    await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('c1') });
    await stack.call('VolumeDriver.Path', { Name: name });
    await stack.call('VolumeDriver.Unmount', { Name: name, ID: mountId('c1') });
    // Bad names, missing/unusable secrets, policy denials.
    for (const bad of [
      'token=abc.def.ghi,name=inline',
      'token_secret=../etc/passwd,name=x',
      'token_secret=pwx/nobody,name=x2',
      'token_secret=pwx/junk,name=x3',
      'token_secret=pwx/expired,name=x4',
      'token_secret=pwx/view,name=x5',
      'name=',
      ',,,',
      '',
      'a'.repeat(300),
    ]) {
      await stack.call('VolumeDriver.Create', { Name: bad });
      await stack.call('VolumeDriver.Mount', { Name: bad, ID: mountId('c2') });
      await stack.call('VolumeDriver.Remove', { Name: bad });
    }
    await stack.call('VolumeDriver.Nope', {});
    // Backend errors.
    const faults = stack.pxd.faults;
    for (const f of [{ down: true }, { reset: true }, { garbage: true }, { initializing: true }, { mountpoint: 'relative/x' }]) {
      Object.assign(faults, f);
      try {
        await stack.call('Plugin.Activate', {});
        await stack.call('VolumeDriver.Get', { Name: name });
        await stack.call('VolumeDriver.List', {});
        await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('c3') });
        await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/u1,name=l2' });
      } finally {
        for (const k of Object.keys(f)) delete (faults as Record<string, unknown>)[k];
      }
    }
    await stack.call('VolumeDriver.Remove', { Name: name });
    expectCleanLines(stack.logs);
  });
});

describe('every log line of a DC/OS stack', () => {
  let pki: TestPki;
  let dcos: DcosDouble;
  let stack: Stack;
  beforeAll(async () => {
    pki = makeTestPki();
    const sa = makeRsaKeyPair();
    dcos = await startDcosDouble({
      tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
      serviceAccounts: { 'pwx-proxy': sa.publicKeyPem },
      secrets: {
        'pwx/secrets/u1': await signHs256(SHARED_SECRET, userClaims('u1')),
        'pwx/secrets/u2': await signHs256(SHARED_SECRET, userClaims('u2')),
        'pwx/secrets/junk': 'not-a-token',
        'other/secret': 'x',
      },
      grants: { 'pwx-proxy': ['dcos:secrets:default:/pwx/secrets/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
    });
    const keyFile = path.join(pki.dir, 'sa.pem');
    writeFileSync(keyFile, sa.pkcs1Pem, { mode: 0o600 });
    stack = await startStack({
      flags: {
        secrets: 'dcos',
        dcosUrl: dcos.url,
        dcosCaFile: pki.ca.certFile,
        dcosServiceAccount: 'pwx-proxy',
        dcosPrivateKeyFile: keyFile,
        dcosTimeout: 2,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await dcos?.close();
    pki?.cleanup();
  });

  it('has no key twice, with DC/OS answering, down, sealed, failing and refusing the login', async () => {
    const name = 'token_secret=pwx/secrets/u1,name=d1';
    await stack.call('VolumeDriver.Create', { Name: name });
    await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('c1') });
    await stack.call('VolumeDriver.Unmount', { Name: name, ID: mountId('c1') });
    for (const bad of [
      'token_secret=/other/secret,name=f',
      'token_secret=pwx/secrets/nobody,name=n',
      'token_secret=pwx/secrets/junk,name=j',
    ]) {
      await stack.call('VolumeDriver.Create', { Name: bad });
    }
    const outages: Array<[string, () => void, () => void]> = [
      ['down', () => (dcos.down = true), () => (dcos.down = false)],
      ['sealed', () => (dcos.sealed = true), () => (dcos.sealed = false)],
      ['500', () => (dcos.status500 = true), () => (dcos.status500 = false)],
    ];
    for (const [, on, off] of outages) {
      on();
      try {
        await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('c2') });
        await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/u2,name=d2' });
        await stack.call('VolumeDriver.Remove', { Name: 'token_secret=pwx/secrets/u2,name=d2' });
        await stack.proxy.secrets.ready();
      } finally {
        off();
      }
    }
    // Removed in pxd, but its cluster record cannot be deleted while DC/OS is down (bookkeeping's warn).
    const kept = 'token_secret=pwx/secrets/u2,name=d4';
    await stack.call('VolumeDriver.Create', { Name: kept });
    dcos.down = true;
    try {
      await stack.call('VolumeDriver.Remove', { Name: kept });
    } finally {
      dcos.down = false;
    }
    expect(stack.logs.join('')).toContain('its cluster record could not be deleted');
    // The login refused (the account's key was replaced, every session revoked); the backend down on a DC/OS path.
    dcos.addServiceAccount('pwx-proxy', makeRsaKeyPair().publicKeyPem);
    dcos.revokeAll();
    stack.pxd.faults.down = true;
    try {
      await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/u2,name=d3' });
      await stack.call('VolumeDriver.Remove', { Name: name });
    } finally {
      stack.pxd.faults.down = false;
    }
    expectCleanLines(stack.logs);
    expect(stack.logs.join('')).toMatch(/"level":"(warn|error)"/);
  });
});
