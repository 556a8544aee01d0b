/**
 * `npm start`'s banner suggests a link from dockerd's plugin folder to the embedded proxy's socket. It
 * prints the undo, and on stop the proxy removes the link if it still points at its own socket (a
 * dangling one made `docker volume ls` wait 15 s). The plugin folder is a temp dir here, never the
 * machine's /run/docker/plugins.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DOCKER_PLUGIN_DIR,
  dockerLinkPath,
  dockerPluginDir,
  embeddedBanner,
  removeDockerLink,
  type EmbeddedSetup,
} from '../../src/cli/embedded.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-embedded-link-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function pluginDir(): string {
  const d = path.join(dir, `plugins-${++n}`);
  mkdirSync(d);
  return d;
}

const socket = path.join(dir, '.pxd-auth', 'pxd-auth.sock');
const setup: EmbeddedSetup = { dir: path.join(dir, '.pxd-auth'), defaults: {}, issuer: 'portworx.com', secrets: [] };

function logger() {
  const lines: string[] = [];
  return { lines, info: (_o: object, m: string) => lines.push(`info ${m}`), warn: (_o: object, m: string) => lines.push(`warn ${m}`) };
}

describe('the Docker plugin folder of the embedded banner', () => {
  it('is /run/docker/plugins unless PXD_AUTH_DOCKER_PLUGIN_DIR moves it', () => {
    expect(dockerPluginDir({})).toBe(DOCKER_PLUGIN_DIR);
    expect(dockerLinkPath({})).toBe('/run/docker/plugins/pxd-auth.sock');
    expect(dockerLinkPath({ PXD_AUTH_DOCKER_PLUGIN_DIR: '/tmp/x' })).toBe('/tmp/x/pxd-auth.sock');
  });

  it('the banner prints the link and its undo, in the folder given', () => {
    const d = pluginDir();
    const text = embeddedBanner(setup, socket, d);
    expect(text).toContain(`ln -sf ${socket} ${d}/pxd-auth.sock`);
    expect(text).toContain(`rm -f ${d}/pxd-auth.sock`);
    expect(text).not.toContain('/run/docker/plugins');
  });
});

describe('removeDockerLink', () => {
  it('removes a link that points at this socket', () => {
    const d = pluginDir();
    const link = path.join(d, 'pxd-auth.sock');
    symlinkSync(socket, link);
    const log = logger();
    expect(removeDockerLink(socket, log, link)).toBe('removed');
    expect(existsSync(link) || lstatExists(link)).toBe(false);
    expect(log.lines).toEqual(['info removed the link to this socket from the Docker plugin folder']);
  });

  it('removes a relative link that resolves to this socket', () => {
    const d = pluginDir();
    const link = path.join(d, 'pxd-auth.sock');
    symlinkSync(path.relative(d, socket), link);
    expect(removeDockerLink(socket, undefined, link)).toBe('removed');
    expect(lstatExists(link)).toBe(false);
  });

  it("leaves another proxy's link alone", () => {
    const d = pluginDir();
    const link = path.join(d, 'pxd-auth.sock');
    symlinkSync('/elsewhere/pxd-auth.sock', link);
    expect(removeDockerLink(socket, undefined, link)).toBe('not ours');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('leaves a file that is not a link alone (a proxy started with --socket there)', () => {
    const d = pluginDir();
    const link = path.join(d, 'pxd-auth.sock');
    writeFileSync(link, '');
    expect(removeDockerLink(socket, undefined, link)).toBe('not ours');
    expect(existsSync(link)).toBe(true);
  });

  it('does nothing when there is no link', () => {
    expect(removeDockerLink(socket, undefined, path.join(pluginDir(), 'pxd-auth.sock'))).toBe('absent');
    expect(removeDockerLink(socket, undefined, path.join(dir, 'no-such-folder', 'pxd-auth.sock'))).toBe('absent');
  });
});

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
