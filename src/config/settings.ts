/**
 * Every option's value by precedence (flag > environment > YAML file > the embedded setup > the
 * schema's default), read as its kind, checked by the one schema, and where each came from.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { OPTIONS, flagName, option, type OptionKey, type OptionKind, type OptionSpec } from './options.js';
import { optionsSchema, type OptionValues } from './schema.js';

/** One configuration problem, and the option it is about when it is about one (doctor's fix comes from its row). */
export interface ConfigIssue {
  text: string;
  option?: OptionKey;
}

/** The problems found so far: every check adds to it and goes on, so all are reported together. */
export class Issues {
  readonly list: ConfigIssue[] = [];
  /**
   * A problem with the value from `from` (`--flag`, `ENV_NAME`, `<file>: yaml.key`): shown as
   * `<from>: <message>`, or, for a message written as a sentence about its source, with `{from}` replaced.
   */
  add(from: string, message: string, option?: OptionKey): void {
    this.list.push({ text: message.includes('{from}') ? message.replace('{from}', from) : `${from}: ${message}`, option });
  }
  /** A problem already worded with its sources (two settings that exclude each other, a missing login). */
  note(text: string, option?: OptionKey): void {
    this.list.push({ text, option });
  }
  get texts(): string[] {
    return this.list.map((i) => i.text);
  }
}

/** Where a value was given. */
export type Level = 'flag' | 'env' | 'file' | 'embedded';

export interface SettingsInput {
  /** Values from the command line, by option key (commander's camelCase). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** The YAML file's option values by YAML key (`socket`, `dcos.DCOS_CLUSTER_URL`), and its name for messages. */
  file?: { name: string; values: ReadonlyMap<string, unknown> };
  /** Lowest-precedence values (the embedded mode's generated setup). */
  defaults?: Record<string, unknown>;
}

export interface Settings {
  /** Every option, checked, its default where none was given (or the one given was refused). */
  values: OptionValues;
  /** Where the value came from; for a default, the option's flag (or first environment name). */
  from(key: OptionKey): string;
  /** How the value was given; undefined when it is the default. */
  level(key: OptionKey): Level | undefined;
  /** The value given was refused (its problem is reported; `values` holds the default instead). */
  refused(key: OptionKey): boolean;
}

interface Given {
  value: unknown;
  from: string;
  level: Level;
  /** Given as text, to be read as the option's kind (flags, environment, the YAML `dcos:` section). */
  text: boolean;
}

const usable = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

function given(o: OptionSpec, input: SettingsInput): Given | undefined {
  const flag = input.flags[o.key];
  if (o.flag && usable(flag)) return { value: flag, from: flagName(o)!, level: 'flag', text: true };
  for (const name of o.env) {
    if (usable(input.env[name])) return { value: input.env[name], from: name, level: 'env', text: true };
  }
  const file = input.file;
  for (const k of file ? o.yaml : []) {
    const v = file!.values.get(k);
    // The dcos: section holds settings by their environment names, read as the environment is.
    if (usable(v)) return { value: v, from: `${file!.name}: ${k}`, level: 'file', text: k.startsWith('dcos.') };
  }
  const def = input.defaults?.[o.key];
  if (usable(def)) return { value: def, from: `default ${o.key}`, level: 'embedded', text: false };
  return undefined;
}

/** Text as the option's kind; what cannot be read is passed on unchanged, for the schema to refuse with its message. */
function fromText(kind: OptionKind, v: unknown): unknown {
  if (typeof v !== 'string') {
    if (kind === 'string' && (typeof v === 'number' || typeof v === 'boolean')) return String(v);
    if (kind === 'list' && Array.isArray(v)) return v.map(String);
    return v;
  }
  const s = v.trim();
  switch (kind) {
    case 'string':
      return v;
    case 'int':
      return /^-?\d+$/.test(s) ? Number(s) : v;
    case 'seconds':
      return Number(s);
    case 'bool': {
      const l = s.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(l)) return true;
      if (['0', 'false', 'no', 'off'].includes(l)) return false;
      return v;
    }
    case 'list':
      return s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
  }
}

const read = (o: OptionSpec, g: Given): unknown => (g.text ? fromText(o.kind, g.value) : g.value);

/**
 * Read and check the options (all, or those `only` keeps). Every refused value is reported with its
 * source, and its default used in its place, so that later checks still run and report theirs.
 * DC/OS settings are read only when the secret store is DC/OS: a file store ignores them.
 */
export function readSettings(input: SettingsInput, issues: Issues, only?: (o: OptionSpec) => boolean): Settings {
  const rows = only ? OPTIONS.filter(only) : OPTIONS;
  const givens = new Map<OptionKey, Given>();
  const inputs: Record<string, unknown> = {};
  for (const o of rows) {
    const g = given(o, input);
    if (g === undefined) continue;
    givens.set(o.key, g);
    inputs[o.key] = read(o, g);
  }
  if (optionsSchema.shape.secrets.safeParse(inputs.secrets).data !== 'dcos') {
    for (const o of rows) {
      if (o.group !== 'dcos') continue;
      givens.delete(o.key);
      delete inputs[o.key];
    }
  }
  checkFileDuplicates(rows, input, issues);

  const from = (key: OptionKey) => givens.get(key)?.from ?? flagName(option(key)) ?? option(key).env[0] ?? key;
  // Option by option against the schema's shape: a refused value is reported and its default taken,
  // the others keep theirs. (Also cheaper at start-up than a first z.object parse, which compiles itself.)
  const refused = new Set<OptionKey>();
  const values: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const check: z.ZodType = optionsSchema.shape[o.key];
    let r = check.safeParse(inputs[o.key]);
    if (!r.success) {
      const given = givens.get(o.key)?.value;
      for (const i of r.error.issues) issues.add(from(o.key), o.sensitive ? hide(i.message, given) : i.message, o.key);
      refused.add(o.key);
      r = check.safeParse(undefined);
    }
    values[o.key] = r.data;
  }
  return {
    values: values as OptionValues,
    from,
    level: (key) => (refused.has(key) ? undefined : givens.get(key)?.level),
    refused: (key) => refused.has(key),
  };
}

/** A message with a secret value taken out, however a check quoted it. */
function hide(message: string, value: unknown): string {
  const shown = typeof value === 'string' && value !== '' ? [JSON.stringify(value), value] : [];
  return shown.reduce((m, v) => m.replaceAll(v, '(value hidden)'), message);
}

/** An option given twice in the file under its two names (secretsBasePath, dcos.DCOS_SECRETS_BASE_PATH) must agree. */
function checkFileDuplicates(rows: readonly OptionSpec[], input: SettingsInput, issues: Issues): void {
  const file = input.file;
  if (!file) return;
  for (const o of rows) {
    const keys = o.yaml.filter((k) => usable(file.values.get(k)));
    if (keys.length < 2) continue;
    const values = keys.map((k) =>
      (optionsSchema.shape[o.key] as z.ZodType).safeParse(
        k.startsWith('dcos.') ? fromText(o.kind, file.values.get(k)) : file.values.get(k),
      ),
    );
    if (values.every((r) => r.success) && new Set(values.map((r) => JSON.stringify(r.data))).size > 1) {
      issues.add(file.name, `${keys.join(' and ')} differ: give the setting once`, o.key);
    }
  }
}

/** One option from the flags and the environment alone, checked; undefined when not given or refused. */
export function peekOption<K extends OptionKey>(
  key: K,
  input: Pick<SettingsInput, 'flags' | 'env'>,
): { value: OptionValues[K]; from: string } | undefined {
  const o = option(key);
  const g = given(o, input);
  if (!g) return undefined;
  const r = optionsSchema.shape[key].safeParse(read(o, g));
  return r.success ? { value: r.data as OptionValues[K], from: g.from } : undefined;
}

/** A file's text, or a problem naming the setting that gave its name. */
export function readFileText(file: string, from: string, issues: Issues, key?: OptionKey): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    issues.add(from, `cannot read the file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, key);
    return undefined;
  }
}

/**
 * Freeze plain objects and arrays, all the way down. Class instances (a KeyObject, a SecretText) are
 * immutable through their own API and are left alone: node's KeyObject caches details on itself.
 */
export function deepFreeze<T>(o: T): T {
  if (o === null || typeof o !== 'object' || Object.isFrozen(o)) return o;
  const proto = Object.getPrototypeOf(o) as unknown;
  if (!Array.isArray(o) && proto !== Object.prototype && proto !== null) return o;
  Object.freeze(o);
  for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  return o;
}
