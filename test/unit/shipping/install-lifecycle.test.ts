/**
 * docs/install.md over the whole life of an install: the Marathon app lands on exactly the agents with
 * pxd, every install form has upgrade steps, and "Removing it" undoes everything an install creates —
 * on the agent (what the systemd steps install, the folders the containers mount, the socket), in
 * Docker (the volume records naming pxd-auth) and in DC/OS (what the setup script and the docs create
 * and grant; the script is run against the stand-in DC/OS CLI to find out).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readRepo, repoPath, tempDir } from './files.js';
import { dcosState, fakeDcos, runWithFake } from './fake-dcos.js';

const install = readRepo('docs/install.md');
const permissions = readRepo('docs/dcos-permissions.md');
const app = JSON.parse(readRepo('plugin/dcos/pxd-auth-proxy.marathon.json')) as {
  instances: number;
  constraints: string[][];
  container: { volumes: Array<{ hostPath: string; mode: string }> };
};
const dir = tempDir('pxa-shipping-lifecycle-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The text of a `## ` section of docs/install.md, its `### ` subsections included. */
function section(title: string): string {
  const parts = install.split(/^## /m);
  const hit = parts.find((p) => p.startsWith(`${title}\n`));
  if (!hit) throw new Error(`docs/install.md has no section "## ${title}"`);
  return hit;
}

/** The shell lines of the ```sh blocks of a text, continuation lines joined, comments dropped. */
function shellLines(md: string): string[] {
  const lines: string[] = [];
  for (const m of md.matchAll(/^[ \t]*```(?:sh|bash|shell)\n([\s\S]*?)^[ \t]*```/gm)) {
    const joined = m[1]!.replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').trim();
      if (line && !line.startsWith('#')) lines.push(line);
    }
  }
  return lines;
}

const removing = section('Removing it');
const removingLines = shellLines(removing);
/** Every command of "Removing it", in blocks or inline code. */
const removingCommands = [...removingLines, ...[...removing.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!)];

/** True when "Removing it" deletes this path or a folder holding it. */
function removed(p: string): boolean {
  return removingLines.some((l) => {
    if (!/^rm\s/.test(l)) return false;
    const targets = l
      .split(/\s+/)
      .slice(1)
      .filter((a) => !a.startsWith('-'));
    return targets.some((t) => t === p || (p.startsWith(`${t.replace(/\/$/, '')}/`) && /-\w*r/.test(l)));
  });
}

describe('the Marathon app lands on the agents with pxd', () => {
  it('is constrained to one proxy per agent and to agents with the pxd attribute', () => {
    expect(app.constraints).toContainEqual(['hostname', 'UNIQUE']);
    expect(app.constraints).toContainEqual(['pxd', 'IS', 'true']);
    expect(app.constraints).toHaveLength(2);
  });

  it('says how to mark an agent, and how to cover every agent as agents come and go', () => {
    const marathon = section('Marathon');
    expect(marathon).toContain('/var/lib/dcos/mesos-slave-common');
    const [attr, , value] = app.constraints.find((c) => c[1] === 'IS')!;
    expect(marathon).toContain(`MESOS_ATTRIBUTES=${attr}:${value}`);
    expect(marathon).toMatch(/dcos marathon app update \/pxd-auth-proxy instances=\d+/);
    expect(marathon).toMatch(/`instances`: the number of agents marked `pxd:true`/);
    expect(marathon).toContain(`\`constraints: ${JSON.stringify(app.constraints).replace(/\],\[/g, '],[')}\``);
  });
});

describe('upgrade steps', () => {
  it.each(['Marathon', 'systemd'])('%s has its own upgrade steps', (form) => {
    expect(section(form)).toMatch(new RegExp(`^### Upgrading \\(${form}\\)$`, 'm'));
  });
});

describe('"Removing it" undoes the install on the agent', () => {
  const systemd = section('systemd');

  it('removes every file the systemd steps install', () => {
    const installed: string[] = [];
    for (const line of shellLines(systemd)) {
      const m = /^install\s+(.*)$/.exec(line);
      if (!m) continue;
      const args = m[1]!.split(/\s+/).filter((a, i, all) => !a.startsWith('-') && !/^0\d{3}$/.test(a) && all[i - 1] !== '-m');
      if (args.length === 0) continue;
      const dest = args[args.length - 1]!;
      if (line.includes(' -d ')) installed.push(dest);
      else if (dest.endsWith('/')) for (const src of args.slice(0, -1)) installed.push(dest + path.basename(src));
      else installed.push(dest);
    }
    // A file written by a redirection (the shared secret).
    for (const m of systemd.matchAll(/>\s*(\/etc\/pxd-auth-proxy\/[\w.-]+)/g)) installed.push(m[1]!);
    expect(installed).toEqual(expect.arrayContaining(['/etc/pxd-auth-proxy', '/etc/systemd/system/pxd-auth-proxy.service']));
    expect(installed.filter((p) => !removed(p))).toEqual([]);
  });

  it('takes the units out of systemd: disable, remove, daemon-reload', () => {
    const disable = removingLines.findIndex(
      (l) => /^systemctl disable --now .*pxd-auth-proxy\.service/.test(l) && l.includes('pxd-auth-proxy.socket'),
    );
    const rm = removingLines.findIndex((l) => l.startsWith('rm ') && l.includes('/etc/systemd/system/pxd-auth-proxy.socket'));
    const reload = removingLines.indexOf('systemctl daemon-reload');
    expect(disable).toBeGreaterThanOrEqual(0);
    expect(rm).toBeGreaterThan(disable);
    expect(reload).toBeGreaterThan(rm);
  });

  it('removes the package the way each install step put it there', () => {
    expect(systemd).toMatch(/npm install -g --omit=dev \.\/pxd-auth-proxy-[\d.]+\.tgz/);
    expect(removingLines).toContain('npm uninstall -g pxd-auth-proxy');
    // The copy for agents without the registry: the folder and the link.
    expect(systemd).toContain('/usr/local/lib/node_modules/pxd-auth-proxy');
    expect(removed('/usr/local/lib/node_modules/pxd-auth-proxy')).toBe(true);
    expect(removed('/usr/local/bin/pxd-auth-proxy')).toBe(true);
  });

  it('removes the folders the Marathon app writes on the host, and the socket', () => {
    const written = app.container.volumes.filter((v) => v.mode === 'RW' && v.hostPath !== '/run/docker/plugins').map((v) => v.hostPath);
    expect(written).toContain('/var/lib/pxd-auth-proxy');
    expect(written.filter((p) => !removed(p))).toEqual([]);
    const socket = /^ListenStream=(.*)$/m.exec(readRepo('plugin/systemd/pxd-auth-proxy.socket'))![1]!;
    expect(removed(socket)).toBe(true);
    expect(removed('/etc/docker/plugins/pxd-auth.spec')).toBe(true);
  });

  it('removes the folders the docker run form mounts from the host', () => {
    const hostPaths = [...section('docker run').matchAll(/-v (\/[^:\s]+):/g)].map((m) => m[1]!);
    const owned = hostPaths.filter((p) => p.includes('pxd-auth-proxy'));
    expect(owned.length).toBeGreaterThan(0);
    expect(owned.filter((p) => !removed(p))).toEqual([]);
  });

  it('stops every form', () => {
    expect(removingLines).toContain('dcos marathon app remove /pxd-auth-proxy');
    expect(removingLines).toContain('docker rm -f pxd-auth-proxy');
  });
});

describe('"Removing it" deals with Docker\'s volume records first', () => {
  it('lists them, and explains removing the data against forgetting the record', () => {
    expect(removingLines).toContain('docker volume ls -f driver=pxd-auth');
    expect(removing).toMatch(/\*\*Remove the data too:\*\* `docker volume rm <name>`/);
    expect(removing).toMatch(/deletes\s+the Portworx volume and its data/);
    expect(removing).toMatch(/\*\*Keep the data, forget the record:\*\*/);
    expect(
      removingLines.some((l) => /pxd-auth-proxy serve --embedded --backend \S+ --socket \/run\/docker\/plugins\/pxd-auth\.sock/.test(l)),
    ).toBe(true);
    expect(removingLines.some((l) => /docker volume ls -q -f driver=pxd-auth \| xargs -r -n1 docker volume rm -f/.test(l))).toBe(true);
    // Before the proxy goes: records come before the forms' removal commands.
    expect(removing.indexOf('docker volume ls -f driver=pxd-auth')).toBeLessThan(removing.indexOf('dcos marathon app remove'));
  });
});

describe('"Removing it" undoes what the setup in DC/OS creates', () => {
  const shared = path.join(dir, 'shared-secret');
  writeFileSync(shared, 'lifecycle-test-shared-secret\n');
  const fake = fakeDcos(path.join(dir, 'setup'));
  const run = runWithFake(fake, repoPath('plugin/dcos/setup-service-account.sh'), { SHARED_SECRET_FILE: shared });
  const state = dcosState(fake);

  it('the setup script ran', () => {
    expect(run.status, run.stderr).toBe(0);
  });

  it("deletes the script's account after revoking each of its grants", () => {
    for (const account of Object.keys(state.accounts))
      expect(removingCommands).toContain(`dcos security org service-accounts delete ${account}`);
    const missing = state.grants
      .map((g) => g.split(' ') as [string, string, string])
      .filter(([uid, rid, action]) => !removingCommands.includes(`dcos security org users revoke ${uid} '${rid}' ${action}`));
    expect(missing).toEqual([]);
  });

  it("deletes the script's secrets", () => {
    const secrets = Object.keys(state.secrets);
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    expect(secrets.filter((s) => !removingCommands.includes(`dcos security secrets delete ${s}`))).toEqual([]);
  });

  it('deletes the secrets the docs have you create under pxd-auth-proxy/ (the fleet document), and the volume records', () => {
    const created = new Set<string>();
    for (const md of [install, permissions])
      for (const m of md.matchAll(/dcos security secrets create\b[^\n`]*?\s(pxd-auth-proxy\/[\w./-]+)\s*(?:$|`)/gm)) created.add(m[1]!);
    expect([...created]).toContain('pxd-auth-proxy/fleet');
    expect([...created].filter((s) => !removingCommands.includes(`dcos security secrets delete ${s}`))).toEqual([]);
    expect(removingCommands).toContain('dcos security secrets list pxd-auth-proxy/volumes');
    expect(removingCommands).toContain('dcos security secrets delete pxd-auth-proxy/volumes/<volume>');
  });

  it('revokes every grant the docs show for the account (the default paths)', () => {
    const grants = new Set<string>();
    for (const md of [install, permissions]) {
      for (const line of shellLines(md)) {
        const m = /^dcos security org users grant (\S+) '?([^'\s]+)'? (\w+|"\$action")$/.exec(line);
        if (!m || m[2]!.includes('acme')) continue;
        grants.add(`${m[1]} '${m[2]}' ${m[3]}`);
      }
      // The loop that grants the references folder action by action.
      if (/for action in create read delete; do\s+dcos security org users grant/.test(md.replace(/\\\n/g, ' '))) {
        grants.add(`pxd-auth-proxy 'dcos:secrets:default:/pxd-auth-proxy/volumes/*' "$action"`);
      }
    }
    // Quoting differs (the fleet grant is shown unquoted): compare without it.
    const revokes = removingCommands.filter((c) => c.includes('users revoke')).map((c) => c.replace(/'/g, ''));
    const missing = [...grants].filter((g) => !revokes.some((r) => r.includes(`users revoke ${g.replace(/'/g, '')}`)));
    expect(missing).toEqual([]);
    expect(grants.size).toBeGreaterThanOrEqual(5);
  });

  it("mentions the list grant doctor's base-path check needs", () => {
    expect(permissions).toContain('dcos:secrets:list:default:/pwx/secrets read');
    expect(removingCommands).toContain("dcos security org users revoke pxd-auth-proxy 'dcos:secrets:list:default:/pwx/secrets' read");
  });
});
