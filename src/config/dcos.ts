/**
 * The DC/OS secret store's settings, once the option table has read and checked them: exactly one
 * login, the files it names (password, key, credential, CA) read and judged, the URLs checked. Every
 * problem names its source and none echoes a value.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import {
  DEFAULT_DCOS_URL,
  DcosConfigSchema,
  LOGIN_PATH,
  SecretText,
  type DcosConfig,
  type DcosConfigInput,
  type DcosLogin,
} from '../secrets/dcos/config.js';
import type { OptionKey } from './options.js';
import { Issues, deepFreeze, readFileText, readSettings, type Settings } from './settings.js';

/** The flags, as commander names them (camelCase of the long flag). */
export interface DcosFlags {
  dcosUrl: string;
  dcosCaFile: string;
  dcosInsecure: boolean;
  dcosUsername: string;
  dcosPasswordFile: string;
  dcosServiceAccount: string;
  dcosPrivateKeyFile: string;
  dcosCredentialFile: string;
  secretCacheTtl: string | number;
  secretMaxStale: string | number;
  dcosTimeout: string | number;
}

export interface DcosConfigResult {
  config?: DcosConfig;
  problems: string[];
}

/**
 * The DC/OS store configuration from flags (commander's camelCase names) over the environment alone,
 * for tests and tools without a YAML file. The same reading and checks as loadConfig.
 */
export function dcosConfigFromEnv(env: NodeJS.ProcessEnv, flags: Partial<DcosFlags> = {}): DcosConfigResult {
  const issues = new Issues();
  const settings = readSettings({ flags, env }, issues, (o) => o.group === 'dcos');
  const config = buildDcosConfig(settings, issues);
  if (config && issues.list.length === 0) return { config, problems: [] };
  return { problems: issues.texts };
}

interface Source {
  value: string;
  /** Where it came from: `--dcos-username`, `DCOS_SECRETS_USERNAME`, `<file>: dcos.DCOS_SECRETS_USERNAME`. */
  from: string;
  /** A problem was already reported for it (unreadable file, both variants set). */
  failed?: boolean;
}

/** Drop one trailing newline (files written by `echo`), nothing else: a password may end with spaces. */
function chompNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

const DEFAULT_URL_FROM = 'the default URL';

/** `http://host/path` → `https://host/path`; anything else unchanged (checkUrl judges it). */
function upgradeHttp(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:') return raw;
    u.protocol = 'https:';
    return u.href;
  } catch {
    return raw;
  }
}

/** A URL for a log line: scheme, host and path only (no user info, query or fragment), or a placeholder. */
function loggableUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/** The DC/OS store configuration from checked settings; undefined when a problem was found (and reported). */
export function buildDcosConfig(s: Settings, issues: Issues): DcosConfig | undefined {
  const before = issues.list.length;
  const v = s.values;
  /** A text setting that was given (not its default), with its source. */
  const given = (key: OptionKey): Source | undefined => {
    const value = v[key];
    return s.level(key) !== undefined && typeof value === 'string' ? { value, from: s.from(key) } : undefined;
  };
  const readText = (src: Source, key: OptionKey) => readFileText(src.value, src.from, issues, key);

  // A value given directly or through its file (never both, unless one is a flag: a flag wins).
  const valueOrFile = (direct: OptionKey, fileKey: OptionKey, trim: (s: string) => string): Source | undefined => {
    const d = given(direct);
    const f = given(fileKey);
    const fromFile = (src: Source): Source => {
      const text = readText(src, fileKey);
      return text === undefined ? { ...src, value: '', failed: true } : { ...src, value: trim(text) };
    };
    if (d && s.level(direct) === 'flag') return d;
    if (f && s.level(fileKey) === 'flag') return fromFile(f);
    if (d && f) {
      issues.note(`both ${d.from} and ${f.from} are set: set only one`, direct);
      return { value: '', from: d.from, failed: true };
    }
    // Trimmed as the file: a value injected from a DC/OS secret often ends with a newline.
    if (d) return { ...d, value: trim(d.value) };
    return f && fromFile(f);
  };

  // --- TLS
  const insecure = v.dcosInsecure;
  const caSrc = given('dcosCaFile');
  let caPem: string | undefined;
  if (caSrc) {
    if (insecure)
      issues.note(
        `${s.from('dcosInsecure')} and ${caSrc.from} exclude each other: verify with the CA, or (testing only) do not verify`,
        'dcosCaFile',
      );
    const text = readText(caSrc, 'dcosCaFile');
    if (text !== undefined) {
      if (!text.includes('-----BEGIN CERTIFICATE-----')) {
        issues.add(caSrc.from, `the file ${caSrc.value} holds no PEM certificate (expected the cluster CA, dcos-ca.crt)`, 'dcosCaFile');
      } else {
        try {
          new X509Certificate(text);
          caPem = text;
        } catch {
          issues.add(caSrc.from, `the file ${caSrc.value} holds a PEM certificate that cannot be parsed`, 'dcosCaFile');
        }
      }
    }
  }

  const checkUrl = (raw: string, from: string, key: OptionKey): string | undefined => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      issues.add(from, `{from} is not a URL (expected e.g. ${DEFAULT_DCOS_URL})`, key);
      return undefined;
    }
    const bad =
      u.protocol !== 'https:' && !(u.protocol === 'http:' && insecure)
        ? '{from} must be an https:// URL (http:// only with --dcos-insecure)'
        : u.username || u.password
          ? '{from} must not hold a user name or password'
          : u.search || u.hash
            ? '{from} must not have a query or fragment'
            : undefined;
    if (bad) {
      issues.add(from, bad, key);
      return undefined;
    }
    return u.href.replace(/\/+$/, '');
  };

  // --- Cluster URL
  const urlSrc = given('dcosUrl') ?? { value: v.dcosUrl, from: DEFAULT_URL_FROM };
  const url = checkUrl(urlSrc.value, urlSrc.from, 'dcosUrl');

  // --- The login: a user and password, a service account and key file, or a credential JSON.
  const username = valueOrFile('dcosUsername', 'dcosUsernameFile', (x) => x.trim());
  const password = valueOrFile('dcosPassword', 'dcosPasswordFile', chompNewline);
  const saUid = given('dcosServiceAccount');
  const keyFile = given('dcosPrivateKeyFile');
  const credential = valueOrFile('dcosCredential', 'dcosCredentialFile', (x) => x);

  const modes: string[] = [];
  if (username || password) modes.push(`a user (${[username?.from, password?.from].filter(Boolean).join(', ')})`);
  if (saUid || keyFile) modes.push(`a service account (${[saUid?.from, keyFile?.from].filter(Boolean).join(', ')})`);
  if (credential) modes.push(`a service account credential (${credential.from})`);

  const loadKey = (pem: string, from: string, key: OptionKey): KeyObject | undefined => {
    let k: KeyObject;
    try {
      k = createPrivateKey({ key: pem, format: 'pem' });
    } catch {
      issues.add(
        from,
        'no readable private key (expected an unencrypted PEM RSA key: PKCS#8 "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA PRIVATE KEY")',
        key,
      );
      return undefined;
    }
    if (k.asymmetricKeyType !== 'rsa') {
      issues.add(from, `the key is ${k.asymmetricKeyType ?? 'not RSA'}; DC/OS service accounts sign with RSA (RS256)`, key);
      return undefined;
    }
    const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) {
      issues.add(from, `the RSA key has ${bits} bits; RS256 needs at least 2048`, key);
      return undefined;
    }
    return k;
  };

  let login: DcosLogin | undefined;
  let loginUrl: string | undefined = url === undefined ? undefined : `${url}${LOGIN_PATH}`;
  let loginUrlFrom: 'cluster-url' | 'credential' = 'cluster-url';
  let credentialLoginEndpoint: string | undefined;
  if (modes.length === 0) {
    issues.note(
      'no DC/OS login is configured: set DCOS_SECRETS_USERNAME with DCOS_SECRETS_PASSWORD (or DCOS_SECRETS_PASSWORD_FILE), ' +
        'or DCOS_SERVICE_ACCOUNT with DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE, or DCOS_SERVICE_ACCOUNT_CREDENTIAL (or its _FILE variant)',
    );
  } else if (modes.length > 1) {
    issues.note(`more than one DC/OS login is configured: ${modes.join('; ')}. Keep exactly one`);
  } else if (username || password) {
    if (!username)
      issues.add(password!.from, '{from} is set but no user name: set DCOS_SECRETS_USERNAME (or --dcos-username)', 'dcosUsername');
    else if (username.value === '' && !username.failed) issues.add(username.from, 'the user name is empty', 'dcosUsername');
    if (!password)
      issues.add(
        username!.from,
        '{from} is set but no password: set DCOS_SECRETS_PASSWORD or DCOS_SECRETS_PASSWORD_FILE (or --dcos-password-file)',
        'dcosPassword',
      );
    else if (password.value === '' && !password.failed) issues.add(password.from, 'the password is empty', 'dcosPassword');
    if (username?.value && password?.value) {
      login = { kind: 'password', uid: username.value, password: new SecretText(password.value) };
    }
  } else if (saUid || keyFile) {
    if (!saUid)
      issues.add(keyFile!.from, '{from} is set but no account: set DCOS_SERVICE_ACCOUNT (or --dcos-service-account)', 'dcosServiceAccount');
    if (!keyFile)
      issues.add(
        saUid!.from,
        '{from} is set but no key: set DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE (or --dcos-private-key-file)',
        'dcosPrivateKeyFile',
      );
    let key: KeyObject | undefined;
    if (keyFile) {
      const pem = readText(keyFile, 'dcosPrivateKeyFile');
      if (pem !== undefined) key = loadKey(pem, `${keyFile.from} (${keyFile.value})`, 'dcosPrivateKeyFile');
    }
    if (saUid && key) login = { kind: 'service-account', uid: saUid.value.trim(), privateKey: key, source: 'key-file' };
  } else if (credential) {
    const from = credential.from;
    let parsed: unknown;
    let ok = credential.value !== '';
    if (ok) {
      try {
        parsed = JSON.parse(credential.value);
      } catch {
        ok = false;
        issues.add(
          from,
          '{from} is not JSON (expected {"uid","private_key","login_endpoint","scheme"} as made by dcos security secrets create-sa-secret)',
          'dcosCredential',
        );
      }
    } else if (!credential.failed) {
      issues.add(from, '{from} is empty', 'dcosCredential');
    }
    if (ok) {
      const c = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>;
      const uid = typeof c['uid'] === 'string' ? c['uid'].trim() : '';
      if (uid === '') issues.add(from, 'the credential has no "uid"', 'dcosCredential');
      if (c['scheme'] !== undefined && c['scheme'] !== 'RS256') {
        issues.add(from, 'the credential\'s "scheme" is not RS256 (the only scheme DC/OS uses)', 'dcosCredential');
      }
      let key: KeyObject | undefined;
      if (typeof c['private_key'] !== 'string' || c['private_key'] === '') {
        issues.add(from, 'the credential has no "private_key"', 'dcosCredential');
      } else {
        key = loadKey(c['private_key'], `${from} "private_key"`, 'dcosCredential');
      }
      const endpoint = c['login_endpoint'];
      if (endpoint !== undefined && typeof endpoint !== 'string') {
        issues.add(from, 'the credential\'s "login_endpoint" is not a string', 'dcosCredential');
      } else if (endpoint !== undefined && urlSrc.from !== DEFAULT_URL_FROM) {
        // All traffic goes through Admin Router: a cluster URL set on purpose (outside the cluster,
        // behind a load balancer) beats the credential's in-cluster host. Logged by the store.
        credentialLoginEndpoint = loggableUrl(endpoint);
      } else if (endpoint !== undefined) {
        credentialLoginEndpoint = loggableUrl(endpoint);
        // create-sa-secret without --strict writes http:// (permissive clusters); Admin Router serves
        // the same path over https://. Upgraded (logged by the store), never by skipping TLS checks.
        loginUrl = checkUrl(upgradeHttp(endpoint), `${from} "login_endpoint"`, 'dcosCredential');
        loginUrlFrom = 'credential';
      }
      if (uid !== '' && key) login = { kind: 'service-account', uid, privateKey: key, source: 'credential' };
    }
  }

  if (url === undefined || loginUrl === undefined || login === undefined) {
    if (issues.list.length === before) issues.note('the DC/OS configuration is incomplete');
    return undefined;
  }
  const parsed = DcosConfigSchema.safeParse({
    url,
    loginUrl,
    loginUrlFrom,
    credentialLoginEndpoint,
    caFile: caSrc?.value,
    caPem,
    insecure,
    login,
    cacheTtlSec: v.secretCacheTtl,
    maxStaleSec: v.secretMaxStale,
    timeoutSec: v.dcosTimeout,
  } satisfies DcosConfigInput);
  if (!parsed.success) {
    // Only shapes and bounds here; zod's messages name paths, not values.
    for (const i of parsed.error.issues) issues.note(`DC/OS configuration ${i.path.join('.')}: ${i.message}`);
    return undefined;
  }
  return deepFreeze(parsed.data);
}
