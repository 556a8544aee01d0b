/** Status and content mapping of the DC/OS client, with undici's MockAgent (no network). */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DcosClient, secretUrlPath } from '../../../src/secrets/dcos/client.js';
import { formatDuration } from '../../../src/secrets/dcos/log.js';

const ORIGIN = 'https://dcos.example';
const SECRET = '/secrets/v1/secret/default/pwx/t';

describe('DcosClient', () => {
  let agent: MockAgent;
  let client: DcosClient;
  let now: number;

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    now = Date.UTC(2030, 0, 1);
    client = new DcosClient({ url: ORIGIN, uid: 'pwx-proxy', timeoutMs: 1000, dispatcher: agent, now: () => now });
  });
  afterEach(async () => {
    await agent.close();
  });

  const reply = (
    status: number,
    body: string | Buffer | object,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) => agent.get(ORIGIN).intercept({ path: SECRET, method: 'GET' }).reply(status, body, { headers });

  it('sends Authorization: token= and returns the trimmed value', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: SECRET, method: 'GET', headers: { authorization: 'token=abc' } })
      .reply(200, { value: '  tok\n' }, { headers: { 'content-type': 'application/json; charset=utf-8' } });
    await expect(client.getSecret('pwx/t', 'abc')).resolves.toEqual({ kind: 'value', value: 'tok' });
  });

  it('401 asks the caller to log in again', async () => {
    reply(401, '<html>401</html>', { 'content-type': 'text/html', 'www-authenticate': 'acsjwt' });
    await expect(client.getSecret('pwx/t', 'abc')).resolves.toEqual({ kind: 'unauthorized' });
  });

  it.each([
    ['a JSON reply without a string value', 200, { value: 42 }, { 'content-type': 'application/json' }, 'SECRET_NOT_TEXT'],
    ['a JSON object as the value', 200, { value: ' {"a":1} ' }, { 'content-type': 'application/json' }, 'SECRET_NOT_TEXT'],
    ['control characters', 200, { value: 'to\u0000k' }, { 'content-type': 'application/json' }, 'SECRET_NOT_TEXT'],
    ['an unknown content type', 200, 'x', { 'content-type': 'image/png' }, 'SECRET_NOT_TEXT'],
    ['a reply that is not JSON', 200, 'nope', { 'content-type': 'application/json' }, 'SECRET_STORE_UNAVAILABLE'],
    ['a redirect', 307, '', { location: 'https://elsewhere' }, 'SECRET_STORE_UNAVAILABLE'],
    ['a 400', 400, {}, { 'content-type': 'application/json' }, 'SECRET_STORE_UNAVAILABLE'],
    ['a 502', 502, 'bad gateway', { 'content-type': 'text/html' }, 'SECRET_STORE_UNAVAILABLE'],
  ] as const)('maps %s', async (_what, status, body, headers, code) => {
    reply(status, body, { ...headers });
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({ code, details: { secretPath: 'pwx/t' } });
  });

  it('a JSON array as the value is text (only objects are documents)', async () => {
    reply(200, { value: '[1]' });
    await expect(client.getSecret('pwx/t', 'abc')).resolves.toEqual({ kind: 'value', value: '[1]' });
  });

  it('an application/octet-stream reply that is UTF-8 text gets the checks of a JSON value', async () => {
    reply(200, Buffer.from('  tok\r\n'), { 'content-type': 'application/octet-stream' });
    await expect(client.getSecret('pwx/t', 'abc')).resolves.toEqual({ kind: 'value', value: 'tok' });
    reply(200, Buffer.from('[1]'), { 'content-type': 'application/octet-stream' });
    await expect(client.getSecret('pwx/t', 'abc')).resolves.toEqual({ kind: 'value', value: '[1]' });
    reply(200, Buffer.from(' {"a":1} '), { 'content-type': 'application/octet-stream' });
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({
      code: 'SECRET_NOT_TEXT',
      message: expect.stringContaining('JSON document'),
    });
    reply(200, Buffer.from('to\u007fk'), { 'content-type': 'application/octet-stream' });
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({
      code: 'SECRET_NOT_TEXT',
      message: expect.stringContaining('control characters'),
    });
    reply(200, Buffer.alloc(0), { 'content-type': 'application/octet-stream' });
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({ code: 'SECRET_EMPTY' });
  });

  it('an application/octet-stream reply that is not UTF-8 is refused as a binary secret', async () => {
    reply(200, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), { 'content-type': 'application/octet-stream' });
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({
      code: 'SECRET_NOT_TEXT',
      message: expect.stringContaining('is a binary secret (application/octet-stream), not a plain-text token'),
      details: { secretPath: 'pwx/t' },
    });
  });

  it('(guess) text/plain is taken as the raw value', async () => {
    reply(200, 'tok\n', { 'content-type': 'text/plain' });
    await expect(client.getSecret('pwx/t', 'abc')).resolves.toEqual({ kind: 'value', value: 'tok' });
  });

  it('a value over 1 MiB is SECRET_NOT_TEXT', async () => {
    reply(200, { value: 'x'.repeat(1200 * 1024) });
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({
      code: 'SECRET_NOT_TEXT',
      message: expect.stringContaining('1 MiB'),
    });
  });

  it('tracks the outage from its first failure and says so', async () => {
    reply(500, 'x', {});
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toThrow(/failing since \S+ \(just now\)/);
    expect(client.failingSince).toBe(now);
    now += 125_000;
    agent
      .get(ORIGIN)
      .intercept({ path: SECRET, method: 'GET' })
      .replyWithError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
    const err = (await client.getSecret('pwx/t', 'abc').catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(
      `DC/OS at ${ORIGIN} is unreachable (ECONNREFUSED during reading secret pwx/t); the proxy has been trying for 2 min 5 s`,
    );
    reply(404, {});
    await expect(client.getSecret('pwx/t', 'abc')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    expect(client.failingSince).toBeUndefined();
  });

  it('login: the token from a 200, LOGIN_FAILED naming the uid (never the password) otherwise', async () => {
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: '/acs/api/v1/auth/login', method: 'POST', body: JSON.stringify({ uid: 'alice', password: 'pw' }) })
      .reply(200, { token: 'T' });
    await expect(client.login({ uid: 'alice', password: 'pw' })).resolves.toBe('T');

    pool
      .intercept({ path: '/acs/api/v1/auth/login', method: 'POST' })
      .reply(
        401,
        { title: '401 Unauthorized', description: 'Invalid credentials.', code: 'ERR_INVALID_CREDENTIALS' },
        { headers: { 'content-type': 'application/json', 'www-authenticate': 'acsjwt' } },
      );
    const e401 = (await client.login({ uid: 'alice', password: 'pw-in-body' }).catch((e: unknown) => e)) as Error;
    expect(e401).toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED', details: { uid: 'alice', status: 401 } });
    expect(e401.message).toContain('refused the login of alice: invalid credentials (HTTP 401, ERR_INVALID_CREDENTIALS)');
    expect(e401.message).not.toContain('pw-in-body');

    pool.intercept({ path: '/acs/api/v1/auth/login', method: 'POST' }).reply(400, { code: 'ERR_INVALID_DATA; DROP' });
    await expect(client.login({ uid: 'alice', token: 't' })).rejects.toMatchObject({
      code: 'SECRET_STORE_LOGIN_FAILED',
      message: expect.stringMatching(/HTTP 400\);/),
    });

    pool.intercept({ path: '/acs/api/v1/auth/login', method: 'POST' }).reply(404, 'not here');
    await expect(client.login({ uid: 'alice', token: 't' })).rejects.toMatchObject({
      code: 'SECRET_STORE_LOGIN_FAILED',
      message: expect.stringContaining('DC/OS Enterprise'),
    });

    pool.intercept({ path: '/acs/api/v1/auth/login', method: 'POST' }).reply(200, { nothing: true });
    await expect(client.login({ uid: 'alice', token: 't' })).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });

    pool.intercept({ path: '/acs/api/v1/auth/login', method: 'POST' }).reply(503, '');
    await expect(client.login({ uid: 'alice', token: 't' })).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
  });

  it('a slow answer is SECRET_STORE_TIMEOUT', async () => {
    const quick = new DcosClient({ url: ORIGIN, uid: 'pwx-proxy', timeoutMs: 150, dispatcher: agent });
    agent.get(ORIGIN).intercept({ path: SECRET, method: 'GET' }).reply(200, { value: 'x' }).delay(3000);
    await expect(quick.getSecret('pwx/t', 'abc')).rejects.toMatchObject({
      code: 'SECRET_STORE_TIMEOUT',
      message: expect.stringContaining('within 150 ms'),
    });
  });

  it('the read budget running out is named as such', async () => {
    agent.get(ORIGIN).intercept({ path: SECRET, method: 'GET' }).reply(200, { value: 'x' }).delay(3000);
    await expect(client.getSecret('pwx/t', 'abc', AbortSignal.timeout(50))).rejects.toMatchObject({
      code: 'SECRET_STORE_TIMEOUT',
      message: expect.stringContaining('the time allowed for one read'),
    });
  });
});

describe('secretUrlPath', () => {
  it('percent-encodes each segment', () => {
    expect(secretUrlPath('pwx/secrets/user1-token')).toBe('pwx/secrets/user1-token');
    expect(secretUrlPath('a b/c%d/é?#')).toBe('a%20b/c%25d/%C3%A9%3F%23');
  });
  it.each(['', '/a', 'a/', 'a//b', 'a/../b', './a'])('refuses %j', (p) => {
    expect(() => secretUrlPath(p)).toThrow(expect.objectContaining({ code: 'SECRET_PATH_INVALID' }));
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 s'],
    [300, '300 ms'],
    [45_000, '45 s'],
    [125_000, '2 min 5 s'],
    [300_000, '5 min'],
    [2 * 3600_000 + 5 * 60_000, '2 h 5 min'],
    [5 * 24 * 3600_000, '5 d'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
