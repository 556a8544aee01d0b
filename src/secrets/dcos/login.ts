/**
 * The DC/OS auth token: one login in flight at a time, renewed proactively before its `exp`
 * (at ~80 % of its lifetime or exp − 10 min, whichever is sooner, never before half of it, with
 * jitter) and again after a 401. Refused credentials (and a fresh token refused at once) are
 * remembered for a backoff period and fail fast meanwhile, so neither turns into a login loop.
 *
 * The clock is injectable; the renewal timer (unref'd) only calls `renewIfDue()`, which tests call
 * directly after moving the clock.
 */
import { SignJWT } from 'jose';
import { asProxyError, ProxyError } from '../../errors.js';
import { raceAbort, SingleFlight } from '../../lib/single-flight.js';
import { jwtExpiryMs } from '../cache.js';
import type { LoginBody } from './client.js';
import type { DcosLogin } from './config.js';
import { formatDuration, silentLogger, type DcosLogger } from './log.js';

/** Lifetime of the service login token we sign (the DC/OS CLI uses 5 minutes; the IAM warns above 10). */
export const SERVICE_LOGIN_TOKEN_LIFETIME_SEC = 5 * 60;
const TEN_MINUTES = 10 * 60_000;
/** After a failed renewal (the current token still valid), try again after this long. */
const RENEW_RETRY_MS = 30_000;
/** setTimeout's upper bound. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The key of the one login flight. */
const LOGIN = 'login';

export interface LoginTransport {
  login(body: LoginBody, signal?: AbortSignal): Promise<string>;
}

export interface DcosAuthOptions {
  login: DcosLogin;
  transport: LoginTransport;
  /** For log lines. */
  loginUrl: string;
  now?: () => number;
  /** [0, 1): jitter of the renewal time. */
  random?: () => number;
  logger?: DcosLogger;
  /** How long refused credentials fail fast before the next attempt. Default 30 s. */
  backoffMs?: number;
  /** Run the renewal timer (default true). Tests that move the clock may call renewIfDue() instead. */
  renewTimer?: boolean;
}

/** The request body of a login: the password, or a freshly signed service login token (RS256, `{uid, exp}`). */
export async function makeLoginBody(login: DcosLogin, nowMs: number): Promise<LoginBody> {
  if (login.kind === 'password') return { uid: login.uid, password: login.password.reveal() };
  const exp = Math.floor(nowMs / 1000) + SERVICE_LOGIN_TOKEN_LIFETIME_SEC;
  const token = await new SignJWT({ uid: login.uid })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setExpirationTime(exp)
    .sign(login.privateKey);
  return { uid: login.uid, token };
}

/**
 * When to renew a token with `lifetimeMs` left, counted from now: 80 % of it or 10 min before its end,
 * whichever is sooner, but not before half of it; ± 5 % of the lifetime (at most ± 5 min) of jitter so
 * that many proxies logged in together do not renew together.
 */
export function renewalDelayMs(lifetimeMs: number, random: () => number = Math.random): number {
  const L = Math.max(0, lifetimeMs);
  const base = Math.max(0.5 * L, Math.min(0.8 * L, L - TEN_MINUTES));
  const spread = Math.min(0.05 * L, 5 * 60_000);
  const jitter = (random() * 2 - 1) * spread;
  return Math.max(0, Math.min(base + jitter, 0.9 * L));
}

interface AuthToken {
  token: string;
  obtainedAt: number;
  /** ms since epoch; undefined when the token has no usable exp (then: refresh on 401 only). */
  expiresAt: number | undefined;
  /** Not handed out past this (a little before exp: Admin Router checks exp with no leeway). */
  usableUntil: number;
  renewAt: number | undefined;
}

interface Failure {
  error: ProxyError;
  at: number;
  until: number;
}

export interface DcosAuthStatus {
  uid: string;
  loggedIn: boolean;
  expiresAt?: number;
  renewAt?: number;
  lastLoginAt?: number;
  /** Set while refused credentials fail fast. */
  failingUntil?: number;
  /** Login attempts since start (every POST to the login endpoint). */
  logins: number;
  /** Logins that got a token. */
  loginsOk: number;
  /** Logins that failed (refused credentials, DC/OS unreachable or failing), and fresh tokens refused at once. */
  loginFailures: number;
}

export class DcosAuth {
  readonly uid: string;
  readonly #login: DcosLogin;
  readonly #transport: LoginTransport;
  readonly #loginUrl: string;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #log: DcosLogger;
  readonly #backoffMs: number;
  readonly #renewTimer: boolean;
  #current: AuthToken | undefined;
  /** One login at a time; its sequence numbers order the logins (see #appliedSeq). */
  readonly #loginFlight = new SingleFlight<string>();
  #failure: Failure | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Sequence guard: a login's result is applied only if no later one was applied (or close() happened). */
  #appliedSeq = 0;
  #logins = 0;
  #loginsOk = 0;
  #loginFailures = 0;
  #closed = false;

  constructor(options: DcosAuthOptions) {
    this.#login = options.login;
    this.uid = options.login.uid;
    this.#transport = options.transport;
    this.#loginUrl = options.loginUrl;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger ?? silentLogger;
    this.#backoffMs = options.backoffMs ?? 30_000;
    this.#renewTimer = options.renewTimer ?? true;
  }

  /** A usable auth token: the current one, or a fresh login (shared by every caller). */
  async token(signal?: AbortSignal): Promise<string> {
    const now = this.#now();
    const cur = this.#current;
    if (cur && now < cur.usableUntil) {
      // Due for renewal: renew in the background, this token is still good.
      if (cur.renewAt !== undefined && now >= cur.renewAt) void this.renewIfDue();
      return cur.token;
    }
    return this.#wait(this.#start(cur ? 'expired' : 'initial'), signal);
  }

  /** Log in now even if the current token is good (readiness probe after an outage). */
  refresh(signal?: AbortSignal): Promise<string> {
    return this.#wait(this.#start('probe'), signal);
  }

  /** DC/OS answered 401 to `token`: drop it (if still current) so the next token() logs in. */
  invalidate(token: string): boolean {
    if (this.#current?.token !== token) return false;
    this.#current = undefined;
    this.#clearTimer();
    this.#log.info({ uid: this.uid, url: this.#loginUrl }, 'DC/OS rejected the auth token (401); logging in again');
    return true;
  }

  /**
   * DC/OS answered 401 to `token` right after issuing it. Logging in again will not help for a while
   * (clocks, IAM keys): drop it and fail fast for the backoff period, as after refused credentials.
   */
  refused(token: string, error: ProxyError): void {
    if (this.#current?.token === token) {
      this.#current = undefined;
      this.#clearTimer();
    }
    const now = this.#now();
    this.#loginFailures++;
    this.#failure = { error, at: now, until: now + this.#backoffMs };
    this.#log.error(
      { uid: this.uid, url: this.#loginUrl, code: error.code, status: error.details['status'], retryInMs: this.#backoffMs },
      'DC/OS refused a freshly issued auth token; not logging in again until the backoff is over',
    );
  }

  /** Renew if the renewal time has come (the timer calls this; so may tests after moving the clock). */
  async renewIfDue(): Promise<boolean> {
    const cur = this.#current;
    const now = this.#now();
    if (this.#closed || !cur || cur.renewAt === undefined || now < cur.renewAt) return false;
    try {
      await this.#start('renewal');
    } catch {
      // Logged by #start. Keep the current token while it lasts; try again later, not in a loop.
      if (this.#current === cur) {
        cur.renewAt = Math.min(now + RENEW_RETRY_MS, Math.max(now, cur.usableUntil));
        this.#schedule();
      }
    }
    return true;
  }

  status(): DcosAuthStatus {
    const cur = this.#current;
    const now = this.#now();
    return {
      uid: this.uid,
      loggedIn: cur !== undefined && now < cur.usableUntil,
      ...(cur?.expiresAt !== undefined ? { expiresAt: cur.expiresAt } : {}),
      ...(cur?.renewAt !== undefined ? { renewAt: cur.renewAt } : {}),
      ...(cur ? { lastLoginAt: cur.obtainedAt } : {}),
      ...(this.#failure && now < this.#failure.until ? { failingUntil: this.#failure.until } : {}),
      logins: this.#logins,
      loginsOk: this.#loginsOk,
      loginFailures: this.#loginFailures,
    };
  }

  close(): void {
    this.#closed = true;
    this.#appliedSeq = Number.MAX_SAFE_INTEGER;
    this.#current = undefined;
    this.#clearTimer();
  }

  #wait(p: Promise<string>, signal: AbortSignal | undefined): Promise<string> {
    return raceAbort(
      p,
      signal,
      (reason) =>
        new ProxyError(
          'SECRET_STORE_TIMEOUT',
          `waiting for the DC/OS login of ${this.uid} at ${this.#loginUrl} was abandoned (${reason instanceof Error && reason.name === 'TimeoutError' ? 'time ran out' : 'cancelled'})`,
          { uid: this.uid },
        ),
    );
  }

  /** Single-flight login. Fails fast while refused credentials are in their backoff period. */
  #start(reason: 'initial' | 'expired' | 'renewal' | 'probe'): Promise<string> {
    if (this.#closed) {
      return Promise.reject(new ProxyError('SECRET_STORE_UNAVAILABLE', 'the DC/OS secret store is closed', { uid: this.uid }));
    }
    const running = this.#loginFlight.running(LOGIN);
    if (running) return running;
    const now = this.#now();
    const f = this.#failure;
    if (f && now < f.until) {
      return Promise.reject(
        new ProxyError(
          'SECRET_STORE_LOGIN_FAILED',
          `${f.error.message} (${formatDuration(now - f.at)} ago; not trying again for ${formatDuration(f.until - now)})`,
          { ...f.error.details, uid: this.uid, failFast: true },
        ),
      );
    }
    // A background renewal may have no waiter: the flight keeps its rejection from going unhandled.
    return this.#loginFlight.join(LOGIN, (seq) => this.#doLogin(seq, reason)).promise;
  }

  async #doLogin(seq: number, reason: string): Promise<string> {
    const started = this.#now();
    this.#logins++;
    this.#log.debug({ uid: this.uid, url: this.#loginUrl, reason }, 'logging in to DC/OS');
    let token: string;
    try {
      const body = await makeLoginBody(this.#login, started);
      token = await this.#transport.login(body);
    } catch (e) {
      const err = asProxyError(e, 'SECRET_STORE_LOGIN_FAILED');
      const now = this.#now();
      this.#loginFailures++;
      if (err.code === 'SECRET_STORE_LOGIN_FAILED') {
        // Refused credentials do not fix themselves: remember, fail fast, try again after the backoff.
        this.#failure = { error: err, at: now, until: now + this.#backoffMs };
        this.#log.error(
          { uid: this.uid, url: this.#loginUrl, reason, code: err.code, status: err.details['status'], retryInMs: this.#backoffMs },
          'DC/OS login failed',
        );
      } else {
        this.#log.warn({ uid: this.uid, url: this.#loginUrl, reason, code: err.code }, 'DC/OS login could not be completed');
      }
      throw err;
    }
    const now = this.#now();
    this.#loginsOk++;
    if (seq > this.#appliedSeq) {
      this.#appliedSeq = seq;
      this.#failure = undefined;
      this.#current = this.#describe(token, now);
      this.#schedule();
      const cur = this.#current;
      this.#log.info(
        {
          uid: this.uid,
          url: this.#loginUrl,
          reason,
          expiresAt: cur.expiresAt !== undefined ? new Date(cur.expiresAt).toISOString() : null,
          renewAt: cur.renewAt !== undefined ? new Date(cur.renewAt).toISOString() : null,
        },
        reason === 'renewal' ? 'renewed the DC/OS auth token' : 'logged in to DC/OS',
      );
    }
    return token;
  }

  #describe(token: string, now: number): AuthToken {
    const exp = jwtExpiryMs(token);
    if (exp === undefined || exp <= now) {
      if (exp !== undefined) {
        this.#log.warn(
          { uid: this.uid, url: this.#loginUrl, expiredMs: now - exp },
          'the DC/OS auth token is already expired by the local clock; check the clocks (using it until DC/OS refuses it)',
        );
      }
      return { token, obtainedAt: now, expiresAt: undefined, usableUntil: Number.POSITIVE_INFINITY, renewAt: undefined };
    }
    const lifetime = exp - now;
    return {
      token,
      obtainedAt: now,
      expiresAt: exp,
      usableUntil: exp - Math.min(30_000, 0.1 * lifetime),
      renewAt: now + renewalDelayMs(lifetime, this.#random),
    };
  }

  #schedule(): void {
    this.#clearTimer();
    const cur = this.#current;
    if (!this.#renewTimer || this.#closed || !cur || cur.renewAt === undefined) return;
    const delay = Math.min(Math.max(cur.renewAt - this.#now(), 1000), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.renewIfDue().then((renewed) => {
        if (!renewed) this.#schedule(); // not due yet (long delays are chunked; clocks drift)
      });
    }, delay);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
