import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { scrub, scrubDeep } from '../../../src/audit/scrub.js';
import { createLogger } from '../../../src/audit/logger.js';

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJpZC91c2VyMSJ9.JS4B6EvWsq3r6mu2B9cicE3uaMdIgxZcgf_4dY598l0';

describe('scrub', () => {
  it('removes JWTs and token= values from free text', () => {
    expect(scrub(`token=${JWT},name=vol1`)).toBe('token=***,name=vol1');
    expect(scrub(`rpc error for ${JWT} here`)).toBe('rpc error for *** here');
    expect(scrub('token=abc.def.ghi,name=v')).toBe('token=***,name=v');
    expect(scrub('name=vol1,size=1G')).toBe('name=vol1,size=1G');
  });

  it('scrubs nested objects and errors', () => {
    const out = scrubDeep({ a: { b: [`x ${JWT}`] }, e: new Error(`bad token=${JWT}`) });
    expect(JSON.stringify(out)).not.toContain(JWT.split('.')[2]);
  });

  it('never changes its input: a level with something to scrub is copied, a clean one returned as it is', () => {
    const clean = { volume: 'v1', roles: ['system.user'], nested: { n: 1 } };
    expect(scrubDeep(clean)).toBe(clean);
    const dirty = { volume: `token=${JWT},name=v`, roles: ['system.user', JWT], nested: { Token: 'opaque' }, keep: { n: 1 } };
    const before = JSON.stringify(dirty);
    const out = scrubDeep(dirty) as typeof dirty;
    expect(JSON.stringify(dirty)).toBe(before);
    expect(out).toEqual({ volume: 'token=***,name=v', roles: ['system.user', '***'], nested: { Token: '***' }, keep: { n: 1 } });
    expect(out.keep).toBe(dirty.keep);
  });

  it('the logger scrubs messages and fields', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(c, _e, cb) {
          lines.push(String(c));
          cb();
        },
      }),
    });
    logger.info(
      { volume: `token=${JWT},name=v`, token: 'plain-secret-value', nested: { authorization: 'token=abc' } },
      `message with ${JWT}`,
    );
    const text = lines.join('');
    expect(text).not.toContain(JWT.split('.')[2]);
    expect(text).not.toContain('plain-secret-value');
    expect(JSON.parse(text).volume).toBe('token=***,name=v');
  });

  it('the logger censors fields named token, password or authorization at any depth', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(c, _e, cb) {
          lines.push(String(c));
          cb();
        },
      }),
    });
    logger.info(
      { a: { b: { Password: 'hunter2', token: 'opaque-1' } }, authorization: 'Basic dXNlcjpwYXNz', tokenSource: 'name-secret' },
      'x',
    );
    const line = JSON.parse(lines.join(''));
    expect(line.a.b).toEqual({ Password: '***', token: '***' });
    expect(line.authorization).toBe('***');
    expect(line.tokenSource).toBe('name-secret');
    expect(lines.join('')).not.toMatch(/hunter2|opaque-1|dXNlcjpwYXNz/);
  });
});
