import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackendClient } from '../../../src/backend/client.js';
import { ProxyError } from '../../../src/errors.js';

/** A backend on a real unix socket whose answer each test chooses. */
async function backend(handler: http.RequestListener): Promise<{ socket: string; server: http.Server; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-backend-'));
  const socket = path.join(dir, 'pxd.sock');
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    socket,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function client(
  handler: http.RequestListener,
  maxConnections: number | null = null,
): Promise<{ c: BackendClient; requests: string[] }> {
  const requests: string[] = [];
  const b = await backend((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url} ${body.trim()}`);
      handler(req, res);
    });
  });
  const c = new BackendClient(b.socket, 'unix://pxd.sock', maxConnections);
  cleanups.push(
    () => b.close(),
    () => c.close(),
  );
  return { c, requests };
}

async function failure(p: Promise<unknown>): Promise<ProxyError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProxyError);
  return e as ProxyError;
}

describe('BackendClient', () => {
  it('posts the body as JSON and parses a JSON object reply', async () => {
    const { c, requests } = await client((_req, res) => res.end('{"Mountpoint":"/var/lib/osd/mounts/v1","Err":""}\n'));
    const r = await c.call('VolumeDriver.Mount', { Name: 'name=v1', ID: 'a' }, 2_000);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ Mountpoint: '/var/lib/osd/mounts/v1', Err: '' });
    expect(requests).toEqual(['POST /VolumeDriver.Mount {"Name":"name=v1","ID":"a"}']);
  });

  it('keeps a text reply as text, without json', async () => {
    const { c } = await client((_req, res) => {
      res.statusCode = 400;
      res.end('Unable to authenticate token\n');
    });
    const r = await c.call('VolumeDriver.Create', { Name: 'name=v1' }, 2_000);
    expect(r).toEqual({ status: 400, json: undefined, text: 'Unable to authenticate token\n' });
  });

  it('refuses a reply larger than 4 MiB with BACKEND_BAD_REPLY', async () => {
    const { c } = await client((_req, res) => res.end(`{"Err":"${'x'.repeat(5 * 1024 * 1024)}"}`));
    const e = await failure(c.call('VolumeDriver.Get', { Name: 'v1' }, 5_000));
    expect(e.code).toBe('BACKEND_BAD_REPLY');
    expect(e.message).toBe('unix://pxd.sock sent a reply larger than 4194304 bytes to VolumeDriver.Get');
  });

  it('gives up after the timeout with BACKEND_TIMEOUT', async () => {
    const { c } = await client(() => undefined); // never answers
    const t0 = Date.now();
    const e = await failure(c.call('VolumeDriver.Mount', { Name: 'name=v1' }, 300));
    expect(e.code).toBe('BACKEND_TIMEOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('counts the wait for a free connection in the timeout (every connection busy)', async () => {
    const arrivals: number[] = [];
    const { c } = await client(() => void arrivals.push(Date.now()), 32); // never answers: holds all 32 connections
    const t0 = Date.now();
    const calls = Array.from({ length: 40 }, (_, i) => failure(c.call('VolumeDriver.Mount', { Name: `name=v${i}` }, 400)));
    const errors = await Promise.all(calls);
    expect(errors.map((e) => e.code)).toEqual(Array(40).fill('BACKEND_TIMEOUT'));
    // The 8 queued calls end with the others, not one timeout later,
    expect(Date.now() - t0).toBeLessThan(750);
    // and a call given up while queued is never sent once a connection frees up. (One created a
    // millisecond later than the first may still go out before its own deadline.)
    await new Promise((r) => setTimeout(r, 300));
    expect(arrivals.length).toBeGreaterThanOrEqual(32);
    expect(arrivals.length).toBeLessThan(40);
    expect(Math.max(...arrivals) - t0).toBeLessThan(450);
  });

  it("stops when the caller's signal aborts", async () => {
    const { c } = await client(() => undefined);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new DOMException('gone', 'AbortError')), 50);
    const t0 = Date.now();
    const e = await failure(c.call('VolumeDriver.Mount', { Name: 'name=v1' }, 10_000, ac.signal));
    expect(e.code).toBe('BACKEND_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('refuses a call after close() with an error, not a hang or a crash', async () => {
    const { c } = await client((_req, res) => res.end('{"Err":""}'));
    await c.close();
    const e = await failure(c.call('VolumeDriver.Get', { Name: 'v1' }, 1_000));
    expect(e.code).toBe('BACKEND_UNREACHABLE');
  });

  it('names an absent backend BACKEND_UNREACHABLE, with a hint', async () => {
    const c = new BackendClient(path.join(os.tmpdir(), `pxa-none-${process.pid}.sock`), 'unix:///run/docker/plugins/pxd.sock');
    cleanups.push(() => c.close());
    const e = await failure(c.call('Plugin.Activate', {}, 1_000));
    expect(e.code).toBe('BACKEND_UNREACHABLE');
    expect(e.message).toBe('unix:///run/docker/plugins/pxd.sock is unreachable (ENOENT): is the volume driver running?');
  });
});
