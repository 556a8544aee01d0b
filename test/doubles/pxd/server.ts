/**
 * A test double for Portworx's `pxd` Docker volume plugin server — an independent re-implementation,
 * over a real unix socket, of the behaviour in /work/shared/spec/pxd.md and the wire transcripts in
 * /work/shared/spec/pxd-transcripts/ (recorded from openstorage's `osd`, fake driver, auth on). Where the
 * spec is silent the openstorage source (api/server/docker.go, api/server/sdk/*, api/spec/spec_handler.go,
 * pkg/auth/*) was followed; comments mark each guess or choice.
 *
 * It deliberately imports nothing from src/: it exists to catch the proxy's mistakes.
 *
 * Shape of pxd's plugin server, reproduced here:
 *  - Create / Remove / Mount resolve a token (precedence: `token=` in Name, `token` in Opts, `token_secret=`
 *    in Name looked up in the secret store, `token_secret` in Opts used AS the token) and call pxd's gRPC
 *    SDK with it; every SDK call authenticates and authorizes (roles) when auth is on.
 *  - Get / Path / List / Unmount / Capabilities / Activate never authenticate.
 *  - All replies are 200 `text/plain; charset=utf-8` JSON with an `Err`, except the 400 plain-text decode
 *    errors and Mount's 400 plain-text volume-lookup errors, 404 and 405.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { decodeMountRequest, decodeVolumeRequest, goDecodeFirst, goQuote, goUnmarshal, toPlain, type GoValue } from './gojson.js';
import {
  authenticateToken,
  makeAuthenticator,
  tokenIssuer,
  username as usernameOf,
  type Authenticator,
  type Claims,
  type PxdIssuerConfig,
  type UsernameClaim,
} from './jwt.js';
import { parseUnits, specFromOpts, specFromString, TOKEN_RE, getVal, tokenSecretFromString, type ParsedSpec } from './spec.js';

export type { PxdIssuerConfig, UsernameClaim } from './jwt.js';

/** Mutable switches; flip them on `double.faults` at run time. */
export interface PxdFaults {
  /** wait this long before handling each request */
  delayMs?: number;
  /** hold every request until this settles (a slow pxd, without guessing how slow) */
  hold?: Promise<void>;
  /** close every connection as soon as it is accepted (and any request arriving on an open one) */
  down?: boolean;
  /** read (and log) the request, then destroy the socket without replying */
  reset?: boolean;
  /** answer every request with 200 and a non-JSON body (nothing is processed) */
  garbage?: boolean;
  /** override the Mountpoint of successful Mount and Path replies verbatim, e.g. 'relative/x', '', '/etc' */
  mountpoint?: string;
  /** override Volume.Name in successful Get replies */
  getName?: string;
  /** NOT pxd behaviour (pxd's Get has no Status): add this Volume.Status to successful Get replies */
  getStatus?: Record<string, unknown>;
  /**
   * pxd still starting: every plugin call answers HTTP 500 "Driver is initializing" (pxd.md, Replies;
   * the exact body text is not in the transcripts: guessed as http.Error writes it, a text line).
   */
  initializing?: boolean;
}

export interface PxdDoubleOptions {
  socketPath: string;
  /** pxd auth; absent = auth disabled (tokens are still resolved, never checked — transcript-noauth) */
  auth?: { issuers: PxdIssuerConfig[]; usernameClaim?: UsernameClaim };
  /** pxd's volume.MountBase; default `/var/lib/osd/mounts` */
  mountsRoot?: string;
  /** really `mkdir -p` each mountpoint (pxd does os.MkdirAll) so a real dockerd can bind-mount it */
  makeMountDirs?: boolean;
  /**
   * pxd's own secret store for `token_secret=` in the Name (DC/OS semantics: key `ns/path`, the value is
   * the JWT verbatim; a JSON-object value is looked up by the key and normally fails). Absent = no secrets
   * provider: `A secret was passed in, but no secrets provider has been initialized`.
   */
  secrets?: (path: string) => string | undefined;
  /**
   * NOT pxd behaviour: a size used when a Create carries none. Real pxd (fake driver) answers
   * `Volume size cannot be zero`; the end-to-end tests create volumes without a size, so they set this.
   */
  defaultSize?: string;
  /** initial fault switches */
  faults?: PxdFaults;
  /** clock for token time checks, ms since epoch (default Date.now) */
  now?: () => number;
}

export interface PxdVolume {
  /** pxd's volume id (a uuid) */
  id: string;
  name: string;
  /** the creator's username claim; undefined when created with auth off (a public volume) */
  owner: string | undefined;
  /** options pxd understood (from the inline Name spec, or from Opts when the Name had no `name=`) */
  spec: Record<string, string>;
  /** unknown -o keys (incl. `token_secret`), plus zones/racks */
  labels: Record<string, string>;
  /** the volume this one was cloned from (`parent=`: docker.go create → SdkVolumeClone{ParentId}) */
  parent?: string;
  /** bytes */
  size: number;
  haLevel: number;
  shared: boolean;
  /** mount IDs currently mounted ('' for dvdcli's ID-less mount) */
  mounts: Set<string>;
  /** pxd's AttachPath list: the mountpoints, first one reported by Path/Get/List (+ `/.data`) */
  attachPaths: string[];
  createdAt: Date;
}

export interface PxdRequestRecord {
  /** the URL path, e.g. `/VolumeDriver.Mount` */
  endpoint: string;
  method: string;
  body: string;
  /** the first JSON value of the body when it is syntactically valid JSON */
  parsed?: unknown;
  time: number;
}

export interface PxdDouble {
  socketPath: string;
  close(): Promise<void>;
  requests: PxdRequestRecord[];
  /** by volume name, in creation order */
  volumes: Map<string, PxdVolume>;
  faults: PxdFaults;
  /** every key pxd looked up in its secret store, in order */
  secretLookups: string[];
  /**
   * The token pxd resolved (and, with auth on, authenticated with) on the last call of that endpoint
   * (`Create` | `Remove` | `Mount`, or `/VolumeDriver.Mount` etc.); undefined when the call carried none
   * or its resolution failed.
   */
  lastToken(endpoint: string): string | undefined;
  /** the most requests it was handling at once (Go's net/http serves each connection concurrently) */
  readonly maxInFlight: number;
  /** forget volumes, requests, tokens and secret lookups; clear the faults */
  reset(): void;
}

const PLUGIN = 'VolumeDriver';
const CT_TEXT = 'text/plain; charset=utf-8';
const SDK_VOLUME = '/openstorage.api.OpenStorageVolume/';
const SDK_MOUNT = '/openstorage.api.OpenStorageMountAttach/';

/** A gRPC status error as pxd's plugin prints it. */
class RpcError extends Error {
  constructor(
    readonly code: string,
    readonly desc: string,
  ) {
    super(`rpc error: code = ${code} desc = ${desc}`);
  }
}

/** A plain (non-gRPC) error whose text pxd returns as is. */
class PlainError extends Error {}

/** Thrown where pxd's Go handler would panic (net/http then drops the connection without a reply). */
class ConnectionDrop extends Error {}

interface UserInfo {
  username: string;
  claims: Claims;
}

// ---- roles (openstorage pkg/role/sdkserviceapi.go DefaultRoles) ----
type Rule = { services: string[]; apis: string[] };
const DEFAULT_ROLES: Record<string, Rule[]> = {
  'system.admin': [{ services: ['*'], apis: ['*'] }],
  'system.view': [
    { services: ['*'], apis: ['*enumerate*', 'inspect*', 'stats', 'status', 'validate', 'capacityusage', 'watch'] },
    { services: ['identity'], apis: ['*'] },
  ],
  'system.user': [
    {
      services: ['volume', 'cloudbackup', 'credentials', 'objectstore', 'schedulepolicy', 'mountattach', 'migrate'],
      apis: ['*'],
    },
    { services: ['cluster', 'node'], apis: ['inspect*', 'enumerate*'] },
    { services: ['identity'], apis: ['*'] },
    { services: ['policy'], apis: ['*enumerate*', '*inspect*'] },
  ],
  // Only reachable through the plugin by a token that *claims* system.guest (pxd never makes a guest here).
  'system.guest': [
    { services: ['mountattach', 'volume', 'cloudbackup', 'migrate'], apis: ['*'] },
    { services: ['identity'], apis: ['version'] },
    { services: ['cluster', 'node'], apis: ['inspect*', 'enumerate*'] },
  ],
};

function matchRule(rule: string, s: string): boolean {
  if (rule.length === 0) return false;
  if (rule === '*') return true;
  const starts = rule.startsWith('*');
  const ends = rule.endsWith('*');
  if (starts && ends) return s.includes(rule.slice(1, -1));
  if (starts) return s.endsWith(rule.slice(1));
  if (ends) return s.startsWith(rule.slice(0, -1));
  return rule === s;
}

function rolesAllow(roles: string[] | null, fullMethod: string): boolean {
  const parts = fullMethod.split('/');
  const service = (parts[1] ?? '').toLowerCase().replace(/^openstorage\.api\.openstorage/, '');
  const api = (parts[2] ?? '').toLowerCase();
  for (const role of roles ?? []) {
    const rules = DEFAULT_ROLES[role];
    if (!rules) continue; // unknown (custom) roles are skipped, as pxd does for roles it cannot inspect
    if (rules.some((r) => r.services.some((sv) => matchRule(sv, service)) && r.apis.some((a) => matchRule(a, api)))) {
      return true;
    }
  }
  return false;
}

/** Go's path.Join: join, then Clean (no trailing slash, `..` resolved lexically). */
function goJoin(...elems: string[]): string {
  const nonEmpty = elems.filter((e) => e !== '');
  if (nonEmpty.length === 0) return '';
  const j = path.posix.normalize(nonEmpty.join('/'));
  return j.length > 1 && j.endsWith('/') ? j.slice(0, -1) : j;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startPxdDouble(opts: PxdDoubleOptions): Promise<PxdDouble> {
  const socketPath = opts.socketPath;
  const mountsRoot = opts.mountsRoot ?? '/var/lib/osd/mounts';
  const now = opts.now ?? Date.now;
  const authenticators: Authenticator[] | undefined = opts.auth?.issuers.map(makeAuthenticator);
  const usernameClaim: UsernameClaim = opts.auth?.usernameClaim ?? 'sub';
  const defaultSize = opts.defaultSize !== undefined ? parseUnits(opts.defaultSize) : undefined;

  const faults: PxdFaults = { ...(opts.faults ?? {}) };
  const requests: PxdRequestRecord[] = [];
  const volumes = new Map<string, PxdVolume>();
  const tokens = new Map<string, string | undefined>();
  const secretLookups: string[] = [];

  // ---------------------------------------------------------------- volume store (fake driver + kvdb)
  const all = (): PxdVolume[] => [...volumes.values()];
  const byExactName = (name: string): PxdVolume[] => all().filter((v) => v.name === name);
  /** Enumerate with a locator Name: an empty name means "no filter" (pxd builds no locator then). */
  const enumerateByName = (name: string): PxdVolume[] => (name === '' ? all() : byExactName(name));
  /** defaultStoreEnumerator.toID: a name that matches exactly one volume becomes its id. */
  const toID = (v: string): string => {
    const m = enumerateByName(v);
    return m.length === 1 ? (m[0] as PxdVolume).id : v;
  };
  const byId = (id: string): PxdVolume | undefined => all().find((v) => v.id === id);
  /** util.VolumeFromName: by id (names resolve through toID), then by name. */
  const volumeFromName = (name: string): PxdVolume => {
    const v = byId(toID(name));
    if (v) return v;
    const m = enumerateByName(name);
    if (m.length === 1) return m[0] as PxdVolume;
    throw new PlainError(`cannot locate volume with name ${name}`);
  };

  // ---------------------------------------------------------------- ownership (api/ownership.go)
  const isAdmin = (u: UserInfo | undefined): boolean => (u ? (u.claims.groups ?? []).includes('*') : true);
  const permitted = (vol: PxdVolume, u: UserInfo | undefined): boolean =>
    u === undefined || vol.owner === undefined || (u.username !== '' && (vol.owner === u.username || isAdmin(u)));

  // ---------------------------------------------------------------- token resolution (docker.go parseTokenInput)
  function secretTokenFromStore(name: string): string {
    const ctx = tokenSecretFromString(name);
    if (!ctx) throw new Error('unreachable');
    if (!opts.secrets) throw new PlainError('A secret was passed in, but no secrets provider has been initialized');
    // DC/OS provider: key = namespace + "/" + name when a namespace is given.
    const key = ctx.secretNamespace !== '' ? `${ctx.secretNamespace}/${ctx.secretName}` : ctx.secretName;
    secretLookups.push(key);
    const value = opts.secrets(key);
    // The transcripts' secret store answered this for a missing secret; the DC/OS client's wording is a guess.
    if (value === undefined) throw new PlainError(`API Error: secret ${key} not found`);
    // libopenstorage/secrets dcos: a value that json.Unmarshal accepts as an object (or null) becomes the
    // map itself, looked up by the key; anything else is stored under the key verbatim.
    let obj: GoValue | undefined;
    try {
      const v = goUnmarshal(value);
      if (v.t === 'obj' || v.t === 'null') obj = v;
    } catch {
      obj = undefined;
    }
    if (!obj) return value;
    const entry = obj.t === 'obj' ? [...obj.v].reverse().find(([k]) => k === key) : undefined;
    if (!entry) throw new PlainError('auth token was not found in the configured secret');
    if (entry[1].t !== 'str') {
      // pxd does `authToken.(string)` and panics; net/http then drops the connection without a reply.
      throw new ConnectionDrop();
    }
    return entry[1].v;
  }

  /** Precedence: 1 token= in Name, 2 token in Opts, 3 token_secret= in Name (store), 4 token_secret in Opts. */
  function parseTokenInput(name: string, reqOpts: Record<string, string>): string {
    const inName = getVal(TOKEN_RE, name);
    if (inName !== undefined) return inName;
    if (reqOpts.token) return reqOpts.token;
    if (tokenSecretFromString(name)) return secretTokenFromStore(name);
    // pxd's bug, reproduced: the Opts token_secret *path* is used as the token itself, never looked up.
    if (reqOpts.token_secret) return reqOpts.token_secret;
    return '';
  }

  // ---------------------------------------------------------------- SDK interceptors (auth + roles)
  /** Authenticate once per plugin request (the result is the same for each SDK call it makes). */
  async function authenticate(token: string): Promise<UserInfo | RpcError | undefined> {
    if (!authenticators) return undefined;
    let iss: string;
    try {
      iss = tokenIssuer(token).iss;
    } catch {
      return new RpcError('Unauthenticated', 'Unable to obtain token issuer from authorization token');
    }
    const a = authenticators.find((x) => x.name === iss);
    if (!a) return new RpcError('Unauthenticated', `${iss} is not a trusted issuer`);
    const claims = await authenticateToken(a, token, usernameClaim, now());
    if (!claims) return new RpcError('PermissionDenied', 'Unable to authenticate token');
    return { username: usernameOf(claims, usernameClaim), claims };
  }

  /** One SDK call: authentication result, then the role check for `fullMethod`. */
  function sdkCall(auth: UserInfo | RpcError | undefined, fullMethod: string): UserInfo | undefined {
    if (auth instanceof RpcError) throw auth;
    if (auth === undefined) return undefined;
    if (!rolesAllow(auth.claims.roles, fullMethod)) {
      // Go's %+s of a []string: `[a b]`; a token with no roles prints `[]`. (pxd.md shows `[system.view]`
      // next to "a token with no roles"; the source prints the token's own roles, so the transcript's
      // vol4 token must have carried system.view — which is how the tests replay it.)
      const roles = `[${(auth.claims.roles ?? []).join(' ')}]`;
      throw new RpcError(
        'PermissionDenied',
        `Access to ${fullMethod} denied: rpc error: code = PermissionDenied desc = Access denied to roles: ${roles}`,
      );
    }
    return auth;
  }

  // ---------------------------------------------------------------- replies
  type Reply = { status: number; body: string; kind: 'json' | 'error' | 'empty' };
  const json = (body: string): Reply => ({ status: 200, body: body + '\n', kind: 'json' });
  const errJson = (msg: string): Reply => json(`{"Err":${goQuote(msg)}}`);
  const OK = (): Reply => json('{"Err":""}');
  /** http.Error: plain text + "\n", nosniff. */
  const httpError = (status: number, msg: string): Reply => ({ status, body: msg + '\n', kind: 'error' });
  const decodeError = (e: unknown): Reply => httpError(400, `Unable to decode JSON payload:${(e as Error).message}`);

  function errorOf(e: unknown): string {
    if (e instanceof RpcError || e instanceof PlainError || e instanceof Error) return e.message;
    return String(e);
  }

  function recordToken(method: string, token: string | undefined): void {
    tokens.set(method, token === '' ? undefined : token);
  }

  function effectiveSize(spec: ParsedSpec): number {
    // Not pxd: see PxdDoubleOptions.defaultSize.
    if (defaultSize !== undefined && spec.spec.size === undefined) return defaultSize;
    return spec.size;
  }

  // ---------------------------------------------------------------- handlers
  async function create(body: string): Promise<Reply> {
    let req;
    try {
      req = decodeVolumeRequest(body).req;
    } catch (e) {
      return decodeError(e);
    }
    const reqOpts = req.Opts ?? {};
    let token: string;
    try {
      token = parseTokenInput(req.Name, reqOpts);
    } catch (e) {
      recordToken('Create', undefined);
      if (e instanceof ConnectionDrop) throw e;
      return errJson(errorOf(e));
    }
    recordToken('Create', token);
    const np = specFromString(req.Name);
    let spec: ParsedSpec;
    if (np.parsed && np.spec) spec = np.spec;
    else {
      // No `name=` (or an invalid inline spec): the spec comes from Opts. With `name=`, Opts are ignored.
      try {
        spec = specFromOpts(reqOpts);
      } catch (e) {
        return errJson(errorOf(e));
      }
    }
    const name = np.name;
    try {
      // `parent=` makes pxd call Clone, which inspects the parent with the caller's token (ownership
      // applies: an admin group reads every volume). GUESS: the Clone's size and spec follow the parent;
      // the double records the request's spec and the parent's name.
      const user = sdkCall(await authenticate(token), SDK_VOLUME + (spec.parent ? 'Clone' : 'Create'));
      let parent: PxdVolume | undefined;
      if (spec.parent) {
        try {
          parent = volumeFromName(spec.parent);
        } catch {
          throw new RpcError('NotFound', `Volume id ${spec.parent} not found`);
        }
        if (!permitted(parent, user)) throw new RpcError('PermissionDenied', `Access denied to volume ${parent.id}`);
      }
      if (name.length === 0) throw new RpcError('InvalidArgument', 'Must supply a unique name');
      const size = effectiveSize(spec);
      let existing: PxdVolume | undefined;
      try {
        existing = volumeFromName(name);
      } catch {
        existing = undefined;
      }
      if (existing) {
        if (!permitted(existing, user)) {
          throw new RpcError('PermissionDenied', `Volume ${name} already exists and is owned by another user`);
        }
        if (existing.size !== size) {
          throw new RpcError(
            'AlreadyExists',
            `Existing volume has a size of ${existing.size} which differs from requested size of ${size}`,
          );
        }
        if (existing.shared !== spec.shared) {
          throw new RpcError(
            'AlreadyExists',
            `Existing volume has shared=${existing.shared} while request is asking for shared=${spec.shared}`,
          );
        }
        return OK(); // idempotent
      }
      if (size === 0) throw new RpcError('Internal', 'Failed to create volume: Volume size cannot be zero');
      if (spec.haLevel === 0) throw new RpcError('Internal', 'Failed to create volume: HA level cannot be zero');
      volumes.set(name, {
        id: randomUUID(),
        name,
        owner: user?.username,
        spec: { ...spec.spec },
        labels: { ...spec.labels },
        ...(parent ? { parent: parent.name } : {}),
        size,
        haLevel: spec.haLevel,
        shared: spec.shared,
        mounts: new Set(),
        attachPaths: [],
        createdAt: new Date(now()),
      });
      return OK();
    } catch (e) {
      return errJson(errorOf(e));
    }
  }

  async function remove(body: string): Promise<Reply> {
    let req;
    try {
      req = decodeVolumeRequest(body).req;
    } catch (e) {
      return decodeError(e);
    }
    let token: string;
    try {
      // Remove decodes the same struct as Create, so an Opts token counts (transcript-remove-badtokens).
      token = parseTokenInput(req.Name, req.Opts ?? {});
    } catch (e) {
      recordToken('Remove', undefined);
      if (e instanceof ConnectionDrop) throw e;
      return errJson(errorOf(e));
    }
    recordToken('Remove', token);
    const name = specFromString(req.Name).name;
    try {
      const auth = await authenticate(token);
      // volIdFromName: EnumerateWithFilters{Name} hides volumes the caller may not read. NB: an empty name
      // means "no filter" in pxd, so `{"Name":""}` deletes the first volume the caller may see —
      // reproduced on purpose (the proxy must never let that through).
      const user = sdkCall(auth, SDK_VOLUME + 'EnumerateWithFilters');
      const visible = enumerateByName(name).filter((v) => permitted(v, user));
      const vol = visible[0];
      if (!vol) throw new PlainError(`Cannot locate volume with name ${name}`);
      sdkCall(auth, SDK_VOLUME + 'Delete');
      if (!permitted(vol, user)) throw new RpcError('PermissionDenied', `Cannot delete volume ${vol.id}`);
      volumes.delete(vol.name);
      return OK();
    } catch (e) {
      return errJson(errorOf(e));
    }
  }

  async function mount(body: string): Promise<Reply> {
    let req;
    try {
      req = decodeMountRequest(body).req;
    } catch (e) {
      // sendError (400 text) followed by errorResponse's JSON, in the same 400 body.
      const r = decodeError(e);
      return { ...r, body: r.body + '{"Err":"Unable to decode JSON payload"}\n' };
    }
    const name = specFromString(req.Name).name;
    const nameWithID = name + req.ID;
    let token: string;
    try {
      // Mount has no Opts: only the Name can carry a token (token= or token_secret=).
      token = parseTokenInput(req.Name, {});
    } catch (e) {
      recordToken('Mount', undefined);
      if (e instanceof ConnectionDrop) throw e;
      return errJson(errorOf(e));
    }
    recordToken('Mount', token);
    const auth = await authenticate(token);
    let vol: PxdVolume;
    let user: UserInfo | undefined;
    try {
      // volFromNameOrIDSdk: EnumerateWithFilters{Name} (filtered by read access; empty name = all), else
      // Inspect(name as id). Failures here are answered as 400 plain text.
      user = sdkCall(auth, SDK_VOLUME + 'EnumerateWithFilters');
      const ids = enumerateByName(name)
        .filter((v) => permitted(v, user))
        .map((v) => v.id);
      const volumeId = ids[0] ?? name;
      sdkCall(auth, SDK_VOLUME + 'Inspect');
      if (volumeId === '') throw new RpcError('InvalidArgument', 'Must supply volume id');
      const found = byId(toID(volumeId));
      if (!found) throw new RpcError('NotFound', `Volume id ${volumeId} not found`);
      if (!permitted(found, user)) throw new RpcError('PermissionDenied', `Access denied to volume ${found.id}`);
      vol = found;
    } catch (e) {
      return httpError(400, errorOf(e));
    }
    try {
      // The fake driver is a block driver: Attach, then mkdir, then Mount.
      sdkCall(auth, SDK_MOUNT + 'Attach');
      if (!permitted(vol, user)) throw new RpcError('PermissionDenied', `Access denied to volume ${vol.id}`);
      const mountpoint = goJoin(mountsRoot, nameWithID);
      if (opts.makeMountDirs) {
        // pxd MkdirAlls wherever path.Join lands (a `../` name escapes the mount root). The double only
        // creates directories inside mountsRoot, so a hostile name cannot make it touch the host.
        const rel = path.relative(path.resolve(mountsRoot), path.resolve(mountpoint));
        if (!rel.startsWith('..') && !path.isAbsolute(rel)) fs.mkdirSync(mountpoint, { recursive: true, mode: 0o755 });
      }
      sdkCall(auth, SDK_MOUNT + 'Mount');
      if (!permitted(vol, user)) throw new RpcError('PermissionDenied', `Access denied to volume ${vol.id}`);
      // The fake driver appends duplicates; a real pxd keeps one entry per path — so does the double.
      if (!vol.attachPaths.includes(mountpoint)) vol.attachPaths.push(mountpoint);
      vol.mounts.add(req.ID);
      const mp = faults.mountpoint ?? mountpoint;
      return json(`{"Mountpoint":${goQuote(mp)},"Err":""}`);
    } catch (e) {
      return errJson(errorOf(e));
    }
  }

  function unmount(body: string): Reply {
    let req;
    try {
      req = decodeMountRequest(body).req;
    } catch (e) {
      return decodeError(e); // no JSON line appended here (transcript-misc)
    }
    const name = specFromString(req.Name).name;
    let vol: PxdVolume;
    try {
      vol = volumeFromName(name);
    } catch (e) {
      return errJson(`Failed to locate volume: ${errorOf(e)}`);
    }
    // pxd unmounts both <root>/<name> (pre-ID layout) and <root>/<name><ID>. Choice: the fake driver
    // clears every attach path on any Unmount; the double removes only those two, like a real driver.
    const paths = [goJoin(mountsRoot, name), goJoin(mountsRoot, name + req.ID)];
    vol.attachPaths = vol.attachPaths.filter((p) => !paths.includes(p));
    vol.mounts.delete(req.ID);
    return OK();
  }

  const dataPath = (vol: PxdVolume): string => (vol.attachPaths.length > 0 ? goJoin(vol.attachPaths[0] as string, '.data') : '');

  function pathH(body: string): Reply {
    let req;
    try {
      req = decodeVolumeRequest(body).req;
    } catch (e) {
      return decodeError(e);
    }
    let vol: PxdVolume;
    try {
      vol = volumeFromName(specFromString(req.Name).name);
    } catch (e) {
      return errJson(`Failed to locate volume: ${errorOf(e)}`);
    }
    if (vol.attachPaths.length === 0) return errJson('volume not mounted');
    const mp = faults.mountpoint ?? dataPath(vol);
    return json(`{"Mountpoint":${goQuote(mp)},"Err":""}`);
  }

  function get(body: string): Reply {
    let req;
    try {
      req = decodeVolumeRequest(body).req;
    } catch (e) {
      return decodeError(e);
    }
    const np = specFromString(req.Name);
    // Docker keeps the Name that Get returns: pxd echoes the full request Name when it parsed as a spec.
    const returnName = faults.getName ?? (np.parsed ? req.Name : np.name);
    let vol: PxdVolume;
    try {
      vol = volumeFromName(np.name);
    } catch (e) {
      return errJson(`Failed to locate volume: ${errorOf(e)}`);
    }
    // map[string]volumeInfo: no Err field.
    const status = faults.getStatus ? `,"Status":${JSON.stringify(faults.getStatus)}` : '';
    return json(`{"Volume":{"Name":${goQuote(returnName)},"Mountpoint":${goQuote(dataPath(vol))}${status}}}`);
  }

  function list(): Reply {
    const items = all().map((v) => `{"Name":${goQuote(v.name)},"Mountpoint":${goQuote(dataPath(v))}}`);
    return json(`{"Volumes":[${items.join(',')}]}`);
  }

  const routes: Record<string, (body: string) => Reply | Promise<Reply>> = {
    '/Plugin.Activate': () => json(`{"Implements":["${PLUGIN}"]}`),
    [`/${PLUGIN}.Create`]: create,
    [`/${PLUGIN}.Remove`]: remove,
    [`/${PLUGIN}.Mount`]: mount,
    [`/${PLUGIN}.Path`]: pathH,
    [`/${PLUGIN}.Get`]: get,
    [`/${PLUGIN}.List`]: list,
    [`/${PLUGIN}.Unmount`]: unmount,
    [`/${PLUGIN}.Capabilities`]: () => json('{"Capabilities":{"Scope":"global"}}'),
  };

  // ---------------------------------------------------------------- HTTP
  function send(res: http.ServerResponse, r: Reply): void {
    const date = new Date().toUTCString();
    const len = String(Buffer.byteLength(r.body));
    const statusText = http.STATUS_CODES[r.status] ?? '';
    // Header order as Go's net/http writes them (transcripts): Node appends Connection/Keep-Alive after.
    const headers =
      r.kind === 'json'
        ? ['Date', date, 'Content-Length', len, 'Content-Type', CT_TEXT]
        : r.kind === 'error'
          ? ['Content-Type', CT_TEXT, 'X-Content-Type-Options', 'nosniff', 'Date', date, 'Content-Length', len]
          : ['Date', date, 'Content-Length', len];
    res.sendDate = false;
    res.writeHead(r.status, statusText, headers);
    res.end(r.body);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const endpoint = (req.url ?? '/').split('?')[0] as string;
    let parsed: unknown;
    try {
      parsed = toPlain(goDecodeFirst(body));
    } catch {
      parsed = undefined;
    }
    requests.push({ endpoint, method: req.method ?? '', body, ...(parsed !== undefined ? { parsed } : {}), time: Date.now() });

    if (faults.reset) {
      req.socket.destroy();
      return;
    }
    if (faults.delayMs) await sleep(faults.delayMs);
    if (faults.hold) await faults.hold;
    if (faults.down || faults.reset) {
      req.socket.destroy();
      return;
    }
    if (faults.garbage) {
      send(res, { status: 200, body: '<html>pxd double: garbage, not JSON</html>\n', kind: 'json' });
      return;
    }
    if (faults.initializing && routes[endpoint]) {
      send(res, httpError(500, 'Driver is initializing'));
      return;
    }

    // gorilla/mux: unknown path → 404; known path with another method → 405 with an empty body.
    // (mux's 301 redirect for unclean paths such as `//VolumeDriver.Get` is not modelled: 404 here.)
    const route = routes[endpoint];
    if (endpoint === '/status') {
      if (req.method === 'GET') send(res, { status: 200, body: 'osd plugin 0.3\n', kind: 'json' });
      else send(res, { status: 405, body: '', kind: 'empty' });
      return;
    }
    if (!route) {
      send(res, httpError(404, '404 page not found'));
      return;
    }
    if (req.method !== 'POST') {
      send(res, { status: 405, body: '', kind: 'empty' });
      return;
    }
    let reply: Reply;
    try {
      reply = await route(body);
    } catch (e) {
      if (e instanceof ConnectionDrop) {
        // a Go handler panic: net/http recovers and closes the connection without a response
        req.socket.destroy();
        return;
      }
      send(res, { status: 500, body: `pxd double internal error: ${String(e)}\n`, kind: 'error' });
      return;
    }
    send(res, reply);
  }

  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer((req, res) => {
    if (faults.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).finally(() => inFlight--);
    });
    req.on('error', () => undefined);
  });
  // Go's server has no idle timeout by default; keepAliveTimeout 0 keeps idle connections open likewise.
  server.keepAliveTimeout = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (sock: Socket) => {
    if (faults.down) {
      sock.destroy();
      return;
    }
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('clientError', (_err, sock) => {
    if (!sock.destroyed) sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });

  try {
    fs.unlinkSync(socketPath); // a stale socket from an earlier run
  } catch {
    /* none */
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const normalizeEndpoint = (e: string): string => e.replace(/^\//, '').replace(new RegExp(`^${PLUGIN}\\.`), '');

  return {
    socketPath,
    requests,
    volumes,
    faults,
    secretLookups,
    lastToken: (endpoint: string) => tokens.get(normalizeEndpoint(endpoint)),
    get maxInFlight() {
      return maxInFlight;
    },
    reset: () => {
      maxInFlight = 0;
      requests.length = 0;
      volumes.clear();
      tokens.clear();
      secretLookups.length = 0;
      for (const k of Object.keys(faults) as Array<keyof PxdFaults>) delete faults[k];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          try {
            fs.unlinkSync(socketPath);
          } catch {
            /* already gone */
          }
          resolve();
        });
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
}
