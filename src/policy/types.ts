/** Contract of the policy decision. */
import type { Operation } from '../operations.js';

export type { Operation };

export interface Binding {
  /** Secret path prefix, whole segments (`pwx/secrets/tenant-a` covers `pwx/secrets/tenant-a/x`). */
  secretPrefix: string;
  /** Volume-name patterns (`*` matches any run of characters) the secret may be used for. */
  volumes: string[];
}

export interface PolicyConfig {
  /** role → operations it may perform. Defaults mirror pxd: admin and user all three, view none. */
  roles: Record<string, Operation[]>;
  bindings: Binding[];
  /**
   * A secret that no binding covers may not be used at all (default false: it may be used for any
   * volume its token's roles allow). Recommended for clusters shared by tenants.
   */
  strict?: boolean;
}

export interface PolicyInput {
  operation: Operation;
  /** The volume name pxd reads (short name). */
  volumeName: string;
  roles: string[];
  /** Set when the token came from a secret. */
  secretPath?: string;
  /** Other volumes the request names through an option (`parent` of a clone): checked like volumeName. */
  references?: ReadonlyArray<{ option: string; volumeName: string }>;
}

export type Decision =
  | { allow: true; reason: 'ROLE_ALLOWED'; role: string; binding?: Binding }
  | { allow: false; code: 'POLICY_ROLE_DENIED' | 'POLICY_BINDING_DENIED'; message: string };
