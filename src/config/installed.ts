/**
 * The configuration a systemd install puts on an agent (docs/install.md, plugin/systemd/pxd-auth-proxy.service):
 * the YAML file the unit passes with --config and the environment file it names with EnvironmentFile=.
 * `doctor` and `token check`, run bare on an agent, read these as the service does. The paths are
 * written here once; a test checks them against the shipped unit file.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { option } from './options.js';
import type { ConfigIssue } from './settings.js';

/** The folder of the installed files: ExecStart's --config and EnvironmentFile= both name files in it. */
export const INSTALLED_CONFIG_DIR = '/etc/pxd-auth-proxy';
export const INSTALLED_YAML_NAME = 'pxd-auth-proxy.yaml';
export const INSTALLED_ENV_NAME = 'pxd-auth-proxy.env';

export interface InstalledFiles {
  yaml: string;
  env: string;
}

/** The installed files' paths, in `dir` (INSTALLED_CONFIG_DIR unless a test points elsewhere). */
export function installedFiles(dir: string = INSTALLED_CONFIG_DIR): InstalledFiles {
  return { yaml: path.join(dir, INSTALLED_YAML_NAME), env: path.join(dir, INSTALLED_ENV_NAME) };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * An environment file as systemd reads EnvironmentFile= (systemd.exec(5)): `KEY=VALUE` lines; empty
 * lines, lines without `=` and lines starting with `#` or `;` are ignored. An unquoted value keeps its
 * inner whitespace, loses the surrounding one, and a backslash keeps the next character (at the end of
 * a line, it joins the next one). A single-quoted value is verbatim; a double-quoted one knows the
 * escapes \" \\ \` \$ and a backslash-newline. Quoted values may span lines. A name that is not a valid
 * variable name is ignored, as systemd does.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Start of a line: skip blanks, then a comment or a key.
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i++;
    if (i >= n) break;
    if (text[i] === '\n') {
      i++;
      continue;
    }
    if (text[i] === '#' || text[i] === ';') {
      // A comment; a backslash at its end continues it, as in systemd.
      while (i < n && text[i] !== '\n') i += text[i] === '\\' && i + 1 < n ? 2 : 1;
      continue;
    }
    let key = '';
    while (i < n && text[i] !== '=' && text[i] !== '\n') key += text[i++];
    if (i >= n || text[i] === '\n') continue; // no `=`: ignored
    i++; // '='
    key = key.trim();
    let value = '';
    /** Length of `value` without its trailing unquoted whitespace. */
    let kept = 0;
    /** Before the value, or right after a quoted part: blanks are skipped and a quote opens. */
    let pre = true;
    while (i < n && text[i] !== '\n') {
      const c = text[i]!;
      if (c === '\\') {
        const next = text[i + 1];
        i += 2;
        pre = false;
        if (next !== undefined && next !== '\n') value += next; // a backslash-newline joins the lines
        kept = value.length;
      } else if (pre && (c === ' ' || c === '\t' || c === '\r')) {
        i++;
      } else if (pre && c === "'") {
        i++;
        while (i < n && text[i] !== "'") value += text[i++];
        i++;
        kept = value.length;
      } else if (pre && c === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          const next = text[i + 1];
          if (text[i] === '\\' && next !== undefined && (next === '\n' || '"\\`$'.includes(next))) {
            if (next !== '\n') value += next;
            i += 2;
          } else value += text[i++];
        }
        i++;
        kept = value.length;
      } else {
        // An unquoted value: quotes in it are kept as they are.
        pre = false;
        value += c;
        i++;
        if (c !== ' ' && c !== '\t' && c !== '\r') kept = value.length;
      }
    }
    if (NAME.test(key)) vars[key] = value.slice(0, kept);
  }
  return vars;
}

export interface ToolSources {
  /** The flags, with `config` set when the installed YAML file is used. */
  flags: Record<string, unknown>;
  /** The environment: the env file's variables under the real ones (a real variable wins). */
  env: NodeJS.ProcessEnv;
  /** Lines for the operator (stderr): which files were used, or how to pass them. Never a value. */
  notes: string[];
  /** A file that was to be read and could not be. */
  problems: ConfigIssue[];
}

export interface ToolSourcesInput {
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** `--env-file`: an environment file to read. */
  envFile?: string;
  /** Where the installed files are looked for (default INSTALLED_CONFIG_DIR). */
  installedDir?: string;
  /** The command, as the operator types it after the program's name (`doctor`, `token check`), for the hint. */
  command: string;
}

const usable = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

/**
 * The configuration sources of a tool run on an agent (`doctor`, `token check`). With no YAML file
 * (--config, PXD_AUTH_CONFIG) and no --env-file given, the installed files are used when they are
 * there, as the service reads them; when neither is, the notes say how to pass the files.
 */
export function toolConfigSources(input: ToolSourcesInput): ToolSources {
  const notes: string[] = [];
  const problems: ConfigIssue[] = [];
  const installed = installedFiles(input.installedDir);
  const yamlGiven = usable(input.flags.config) || option('config').env.some((e) => usable(input.env[e]));
  let flags = input.flags;
  let envFile = input.envFile;
  let envFrom = '--env-file';
  const pass = `pxd-auth-proxy ${input.command} --config ${installed.yaml} --env-file ${installed.env}`;

  if (!yamlGiven && envFile === undefined) {
    const used: string[] = [];
    if (existsSync(installed.yaml)) {
      flags = { ...flags, config: installed.yaml };
      used.push(installed.yaml);
    }
    if (existsSync(installed.env)) {
      envFile = installed.env;
      envFrom = 'the installed environment file';
      used.push(`${installed.env} (variables set in the environment win over it)`);
    }
    notes.push(
      used.length
        ? `using the installed configuration: ${used.join(' and ')}`
        : `no --config or --env-file given, and no installed configuration in ${path.dirname(installed.yaml)} ` +
            `(${INSTALLED_YAML_NAME}, ${INSTALLED_ENV_NAME}): using the flags and the environment only. ` +
            `If this agent's configuration is elsewhere, pass its files: ${pass} (with their paths on this agent)`,
    );
  } else if (envFile === undefined && existsSync(installed.env)) {
    notes.push(`not read: ${installed.env} (the service's environment); add --env-file ${installed.env} to use it`);
  }

  let env = input.env;
  if (envFile !== undefined) {
    try {
      env = { ...parseEnvFile(readFileSync(envFile, 'utf8')), ...input.env };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      const why = code === 'EACCES' || code === 'EPERM' ? ': it is readable by root only (run as root, e.g. with sudo)' : '';
      problems.push({ text: `${envFrom} ${envFile}: cannot read the file (${code})${why}` });
    }
  }
  return { flags, env, notes, problems };
}
