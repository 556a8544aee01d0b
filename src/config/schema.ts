import { z } from 'zod';
import { DCOS_YAML_KEYS } from '../secrets/dcos/config.js';

/** Shape of the YAML file. Unknown keys are errors: a typo must not silently turn a check off. */
const operation = z.enum(['create', 'remove', 'mount']);

export const issuerSchema = z
  .object({
    name: z.string().min(1),
    sharedSecret: z.string().min(1).optional(),
    sharedSecretFile: z.string().min(1).optional(),
    rsaPublicKeyFile: z.string().min(1).optional(),
    ecdsaPublicKeyFile: z.string().min(1).optional(),
    jwksUrl: z.string().url().optional(),
    /** Discover jwks_uri from <name>/.well-known/openid-configuration. */
    oidc: z.boolean().optional(),
    usernameClaim: z.enum(['sub', 'email', 'name']).optional(),
  })
  .strict();

export const bindingSchema = z
  .object({
    secretPrefix: z.string().min(1),
    volumes: z.array(z.string().min(1)).min(1),
  })
  .strict();

export const policySchema = z
  .object({
    roles: z.record(z.string().min(1), z.array(operation)).optional(),
    bindings: z.array(bindingSchema).optional(),
    /** Only secrets some binding covers may be used (recommended for clusters shared by tenants). */
    strict: z.boolean().optional(),
  })
  .strict();

/** A token for volumes named without one, by name pattern (the same file on every agent). */
export const volumeSecretSchema = z
  .object({
    volumes: z.array(z.string().min(1)).min(1),
    tokenSecret: z.string().min(1),
  })
  .strict();

/** DC/OS settings by their environment names; like every other level, an unknown name is an error. */
export const dcosSectionSchema = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .superRefine((section, ctx) => {
    for (const key of Object.keys(section)) {
      if (!DCOS_YAML_KEYS.includes(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `not a DC/OS setting; known: ${DCOS_YAML_KEYS.join(', ')}` });
      }
    }
  });

export const yamlSchema = z
  .object({
    socket: z.string().optional(),
    socketGroup: z.union([z.string(), z.number().int()]).optional(),
    backend: z.string().optional(),
    mountsRoot: z.string().optional(),
    backendTimeout: z.number().int().optional(),
    scope: z.string().optional(),
    secrets: z.string().optional(),
    secretsBasePath: z.string().optional(),
    stateDir: z.string().optional(),
    jwtIssuer: z.string().optional(),
    jwtSharedSecret: z.string().optional(),
    jwtSharedSecretFile: z.string().optional(),
    jwtRsaPubkeyFile: z.string().optional(),
    jwtEcdsPubkeyFile: z.string().optional(),
    usernameClaim: z.string().optional(),
    clockTolerance: z.number().int().optional(),
    requiredClaims: z.array(z.string()).optional(),
    tokenCacheSize: z.number().int().optional(),
    logLevel: z.string().optional(),
    logPretty: z.boolean().optional(),
    adminListen: z.string().optional(),
    embedded: z.boolean().optional(),
    issuers: z.array(issuerSchema).optional(),
    policy: policySchema.optional(),
    volumeSecrets: z.array(volumeSecretSchema).optional(),
    /** DC/OS options, by their environment names (DCOS_CLUSTER_URL: ...). */
    dcos: dcosSectionSchema.optional(),
  })
  .strict();

export type YamlConfig = z.infer<typeof yamlSchema>;
export type IssuerYaml = z.infer<typeof issuerSchema>;

/** Render zod issues as `path: message` lines. */
export function zodProblems(prefix: string, err: z.ZodError): string[] {
  return err.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : '(top level)';
    return `${prefix}${where}: ${i.message}`;
  });
}
