/**
 * A test double of DC/OS (Admin Router + IAM login + Secret Store GET) over real HTTPS, built from
 * /work/shared/spec/dcos.md. Where the spec marks something as not public, the double chooses and
 * says so in a comment tagged (guess). It is stricter than DC/OS where strictness catches client bugs
 * (only `Authorization: token=`, login tokens must carry `exp`).
 *
 *   const pki = makeTestPki();
 *   const dcos = await startDcosDouble({ tls: pki, users: { alice: 'pw' }, grants: { alice: ['dcos:secrets:default:/pwx/* read'] } });
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';

export interface DcosDoubleOptions {
  /** Server key and certificate (PEM); see makeTestPki(). */
  tls: { serverKeyPem: string; serverCertPem: string; ca?: { certPem: string } };
  /** Lifetime of issued auth tokens (DC/OS: 5 days). */
  authTokenLifetimeSec?: number;
  /** Start of the double's clock (ms since epoch); default: now. Only token expiry uses it. */
  now?: number;
  /** Enterprise `acsjwt` (default) or open-source `oauthjwt`. */
  wwwAuthenticate?: 'acsjwt' | 'oauthjwt';
  users?: Record<string, string>;
  /** uid → SPKI PEM public key. */
  serviceAccounts?: Record<string, string>;
  /** path (no leading slash) → text value, or bytes for a binary secret. */
  secrets?: Record<string, string | Buffer>;
  /** uid → grants like `dcos:secrets:default:/pwx/secrets/* read` (rid, space, action). */
  grants?: Record<string, string[]>;
  slowMs?: number;
}

export interface DcosDoubleCounters {
  /** Every POST to the login endpoint. */
  logins: number;
  loginsOk: number;
  loginsRefused: number;
  /** Secret GETs per decoded path (every attempt, whatever the answer). */
  secretGets: Map<string, number>;
  totalSecretGets: number;
  /** 401s sent on protected paths (bad, expired or revoked auth tokens). */
  unauthorized: number;
  /** Secret writes by `METHOD path` (PUT, PATCH, DELETE; every attempt). */
  secretWrites: Map<string, number>;
}

export interface DcosDoubleRequest {
  method: string;
  /** Raw request path (paths are not secret). */
  url: string;
  /** Scheme of the Authorization header only (`token`, `Bearer`), never its value. */
  authScheme?: string;
}

export interface DcosClock {
  now(): number;
  set(ms: number): void;
  advance(ms: number): void;
}

export interface DcosDouble {
  url: string;
  port: number;
  clock: DcosClock;
  counters: DcosDoubleCounters;
  requests: DcosDoubleRequest[];
  /** Delay before each answer. */
  slowMs: number;
  /** Destroy every socket, existing and new (clients see ECONNRESET / "other side closed"). */
  down: boolean;
  /** Answer 500 to everything. */
  status500: boolean;
  /** Secret Store answers 503 (sealed); the IAM still works. */
  sealed: boolean;
  authTokenLifetimeSec: number;
  addUser(uid: string, password: string): void;
  addServiceAccount(uid: string, publicKeyPem: string): void;
  setSecret(path: string, value: string | Buffer): void;
  deleteSecret(path: string): void;
  /** The value stored at a path (what a client wrote), if any. */
  secret(path: string): string | Buffer | undefined;
  grant(uid: string, rid: string, action: string): void;
  revokeGrants(uid: string): void;
  /** Every auth token issued so far becomes invalid (as after a revoked session or IAM key rotation). */
  revokeAll(): void;
  /** Every auth token issued (for leak scans). */
  issuedTokens(): string[];
  resetCounters(): void;
  close(): Promise<void>;
}

const SECRET_PREFIX = '/secrets/v1/secret/default/';
const LOGIN_PATH = '/acs/api/v1/auth/login';
/** (guess) The IAM is documented to warn above 10 minutes; this double refuses, to catch long-lived login tokens. */
const MAX_LOGIN_TOKEN_LIFETIME_SEC = 10 * 60;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startDcosDouble(opts: DcosDoubleOptions): Promise<DcosDouble> {
  let clockMs = opts.now ?? Date.now();
  const clock: DcosClock = {
    now: () => clockMs,
    set: (ms) => {
      clockMs = ms;
    },
    advance: (ms) => {
      clockMs += ms;
    },
  };
  const iamKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const users = new Map<string, string>(Object.entries(opts.users ?? {}));
  const accounts = new Map<string, KeyObject>(Object.entries(opts.serviceAccounts ?? {}).map(([uid, pem]) => [uid, createPublicKey(pem)]));
  const secrets = new Map<string, string | Buffer>(Object.entries(opts.secrets ?? {}));
  const grants = new Map<string, Array<{ rid: string; action: string }>>();
  const addGrant = (uid: string, rid: string, action: string): void => {
    const list = grants.get(uid) ?? [];
    list.push({ rid, action });
    grants.set(uid, list);
  };
  for (const [uid, list] of Object.entries(opts.grants ?? {})) {
    for (const g of list) {
      const [rid, action = 'full'] = g.trim().split(/\s+/);
      addGrant(uid, rid!, action);
    }
  }
  /** Tokens currently valid (revokeAll() empties it). All ever issued, for leak scans. */
  let valid = new Set<string>();
  const issued = new Set<string>();
  const wwwAuth = opts.wwwAuthenticate ?? 'acsjwt';
  const counters: DcosDoubleCounters = {
    logins: 0,
    loginsOk: 0,
    loginsRefused: 0,
    secretGets: new Map(),
    totalSecretGets: 0,
    unauthorized: 0,
    secretWrites: new Map(),
  };
  const requests: DcosDoubleRequest[] = [];
  const sockets = new Set<Socket>();

  const state = {
    slowMs: opts.slowMs ?? 0,
    down: false,
    status500: false,
    sealed: false,
    authTokenLifetimeSec: opts.authTokenLifetimeSec ?? 5 * 24 * 3600,
  };

  const permits = (uid: string, path: string, prefix = 'dcos:secrets:default:/', wanted = 'read'): boolean =>
    (grants.get(uid) ?? []).some(({ rid, action }) => {
      if (action !== wanted && action !== 'full') return false;
      if (rid === 'dcos:superuser') return action === 'full';
      if (!rid.startsWith(prefix)) return false;
      const target = rid.slice(prefix.length);
      if (target === path) return true;
      // (guess) `/*` grants the whole subtree at any depth.
      return target.endsWith('/*') && path.startsWith(target.slice(0, -1));
    });

  const unauthorized = (res: ServerResponse): void => {
    counters.unauthorized++;
    const body =
      '<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n</body>\r\n</html>\r\n';
    res.writeHead(401, { 'content-type': 'text/html', 'www-authenticate': wwwAuth, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const issueAuthToken = async (uid: string): Promise<string> => {
    const now = Math.floor(clockMs / 1000);
    // Payload exactly {uid, exp}: no iat, iss, sub or kid, as DC/OS issues them.
    const token = await new SignJWT({ uid })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setExpirationTime(now + state.authTokenLifetimeSec)
      .sign(iamKeys.privateKey);
    valid.add(token);
    issued.add(token);
    return token;
  };

  /** Admin Router: the uid of a valid `Authorization: token=<jwt>`, or undefined. */
  const authenticate = async (req: IncomingMessage): Promise<string | undefined> => {
    const h = req.headers.authorization ?? '';
    // Admin Router also takes `Bearer`, but upstream services expect `token=`; the double only takes `token=`.
    if (!h.startsWith('token=')) return undefined;
    const token = h.slice('token='.length);
    if (!valid.has(token)) return undefined;
    try {
      const { payload } = await jwtVerify(token, iamKeys.publicKey, {
        algorithms: ['RS256'],
        currentDate: new Date(clockMs),
        clockTolerance: 0, // Admin Router checks exp with no leeway
      });
      return typeof payload['uid'] === 'string' ? payload['uid'] : undefined;
    } catch {
      return undefined;
    }
  };

  const invalidCredentials = (res: ServerResponse): void => {
    counters.loginsRefused++;
    json(
      res,
      401,
      { title: '401 Unauthorized', description: 'Invalid credentials.', code: 'ERR_INVALID_CREDENTIALS' },
      { 'www-authenticate': wwwAuth },
    );
  };

  const handleLogin = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counters.logins++;
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      // (guess) body text of the 415.
      json(res, 415, {
        title: '415 Unsupported Media Type',
        description: 'Request Content-Type must be application/json',
        code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      });
      return;
    }
    const text = await readBody(req);
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(text ?? '') as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      json(res, 400, { title: '400 Bad Request', description: 'Request has bad JSON body.', code: 'ERR_MALFORMED_REQUEST' }); // (guess) code
      return;
    }
    const uid = body['uid'];
    const hasToken = typeof body['token'] === 'string';
    const hasPassword = typeof body['password'] === 'string';
    if (typeof uid !== 'string' || hasToken === hasPassword) {
      json(res, 400, {
        title: '400 Bad Request',
        description: 'Exactly one of `token` and `password` must be provided in the request body',
        code: 'ERR_INVALID_DATA', // (guess) code
      });
      return;
    }
    if (hasPassword) {
      if (!users.has(uid) || users.get(uid) !== body['password']) return invalidCredentials(res);
    } else {
      const key = accounts.get(uid);
      if (!key) return invalidCredentials(res);
      try {
        const { payload } = await jwtVerify(body['token'] as string, key, {
          algorithms: ['RS256'],
          currentDate: new Date(clockMs),
          requiredClaims: ['exp'], // (guess) the IAM's exact rules are not public; a login token without exp is refused here
        });
        if (payload['uid'] !== uid) return invalidCredentials(res);
        if ((payload.exp ?? 0) > Math.floor(clockMs / 1000) + MAX_LOGIN_TOKEN_LIFETIME_SEC) return invalidCredentials(res);
      } catch {
        return invalidCredentials(res);
      }
    }
    counters.loginsOk++;
    const token = await issueAuthToken(uid);
    // DC/OS also sets browser cookies (dcos-acs-auth-cookie, dcos-acs-info-cookie); clients ignore them.
    json(res, 200, { token }, { 'set-cookie': 'dcos-acs-info-cookie=e30=; Secure; Path=/' });
  };

  const handleSecret = async (req: IncomingMessage, res: ServerResponse, rawPath: string, list = false): Promise<void> => {
    let path: string;
    try {
      // Each segment percent-decoded; `%2F` is accepted for `/` as DC/OS does.
      path = rawPath.split('/').map(decodeURIComponent).join('/');
    } catch {
      json(res, 400, { code: 'ER_BAD_REQUEST', message: 'bad path' }); // (guess)
      return;
    }
    if (req.method === 'GET') {
      counters.totalSecretGets++;
      counters.secretGets.set(path, (counters.secretGets.get(path) ?? 0) + 1);
    }
    const uid = await authenticate(req);
    if (uid === undefined) return unauthorized(res);
    if (state.sealed) {
      json(res, 503, { code: 'ER_SEALED', message: 'Secret store is sealed' }); // (guess) body
      return;
    }
    if (req.method === 'PUT' || req.method === 'PATCH' || req.method === 'DELETE') {
      // dcos.md: PUT creates (201, or 409 "already exists"), PATCH updates (204, or 404), DELETE
      // (204, or 404 "does not exist"); each needs its own action (create, update, delete) or full.
      counters.secretWrites.set(`${req.method} ${path}`, (counters.secretWrites.get(`${req.method} ${path}`) ?? 0) + 1);
      const action = req.method === 'PUT' ? 'create' : req.method === 'PATCH' ? 'update' : 'delete';
      if (!permits(uid, path, 'dcos:secrets:default:/', action)) {
        json(res, 403, { code: 'ER_FORBIDDEN', message: 'Forbidden' }); // (guess) body
        return;
      }
      if (req.method === 'DELETE') {
        if (!secrets.delete(path))
          json(res, 404, { code: 'ER_SECRET_NOT_FOUND', message: `Secret ${path} does not exist` }); // (guess) body
        else res.writeHead(204).end();
        return;
      }
      let value: unknown;
      try {
        value = (JSON.parse((await readBody(req)) ?? '') as { value?: unknown }).value;
      } catch {
        value = undefined;
      }
      if (typeof value !== 'string') {
        json(res, 400, { code: 'ER_BAD_REQUEST', message: 'value must be a string' }); // (guess)
        return;
      }
      if (req.method === 'PUT') {
        if (secrets.has(path))
          json(res, 409, { code: 'ER_SECRET_EXISTS', message: `Secret ${path} already exists` }); // (guess) body
        else {
          secrets.set(path, value);
          json(res, 201, {});
        }
        return;
      }
      if (!secrets.has(path)) json(res, 404, { code: 'ER_SECRET_NOT_FOUND', message: `Secret ${path} does not exist` });
      else {
        secrets.set(path, value);
        res.writeHead(204).end();
      }
      return;
    }
    if (req.method !== 'GET') {
      json(res, 405, { code: 'ER_METHOD', message: 'method not implemented by the double' });
      return;
    }
    if (list) {
      // List: `read` on dcos:secrets:list:default:/<folder>; recursive, relative, sorted, whole-segment
      // prefix; an unknown folder is an empty array, not a 404.
      const folder = path.replace(/\/+$/, '');
      if (!permits(uid, folder, 'dcos:secrets:list:default:/')) {
        json(res, 403, { code: 'ER_FORBIDDEN', message: 'Forbidden' }); // (guess) body
        return;
      }
      const under =
        folder === ''
          ? [...secrets.keys()]
          : [...secrets.keys()].filter((k) => k.startsWith(`${folder}/`)).map((k) => k.slice(folder.length + 1));
      json(res, 200, { array: under.sort() });
      return;
    }
    // (guess) permission is checked before existence, so a 403 does not reveal whether a secret exists.
    if (!permits(uid, path)) {
      json(res, 403, { code: 'ER_FORBIDDEN', message: 'Forbidden' }); // (guess) body
      return;
    }
    const value = secrets.get(path);
    if (value === undefined) {
      json(res, 404, { code: 'ER_SECRET_NOT_FOUND', message: 'Secret not found' }); // (guess) body
      return;
    }
    if (Buffer.isBuffer(value)) {
      // (guess) a binary secret comes back raw whatever the Accept (the spec knows it for `Accept: */*`).
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.length });
      res.end(value);
      return;
    }
    json(res, 200, { value });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const auth = req.headers.authorization;
    requests.push({ method: req.method ?? '', url: req.url ?? '', ...(auth ? { authScheme: auth.split(/[=\s]/)[0] } : {}) });
    if (state.slowMs > 0) await new Promise((r) => setTimeout(r, state.slowMs));
    if (state.down) {
      req.socket.destroy();
      return;
    }
    if (state.status500) {
      json(res, 500, { code: 'ER_INTERNAL', message: 'Internal Server Error' }); // (guess) body
      return;
    }
    const url = new URL(req.url ?? '/', 'https://double.invalid');
    if (url.pathname === LOGIN_PATH) {
      if (req.method !== 'POST') return json(res, 405, { title: '405 Method Not Allowed' });
      return handleLogin(req, res);
    }
    if (url.pathname.startsWith(SECRET_PREFIX)) {
      // The raw (still encoded) path after the prefix.
      const raw = (req.url ?? '').split('?')[0]!.slice(SECRET_PREFIX.length);
      return handleSecret(req, res, raw, url.searchParams.get('list') === 'true');
    }
    if (url.pathname === '/ca/dcos-ca.crt' && opts.tls.ca) {
      res.writeHead(200, { 'content-type': 'application/x-x509-ca-cert' });
      res.end(opts.tls.ca.certPem);
      return;
    }
    json(res, 404, { title: '404 Not Found' });
  };

  const server: Server = createServer({ key: opts.tls.serverKeyPem, cert: opts.tls.serverCertPem }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { title: 'double error' });
      else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    if (state.down) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {}); // clients that reject our certificate: expected in TLS tests
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const double: DcosDouble = {
    url: `https://127.0.0.1:${port}`,
    port,
    clock,
    counters,
    requests,
    get slowMs() {
      return state.slowMs;
    },
    set slowMs(v: number) {
      state.slowMs = v;
    },
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
      if (v) for (const s of sockets) s.destroy();
    },
    get status500() {
      return state.status500;
    },
    set status500(v: boolean) {
      state.status500 = v;
    },
    get sealed() {
      return state.sealed;
    },
    set sealed(v: boolean) {
      state.sealed = v;
    },
    get authTokenLifetimeSec() {
      return state.authTokenLifetimeSec;
    },
    set authTokenLifetimeSec(v: number) {
      state.authTokenLifetimeSec = v;
    },
    addUser: (uid, password) => void users.set(uid, password),
    addServiceAccount: (uid, pem) => void accounts.set(uid, createPublicKey(pem)),
    setSecret: (path, value) => void secrets.set(path, value),
    deleteSecret: (path) => void secrets.delete(path),
    secret: (path) => secrets.get(path),
    grant: addGrant,
    revokeGrants: (uid) => void grants.delete(uid),
    revokeAll: () => {
      valid = new Set();
    },
    issuedTokens: () => [...issued],
    resetCounters: () => {
      counters.logins = counters.loginsOk = counters.loginsRefused = 0;
      counters.totalSecretGets = counters.unauthorized = 0;
      counters.secretGets.clear();
      counters.secretWrites.clear();
      requests.length = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return double;
}
