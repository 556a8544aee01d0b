/**
 * Every shell command README.md and docs/*.md show (```sh and ```bash blocks), each classified:
 *
 * - run:      run here, as printed, against the proxy on its embedded default in a temp folder (the
 *             program on PATH, the admin port rewritten to a free one);
 * - static:   checked against the repository: subcommands and flags against the CLI's own --help, dcos
 *             subcommands against the list below, files against plugin/, names against the parser;
 * - covered:  run by another test, named;
 * - manual:   needs a DC/OS cluster, an agent with Portworx, or a dockerd: the reason is given, and what
 *             can be checked statically is checked.
 *
 * A command no rule matches fails the test: the docs cannot grow a command nobody looked at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseName } from '../../src/volume-name/index.js';
import { BIN, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');
const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

interface Command {
  file: string;
  section: string;
  /** The command, continuation lines joined, a trailing comment dropped. */
  text: string;
}

/** The commands of the shell blocks, with the `## ` section each is in. A for loop is one command. */
function extract(file: string): Command[] {
  const out: Command[] = [];
  let section = '';
  let inBlock: false | 'shell' | 'other' = false;
  let pending = '';
  for (const raw of read(file).split('\n')) {
    const fence = /^\s*```(\w*)\s*$/.exec(raw);
    if (fence) {
      inBlock = inBlock ? false : ['sh', 'bash', 'shell'].includes(fence[1]!) ? 'shell' : 'other';
      continue;
    }
    if (!inBlock && /^## /.test(raw)) section = raw.slice(3).trim();
    if (inBlock !== 'shell') continue;
    let line = raw.trim();
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1).trim() + ' ';
      continue;
    }
    line = (pending + line).replace(/\s+#\s.*$/, '').trim();
    pending = '';
    if (!line || line.startsWith('#')) continue;
    const last = out[out.length - 1];
    if (last && /^for\s/.test(last.text) && !/;\s*done$|^done$/.test(last.text.split('\n').pop()!)) {
      last.text += `\n${line}`;
      continue;
    }
    out.push({ file, section, text: line });
  }
  return out;
}

const COMMANDS = DOCS.flatMap(extract);

// ---------------------------------------------------------------------------------------------------
// What the static checks compare against

/**
 * The DC/OS CLI subcommands the docs may use (DC/OS CLI and Enterprise CLI reference; the ones the
 * setup script uses are also what test/unit/shipping/fake-dcos.sh implements).
 */
const DCOS_SUBCOMMANDS = [
  'auth login',
  'config show',
  'package install',
  'node list',
  'node ssh',
  'node drain',
  'task list',
  'task log',
  'marathon app add',
  'marathon app update',
  'marathon app remove',
  'marathon app show',
  'marathon app restart',
  'marathon app version list',
  'marathon deployment list',
  'security org service-accounts keypair',
  'security org service-accounts create',
  'security org service-accounts show',
  'security org service-accounts delete',
  'security org users grant',
  'security org users revoke',
  'security secrets create',
  'security secrets create-sa-secret',
  'security secrets get',
  'security secrets update',
  'security secrets delete',
  'security secrets list',
];

const UNITS = readdirSync(path.join(ROOT, 'plugin/systemd'));
/** DC/OS's own units the docs name. */
const DCOS_UNITS = ['dcos-mesos-slave', 'dcos-mesos-slave-public', 'dcos-*'];
const SOCKET = /^ListenStream=(.*)$/m.exec(read('plugin/systemd/pxd-auth-proxy.socket'))![1]!;
const MARATHON = JSON.parse(read('plugin/dcos/pxd-auth-proxy.marathon.json')) as {
  container: { docker: { image: string } };
  constraints: string[][];
};
const IMAGE = MARATHON.container.docker.image;
const PKG = JSON.parse(read('package.json')) as { name: string; version: string; engines: { node: string } };

const helpCache = new Map<string, string>();
function help(sub: string[]): string {
  const key = sub.join(' ');
  if (!helpCache.has(key)) {
    const r = spawnSync(process.execPath, [BIN, ...sub, '--help'], { encoding: 'utf8' });
    expect(r.status, `pxd-auth-proxy ${key} --help: ${r.stderr}`).toBe(0);
    helpCache.set(key, r.stdout);
  }
  return helpCache.get(key)!;
}

/** `pxd-auth-proxy <sub...> --flags`: the subcommand exists and takes every flag shown. */
function checkCli(text: string): void {
  const m = /(?:^|\s|\/)pxd-auth-proxy(?::[\w.-]+)?\s+(.*)$/.exec(text.split('|')[0]!.replace(/\s*[>&]+\s*\S*\s*&?$/, ''));
  expect(m, text).not.toBeNull();
  const words = m![1]!.split(/\s+/);
  const sub: string[] = [];
  for (const w of words) {
    if (!/^[a-z]+$/.test(w)) break;
    sub.push(w);
  }
  const text2 = help(sub);
  for (const w of words) {
    if (!w.startsWith('--')) continue;
    const flag = w.split('=')[0]!;
    expect(
      flag === '--help' || text2.includes(`${flag} `) || text2.includes(`${flag},`) || text2.includes(`${flag}\n`),
      `${flag} in: ${text}`,
    ).toBe(true);
  }
}

function checkDcos(text: string): void {
  for (const m of text.matchAll(/(?:^|[\s;(])dcos\s+([^|;&)]*)/g)) {
    const args = m[1]!.trim();
    expect(
      DCOS_SUBCOMMANDS.some((s) => args === s || args.startsWith(`${s} `)),
      `dcos ${args}`,
    ).toBe(true);
    const file = /\s(?:<\s*)?(plugin\/\S+\.json|docs\/\S+\.json)/.exec(args)?.[1];
    if (file) expect(() => JSON.parse(read(file)), file).not.toThrow();
  }
}

function checkUnits(text: string): void {
  const units = [...text.matchAll(/\b(pxd-auth-proxy\.(?:service|socket)|dcos-[\w*-]+)\b/g)].map((m) => m[1]!);
  for (const u of units) expect(UNITS.includes(u) || DCOS_UNITS.includes(u), u).toBe(true);
  const bare = /journalctl -u (pxd-auth-proxy)(\s|$)/.exec(text);
  if (bare) expect(UNITS).toContain('pxd-auth-proxy.service');
}

/** Volume names in docker commands parse as the proxy parses them, and name the driver pxd-auth. */
function checkDockerVolumes(text: string): void {
  const names = [
    ...[...text.matchAll(/--name\s+(\S+)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/\s-v\s+([^\s:/][^\s:]*):\//g)].map((m) => m[1]!),
    ...[...text.matchAll(/docker volume rm\s+(\S+)/g)].map((m) => m[1]!),
  ].filter((n) => !n.startsWith('-') && n !== 'pxd-auth-proxy');
  for (const n of names) expect(() => parseName(n), n).not.toThrow();
  for (const m of text.matchAll(/(?:-d|--driver|--volume-driver|volume-driver=)[\s=]?(\S+?)(?:[,\s]|$)/g))
    expect(m[1], text).toBe('pxd-auth');
}

/** Paths under $P (the installed package's plugin folder) exist in plugin/. */
function checkPluginPaths(text: string): void {
  for (const m of text.matchAll(/\$P\/(\S+)/g)) expect(existsSync(path.join(ROOT, 'plugin', m[1]!)), m[1]).toBe(true);
}

function checkScript(text: string): void {
  const m = /^((?:[A-Z_]+=\S+\s+)*)(plugin\/dcos\/setup-service-account\.sh)$/.exec(text);
  expect(m, text).not.toBeNull();
  const script = read(m![2]!);
  expect(statSync(path.join(ROOT, m![2]!)).mode & 0o111).not.toBe(0);
  for (const v of m![1]!.trim().split(/\s+/).filter(Boolean)) expect(script, v).toContain(`\${${v.split('=')[0]}:-`);
}

// ---------------------------------------------------------------------------------------------------
// Running for real

let dir = '';
let proc: ProxyProcess | undefined;
let adminPort = 0;
let env: NodeJS.ProcessEnv = {};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-docs-commands-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'pxd-auth-proxy'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(path.join(bin, 'pxd-auth-proxy'), 0o755);
  // The auth config docs/tokens.md shows, as user1.yaml (and as README's user.yaml).
  const authConfig = /`user1\.yaml`:\s*```yaml\n([\s\S]*?)```/.exec(read('docs/tokens.md'))![1]!;
  writeFileSync(path.join(dir, 'user1.yaml'), authConfig);
  writeFileSync(path.join(dir, 'user.yaml'), authConfig);
  // The fleet document docs/install.md shows.
  writeFileSync(
    path.join(dir, 'fleet.yaml'),
    /```yaml\n {3}(# fleet\.yaml[\s\S]*?)```/.exec(read('docs/install.md'))![1]!.replace(/^ {3}/gm, ''),
  );
  adminPort = await freePort();
  proc = startProxyProcess(['serve', '--admin-listen', `127.0.0.1:${adminPort}`], { PXD_AUTH_EMBEDDED: 'true', HOME: dir }, { cwd: dir });
  await proc.waitFor(/Stop with Ctrl-C/, 15_000);
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir,
    PXD_AUTH_EMBEDDED: 'true',
    // The key `token generate` takes from the environment, as docs/tokens.md has the user export it.
    PORTWORX_AUTH_SHARED_SECRET: readFileSync(path.join(dir, '.pxd-auth', 'shared-secret'), 'utf8').trim(),
  };
}, 30_000);

afterAll(async () => {
  await proc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Run a documented command as printed (the admin port rewritten). Output holding a token is never shown. */
function sh(text: string, opts: { cwd?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const cmd = text.replace(/127\.0\.0\.1:9102/g, `127.0.0.1:${adminPort}`);
  const r = spawnSync('bash', ['-c', cmd], { cwd: opts.cwd ?? dir, env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runOk(text: string): string {
  const r = sh(text);
  expect(r.status, `${text}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------------
// The rules, first match wins

type Kind = 'run' | 'static' | 'covered' | 'manual';
interface Rule {
  name: string;
  kind: Kind;
  match: (c: Command) => boolean;
  check?: (c: Command) => void | Promise<void>;
  /** For covered: the test file that runs it. */
  by?: string;
}

const inSection = (c: Command, ...s: string[]) => s.includes(c.section);
const re = (r: RegExp) => (c: Command) => r.test(c.text);

const RULES: Rule[] = [
  {
    name: 'docs/install.md "Build the image" and "docker run": the image end-to-end test builds and runs the image as shown',
    kind: 'covered',
    by: 'test/e2e/image',
    match: (c) => c.file === 'docs/install.md' && inSection(c, 'Build the image', 'docker run'),
  },
  // --- run for real ----------------------------------------------------------------------------------
  {
    name: 'pxd-auth-proxy --version',
    kind: 'run',
    match: re(/^pxd-auth-proxy --version$/),
    check: (c) => expect(runOk(c.text).trim()).toBe(PKG.version),
  },
  {
    name: 'token generate, key from the environment',
    kind: 'run',
    match: re(/^pxd-auth-proxy token generate /),
    check: (c) => {
      checkCli(c.text);
      const out = runOk(c.text);
      const file = /--output (\S+)/.exec(c.text)?.[1];
      const token = file ? readFileSync(path.join(dir, file), 'utf8').trim() : out.trim();
      expect(/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token), 'a JWT was written').toBe(true);
      if (file) expect(statSync(path.join(dir, file)).mode & 0o077).toBe(0);
    },
  },
  {
    name: 'token check of a secret, against the embedded file store',
    kind: 'run',
    match: re(/^pxd-auth-proxy token check /),
    check: (c) => {
      checkCli(c.text);
      const op = /--op (\w+)/.exec(c.text)?.[1] ?? 'mount';
      expect(runOk(c.text)).toMatch(new RegExp(`^allowed: ${op}$`, 'm'));
    },
  },
  {
    name: 'doctor, against the running embedded proxy',
    kind: 'run',
    match: re(/^pxd-auth-proxy doctor$/),
    check: (c) => {
      const r = sh(c.text);
      // A temp socket is not where dockerd looks: that one check fails here, by design.
      const failed = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
      expect(
        failed.map((l) => l.replace(/\s{2,}.*/, '')),
        r.stdout,
      ).toEqual(['FAIL discoverable by dockerd']);
      expect(r.stdout).toMatch(/^ok {3}plugin socket .*a plugin already answers/m);
    },
  },
  {
    name: "curl of the admin listener's /healthz and /readyz",
    kind: 'run',
    match: re(/^curl -s http:\/\/127\.0\.0\.1:9102\/(healthz|readyz)$/),
    check: (c) => {
      const body = JSON.parse(runOk(c.text)) as { status: string };
      expect(['ok', 'ready']).toContain(body.status);
    },
  },
  {
    name: 'decode a token file with node',
    kind: 'run',
    match: re(/^node -e .*user1\.jwt\)"$/),
    check: (c) => {
      runOk('pxd-auth-proxy token generate --auth-config user1.yaml --issuer portworx.com --output user1.jwt');
      expect(runOk(c.text)).toMatch(/iss: 'portworx\.com'/);
    },
  },
  {
    name: 'shred the token file',
    kind: 'run',
    match: re(/^shred -u user1\.jwt$/),
    check: (c) => {
      runOk('pxd-auth-proxy token generate --auth-config user1.yaml --issuer portworx.com --output user1.jwt');
      runOk(c.text);
      expect(existsSync(path.join(dir, 'user1.jwt'))).toBe(false);
    },
  },
  {
    name: "the fleet document's version",
    kind: 'run',
    match: re(/^sha256sum fleet\.yaml \| cut -c1-12$/),
    check: (c) => expect(runOk(c.text).trim()).toMatch(/^[0-9a-f]{12}$/),
  },
  { name: 'node --version', kind: 'run', match: re(/^node --version$/), check: (c) => expect(runOk(c.text)).toMatch(/^v2\d\./) },
  {
    name: 'the key folder the setup script uses',
    kind: 'run',
    match: re(/^umask 077 && mkdir -p pxd-auth-proxy-keys$/),
    check: (c) => {
      runOk(c.text);
      expect(statSync(path.join(dir, 'pxd-auth-proxy-keys')).mode & 0o077).toBe(0);
      expect(read('plugin/dcos/setup-service-account.sh')).toContain('KEY_DIR="${KEY_DIR:-./pxd-auth-proxy-keys}"');
    },
  },
  {
    name: 'the stand-in that makes dockerd forget volume records: run word for word against a real dockerd',
    kind: 'covered',
    by: 'test/e2e/forget-records.e2e.test.ts',
    match: re(
      /^cd "\$\(mktemp -d\)" && pxd-auth-proxy serve --embedded --backend "unix:\/\/\$PWD\/none\.sock" --socket \/run\/docker\/plugins\/pxd-auth\.sock >\S+ &$/,
    ),
  },
  // --- covered by other tests -----------------------------------------------------------------------
  { name: 'npm ci && npm start', kind: 'covered', by: 'test/integration/npm-start.test.ts', match: re(/^npm ci && npm start$/) },
  { name: 'npm ci && npm test: what CI runs', kind: 'covered', by: '.ci/run', match: re(/^npm ci && npm test$/) },
  {
    name: 'npm pack, npm install -g and npm uninstall -g of the tarball',
    kind: 'covered',
    by: 'test/integration/packed-install.test.ts',
    match: re(
      /^(cd pxd-auth-proxy && npm ci && npm pack|npm install -g --omit=dev \.\/pxd-auth-proxy-[\d.]+\.tgz|npm uninstall -g pxd-auth-proxy)$/,
    ),
  },
  // --- static ---------------------------------------------------------------------------------------
  {
    name: 'the setup script',
    kind: 'static',
    match: re(/setup-service-account\.sh$/),
    check: (c) => checkScript(c.text.replace(/\$\(date [^)]*\)/, 'x')),
  },
  {
    name: 'dcos CLI (needs a cluster): subcommands from the documented list',
    kind: 'manual',
    match: (c) => /^(for action in [\w ]+; do\n)?dcos /.test(c.text),
    check: (c) => checkDcos(c.text),
  },
  {
    name: "curl of DC/OS's ACL API (needs a cluster): the permission is one the setup script grants",
    kind: 'manual',
    match: re(/^curl -sS --cacert dcos-ca\.crt .*\/acs\/api\/v1\/acls\//),
    check: (c) => {
      checkDcos(c.text);
      const [, rid, action] = /\/acls\/([^/"]+)\/users\/pxd-auth-proxy\/(\w+)"/.exec(c.text)!;
      const perm = decodeURIComponent(decodeURIComponent(rid!))
        .replace('dcos:secrets:default:/pwx/secrets/*', '"$PERMISSION"')
        .replace('dcos:secrets:default:/pxd-auth-proxy/volumes/*', '"$REFERENCES_PERMISSION"');
      expect(read('plugin/dcos/setup-service-account.sh')).toContain(`grant ${perm} ${action}`);
    },
  },
  { name: "curl of DC/OS's CA (needs a cluster)", kind: 'manual', match: re(/^curl -sS .*https:\/\/master\.mesos\/ca\/dcos-ca\.crt$/) },
  {
    name: 'the image run as a tool (token generate in the container): flags exist, the image is the one the docs build',
    kind: 'manual',
    match: re(/^docker run --rm -e PORTWORX_AUTH_SHARED_SECRET /),
    check: (c) => {
      expect(c.text).toContain(` ${IMAGE} `);
      checkCli(c.text.replace(` ${IMAGE} `, ` pxd-auth-proxy:x `));
    },
  },
  {
    name: 'docker volume and docker run with pxd-auth volumes (needs dockerd and pxd; the shapes run in test/e2e/docker.e2e.test.ts): names parse',
    kind: 'manual',
    match: re(/^docker (volume (create|rm|ls)|run --rm) /),
    check: (c) => checkDockerVolumes(c.text),
  },
  {
    name: 'removing the docker run form: its container name and image',
    kind: 'manual',
    match: re(/^docker (rm -f|rmi) /),
    check: (c) => {
      const run = COMMANDS.find((x) => x.section === 'docker run' && x.text.startsWith('docker run'))!.text;
      const arg = c.text.split(/\s+/).pop()!;
      expect(run, arg).toContain(arg);
    },
  },
  {
    name: 'systemctl and journalctl on an agent: the units exist',
    kind: 'manual',
    match: re(/^(systemctl|journalctl) /),
    check: (c) => checkUnits(c.text),
  },
  {
    name: 'install of the shipped files on an agent: the sources exist in plugin/',
    kind: 'manual',
    match: re(/^(install|diff) /),
    check: (c) => {
      checkPluginPaths(c.text);
      if (c.text.includes('pxd-auth-proxy-keys/private-key.pem'))
        expect(read('plugin/pxd-auth-proxy.env')).toContain('/etc/pxd-auth-proxy/private-key.pem');
    },
  },
  {
    name: "the installed package's plugin folder",
    kind: 'static',
    match: re(/^P=/),
    check: (c) => expect(c.text).toBe(`P=/usr/local/lib/node_modules/${PKG.name}/plugin`),
  },
  {
    name: "ls of the plugin sockets on an agent: the proxy's and pxd's defaults",
    kind: 'manual',
    match: re(/^ls -l \/run\/docker\/plugins\/pxd(-auth)?\.sock$/),
    check: (c) => expect([SOCKET, '/run/docker/plugins/pxd.sock']).toContain(c.text.split(' ').pop()),
  },
  {
    name: 'typing a secret (interactive): the variable or file is the one the program reads',
    kind: 'manual',
    match: re(/read -rs /),
    check: (c) => {
      if (c.text.includes('PORTWORX_AUTH_SHARED_SECRET')) expect(help(['token', 'generate'])).toContain('PORTWORX_AUTH_SHARED_SECRET');
      else expect(read('plugin/pxd-auth-proxy.env')).toContain(/> (\S+)\)/.exec(c.text)![1]!);
    },
  },
  {
    name: 'Node.js on an agent (downloads from nodejs.org): the version meets engines',
    kind: 'manual',
    match: re(/^(NODE=v[\d.]+|curl -fsSLO https:\/\/nodejs\.org\/\S+|tar -xJf node-\S+ -C \/usr\/local --strip-components=1)$/),
    check: (c) => {
      const v = /^NODE=v([\d.]+)$/.exec(c.text)?.[1];
      if (v) expect(PKG.engines.node).toBe(`>=${v}`);
    },
  },
  {
    name: 'the pxd-auth agent attribute (on an agent): the one the Marathon app is constrained to',
    kind: 'manual',
    match: re(/^echo 'MESOS_ATTRIBUTES=\w+:\w+' >> \/var\/lib\/dcos\/mesos-slave-common$/),
    check: (c) => {
      const [, attr, value] = /MESOS_ATTRIBUTES=(\w+):(\w+)/.exec(c.text)!;
      expect(MARATHON.constraints).toContainEqual([attr, 'IS', value]);
    },
  },
  { name: "a Mesos agent's new id (on an agent)", kind: 'manual', match: re(/^rm -f \/var\/lib\/mesos\/slave\/meta\/slaves\/latest$/) },
  {
    name: 'a spec file for a socket elsewhere: the format of plugin/pxd-auth.spec',
    kind: 'manual',
    match: re(/^(install -d \/etc\/docker\/plugins|echo unix:\/\/\/\S+ > \/etc\/docker\/plugins\/pxd-auth\.spec)$/),
    check: () => expect(read('plugin/pxd-auth.spec').trim()).toBe(`unix://${SOCKET}`),
  },
  {
    name: '"Removing it" on an agent (rm): what it removes is checked against the install in test/unit/shipping/install-lifecycle.test.ts',
    kind: 'manual',
    match: (c) => c.section === 'Removing it' && /^(rm -r?f |kill %1$)/.test(c.text),
  },
  { name: "pxd's own CLI (needs Portworx)", kind: 'manual', match: re(/^\/opt\/pwx\/bin\/pxctl /) },
];

function classify(c: Command): Rule | undefined {
  return RULES.find((r) => r.match(c));
}

describe('every shell command in README.md and docs/', () => {
  it('has been found', () => {
    expect(COMMANDS.length).toBeGreaterThan(100);
    expect(new Set(COMMANDS.map((c) => c.file))).toEqual(new Set(DOCS.filter((f) => extract(f).length > 0)));
  });

  it('is classified (run, static, covered by a named test, or manual with the reason)', () => {
    const unclassified = COMMANDS.filter((c) => !classify(c)).map((c) => `${c.file} (${c.section}): ${c.text}`);
    expect(unclassified).toEqual([]);
    for (const r of RULES.filter((x) => x.kind === 'covered')) {
      const by = r.by!;
      const found =
        existsSync(path.join(ROOT, by)) || readdirSync(path.join(ROOT, path.dirname(by))).some((f) => f.startsWith(path.basename(by)));
      // The image test is another engineer's, landing with this one: only the local tests must exist now.
      if (!by.startsWith('test/e2e/image')) expect(found, by).toBe(true);
    }
  });

  it.each(COMMANDS.map((c) => [`${c.file} (${c.section}): ${c.text.split('\n')[0]}`, c] as const))('%s', async (_title, c) => {
    const rule = classify(c);
    if (!rule) return; // reported above
    await rule.check?.(c);
    // Every pxd-auth-proxy invocation, run or not, uses subcommands and flags the CLI has.
    if (c.text.startsWith('pxd-auth-proxy ')) checkCli(c.text);
  });

  it('would fail on a command no rule knows, and every rule still matches a command', () => {
    expect(classify({ file: 'docs/x.md', section: 'x', text: 'pxd-auth-proxy-frobnicate --now' })).toBeUndefined();
    const unused = RULES.filter((r) => !COMMANDS.some((c) => r.match(c))).map((r) => r.name);
    expect(unused).toEqual([]);
    if (process.env.PXA_DOCS_COMMANDS_LIST) {
      for (const c of COMMANDS) process.stdout.write(`${classify(c)?.kind}\t${c.file}\t${c.text.split('\n')[0]}\n`);
    }
  });
});

describe('JSON snippets in README.md and docs/', () => {
  it('parse (a fragment such as "container": {...} inside braces)', () => {
    const bad: string[] = [];
    for (const f of DOCS) {
      for (const m of read(f).matchAll(/^\s*```json\n([\s\S]*?)^\s*```/gm)) {
        const body = m[1]!.trim();
        try {
          JSON.parse(body.startsWith('"') ? `{${body}}` : body);
        } catch (e) {
          bad.push(`${f}: ${(e as Error).message}: ${body.slice(0, 60)}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
