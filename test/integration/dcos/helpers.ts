/** Shared set-up for the DC/OS integration tests: PKI, keys and files made once per test file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DcosConfig, type DcosLogger } from '../../../src/secrets/dcos/index.js';
import { dcosConfigFromEnv, type DcosFlags } from '../../../src/config/dcos.js';
import { makeRsaKeyPair, makeTestPki, type RsaKeyPair, type TestPki } from '../../doubles/dcos/pki.js';

export interface Fixture {
  pki: TestPki;
  /** Key of the service account `pwx-proxy`. */
  sa: RsaKeyPair;
  dir: string;
  file(name: string, content: string): string;
  cleanup(): void;
}

export const USER = 'alice';
export const PASSWORD = 'pässwörd-Never-Log-Me-7c1f';
export const SA = 'pwx-proxy';

export function makeFixture(): Fixture {
  const pki = makeTestPki();
  const sa = makeRsaKeyPair();
  const dir = join(pki.dir, 'files');
  mkdirSync(dir);
  return {
    pki,
    sa,
    dir,
    file: (name, content) => {
      const p = join(dir, name);
      writeFileSync(p, content, { mode: 0o600 });
      return p;
    },
    cleanup: () => pki.cleanup(),
  };
}

/** A config or a thrown Error listing the problems. */
export function configFrom(env: NodeJS.ProcessEnv, flags: Partial<DcosFlags> = {}): DcosConfig {
  const { config, problems } = dcosConfigFromEnv(env, flags);
  if (!config) throw new Error(`config problems: ${problems.join(' | ')}`);
  return config;
}

export interface CapturedLogger {
  logger: DcosLogger;
  lines: string[];
  /** Lines at warn or above. */
  warnings(): string[];
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push(JSON.stringify({ level, ...obj, msg }));
  };
  return {
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    lines,
    warnings: () => lines.filter((l) => /"level":"(warn|error)"/.test(l)),
  };
}

/** A JWT-looking token (what users keep in secrets), with an exp; signature irrelevant (never verified here). */
export function fakeJwt(claims: Record<string, unknown>, sig = 'c2lnbmF0dXJl'): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.${sig}`;
}
