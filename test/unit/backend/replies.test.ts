/**
 * A backend refusal as the Docker user reads it, and the state put back after pxd refused a Create.
 * The integration suites reach the rarer paths only now and then (by timing or by chance): here they
 * are run every time, so the coverage floor does not depend on luck.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendRefusal } from '../../../src/backend/replies.js';
import { Bookkeeping } from '../../../src/proxy/bookkeeping.js';
import { StateStore } from '../../../src/state/store.js';

const refuse = (op: string, reply: { status: number; json?: Record<string, unknown>; text: string }) =>
  backendRefusal(op, 'vol1', 'id/user1', 'pxd', reply);

describe('backendRefusal', () => {
  it('names a known pxd denial in words, keeping what pxd said', () => {
    const e = refuse('mount', { status: 200, json: { Err: 'Access denied to volume vol1' }, text: '' });
    expect(e.code).toBe('BACKEND_DENIED');
    expect(e.message).toBe('volume vol1 belongs to another user: id/user1 may not use it (pxd: Access denied to volume vol1)');
  });

  it('reads "Cannot locate volume" on Remove as not found or not yours', () => {
    const e = refuse('remove', { status: 200, json: { Err: 'Cannot locate volume with name vol1' }, text: '' });
    expect(e.code).toBe('BACKEND_ERROR');
    expect(e.message).toMatch(/^volume vol1 was not found, or belongs to another user than id\/user1 \(pxd: Cannot locate/);
  });

  it('passes any other refusal on with the operation, from the JSON Err or the text', () => {
    const fromJson = refuse('create', { status: 200, json: { Err: 'disk full' }, text: '' });
    expect(fromJson.code).toBe('BACKEND_ERROR');
    expect(fromJson.message).toBe('pxd could not create volume vol1: disk full');
    const fromText = refuse('remove', { status: 400, text: 'Cannot locate volume with name vol1\n' });
    expect(fromText.message).toMatch(/^volume vol1 was not found/);
    expect(refuse('mount', { status: 500, text: ' busy \n' }).message).toBe('pxd could not mount volume vol1: busy');
  });

  it('names the HTTP status when the backend said nothing', () => {
    expect(refuse('mount', { status: 502, text: '' }).message).toBe('pxd could not mount volume vol1: HTTP 502');
  });
});

describe('Bookkeeping: a Create pxd refused', () => {
  const logger = { warn: () => {} } as unknown as ConstructorParameters<typeof Bookkeeping>[0]['logger'];
  const stateIn = async () => (await StateStore.open(path.join(mkdtempSync(path.join(os.tmpdir(), 'pxa-book-')), 'state.json'))).store;
  const optsSecret = (secretPath: string) => ({ kind: 'opts-secret' as const, secretPath });

  it('forgets a name it did not know before', async () => {
    const state = await stateIn();
    const undo = await new Bookkeeping({ state, logger }).beforeForward('VolumeDriver.Create', 'v1', 'v1', optsSecret('pwx/a'), 'id/u');
    expect(state.get('v1')?.secretPath).toBe('pwx/a');
    await undo!();
    expect(state.get('v1')).toBeUndefined();
  });

  it('puts back a known name as it was, without a reference', async () => {
    const state = await stateIn();
    await state.remember('v1');
    const undo = await new Bookkeeping({ state, logger }).beforeForward('VolumeDriver.Create', 'v1', 'v1', optsSecret('pwx/new'), 'id/u');
    expect(state.get('v1')?.secretPath).toBe('pwx/new');
    await undo!();
    expect(state.get('v1')).toBeDefined();
    expect(state.get('v1')?.secretPath).toBeUndefined();
  });

  it('never retargets a name recorded with another secret', async () => {
    const state = await stateIn();
    await state.remember('v1', 'pwx/old');
    await expect(
      new Bookkeeping({ state, logger }).beforeForward('VolumeDriver.Create', 'v1', 'v1', optsSecret('pwx/new'), 'id/u'),
    ).rejects.toMatchObject({
      code: 'REFERENCE_CONFLICT',
    });
    expect(state.get('v1')?.secretPath).toBe('pwx/old');
  });

  it('writes nothing for a Create whose token is not given with -o token_secret', async () => {
    const state = await stateIn();
    const undo = await new Bookkeeping({ state, logger }).beforeForward('VolumeDriver.Create', 'v1', 'v1', { kind: 'name-token' }, 'id/u');
    expect(undo).toBeUndefined();
    expect(state.get('v1')).toBeUndefined();
  });
});
