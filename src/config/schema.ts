import { z } from 'zod';
import { DCOS_YAML_KEYS, OPTIONS, OPTION_SHAPE } from './options.js';

/**
 * The one schema of every option, built from the option table: each value's check and its default.
 * `optionsSchema.parse({})` is the configuration nobody changed.
 */
export const optionsSchema = z.object(OPTION_SHAPE);
export type OptionValues = z.output<typeof optionsSchema>;

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
export const dcosSectionSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).superRefine((section, ctx) => {
  for (const key of Object.keys(section)) {
    if (!DCOS_YAML_KEYS.includes(key)) {
      ctx.addIssue({ code: 'custom', path: [key], message: `not a DC/OS setting; known: ${DCOS_YAML_KEYS.join(', ')}` });
    }
  }
});

/** Top-level keys that are options: their values are checked by optionsSchema, naming the file and key. */
const anyValue = z.unknown().optional();
const optionKeys = Object.fromEntries(OPTIONS.flatMap((o) => o.yaml.filter((k) => !k.includes('.'))).map((k) => [k, anyValue]));

export const yamlSchema = z
  .object({
    ...optionKeys,
    issuers: z.array(issuerSchema).optional(),
    policy: policySchema.optional(),
    volumeSecrets: z.array(volumeSecretSchema).optional(),
    /** DC/OS options, by their environment names (DCOS_CLUSTER_URL: ...). */
    dcos: dcosSectionSchema.optional(),
  })
  .strict();

export type YamlConfig = z.infer<typeof yamlSchema>;
export type IssuerYaml = z.infer<typeof issuerSchema>;

/** Render a zod issue as a `path: message` line. */
export function zodProblem(prefix: string, issue: z.core.$ZodIssue): string {
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  return `${prefix}${where}: ${issue.message}`;
}
