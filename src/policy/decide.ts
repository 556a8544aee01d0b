/**
 * The policy decision: may these token roles perform this operation, and may the secret the token came
 * from be used for this volume name? Pure and synchronous; no error is thrown for a denial.
 */
import { globMatch } from '../lib/glob.js';
import type { Binding, Decision, Operation, PolicyConfig, PolicyInput } from './types.js';

/** pxd's built-in roles, as far as the plugin's three authenticated calls are concerned. */
export const PXD_DEFAULT_ROLES: Record<string, Operation[]> = Object.freeze({
  'system.admin': Object.freeze(['create', 'remove', 'mount']) as Operation[],
  'system.user': Object.freeze(['create', 'remove', 'mount']) as Operation[],
  'system.view': Object.freeze([]) as unknown as Operation[],
  'system.guest': Object.freeze([]) as unknown as Operation[],
});

export function decide(cfg: PolicyConfig, input: PolicyInput): Decision {
  const { operation, volumeName } = input;
  const roleTable = cfg.roles;
  const grants = (role: string): boolean => Object.hasOwn(roleTable, role) && (roleTable[role] ?? []).includes(operation);

  // 1. Roles: allowed if any role grants the operation.
  const role = input.roles.find(grants);
  if (role === undefined) {
    const roles = [...new Set(input.roles)];
    let message: string;
    if (roles.length === 0) {
      const needed = Object.keys(roleTable).filter(grants);
      message =
        needed.length > 0
          ? `the token has no roles; ${operation} needs one of: ${needed.join(', ')}`
          : `the token has no roles; no configured role may ${operation} volumes`;
    } else if (roles.length === 1) {
      message = `role ${roles[0]} may not ${operation} volumes`;
    } else {
      message = `roles ${roles.join(', ')} may not ${operation} volumes`;
    }
    return { allow: false, code: 'POLICY_ROLE_DENIED', message };
  }

  // 2. Bindings: only for tokens read from a secret; the longest covering prefix decides, for the
  // volume and for every other volume the request names (a clone reads its parent).
  if (input.secretPath === undefined) return { allow: true, reason: 'ROLE_ALLOWED', role };
  const secretPath = trimSlashes(input.secretPath);
  let longest = -1;
  let covering: Binding[] = [];
  for (const b of cfg.bindings) {
    const prefix = trimSlashes(b.secretPrefix);
    if (!coversPath(prefix, secretPath)) continue;
    if (prefix.length > longest) {
      longest = prefix.length;
      covering = [b];
    } else if (prefix.length === longest) {
      covering.push(b);
    }
  }
  if (covering.length === 0) {
    if (!cfg.strict) return { allow: true, reason: 'ROLE_ALLOWED', role };
    return {
      allow: false,
      code: 'POLICY_BINDING_DENIED',
      message: `secret ${secretPath} is not covered by any binding, and policy.strict allows only bound secrets; add a binding for it`,
    };
  }

  const patterns = [...new Set(covering.flatMap((b) => b.volumes))];
  const allowed = patterns.length > 0 ? `may only be used for volumes ${patterns.join(', ')}` : 'may not be used for any volume';
  const bindingFor = (name: string): Binding | undefined => covering.find((b) => b.volumes.some((p) => globMatch(p, name)));
  const binding = bindingFor(volumeName);
  if (!binding) {
    return { allow: false, code: 'POLICY_BINDING_DENIED', message: `secret ${secretPath} ${allowed} (not ${JSON.stringify(volumeName)})` };
  }
  for (const ref of input.references ?? []) {
    if (bindingFor(ref.volumeName)) continue;
    return {
      allow: false,
      code: 'POLICY_BINDING_DENIED',
      message: `secret ${secretPath} ${allowed}, and ${ref.option}=${JSON.stringify(ref.volumeName)} names another volume`,
    };
  }
  return { allow: true, reason: 'ROLE_ALLOWED', role, binding };
}

function trimSlashes(p: string): string {
  let start = 0;
  let end = p.length;
  while (start < end && p[start] === '/') start++;
  while (end > start && p[end - 1] === '/') end--;
  return p.slice(start, end);
}

/** Whole-segment prefix: `a/b` covers `a/b` and `a/b/c`, not `a/bc`. The empty prefix covers everything. */
function coversPath(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}
