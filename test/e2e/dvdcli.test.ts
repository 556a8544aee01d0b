/**
 * The dvdcli stand-in must speak exactly as dvdcli was observed to, or the e2e DC/OS scenario proves
 * nothing. Checked here against a raw socket that records the bytes (no dockerd, no root needed).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DvdcliClient, parseDvdcliArgs } from './dvdcli.js';

interface Seen {
  connection: number;
  requestLine: string;
  headers: Array<[string, string]>;
  body: string;
}

/** A plugin socket that records raw requests and answers from a script. */
async function rawPlugin(socketPath: string, answer: (endpoint: string, body: string) => unknown) {
  const seen: Seen[] = [];
  let connections = 0;
  const server = net.createServer((sock) => {
    const connection = ++connections;
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers = head.slice(1).map((l) => {
          const i = l.indexOf(':');
          return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
        });
        const len = Number(headers.find(([k]) => k === 'content-length')?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
        buf = buf.subarray(end + 4 + len);
        const requestLine = head[0]!;
        seen.push({ connection, requestLine, headers, body });
        const endpoint = requestLine.split(' ')[1]!.slice(1);
        const text = JSON.stringify(answer(endpoint, body));
        // Keep the connection open: only the client decides whether to reuse it.
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
      }),
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-dvdcli-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the dvdcli stand-in', () => {
  it('mount of an absent volume: Activate, Get, Create with the volumeopts, Mount with no ID — each on a fresh connection, as dvdcli sends them', async () => {
    const sock = path.join(dir, 'p.sock');
    let exists = false;
    const plugin = await rawPlugin(sock, (ep, body) => {
      if (ep === 'Plugin.Activate') return { Implements: ['VolumeDriver'] };
      if (ep === 'VolumeDriver.Get') return exists ? { Volume: { Name: 'v1', Mountpoint: '' }, Err: '' } : { Err: 'no such volume' };
      if (ep === 'VolumeDriver.Create') {
        exists = true;
        return { Err: '' };
      }
      if (ep === 'VolumeDriver.Mount') return { Mountpoint: '/mnt/v1', Err: '' };
      if (ep === 'VolumeDriver.Unmount') return { Err: '' };
      return { Err: `unexpected ${ep} ${body}` };
    });
    try {
      const client = new DvdcliClient(sock);
      expect(await client.mount('v1', { token_secret: 'pwx/secrets/t', size: '2G' })).toBe('/mnt/v1');
      expect(plugin.seen.map((s) => s.requestLine)).toEqual([
        'POST /Plugin.Activate HTTP/1.1',
        'POST /VolumeDriver.Get HTTP/1.1',
        'POST /VolumeDriver.Create HTTP/1.1',
        'POST /VolumeDriver.Mount HTTP/1.1',
      ]);
      expect(plugin.seen.map((s) => s.body)).toEqual([
        '',
        '{"Name":"v1"}\n',
        '{"Name":"v1","Opts":{"token_secret":"pwx/secrets/t","size":"2G"}}\n',
        '{"Name":"v1"}\n',
      ]);
      expect(new Set(plugin.seen.map((s) => s.connection)).size).toBe(4);
      for (const s of plugin.seen) {
        const h = new Map(s.headers);
        expect(h.get('accept')).toBe('application/vnd.docker.plugins.v1.2+json');
        expect(h.has('content-type')).toBe(false);
        expect(h.get('host')).toBe('');
      }

      // The volume exists now: a second mount skips Create; unmount is Activate, Get, Unmount{Name}.
      plugin.seen.length = 0;
      await client.mount('v1', { token_secret: 'pwx/secrets/t' });
      await client.unmount('v1');
      expect(plugin.seen.map((s) => `${s.requestLine.split(' ')[1]} ${s.body.trim()}`)).toEqual([
        '/Plugin.Activate ',
        '/VolumeDriver.Get {"Name":"v1"}',
        '/VolumeDriver.Mount {"Name":"v1"}',
        '/Plugin.Activate ',
        '/VolumeDriver.Get {"Name":"v1"}',
        '/VolumeDriver.Unmount {"Name":"v1"}',
      ]);
      expect(plugin.seen.some((s) => s.requestLine.includes('Capabilities'))).toBe(false);
    } finally {
      await plugin.close();
    }
  });

  it('sends "Opts":null when no --volumeopts are given, and reports a plugin Err', async () => {
    const sock = path.join(dir, 'p.sock');
    const plugin = await rawPlugin(sock, (ep) => {
      if (ep === 'Plugin.Activate') return { Implements: ['VolumeDriver'] };
      if (ep === 'VolumeDriver.Get') return { Err: 'no such volume' };
      return { Err: 'pxd-auth TOKEN_MISSING: no token' };
    });
    try {
      await expect(new DvdcliClient(sock).mount('v2', {})).rejects.toThrow('create v2: pxd-auth TOKEN_MISSING: no token');
      expect(plugin.seen[2]!.body).toBe('{"Name":"v2","Opts":null}\n');
    } finally {
      await plugin.close();
    }
  });

  it("parses dvdcli's own flags, --volumeopts repeated", () => {
    expect(
      parseDvdcliArgs(['mount', '--volumedriver=pxd-auth', '--volumename', 'v', '--volumeopts=token_secret=a/b=c', '--volumeopts=repl=3']),
    ).toEqual({
      command: 'mount',
      volumedriver: 'pxd-auth',
      volumename: 'v',
      volumeopts: { token_secret: 'a/b=c', repl: '3' },
      explicitcreate: false,
    });
    expect(() => parseDvdcliArgs(['mount', '--volumename=v'])).toThrow(/--volumedriver is required/);
    expect(() => parseDvdcliArgs(['frob'])).toThrow(/usage/);
  });
});
