/**
 * The two HTTP calls the proxy makes to DC/OS (IAM login, Secret Store GET), over one undici Agent
 * that verifies TLS with the cluster CA. Every failure becomes exactly one ProxyError code; messages
 * name the URL, the account and the secret path, never a body, a value or a token.
 *
 * It also tracks the current outage (the time of the first failure since the last answer) so that
 * "unreachable" errors can say for how long the proxy has been trying.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { isProxyError, ProxyError, type ErrorCode } from '../../errors.js';
import { textValue, tokenText, type RefuseSecret } from '../text.js';
import { secretPathSegments } from '../../volume-name/index.js';
import { LOGIN_PATH } from './config.js';
import { formatDuration, silentLogger, type DcosLogger } from './log.js';

export type LoginBody = { uid: string; password: string } | { uid: string; token: string };

/** A Secret Store answer the caller acts on; every other outcome is thrown. */
export type SecretReply = { kind: 'value'; value: string } | { kind: 'unauthorized' };
/** A reply about one of the proxy's own records; `value` only for a read that found one. */
export type RecordReply<K extends string> = { kind: K; value?: string } | { kind: 'unauthorized' };

export interface DcosClientOptions {
  /** Cluster URL, no trailing slash. */
  url: string;
  /** Login endpoint (default `<url>/acs/api/v1/auth/login`). */
  loginUrl?: string;
  /** The account the proxy logs in as (named in 403 texts). */
  uid: string;
  caPem?: string;
  /** Only named in messages. */
  caFile?: string;
  insecure?: boolean;
  /** Timeout of one request. */
  timeoutMs: number;
  /** The time allowed for one whole read (named when it runs out). */
  readBudgetMs?: number;
  now?: () => number;
  logger?: DcosLogger;
  /** Use this dispatcher instead of an own Agent (not closed by close()). */
  dispatcher?: Dispatcher;
}

/** Upper bound of a secret reply (the Secret Store keeps at most ~1 MiB per secret). */
const MAX_SECRET_BYTES = 1024 * 1024 + 64 * 1024;
const MAX_LOGIN_BYTES = 64 * 1024;

/** Certificate verification failures (node's OpenSSL codes). */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

interface Operation {
  /** `the login of pwx-proxy`, `reading secret pwx/a` */
  what: string;
  origin: string;
  secretPath?: string;
}

/** The first error code in a cause chain (undici and node wrap socket errors). */
function errorCode(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const nested = (cur as { errors?: unknown }).errors;
    if (Array.isArray(nested)) {
      for (const n of nested) {
        const c = errorCode(n);
        if (c) return c;
      }
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeoutReason(r: unknown): boolean {
  return r instanceof Error && r.name === 'TimeoutError';
}

function mediaType(h: string | string[] | undefined): string {
  const v = Array.isArray(h) ? h[0] : h;
  return (v ?? '').split(';')[0]!.trim().toLowerCase();
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The IAM's `code` field (`ERR_INVALID_CREDENTIALS`) when the body has one; nothing else of a body is ever used. */
async function iamErrorCode(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
  try {
    const buf = await readLimited(body, 16 * 1024);
    if (!buf) return undefined;
    const json = JSON.parse(buf.toString('utf8')) as unknown;
    const code = typeof json === 'object' && json !== null ? (json as { code?: unknown }).code : undefined;
    return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** `pwx/secrets/a b` → `pwx/secrets/a%20b`; throws SECRET_PATH_INVALID on an empty, `.` or `..` segment. */
export function secretUrlPath(path: string): string {
  return secretPathSegments(path).map(encodeURIComponent).join('/');
}

export class DcosClient {
  readonly url: string;
  readonly loginUrl: string;
  readonly uid: string;
  readonly #loginOrigin: string;
  readonly #caFile: string | undefined;
  readonly #timeoutMs: number;
  readonly #readBudgetMs: number | undefined;
  readonly #now: () => number;
  readonly #log: DcosLogger;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  #failingSince: number | undefined;

  constructor(options: DcosClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.loginUrl = options.loginUrl ?? `${this.url}${LOGIN_PATH}`;
    this.uid = options.uid;
    this.#loginOrigin = new URL(this.loginUrl).origin;
    this.#caFile = options.caFile;
    this.#timeoutMs = options.timeoutMs;
    this.#readBudgetMs = options.readBudgetMs;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger ?? silentLogger;
    this.#ownsDispatcher = !options.dispatcher;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        connect: {
          // No CA: node's default trust store. Never unverified unless asked explicitly.
          ...(options.caPem ? { ca: options.caPem } : {}),
          rejectUnauthorized: options.insecure !== true,
          timeout: options.timeoutMs,
        },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        keepAliveTimeout: 30_000,
        connections: 32,
      });
  }

  /** When the current outage began (first failure since the last answer from DC/OS), if one is going on. */
  get failingSince(): number | undefined {
    return this.#failingSince;
  }

  /** POST the login; the auth token, or a ProxyError (SECRET_STORE_LOGIN_FAILED for refused credentials). */
  async login(body: LoginBody, signal?: AbortSignal): Promise<string> {
    const op: Operation = { what: `the login of ${body.uid}`, origin: this.#loginOrigin };
    return this.#exchange(
      op,
      this.loginUrl,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      },
      signal,
      async (res) => {
        const status = res.statusCode;
        if (status === 200) {
          const buf = await readLimited(res.body, MAX_LOGIN_BYTES);
          let token: unknown;
          try {
            token = buf ? (JSON.parse(buf.toString('utf8')) as { token?: unknown }).token : undefined;
          } catch {
            token = undefined;
          }
          if (typeof token !== 'string' || token === '') {
            throw new ProxyError(
              'SECRET_STORE_UNAVAILABLE',
              `DC/OS at ${op.origin} answered ${op.what} with HTTP 200 but no auth token; is ${this.loginUrl} the DC/OS IAM login endpoint?`,
              { uid: body.uid, status },
            );
          }
          return token;
        }
        const code = await iamErrorCode(res.body);
        const suffix = code ? `, ${code}` : '';
        const check =
          'password' in body
            ? 'check the user name and password (DCOS_SECRETS_USERNAME, DCOS_SECRETS_PASSWORD or its _FILE variant)'
            : 'check the service account name and that its registered public key matches the private key';
        if (status === 401 || status === 403) {
          throw new ProxyError(
            'SECRET_STORE_LOGIN_FAILED',
            `DC/OS at ${op.origin} refused ${op.what}: invalid credentials (HTTP ${status}${suffix}); ${check}`,
            { uid: body.uid, status },
          );
        }
        if (status === 400) {
          throw new ProxyError(
            'SECRET_STORE_LOGIN_FAILED',
            `DC/OS at ${op.origin} rejected ${op.what} as malformed (HTTP 400${suffix}); ${check}`,
            { uid: body.uid, status },
          );
        }
        throw new ProxyError(
          'SECRET_STORE_LOGIN_FAILED',
          `DC/OS at ${op.origin} answered ${op.what} with HTTP ${status}${suffix}; is ${this.loginUrl} the DC/OS IAM login endpoint (DC/OS Enterprise)?`,
          { uid: body.uid, status },
        );
      },
    );
  }

  /** GET one secret with an auth token. `unauthorized` means: log in again and retry once. */
  async getSecret(path: string, authToken: string, signal?: AbortSignal): Promise<SecretReply> {
    const url = `${this.url}/secrets/v1/secret/default/${secretUrlPath(path)}`;
    const op: Operation = { what: `reading secret ${path}`, origin: this.url, secretPath: path };
    return this.#exchange(
      op,
      url,
      // `*/*`: a binary secret then comes back as application/octet-stream, which we can name.
      { method: 'GET', headers: { authorization: `token=${authToken}`, accept: '*/*' } },
      signal,
      async (res): Promise<SecretReply> => {
        const status = res.statusCode;
        const d = { secretPath: path, uid: this.uid, status };
        if (status === 200) return { kind: 'value', value: await this.#secretValue(path, res) };
        if (status === 401) return { kind: 'unauthorized' };
        if (status === 403) {
          const perm = `dcos:secrets:default:/${path} read`;
          throw new ProxyError(
            'SECRET_FORBIDDEN',
            `account ${this.uid} may not read secret ${path}: grant ${perm} (e.g. dcos security org users grant ${this.uid} ${perm})`,
            { ...d, permission: perm },
          );
        }
        if (status === 404) {
          throw new ProxyError(
            'SECRET_NOT_FOUND',
            `no secret at ${path} in the DC/OS Secret Store at ${this.url} (a folder is not a secret); ` +
              `check the token_secret path, or create it: dcos security secrets create --value=<token> ${path}`,
            d,
          );
        }
        throw new ProxyError(
          'SECRET_STORE_UNAVAILABLE',
          `the DC/OS Secret Store at ${this.url} answered ${op.what} with an unexpected HTTP ${status}`,
          d,
        );
      },
    );
  }

  /**
   * The proxy's own records (the cluster's volume references): a JSON text in `value`, read, created
   * if absent and deleted. `unauthorized` means: log in again and retry once. A 403 names the
   * permission to grant; anything else unexpected is the store failing.
   */
  async getRecord(path: string, authToken: string, signal?: AbortSignal): Promise<RecordReply<'value' | 'absent'>> {
    return this.#record('GET', path, authToken, signal, async (res) => {
      if (res.statusCode === 200) {
        const buf = await readLimited(res.body, MAX_SECRET_BYTES);
        let doc: unknown;
        try {
          doc = buf ? JSON.parse(buf.toString('utf8')) : undefined;
        } catch {
          doc = undefined;
        }
        const value = typeof doc === 'object' && doc !== null ? (doc as { value?: unknown }).value : undefined;
        if (typeof value !== 'string') {
          throw new ProxyError('REFERENCE_INVALID', `the record ${path} in the DC/OS Secret Store at ${this.url} holds no text value`, {
            secretPath: path,
          });
        }
        return { kind: 'value', value };
      }
      if (res.statusCode === 404) return { kind: 'absent' };
      return undefined;
    });
  }

  /**
   * A document the proxy reads whole (the fleet configuration): a text secret (`--value`, JSON
   * `value`) or a binary one (`-f <file>`, raw bytes), either way UTF-8 text; `absent` on a 404.
   */
  async getDocument(path: string, authToken: string, signal?: AbortSignal): Promise<RecordReply<'value' | 'absent'>> {
    const notText = (why: string) =>
      new ProxyError('SECRET_NOT_TEXT', `the document ${path} in the DC/OS Secret Store at ${this.url} ${why}`, { secretPath: path });
    return this.#forbiddenToRead(path, () =>
      this.#record(
        'GET',
        path,
        authToken,
        signal,
        async (res) => {
          if (res.statusCode === 404) return { kind: 'absent' };
          if (res.statusCode !== 200) return undefined;
          const buf = await readLimited(res.body, MAX_SECRET_BYTES);
          if (!buf) throw notText('is larger than 1 MiB');
          const type = mediaType(res.headers['content-type']);
          if (type === 'application/octet-stream') {
            try {
              return { kind: 'value', value: new TextDecoder('utf-8', { fatal: true }).decode(buf) };
            } catch {
              throw notText('is binary data, not UTF-8 text');
            }
          }
          let doc: unknown;
          try {
            doc = JSON.parse(buf.toString('utf8'));
          } catch {
            doc = undefined;
          }
          const value = typeof doc === 'object' && doc !== null ? (doc as { value?: unknown }).value : undefined;
          if (typeof value !== 'string') throw notText('holds no text value');
          return { kind: 'value', value };
        },
        undefined,
        '*/*',
      ),
    );
  }

  /** A document the proxy only reads: the grant to name is `read` on it alone, never `full` on its folder. */
  async #forbiddenToRead<T>(path: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (!isProxyError(e) || e.code !== 'SECRET_FORBIDDEN') throw e;
      const perm = `dcos:secrets:default:/${path} read`;
      throw new ProxyError(
        'SECRET_FORBIDDEN',
        `account ${this.uid} may not read ${path}: grant ${perm} (dcos security org users grant ${this.uid} 'dcos:secrets:default:/${path}' read)`,
        { secretPath: path, uid: this.uid, status: 403, permission: perm },
      );
    }
  }

  /** PUT creates; an existing record is left as it is (409: `exists`). */
  async createRecord(path: string, value: string, authToken: string, signal?: AbortSignal): Promise<RecordReply<'created' | 'exists'>> {
    return this.#record(
      'PUT',
      path,
      authToken,
      signal,
      async (res) => {
        if (res.statusCode === 201 || res.statusCode === 200) return { kind: 'created' };
        if (res.statusCode === 409) return { kind: 'exists' };
        return undefined;
      },
      JSON.stringify({ value }),
    );
  }

  async deleteRecord(path: string, authToken: string, signal?: AbortSignal): Promise<RecordReply<'deleted' | 'absent'>> {
    return this.#record('DELETE', path, authToken, signal, async (res) => {
      if (res.statusCode === 204 || res.statusCode === 200) return { kind: 'deleted' };
      if (res.statusCode === 404) return { kind: 'absent' };
      return undefined;
    });
  }

  async #record<K extends string>(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    authToken: string,
    signal: AbortSignal | undefined,
    known: (res: Dispatcher.ResponseData) => Promise<{ kind: K; value?: string } | undefined>,
    body?: string,
    accept = 'application/json',
  ): Promise<RecordReply<K>> {
    const url = `${this.url}/secrets/v1/secret/default/${secretUrlPath(path)}`;
    const verb = method === 'GET' ? 'reading' : method === 'PUT' ? 'creating' : 'deleting';
    const action = method === 'GET' ? 'read' : method === 'PUT' ? 'create' : 'delete';
    const op: Operation = { what: `${verb} record ${path}`, origin: this.url, secretPath: path };
    const headers: Record<string, string> = { authorization: `token=${authToken}`, accept };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.#exchange(
      op,
      url,
      { method, headers, ...(body !== undefined ? { body } : {}) },
      signal,
      async (res): Promise<RecordReply<K>> => {
        const status = res.statusCode;
        if (status === 401) return { kind: 'unauthorized' };
        if (status === 403) {
          const perm = `dcos:secrets:default:/${path} ${action}`;
          throw new ProxyError(
            'SECRET_FORBIDDEN',
            `account ${this.uid} may not ${action} ${path}: grant ${perm}, or full on its folder (docs/dcos-permissions.md)`,
            { secretPath: path, uid: this.uid, status, permission: perm },
          );
        }
        const reply = await known(res);
        if (reply) return reply;
        throw new ProxyError(
          'SECRET_STORE_UNAVAILABLE',
          `the DC/OS Secret Store at ${this.url} answered ${op.what} with an unexpected HTTP ${status}`,
          {
            secretPath: path,
            status,
          },
        );
      },
    );
  }

  async #secretValue(path: string, res: Dispatcher.ResponseData): Promise<string> {
    const type = mediaType(res.headers['content-type']);
    const d = { secretPath: path };
    const notText = (why: string): ProxyError =>
      new ProxyError(
        'SECRET_NOT_TEXT',
        `secret ${path} ${why}, not a plain-text token; store the token as a text secret (dcos security secrets create --value=<token> ${path})`,
        d,
      );
    const refuse: RefuseSecret = (reason) => {
      switch (reason) {
        case 'empty':
          return new ProxyError(
            'SECRET_EMPTY',
            `secret ${path} is empty; store the token in it (dcos security secrets update --value=<token> ${path})`,
            d,
          );
        case 'json':
          return notText('holds a JSON document (e.g. a service account credential)');
        case 'control':
          return notText('holds control characters');
        case 'binary':
          return notText('is a binary secret (application/octet-stream)');
      }
    };
    const buf = await readLimited(res.body, MAX_SECRET_BYTES);
    if (!buf) throw notText('is larger than 1 MiB');
    if (type === 'application/json' || type === '') {
      let doc: unknown;
      try {
        doc = JSON.parse(buf.toString('utf8'));
      } catch {
        throw new ProxyError(
          'SECRET_STORE_UNAVAILABLE',
          `the DC/OS Secret Store at ${this.url} sent a reply for secret ${path} that is not JSON`,
          d,
        );
      }
      const value = typeof doc === 'object' && doc !== null ? (doc as { value?: unknown }).value : undefined;
      if (typeof value !== 'string') throw notText('holds no text value');
      return tokenText(value, path, refuse);
    }
    // A binary secret (e.g. created with `-f file`): a token if its bytes are UTF-8 text.
    if (type === 'application/octet-stream') return textValue(buf, path, refuse);
    // (guess) the Secret Store is not known to answer text/*; accept it as the raw value.
    if (type.startsWith('text/')) return tokenText(buf.toString('utf8'), path, refuse);
    throw notText(`came back as ${type.slice(0, 64)}`);
  }

  async #exchange<T>(
    op: Operation,
    url: string,
    init: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; headers: Record<string, string>; body?: string },
    outer: AbortSignal | undefined,
    handle: (res: Dispatcher.ResponseData) => Promise<T>,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { ...init, dispatcher: this.#dispatcher, signal });
    } catch (e) {
      throw this.#transportError(op, e, timeout, outer);
    }
    try {
      if (res.statusCode >= 500) {
        const since = this.#markFailure(`HTTP ${res.statusCode}`);
        const why = res.statusCode === 503 ? 'sealed, starting or unavailable' : 'failing';
        throw new ProxyError(
          'SECRET_STORE_UNAVAILABLE',
          `DC/OS at ${op.origin} is ${why} (HTTP ${res.statusCode} for ${op.what}); ${this.#tryingFor(since)}`,
          { secretPath: op.secretPath, status: res.statusCode, failingSince: since },
        );
      }
      this.#markSuccess();
      return await handle(res);
    } catch (e) {
      if (isProxyError(e)) throw e;
      throw this.#transportError(op, e, timeout, outer);
    } finally {
      await res.body.dump().catch(() => {});
    }
  }

  #tryingFor(since: number): string {
    return outageClause(this.#now() - since, since);
  }

  #transportError(op: Operation, e: unknown, timeout: AbortSignal, outer: AbortSignal | undefined): ProxyError {
    const code = errorCode(e);
    const d = { secretPath: op.secretPath, cause: code };
    const make = (c: ErrorCode, message: string, extra: Record<string, unknown> = {}): ProxyError =>
      new ProxyError(c, message, { ...d, ...extra }, { cause: e });

    if (outer?.aborted && !timeout.aborted) {
      // The whole read ran out of time, or the caller went away.
      if (isTimeoutReason(outer.reason)) this.#markFailure('read budget exhausted');
      const budget = this.#readBudgetMs ? ` (${formatDuration(this.#readBudgetMs)})` : '';
      return make(
        'SECRET_STORE_TIMEOUT',
        isTimeoutReason(outer.reason)
          ? `DC/OS at ${op.origin} did not finish ${op.what} within the time allowed for one read${budget}`
          : `${op.what} from DC/OS at ${op.origin} was cancelled`,
      );
    }
    if (timeout.aborted || (e instanceof Error && e.name === 'TimeoutError') || (code && TIMEOUT_CODES.has(code))) {
      const since = this.#markFailure(code ?? 'timeout');
      return make(
        'SECRET_STORE_TIMEOUT',
        `DC/OS at ${op.origin} did not answer ${op.what} within ${formatDuration(this.#timeoutMs)} (--dcos-timeout); ${this.#tryingFor(since)}`,
        { failingSince: since },
      );
    }
    if (code && TLS_CODES.has(code)) {
      this.#markFailure(code);
      const host =
        code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH'
          ? `; the certificate is not valid for the host name in ${op.origin}`
          : '';
      const trust = this.#caFile
        ? `with the CA in ${this.#caFile} (--dcos-ca-file / DCOS_SECRETS_CA_CERT_FILE)${host}; that file must hold the cluster CA (dcos-ca.crt: GET ${this.url}/ca/dcos-ca.crt, or /run/dcos/pki/CA/ca-bundle.crt on a master)`
        : `with the default trust store (no CA file is set)${host}; set DCOS_SECRETS_CA_CERT_FILE (or --dcos-ca-file) to the cluster CA (dcos-ca.crt)`;
      return make('SECRET_STORE_TLS', `the TLS certificate of DC/OS at ${op.origin} could not be verified ${trust} (${code})`);
    }
    const since = this.#markFailure(code ?? 'network error');
    return make(
      'SECRET_STORE_UNAVAILABLE',
      `DC/OS at ${op.origin} is unreachable (${code ?? 'network error'} during ${op.what}); ${this.#tryingFor(since)}`,
      { failingSince: since },
    );
  }

  #markFailure(reason: string): number {
    if (this.#failingSince === undefined) {
      this.#failingSince = this.#now();
      this.#log.warn({ url: this.url, reason }, 'DC/OS is unreachable or failing');
    }
    return this.#failingSince;
  }

  #markSuccess(): void {
    if (this.#failingSince !== undefined) {
      const outageMs = this.#now() - this.#failingSince;
      this.#failingSince = undefined;
      this.#log.info({ url: this.url, outageMs }, `DC/OS answers again after ${formatDuration(outageMs)}`);
    }
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.destroy();
  }
}

/**
 * How long DC/OS has been failing, as the store's errors end. Under a second it says "just now":
 * "trying for 0 s" read as if the proxy had not tried at all.
 */
export function outageClause(elapsedMs: number, since: number): string {
  const at = new Date(since).toISOString();
  return elapsedMs < 1000 ? `failing since ${at} (just now)` : `the proxy has been trying for ${formatDuration(elapsedMs)} (since ${at})`;
}

/** A store error without its outage clause: for a tool that made one attempt (doctor). */
export function withoutOutageClause(message: string): string {
  return message.replace(/; (?:the proxy has been trying for [^;]*? \(since [^)]*\)|failing since \S+ \(just now\))/g, '');
}
