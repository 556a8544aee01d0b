/**
 * plugin/systemd/*: the socket unit names the plugin socket dockerd looks for, with mode 0660, before
 * docker.service; the service runs the proxy's `serve`. plugin/pxd-auth.spec holds the same socket's URL.
 */
import { describe, expect, it } from 'vitest';
import { SERVE_OPTIONS } from '../../../src/config/options.js';
import { readRepo } from './files.js';

type Unit = Map<string, Map<string, string[]>>;

/** A small parser for systemd unit files: section → key → values (keys may repeat). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    expect(section, `key outside a section: ${line}`).toBeDefined();
    expect(eq, `not key=value: ${line}`).toBeGreaterThan(0);
    const key = line.slice(0, eq).trim();
    section!.set(key, [...(section!.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function one(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key);
  expect(values, `[${section}] ${key}`).toBeDefined();
  return values![values!.length - 1]!;
}

function words(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section)?.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

const DEFAULT_SOCKET = SERVE_OPTIONS.find((o) => o.key === 'socket')!.defaultText;

describe('plugin/systemd/pxd-auth-proxy.socket', () => {
  const unit = parseUnit(readRepo('plugin/systemd/pxd-auth-proxy.socket'));

  it('listens where dockerd looks for the pxd-auth driver, mode 0660', () => {
    expect(DEFAULT_SOCKET).toBe('/run/docker/plugins/pxd-auth.sock');
    expect(unit.get('Socket')?.get('ListenStream')).toEqual(['/run/docker/plugins/pxd-auth.sock']);
    expect(one(unit, 'Socket', 'SocketMode')).toBe('0660');
    expect(one(unit, 'Socket', 'SocketUser')).toBe('root');
  });

  it('is ready before docker.service and enabled with sockets.target', () => {
    expect(words(unit, 'Unit', 'Before')).toContain('docker.service');
    expect(words(unit, 'Install', 'WantedBy')).toContain('sockets.target');
  });
});

describe('plugin/systemd/pxd-auth-proxy.service', () => {
  const unit = parseUnit(readRepo('plugin/systemd/pxd-auth-proxy.service'));

  it('runs the installed bin with serve and the example configuration file', () => {
    const exec = one(unit, 'Service', 'ExecStart').split(/\s+/);
    expect(exec[0]).toMatch(/^\/.*\/pxd-auth-proxy$/);
    expect(exec[1]).toBe('serve');
    expect(exec.slice(2)).toEqual(['--config', '/etc/pxd-auth-proxy/pxd-auth-proxy.yaml']);
    // The example files name these paths in their headers.
    expect(readRepo('plugin/pxd-auth-proxy.yaml')).toMatch(/^# \/etc\/pxd-auth-proxy\/pxd-auth-proxy\.yaml:/);
    expect(one(unit, 'Service', 'EnvironmentFile')).toBe('-/etc/pxd-auth-proxy/pxd-auth-proxy.env');
    expect(readRepo('plugin/pxd-auth-proxy.env')).toMatch(/^# \/etc\/pxd-auth-proxy\/pxd-auth-proxy\.env:/);
  });

  it('is started by its socket, before docker.service (so it stops after dockerd)', () => {
    expect(words(unit, 'Unit', 'Requires')).toContain('pxd-auth-proxy.socket');
    expect(words(unit, 'Unit', 'After')).toContain('pxd-auth-proxy.socket');
    expect(words(unit, 'Unit', 'Before')).toContain('docker.service');
    expect(words(unit, 'Install', 'Also')).toContain('pxd-auth-proxy.socket');
  });

  it('restarts on failure but not on a configuration problem (exit code 2)', () => {
    expect(one(unit, 'Service', 'Restart')).toBe('always');
    expect(words(unit, 'Service', 'RestartPreventExitStatus')).toContain('2');
    expect(one(unit, 'Service', 'User')).toBe('root');
  });
});

describe('plugin/pxd-auth.spec', () => {
  it('holds the URL of the plugin socket and nothing else (dockerd reads the whole file as the URL)', () => {
    const text = readRepo('plugin/pxd-auth.spec');
    expect(text.trim()).toBe(`unix://${DEFAULT_SOCKET}`);
    expect(text.trim().split('\n')).toHaveLength(1);
  });
});
