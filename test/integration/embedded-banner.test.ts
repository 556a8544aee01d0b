/**
 * `npm start` prints commands to try the proxy: each is run here, against the real process started on
 * the embedded default, and must do what its comment says.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { callPlugin } from '../helpers/plugin-client.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

let proc: ProxyProcess | undefined;
const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-embedded-'));

afterAll(async () => {
  await proc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the embedded default banner', () => {
  it('shows curl commands that work as their comments say', async () => {
    proc = startProxyProcess(['serve', '--embedded'], {}, { cwd: dir });
    await proc.waitFor(/Stop with Ctrl-C/, 15_000);
    const commands = proc.lines
      .map((l) => /curl -s --unix-socket (\S+) -X POST http:\/\/plugin\/(\S+) -d '(.*)'(?:\s+# (.*))?$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const [, socket, endpoint, body, comment] of commands) {
      const r = await callPlugin(socket!, endpoint!, JSON.parse(body!));
      if (comment?.startsWith('denied'))
        expect(r.json?.Err, `${endpoint} ${body}`).toMatch(/^pxd-auth (POLICY_ROLE_DENIED|BACKEND_DENIED|BACKEND_ERROR):/);
      else expect(r.json?.Err, `${endpoint} ${body}`).toBe('');
    }
  });
});
