/**
 * The installed configuration (src/config/installed.ts): its paths are the shipped unit file's, its
 * environment file is read as systemd reads EnvironmentFile=, and a tool run bare on an agent uses it
 * (or says how to pass it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INSTALLED_CONFIG_DIR, installedFiles, parseEnvFile, toolConfigSources } from '../../../src/config/installed.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');
const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-installed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the installed paths', () => {
  it("are the shipped unit file's --config and EnvironmentFile=", () => {
    const unit = read('plugin/systemd/pxd-auth-proxy.service');
    const value = (key: string) => /^(\S+)=(.*)$/m.exec(unit.split('\n').find((l) => l.startsWith(`${key}=`)) ?? '')?.[2];
    const exec = value('ExecStart')!.split(/\s+/);
    const files = installedFiles();
    expect(exec[exec.indexOf('--config') + 1]).toBe(files.yaml);
    // `-` before the path: a missing file is no error for systemd.
    expect(value('EnvironmentFile')!.replace(/^-/, '')).toBe(files.env);
    expect(path.dirname(files.yaml)).toBe(INSTALLED_CONFIG_DIR);
  });

  it('read the shipped example env file as the service does: its one login, none of its comments', () => {
    const vars = parseEnvFile(read('plugin/pxd-auth-proxy.env'));
    expect(vars).toEqual({
      DCOS_SERVICE_ACCOUNT: 'pxd-auth-proxy',
      DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: '/etc/pxd-auth-proxy/private-key.pem',
    });
  });
});

describe('parseEnvFile (systemd EnvironmentFile= syntax)', () => {
  it('reads KEY=VALUE lines, skipping blanks, comments and lines without =', () => {
    const text = ['# a comment', '; another', '', '  A=1', 'B = two words  ', 'not an assignment', 'C=', '\tD=x=y', ''].join('\n');
    expect(parseEnvFile(text)).toEqual({ A: '1', B: 'two words', C: '', D: 'x=y' });
  });

  it('takes quoted values whole, unquoted quotes as they are, and the escapes systemd knows', () => {
    const text = [
      `S='single # not a comment $HOME \\n'`,
      'Q="double \\"quoted\\" \\\\ \\$x \\n"',
      'U=it"s #kept',
      'E=a\\ b\\\\c',
      'J="a" \'b\'',
      '',
    ].join('\n');
    expect(parseEnvFile(text)).toEqual({
      S: 'single # not a comment $HOME \\n',
      Q: 'double "quoted" \\ $x \\n',
      U: 'it"s #kept',
      E: 'a b\\c',
      J: 'ab',
    });
  });

  it('joins lines: a backslash-newline, and quoted values over several lines; CRLF files too', () => {
    expect(parseEnvFile('A=one \\\ntwo\nB="x\ny"\nC=\'p\nq\'\r\nD=last\r\n')).toEqual({ A: 'one two', B: 'x\ny', C: 'p\nq', D: 'last' });
    // A comment continued by a backslash swallows the next line, as in systemd.
    expect(parseEnvFile('# note \\\nHIDDEN=1\nSHOWN=2\n')).toEqual({ SHOWN: '2' });
  });

  it('ignores names that are not variable names', () => {
    expect(parseEnvFile('1A=x\nA-B=y\nexport C=z\nOK_1=v\n')).toEqual({ OK_1: 'v' });
  });
});

describe('toolConfigSources', () => {
  const installed = path.join(dir, 'etc');
  mkdirSync(installed);
  const files = installedFiles(installed);

  it('with nothing given and nothing installed: the flags and environment only, and the exact command to pass the files', () => {
    const r = toolConfigSources({ flags: {}, env: { A: '1' }, command: 'doctor', installedDir: path.join(dir, 'none') });
    const none = installedFiles(path.join(dir, 'none'));
    expect(r.flags).toEqual({});
    expect(r.env).toEqual({ A: '1' });
    expect(r.problems).toEqual([]);
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toContain(`pxd-auth-proxy doctor --config ${none.yaml} --env-file ${none.env}`);
  });

  it('with nothing given: the installed YAML and env files, the real environment winning', () => {
    writeFileSync(files.yaml, 'logLevel: warn\n');
    writeFileSync(files.env, 'PXD_AUTH_SOCKET=/from/file.sock\nPXD_AUTH_LOG_LEVEL=debug\n', { mode: 0o600 });
    const r = toolConfigSources({ flags: {}, env: { PXD_AUTH_LOG_LEVEL: 'error' }, command: 'token check', installedDir: installed });
    expect(r.flags).toEqual({ config: files.yaml });
    expect(r.env).toEqual({ PXD_AUTH_SOCKET: '/from/file.sock', PXD_AUTH_LOG_LEVEL: 'error' });
    expect(r.notes).toEqual([
      expect.stringMatching(/^using the installed configuration: .*pxd-auth-proxy\.yaml and .*pxd-auth-proxy\.env/),
    ]);
    expect(r.problems).toEqual([]);
  });

  it('with a YAML file given: not the installed files, but a word on the env file left out', () => {
    const r = toolConfigSources({ flags: {}, env: { PXD_AUTH_CONFIG: '/my.yaml' }, command: 'doctor', installedDir: installed });
    expect(r.flags).toEqual({});
    expect(r.env).toEqual({ PXD_AUTH_CONFIG: '/my.yaml' });
    expect(r.notes).toEqual([`not read: ${files.env} (the service's environment); add --env-file ${files.env} to use it`]);
  });

  it('with --env-file: that file; one that cannot be read is a problem naming it', () => {
    const own = path.join(dir, 'own.env');
    writeFileSync(own, 'X=1\n');
    expect(toolConfigSources({ flags: {}, env: {}, envFile: own, command: 'doctor', installedDir: installed }).env).toEqual({ X: '1' });
    const missing = toolConfigSources({ flags: {}, env: {}, envFile: path.join(dir, 'nope.env'), command: 'doctor' });
    expect(missing.problems).toEqual([{ text: `--env-file ${path.join(dir, 'nope.env')}: cannot read the file (ENOENT)` }]);
  });
});

describe('running the tools inside the container (docs/troubleshooting.md, First steps)', () => {
  const md = read('docs/troubleshooting.md')
    .split(/^## First steps$/m)[1]!
    .split(/^## /m)[0]!;
  const entrypoint = (JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))![1]!) as string[]).join(' ');

  it("runs the image's entrypoint program with docker exec and dcos task exec", () => {
    expect(entrypoint).toBe('node /app/dist/bin/pxd-auth-proxy.js');
    expect(md).toContain(`docker exec pxd-auth-proxy ${entrypoint} doctor`);
    expect(md).toContain(`dcos task exec <task> ${entrypoint} doctor`);
  });

  it('finds the installed files in the docker run container: the env file it was started with, the folder mounted', () => {
    const files = installedFiles();
    const run = /^docker run -d --name pxd-auth-proxy[\s\S]*?^```/m.exec(read('docs/install.md'))![0];
    expect(run).toContain(`-v ${INSTALLED_CONFIG_DIR}:${INSTALLED_CONFIG_DIR}:ro`);
    expect(run).toContain(`--env-file ${files.env}`);
  });
});
