import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { StorelessConfig } from '../config/load.js';
import { asProxyError } from '../errors.js';
import { parseName, assertExpressibleForPxd } from '../volume-name/index.js';
import { resolveToken, type ResolvedToken } from '../tokens/resolve.js';
import { TokenVerifier } from '../tokens/verify.js';
import { describeSource, type VerifiedToken } from '../tokens/types.js';
import { decide } from '../policy/decide.js';
import type { Operation } from '../policy/types.js';
import type { SecretStore } from '../secrets/types.js';
import type { StateStore } from '../state/store.js';

export interface CheckStep {
  step: string;
  ok: boolean;
  detail: string;
}

export interface CheckInput {
  /** A tool's configuration: the issuers, the policy and the base path (no secret store is needed for --token). */
  config: Readonly<StorelessConfig>;
  secrets: SecretStore;
  state: Pick<StateStore, 'get'>;
  token?: string;
  secret?: string;
  volume?: string;
  operation: Operation;
  now?: () => number;
}

/** "in 3 days" / "2 hours ago", for people reading a verdict. */
export function humanRelative(targetSec: number, nowMs: number): string {
  const diff = targetSec - nowMs / 1000;
  const abs = Math.abs(diff);
  const units: Array<[number, string]> = [
    [365 * 86400, 'year'],
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  const [size, name] = units.find(([s]) => abs >= s) ?? [1, 'second'];
  const n = Math.floor(abs / size);
  const text = `${n} ${name}${n === 1 ? '' : 's'}`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

const iso = (sec: number) => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Run the proxy's own resolver, verifier and policy on one token and explain each step. Never
 * prints the token: only where it came from, what it claims and what was decided.
 */
export async function checkToken(input: CheckInput): Promise<{ allowed: boolean; steps: CheckStep[] }> {
  const steps: CheckStep[] = [];
  const now = input.now ?? Date.now;
  const fail = (step: string, e: unknown) => {
    const err = asProxyError(e);
    steps.push({ step, ok: false, detail: `${err.code}: ${err.message}` });
    return { allowed: false, steps };
  };

  // 1. Where the token comes from.
  let resolved: ResolvedToken;
  let volumeName: string | undefined;
  try {
    if (input.token !== undefined) {
      resolved = { value: input.token.trim(), source: { kind: 'name-token' } };
      steps.push({ step: 'source', ok: true, detail: 'the token given with --token' });
    } else {
      const name = input.volume ?? `token_secret=${input.secret},name=check`;
      const parsed = parseName(name);
      if (input.volume !== undefined) {
        assertExpressibleForPxd(parsed);
        volumeName = parsed.volumeName;
      }
      resolved = await resolveToken(
        { secrets: input.secrets, state: input.state, basePath: input.config.secretsBasePath, volumeSecrets: input.config.volumeSecrets },
        parsed,
        new Map(),
        name,
        input.operation,
      );
      steps.push({
        step: 'source',
        ok: true,
        detail: `${describeSource(resolved.source)}${'secretPath' in resolved.source ? ` (read from ${input.secrets.description}${resolved.stale ? ', served stale from cache' : ''})` : ''}${volumeName ? `, for volume ${volumeName}` : ''}`,
      });
    }
  } catch (e) {
    return fail('source', e);
  }

  // 2. What the token says, before any check (decoded, not trusted).
  try {
    const header = decodeProtectedHeader(resolved.value);
    const claims = decodeJwt(resolved.value);
    const trusted = input.config.verifier.issuers.map((i) => i.name);
    steps.push({
      step: 'issuer',
      ok: typeof claims.iss === 'string' && trusted.includes(claims.iss),
      detail: `iss ${JSON.stringify(claims.iss)} (trusted: ${trusted.join(', ')})`,
    });
    steps.push({ step: 'algorithm', ok: true, detail: `${String(header.alg)}${header.kid ? `, kid ${JSON.stringify(header.kid)}` : ''}` });
    if (typeof claims.exp === 'number') {
      const expired = claims.exp * 1000 <= now();
      steps.push({
        step: 'expiry',
        ok: !expired,
        detail: `${expired ? 'expired' : 'expires'} ${iso(claims.exp)} (${humanRelative(claims.exp, now())})`,
      });
    }
  } catch {
    steps.push({ step: 'decode', ok: false, detail: 'the value is not a decodable JWT' });
  }

  // 3. The real verification.
  let verified: VerifiedToken;
  try {
    verified = await new TokenVerifier({ ...input.config.verifier, cacheSize: 0, now }).verify(resolved.value, { source: resolved.source });
    steps.push({
      step: 'signature and claims',
      ok: true,
      detail: `verified with the ${verified.keySlot} key of ${verified.issuer} (${verified.algorithm})`,
    });
    steps.push({
      step: 'identity',
      ok: true,
      detail: `user ${verified.username}; roles [${verified.roles.join(', ')}]; groups [${verified.groups.join(', ')}]`,
    });
  } catch (e) {
    return fail('signature and claims', e);
  }

  // 4. Policy: roles, then bindings.
  const secretPath = 'secretPath' in resolved.source ? resolved.source.secretPath : undefined;
  // Bindings tie a secret to volume names: without --volume there is no name to check them against.
  const decision = decide(input.config.policy, {
    operation: input.operation,
    volumeName: volumeName ?? '',
    roles: verified.roles,
    secretPath: volumeName ? secretPath : undefined,
  });
  if (!decision.allow) {
    steps.push({
      step: decision.code === 'POLICY_ROLE_DENIED' ? 'role decision' : 'binding',
      ok: false,
      detail: `${decision.code}: ${decision.message}`,
    });
    return { allowed: false, steps };
  }
  steps.push({ step: 'role decision', ok: true, detail: `role ${decision.role} may ${input.operation} volumes` });
  steps.push({
    step: 'binding',
    ok: true,
    detail: decision.binding
      ? `secret bound to ${decision.binding.volumes.join(', ')} (prefix ${decision.binding.secretPrefix})`
      : !secretPath
        ? 'not from a secret: bindings do not apply'
        : volumeName
          ? 'no binding covers this secret'
          : 'not checked: give --volume to check the secret against the volume bindings',
  });
  return { allowed: true, steps };
}
